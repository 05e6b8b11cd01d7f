"""``medsynth utility``: does synthetic data help a classifier? Real-only vs real re-draws vs real+synthetic
arms, the same classifier recipe (by default ImageNet EfficientNet-Lite0, fine-tuned) and seeds for each,
scored on the real validation split."""

from __future__ import annotations

import time
from pathlib import Path

import click

from medsynth._version import __version__
from medsynth.training.downstream.arms import ARMS, DEFAULT_ARMS
from medsynth.training.downstream.classifier import AUGMENTATIONS, NETWORKS

__all__ = ["utility"]


@click.command(name="utility")
@click.option(
    "--real",
    "real",
    required=True,
    type=click.Path(path_type=Path),
    help="Real data with a train and a validation split: an ISIC folder or CSV, a MedMNIST .npz, "
    "or a folder holding train/ and val/ class-folder trees.",
)
@click.option(
    "--val",
    "val",
    type=click.Path(path_type=Path),
    default=None,
    help="A separate validation data set (any layout), instead of the validation split of --real.",
)
@click.option("--train-split", default="train", show_default=True, help="Split of --real to train on.")
@click.option("--val-split", default="val", show_default=True, help="Split of --real to score on.")
@click.option(
    "--model",
    "model",
    default=None,
    help="Bundled model name or ONNX path that makes the synthetic images (default: the bundled "
    "default model).",
)
@click.option(
    "--seeds",
    type=click.IntRange(1, 100),
    default=5,
    show_default=True,
    help="Classifier seeds 0..N-1; seed s also seeds that run's synthetic images.",
)
@click.option(
    "--classifier",
    "network",
    type=click.Choice(NETWORKS),
    default=NETWORKS[0],
    show_default=True,
    help="efficientnet-lite0: ImageNet weights fine-tuned end to end (what a user would train); "
    "small-cnn: four conv blocks from scratch (fast).",
)
@click.option(
    "--epochs",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Training length in passes over the real train split; every arm gets the same steps "
    "(default: 4 for efficientnet-lite0, 10 for small-cnn).",
)
@click.option(
    "--width",
    type=click.IntRange(1, 512),
    default=None,
    help="small-cnn: channels of the first conv block (doubled in each of the 4 blocks; default 16).",
)
@click.option(
    "--augment",
    type=click.Choice(tuple(AUGMENTATIONS)),
    default="dihedral",
    show_default=True,
    help="Augmentation of every training image, the same for every arm: dihedral (8 flips/rotations), "
    "dihedral+blur (then a Gaussian blur of random sigma, so that a generator's fine marks are no cue), "
    "or none.",
)
@click.option(
    "--synthetic-ratio",
    "ratios",
    default="",
    help="Comma-separated ratios R (e.g. 0.25,0.5,2): for each, an arm with the real train split "
    "plus R times each class's shortfall in synthetic images.",
)
@click.option(
    "--filter",
    "filter_threshold",
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    default=None,
    help="Add the arm 'filtered': as 'balanced', with only synthetic images that the classifier "
    "trained on the real split does not assign to another class with probability above T.",
)
@click.option(
    "--image-size",
    type=click.IntRange(8, 1024),
    default=None,
    help="Side the classifier sees; default: the model's image size (real images are resized to "
    "it, synthetic ones too when it differs).",
)
@click.option(
    "--arms",
    default=",".join(DEFAULT_ARMS),
    show_default=True,
    help=f"Comma-separated arms from {', '.join(a.key for a in ARMS)} ('oversampled' is the "
    "control for 'balanced': the same class totals from redrawn real images; 'mixed' fills "
    "them half with synthetic, half with redrawn real images), 'doubled:CLASS' ('doubled' with "
    "synthetic images in that class alone) or 'balanced:CLASS' ('oversampled' with that class's "
    "shortfall filled with synthetic images instead).",
)
@click.option(
    "--bootstrap",
    "n_boot",
    type=click.IntRange(0, 100_000),
    default=1000,
    show_default=True,
    help="Stratified bootstrap resamples of the validation images for the 95%% intervals (0: none).",
)
@click.option(
    "--threads",
    type=click.IntRange(0, 1024),
    default=0,
    show_default=True,
    help="torch CPU threads (0: every core).",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for utility.json and utility.png (new, empty, or an earlier utility output).",
)
@click.option("--quiet", is_flag=True, help="No progress bars or per-run lines; only the table.")
def utility(
    real: Path,
    val: Path | None,
    train_split: str,
    val_split: str,
    model: str | None,
    seeds: int,
    network: str,
    epochs: int | None,
    width: int | None,
    augment: str,
    ratios: str,
    filter_threshold: float | None,
    image_size: int | None,
    arms: str,
    n_boot: int,
    threads: int,
    out: Path,
    quiet: bool,
) -> None:
    """Does synthetic data help a classifier? Fine-tune one classifier recipe (ImageNet EfficientNet-Lite0
    by default) on (a) the real train split with a class-weighted loss, (d) real images drawn again to
    balance the classes, (b) real plus synthetic images that balance them, (e) half and half, (g) real plus
    as many synthetic images per class as real ones ('doubled'), (h) that set for the first half of the
    steps and the real split alone for the second ('staged'), and the arms of --synthetic-ratio and
    --filter; score each on the real validation split: balanced accuracy, macro
    AUROC, per-class recall, AUROC and sensitivity at 80% specificity, over several seeds with paired
    bootstrap intervals. Writes OUT/utility.json and OUT/utility.png and prints a table.
    """
    from medsynth import Generator
    from medsynth.training.downstream.arms import get_arms
    from medsynth.training.downstream.benchmark import UtilityConfig, run_utility
    from medsynth.training.downstream.classifier import recipe
    from medsynth.training.downstream.report import check_out, table, write_outputs
    from medsynth.training.downstream.splits import load_splits, to_model_classes

    started = time.perf_counter()
    arm_keys = tuple(k.strip() for k in arms.split(",") if k.strip())
    arm_keys += tuple(f"ratio:{r.strip()}" for r in ratios.split(",") if r.strip())
    if filter_threshold is not None and "filtered" not in arm_keys:
        arm_keys += ("filtered",)
    arm_keys = tuple(a.key for a in get_arms(arm_keys))
    check_out(out)
    generator = Generator.load(model)
    card = generator.card
    size = image_size or card.image_size

    def echo(message: str) -> None:
        if not quiet:
            click.echo(message, err=True)

    train, held_out = load_splits(
        real,
        val,
        image_size=size,
        channels=card.channels,
        train_split=train_split,
        val_split=val_split,
        progress=echo,
    )
    train = to_model_classes(train, card, "train")
    held_out = to_model_classes(held_out, card, "validation")
    echo(f"train: {train.name}: {train.counts()}; validation: {held_out.name}: {held_out.counts()}")
    config = UtilityConfig(
        seeds=seeds,
        arms=arm_keys,
        n_boot=n_boot,
        threads=threads,
        filter_threshold=filter_threshold or 0.0,
        classifier=recipe(network, width=width, epochs=epochs, augment=augment),
    )
    result = run_utility(train, held_out, generator, config, quiet=quiet, log=echo)
    document = {
        "kind": "medsynth-utility",
        "schema_version": 1,
        "medsynth_version": __version__,
        "model": {
            "name": card.name,
            "arch": card.arch,
            "sha256": generator.sha256,
            "classes": list(card.classes),
            "image_size": card.image_size,
            "channels": card.channels,
        },
        "data": {
            "real": str(real),
            "val": str(val) if val is not None else None,
            "train_split": train_split,
            "val_split": val_split,
            "train_name": train.name,
            "val_name": held_out.name,
            "train_counts": train.counts(),
            "val_counts": held_out.counts(),
            "skipped": len(train.skipped) + len(held_out.skipped),
        },
        "config": {
            "seeds": list(range(seeds)),
            "arms": list(arm_keys),
            "image_size": size,
            "threads": threads,
            "bootstrap": {
                "resamples": n_boot,
                "seed": config.boot_seed,
                "method": "stratified by class (each class resampled with replacement to its own "
                "count); each resample scores every seed's predictions and takes the mean "
                "over seeds; 95% percentile interval; differences use the same resamples "
                "(paired)",
            },
        },
        "recipe": config.classifier.as_dict(),
        **result,
    }
    document["wall_time_s"] = round(time.perf_counter() - started, 2)
    json_path, plot_path = write_outputs(out, document)
    click.echo(table(document))
    click.echo(
        f"{len(arm_keys)} arm(s) x {seeds} seed(s), {result['steps']} steps each, in "
        f"{document['wall_time_s'] / 60:.1f} min; wrote {json_path} and {plot_path}"
    )
