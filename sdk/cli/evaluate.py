"""``medsynth evaluate``: score synthetic images against real ones; metrics.json and an HTML report."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import click

from medsynth.errors import DataError, ModelError, OutputError

__all__ = ["evaluate"]


def _cell(entry: Any) -> str:
    if entry is None:
        return "-"
    if isinstance(entry, dict) and "value" in entry:
        v, lo, hi = entry["value"], entry["low"], entry["high"]
        if entry.get("n_boot", 0) == 0 or math.isinf(v):
            return f"{v:.4g}"
        return f"{v:.4g} [{lo:.4g}, {hi:.4g}]"
    if isinstance(entry, dict) and "mean" in entry:
        return f"{entry['mean']:.4g} ± {entry['std']:.4g}"
    return f"{entry:.4g}" if isinstance(entry, float) else str(entry)


def _c2st(group: dict[str, Any], space: str, floor: bool) -> Any:
    """The C2ST AUC (or its real-versus-real floor) of one space in one column of the table."""
    entry = (group.get("c2st") or {}).get(space)
    if entry is not None and floor:
        entry = entry.get("floor")
    return None if entry is None else entry["auc"]


def _summary_table(metrics: dict[str, Any]) -> str:
    """One row per metric, one column for all classes and one per class."""
    groups = {"all": metrics["overall"], **metrics["per_class"]}
    space = metrics["feature_space"]
    names: list[tuple[str, Any]] = [
        ("FD" if space == "radiomics" else f"FD ({space})", lambda d: d.get("fd")),
        ("FRD", lambda d: d.get("frd")),
        ("relative FD", lambda d: d.get("relative_fd")),
        ("KID", lambda d: d.get("kid")),
        ("diversity (synthetic / real)", lambda d: (d.get("diversity") or {}).get("ratio")),
    ]
    names += [
        (k, lambda d, k=k: d["prdc"][k] if "prdc" in d else None)
        for k in ("precision", "recall", "density", "coverage")
    ]
    for sp in metrics["overall"].get("c2st", {}):
        names += [
            (f"C2ST AUC ({sp})", lambda d, sp=sp: _c2st(d, sp, False)),
            (f"  floor, real vs real ({sp})", lambda d, sp=sp: _c2st(d, sp, True)),
        ]
    names += [
        (k, lambda d, k=k: d.get("full_reference", {}).get(k))
        for k in ("psnr", "ssim", "ms_ssim", "gmsd", "ms_gmsd", "mdsi", "haarpsi")
    ]
    names += [
        ("spectral peak ratio", lambda d: d.get("spectrum", {}).get("peak_ratio")),
        ("log-spectral dist. dB", lambda d: d.get("spectrum", {}).get("log_spectral_distance_db")),
        ("isolated-pixel ratio", lambda d: d.get("isolated_pixels", {}).get("ratio")),
    ]
    rows = [["metric", *groups]] + [[n, *(_cell(get(d)) for d in groups.values())] for n, get in names]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows)


def _resize_policy(model_spec: str | None) -> tuple[str, str]:
    """The resize policy for the real images, and where it came from (for metrics.json)."""
    from medsynth.imageset import RESIZE_POLICY, check_resize_policy

    if model_spec is None:
        return RESIZE_POLICY, "default"
    from medsynth.generator import Generator

    card = Generator.load(model_spec, device="cpu", threads=1).card
    if not card.resize_policy:  # a card written before the field: trained with the one policy
        return RESIZE_POLICY, f"default (the card of {card.name} names none)"
    try:
        return check_resize_policy(card.resize_policy), f"the card of {card.name}"
    except DataError as exc:
        raise ModelError(f"model {card.name}: {exc}") from exc


@click.command(name="evaluate")
@click.option(
    "--real",
    "real_path",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Real images: folder, class-per-folder tree, ISIC CSV, generate output or NPZ.",
)
@click.option(
    "--synthetic",
    "synthetic_path",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Synthetic images, in any of the same forms (e.g. what 'medsynth generate' wrote).",
)
@click.option(
    "--train",
    "train_path",
    type=click.Path(exists=True, path_type=Path),
    help="The generator's training images; enables the memorization audit (--real is then the held-out set).",
)
@click.option(
    "--model",
    "model_spec",
    metavar="PATH|NAME",
    help="The generator the synthetic images came from (ONNX file or bundled name): the real images are "
    "resized by its card's resize policy, the way its training read them. Default: medsynth's one policy "
    "(center-crop+lanczos), how medsynth training reads photographs and arrays.",
)
@click.option("--real-split", help="Keep only this split of a CSV given as --real (e.g. val).")
@click.option("--train-split", help="Keep only this split of a CSV given as --train (e.g. train).")
@click.option(
    "--features",
    "features_spec",
    metavar="NAME|MODEL.onnx",
    help="Feature space of FD/KID/PRDC/C2ST besides the radiomic one: 'efficientnet-lite0' (bundled, "
    "ImageNet features at 224 px) or an ONNX feature extractor; default: weight-free radiomic features only.",
)
@click.option(
    "--features-range",
    type=click.Choice(["0,1", "-1,1", "0,255"]),
    default="0,1",
    show_default=True,
    help="Float input range a user's ONNX feature extractor expects (the bundled one takes uint8).",
)
@click.option(
    "--classifier",
    "classifier_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="ONNX classifier giving logits; adds the Inception Score.",
)
@click.option(
    "--size",
    type=click.IntRange(8, 4096),
    help="Resize every image to SIZE x SIZE; default: the synthetic images' size.",
)
@click.option(
    "--max-per-class", type=click.IntRange(2, None), help="Use at most this many images of each class."
)
@click.option(
    "--bootstrap",
    "n_boot",
    type=click.IntRange(0, 100_000),
    default=100,
    show_default=True,
    help="Bootstrap resamples for the confidence intervals (0: none).",
)
@click.option(
    "--copy-percentile",
    type=click.FloatRange(0, 100, min_open=True, max_open=True),
    default=1.0,
    show_default=True,
    help="A synthetic image is a copy when nearer to a training image than this "
    "percentile of held-out real images are.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**63 - 1),
    default=0,
    show_default=True,
    help="Seed of splits, subsets and resamples.",
)
@click.option(
    "--max-pixels",
    type=click.IntRange(1, None),
    default=89_478_485,
    show_default=True,
    help="Refuse image files with more pixels than this (decompression bombs), before decoding.",
)
@click.option(
    "--max-npz-bytes",
    type=click.IntRange(1, None),
    default=4 << 30,
    show_default=True,
    help="Refuse .npz files whose arrays would inflate beyond this, checked before decompressing.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for metrics.json, report.html and closest_pairs.png.",
)
def evaluate(
    real_path: Path,
    synthetic_path: Path,
    train_path: Path | None,
    model_spec: str | None,
    real_split: str | None,
    train_split: str | None,
    features_spec: str | None,
    features_range: str,
    classifier_path: Path | None,
    size: int | None,
    max_per_class: int | None,
    n_boot: int,
    copy_percentile: float,
    seed: int,
    max_pixels: int,
    max_npz_bytes: int,
    out_dir: Path,
) -> None:
    """Score synthetic images against real ones: FD/FRD/KID/PRDC per class with bootstrap intervals, the
    full-reference metrics against each synthetic image's nearest real image, and (with --train) a
    memorization audit. Writes OUT/metrics.json and OUT/report.html and prints a summary table."""
    from medsynth.imageset import ImageSet, load_image_set
    from medsynth.metrics.evaluation import EvaluationConfig, evaluate_sets
    from medsynth.metrics.features import OnnxFeatureExtractor, load_feature_extractor
    from medsynth.metrics.memorization import save_closest_pairs
    from medsynth.metrics.report import write_report

    extractor = (
        load_feature_extractor(features_spec, value_range=features_range)
        if features_spec is not None
        else None
    )
    policy, policy_from = _resize_policy(model_spec)
    bounds: dict[str, Any] = {
        "max_pixels": max_pixels,
        "max_npz_bytes": max_npz_bytes,
        "resize_policy": policy,
        "max_per_class": max_per_class,
    }

    def load(path: Path, **options: Any) -> ImageSet:  # named in the report by the path given
        return dataclasses.replace(load_image_set(path, **bounds, **options), name=str(path))

    synthetic = load(synthetic_path, size=size)
    side, channels = synthetic.images.shape[1], synthetic.images.shape[3]
    real = load(real_path, size=side, channels=channels, split=real_split)
    train = load(train_path, size=side, channels=channels, split=train_split) if train_path else None
    classifier = (
        OnnxFeatureExtractor(classifier_path, value_range=features_range)
        if classifier_path is not None
        else None
    )
    config = EvaluationConfig(n_boot=n_boot, copy_percentile=copy_percentile, seed=seed)
    result = evaluate_sets(
        real,
        synthetic,
        train=train,
        extractor=extractor,
        extractor_name=extractor.name if extractor else None,
        classifier=classifier,
        config=config,
    )
    result.metrics["resize_policy"] = {"name": policy, "from": policy_from}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        pairs = None
        if "pixels" in result.memorization and result.train_images is not None:
            pairs = save_closest_pairs(
                out_dir / "closest_pairs.png",
                result.synthetic_images,
                result.train_images,
                result.memorization["pixels"],
            )
        (out_dir / "metrics.json").write_text(
            json.dumps(result.metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        report = write_report(out_dir / "report.html", result, real, synthetic, pairs)
    except OSError as exc:
        raise OutputError(f"cannot write the evaluation to {out_dir}: {exc}") from exc
    click.echo(_summary_table(result.metrics))
    mem = result.metrics["memorization"]
    if mem:
        for _space, s in mem.items():
            click.echo(
                f"memorization ({s['space']}): copy rate {s['copy_rate']:.4g} "
                f"({s['n_copies']}/{s['n_synthetic']}), median distance ratio {s['median_ratio']:.3g}"
            )
    click.echo(f"wrote {out_dir / 'metrics.json'} and {report}")
