"""Run the utility benchmark: per seed, generate the synthetic images, train every arm, score it on the real
validation split; then means, spreads and bootstrap intervals."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from medsynth import Generator
from medsynth.balance import plan_balance
from medsynth.errors import ArgumentError
from medsynth.imageset.resize import fit_array as resize_square
from medsynth.imageset.resize import to_channels
from medsynth.torch import SyntheticDataset
from medsynth.training.data import ImageSet
from medsynth.training.downstream.arms import DEFAULT_ARMS, Arm, get_arms, synthetic_needed, training_set
from medsynth.training.downstream.classifier import ClassifierConfig, predict_proba, train_classifier
from medsynth.training.downstream.metrics import (
    auroc_ovr,
    per_class_recall,
    sensitivity_at_specificity,
    stratified_resamples,
)

__all__ = ["UtilityConfig", "run_utility", "metric_names", "metric_vector", "filtered_synthetic"]

SCREEN_SPECIFICITY = 0.8  # per-class sensitivity is reported at this specificity (a screening test's point)
FILTER_DRAW_LIMIT = 20  # --filter draws at most this many times the images it must keep, then stops


@dataclass(frozen=True)
class UtilityConfig:
    """What a utility run does besides the classifier recipe."""

    seeds: int = 3  # classifier seeds 0..seeds-1; seed s also seeds the synthetic images of its arms
    arms: tuple[str, ...] = DEFAULT_ARMS  # which arms to run (see medsynth.training.downstream.arms.ARMS)
    n_boot: int = 1000  # stratified bootstrap resamples of the validation images (0: no intervals)
    filter_threshold: float = 0.0  # arm "filtered": drop synthetic images the real-trained classifier
    # assigns to another class with a probability above this (0 = no filtered arm)
    boot_seed: int = 0  # seed of the bootstrap resamples
    threads: int = 0  # torch CPU threads; 0 = every core
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)  # the recipe


def metric_names(classes: tuple[str, ...]) -> list[str]:
    """Names of the entries of :func:`metric_vector`."""
    return (
        ["balanced_accuracy", "macro_auroc"]
        + [f"recall/{c}" for c in classes]
        + [f"auroc/{c}" for c in classes]
        + [f"sensitivity_at_80_specificity/{c}" for c in classes]
    )


def metric_vector(y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Balanced accuracy, macro AUROC, per-class recall, per-class AUROC and per-class sensitivity at 80%
    specificity of one set of predictions."""
    n_classes = proba.shape[1]
    recall = per_class_recall(y_true, proba.argmax(axis=1), n_classes)
    auroc = auroc_ovr(y_true, proba)
    screen = sensitivity_at_specificity(y_true, proba, SCREEN_SPECIFICITY)
    return np.concatenate([[np.nanmean(recall), np.nanmean(auroc)], recall, auroc, screen])


def _synthetic(
    generator: Generator, needed: dict[str, int], seed: int, size: int, channels: int, bar: Any
) -> dict[str, np.ndarray]:
    """Generate ``needed[c]`` images of every class under ``seed``, at ``size`` and ``channels``."""
    out: dict[str, np.ndarray] = {}
    for cls, n in needed.items():
        if n == 0:
            out[cls] = np.empty((0, size, size, channels), dtype=np.uint8)
            continue
        # The same dataset a user's training loop would use (medsynth.torch): generate's pixels, batched.
        parts = []
        for batch, _ in DataLoader(SyntheticDataset(generator, {cls: n}, seed=seed), batch_size=64):
            parts.append(batch.numpy().transpose(0, 2, 3, 1))
            bar.update(len(batch))
        out[cls] = _fit(np.concatenate(parts), size, channels)
    return out


def filtered_synthetic(
    generator: Generator,
    judge: torch.nn.Module,
    needed: dict[str, int],
    seed: int,
    threshold: float,
    size: int,
    channels: int,
    bar: Any,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The first ``needed[c]`` synthetic images of every class (indices 0, 1, ... under ``seed``) that
    ``judge`` does not assign to another class with a probability above ``threshold``.

    Images are drawn in index order until enough pass, at most :data:`FILTER_DRAW_LIMIT` times the number
    needed; a class that runs out keeps what passed. Returns the images and, per class, how many were drawn
    and kept.
    """
    classes = generator.classes
    out: dict[str, np.ndarray] = {}
    report: dict[str, Any] = {}
    for cls, n in needed.items():
        k = classes.index(cls)
        kept: list[np.ndarray] = []
        drawn, have = 0, 0
        chunk = max(64, n)
        while have < n and drawn < FILTER_DRAW_LIMIT * n:
            images = _fit(generator.generate(chunk, cls, seed=seed, start=drawn)[0], size, channels)
            proba = predict_proba(judge, images)
            other = np.delete(proba, k, axis=1).max(axis=1) if proba.shape[1] > 1 else np.zeros(len(proba))
            passed = images[other <= threshold]
            kept.append(passed[: n - have])
            have += len(kept[-1])
            drawn += chunk
            bar.update(len(images))
        out[cls] = np.concatenate(kept) if kept else np.empty((0, size, size, channels), dtype=np.uint8)
        report[cls] = {
            "needed": n,
            "drawn": drawn,
            "kept": int(len(out[cls])),
            "pass_rate": round(have / drawn, 4) if drawn else None,
        }
    return out, report


def _fit(images: np.ndarray, size: int, channels: int) -> np.ndarray:
    """Generated uint8 (N, H, W, C) images at the classifier's ``size`` and ``channels``."""
    images = to_channels(images, channels)
    return images if images.shape[1] == size else np.stack([resize_square(im, size) for im in images])


def _aggregate(per_seed: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean and sample standard deviation (ddof 1; None for one seed) over the seed axis."""
    mean = per_seed.mean(axis=0)
    return mean, (per_seed.std(axis=0, ddof=1) if len(per_seed) > 1 else None)


def run_utility(
    train: ImageSet,
    val: ImageSet,
    generator: Generator,
    config: UtilityConfig,
    quiet: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train and score every arm for every seed.

    Parameters
    ----------
    train, val
        The real splits, already in the model's class order and at the classifier's image size.
    generator
        The model that makes the synthetic images.
    config
        Seeds, arms, bootstrap and the classifier recipe.
    quiet
        No progress bars.
    log
        Called with one-line progress messages.

    Returns
    -------
    dict
        ``arms`` (key -> label, description, training-set counts, per-seed metric vectors, mean, std,
        bootstrap interval), ``differences`` (each arm minus arm "real", paired bootstrap), ``metric_names``,
        ``steps``, ``timing``; plain JSON values.

    Raises
    ------
    ArgumentError
        Fewer than one seed, a negative bootstrap count, an unknown arm.
    """
    if config.seeds < 1:
        raise ArgumentError(f"--seeds must be at least 1, got {config.seeds}")
    if config.n_boot < 0:
        raise ArgumentError(f"--bootstrap must be 0 or more, got {config.n_boot}")
    if not 0.0 <= config.filter_threshold < 1.0:
        raise ArgumentError(f"--filter must be a probability in (0, 1), got {config.filter_threshold}")
    arms = get_arms(config.arms)
    unknown = [arm.key for arm in arms if arm.only_class and arm.only_class not in train.classes]
    if unknown:
        raise ArgumentError(
            f"--arms {unknown[0]}: no such class; the model's classes are {', '.join(train.classes)}"
        )
    if any(arm.filtered for arm in arms) and not config.filter_threshold:
        raise ArgumentError("the 'filtered' arm needs a threshold: give --filter T (e.g. 0.9)")
    torch.set_num_threads(config.threads or os.cpu_count() or 1)
    classes = train.classes
    counts = train.counts()
    size, channels = train.images.shape[1], train.images.shape[3]
    needed = synthetic_needed(arms, counts)
    steps = config.classifier.steps(len(train.images))
    names = metric_names(classes)
    say = log or (lambda _m: None)
    per_seed: dict[str, list[np.ndarray]] = {arm.key: [] for arm in arms}
    probas: dict[str, list[np.ndarray]] = {arm.key: [] for arm in arms}
    sets: dict[str, dict[str, dict[str, int]]] = {}  # arm -> class -> what its training set holds
    train_s: dict[str, list[float]] = {arm.key: [] for arm in arms}
    generation_s = 0.0
    filtering = any(arm.filtered for arm in arms)
    filter_report: list[dict[str, Any]] = []
    judge_needed = filtering and "real" not in per_seed  # the filter's classifier, trained but not scored
    bars = dict(file=sys.stderr, disable=quiet, dynamic_ncols=True, leave=False)
    total_steps = config.seeds * (len(arms) + judge_needed) * steps
    with tqdm(total=total_steps, desc="training", unit="step", **bars) as train_bar:
        for seed in range(config.seeds):
            started = time.perf_counter()
            with tqdm(
                total=sum(needed.values()), desc=f"seed {seed}: generating", unit="img", **bars
            ) as gen_bar:
                synthetic = _synthetic(generator, needed, seed, size, channels, gen_bar)
            generation_s += time.perf_counter() - started
            judge = None
            if judge_needed:
                judge = train_classifier(
                    train.images,
                    train.labels,
                    len(classes),
                    steps,
                    config.classifier,
                    seed,
                    progress=train_bar,
                    class_weighted=True,
                )
            for arm in arms:
                pool = synthetic
                if arm.filtered:
                    assert judge is not None  # trained above, or as arm "real" (always first)
                    started = time.perf_counter()
                    with tqdm(desc=f"seed {seed}: filtering", unit="img", **bars) as gen_bar:
                        pool, passed = filtered_synthetic(
                            generator,
                            judge,
                            plan_balance(counts),
                            seed,
                            config.filter_threshold,
                            size,
                            channels,
                            gen_bar,
                        )
                    generation_s += time.perf_counter() - started
                    filter_report.append({"seed": seed, "classes": passed})
                    say(
                        f"seed {seed} filter: kept "
                        + ", ".join(f"{c} {p['kept']}/{p['drawn']}" for c, p in passed.items())
                    )
                images, labels, is_synthetic = training_set(
                    arm, train.images, train.labels, classes, pool, seed
                )
                sets[arm.key] = _composition(arm, labels, is_synthetic, counts, classes)
                started = time.perf_counter()
                model = train_classifier(
                    images,
                    labels,
                    len(classes),
                    steps,
                    config.classifier,
                    seed,
                    progress=train_bar,
                    class_weighted=arm.class_weighted,
                    finish_on=(train.images, train.labels) if arm.then_real else None,
                    synthetic=is_synthetic if arm.domain_adversarial else None,
                )
                train_s[arm.key].append(time.perf_counter() - started)
                if arm.key == "real":
                    judge = model
                proba = predict_proba(model, val.images)
                probas[arm.key].append(proba)
                per_seed[arm.key].append(metric_vector(val.labels, proba))
                vec = per_seed[arm.key][-1]
                recall = vec[2 : 2 + len(classes)]
                recalls = ", ".join(f"{c} {r:.3f}" for c, r in zip(classes, recall, strict=True))
                say(
                    f"seed {seed} {arm.label}: balanced accuracy {vec[0]:.3f}, macro AUROC {vec[1]:.3f}; "
                    f"recall {recalls}"
                )
    result_arms: dict[str, Any] = {}
    boot = _bootstrap(val.labels, probas, config) if config.n_boot else None
    for arm in arms:
        values = np.array(per_seed[arm.key])
        mean, std = _aggregate(values)
        entry: dict[str, Any] = {
            "label": arm.label,
            "description": arm.description,
            "training_set": sets[arm.key],
            "per_seed": [
                _named(names, v) | {"seed": s, "train_s": round(train_s[arm.key][s], 2)}
                for s, v in enumerate(values)
            ],
            "mean": _named(names, mean),
            "std": _named(names, std) if std is not None else None,
        }
        if boot is not None:
            entry["interval"] = _interval(names, boot[arm.key])
        result_arms[arm.key] = entry
    differences: dict[str, Any] = {}
    if "real" in per_seed:
        for arm in arms:
            if arm.key == "real":
                continue
            delta = np.array(per_seed[arm.key]).mean(axis=0) - np.array(per_seed["real"]).mean(axis=0)
            diff: dict[str, Any] = {"label": f"{arm.label} - (a) real", "mean": _named(names, delta)}
            if boot is not None:
                diff["interval"] = _interval(names, boot[arm.key] - boot["real"])
                diff["p_not_better"] = _named(names, (boot[arm.key] - boot["real"] <= 0).mean(axis=0))
            differences[arm.key] = diff
    return {
        "arms": result_arms,
        "differences": differences,
        "metric_names": names,
        "steps": steps,
        "plan_balance": plan_balance(counts),
        "synthetic_per_seed": needed,
        **(
            {"filter": {"threshold": config.filter_threshold, "per_seed": filter_report}} if filtering else {}
        ),
        "timing": {
            "generation_s": round(generation_s, 2),
            "training_s": round(sum(sum(v) for v in train_s.values()), 2),
        },
    }


def _composition(
    arm: Arm,
    labels: np.ndarray,
    is_synthetic: np.ndarray,
    counts: dict[str, int],
    classes: tuple[str, ...],
) -> dict[str, dict[str, int]]:
    """Per class: images in the arm's training set, and how many of them are real / synthetic / redrawn."""
    out = {}
    for k, c in enumerate(classes):
        members = labels == k
        total, synthetic = int(members.sum()), int(is_synthetic[members].sum())
        real = 0 if arm.set_key == "synthetic" else counts[c]
        out[c] = {
            "total": total,
            "real": real,
            "synthetic": synthetic,
            "redrawn_real": total - real - synthetic,
        }
    return out


def _bootstrap(
    y_true: np.ndarray, probas: dict[str, list[np.ndarray]], config: UtilityConfig
) -> dict[str, np.ndarray]:
    """Per arm, (n_boot, M): the seed-mean of every metric on each stratified resample of the validation set.

    The same resamples serve every arm and seed, so differences between arms are paired.
    """
    rows = stratified_resamples(y_true, config.n_boot, config.boot_seed)
    out = {}
    for key, seed_probas in probas.items():
        out[key] = np.mean([[metric_vector(y_true[r], p[r]) for r in rows] for p in seed_probas], axis=0)
    return out


def _interval(names: list[str], samples: np.ndarray) -> dict[str, Any]:
    low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    return {"low": _named(names, low), "high": _named(names, high)}


def _named(names: list[str], values: np.ndarray) -> dict[str, Any]:
    """Metric vector -> {"balanced_accuracy": x, "macro_auroc": y, "recall": {c: ...}, "auroc": {c: ...}}."""
    out: dict[str, Any] = {}
    for name, value in zip(names, values, strict=True):
        v = None if np.isnan(value) else round(float(value), 6)
        if "/" in name:
            group, cls = name.split("/", 1)
            out.setdefault(group, {})[cls] = v
        else:
            out[name] = v
    return out
