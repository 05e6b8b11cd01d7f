"""Helpers for the training tests: tiny configs, image sets and data folders made in tmp_path."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from medsynth.training.config import TrainConfig
from medsynth.training.data import ImageSet

ARCHS = ("dcgan", "sngan", "sngan-cnn", "sngan-aa", "wgan-gp", "stylegan", "projected")
SHARED_ISIC = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "isic2017"


def tiny_config(arch: str = "sngan", **changes: Any) -> TrainConfig:
    """A config small enough for a few CPU steps in well under a second each: 16 px, widths 4..16."""
    values: dict[str, Any] = dict(
        arch=arch,
        image_size=16,
        latent_dim=8,
        g_width=4,
        d_width=4,
        max_width=16,
        batch_size=4,
        epochs=1,
        samples_per_class=2,
        ema_start=0,
        ema_decay=0.9,
        seed=0,
    )
    values.update(changes)
    return TrainConfig(**values)


def tiny_image_set(
    n_per_class: tuple[int, ...] = (6, 6), size: int = 16, channels: int = 3, seed: int = 0
) -> ImageSet:
    """Random uint8 images, class c brighter than class c-1 so that classes differ."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c, n in enumerate(n_per_class):
        base = rng.integers(0, 128, (n, size, size, channels)) + 40 * c
        images.append(np.clip(base, 0, 255).astype(np.uint8))
        labels.append(np.full(n, c, dtype=np.int64))
    all_labels = np.concatenate(labels)
    return ImageSet(
        images=np.concatenate(images),
        labels=all_labels,
        classes=tuple(f"class{c}" for c in range(len(n_per_class))),
        ids=tuple(f"img{i}" for i in range(len(all_labels))),
        name="tiny",
    )


def solid_png(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (24, 20)) -> Path:
    """A PNG of one colour (width, height = ``size``): every resampling of it keeps the colour."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def class_tree(root: Path, counts: dict[str, int]) -> dict[str, tuple[int, int, int]]:
    """Class folders of solid-colour PNGs, one colour per class; returns the colours."""
    colours = {}
    for k, (name, n) in enumerate(counts.items()):
        colours[name] = (30 + 60 * k, 200 - 50 * k, 90)
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            solid_png(root / name / f"{name}_{i}.png", colours[name])
    return colours


def isic_folder(root: Path, images: dict[str, Path], labels: dict[str, str], split: dict[str, str]) -> Path:
    """An ISIC folder: ``images/`` plus a labels.csv and the official ground-truth CSV."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    for image_id, source in images.items():
        shutil.copy(source, root / "images" / f"{image_id}{source.suffix}")
    with (root / "labels.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image_id", "split", "diagnosis", "path"])
        for image_id, source in images.items():
            w.writerow([image_id, split[image_id], labels[image_id], f"images/{image_id}{source.suffix}"])
    with (root / "ISIC-2017_Training_Part3_GroundTruth.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image_id", "melanoma", "seborrheic_keratosis"])
        for image_id in images:
            w.writerow(
                [
                    image_id,
                    f"{float(labels[image_id] == 'melanoma'):.1f}",
                    f"{float(labels[image_id] == 'seborrheic_keratosis'):.1f}",
                ]
            )
    return root


def read_shared_isic_labels(n_per_class: int) -> tuple[dict[str, Path], dict[str, str], dict[str, str]]:
    """``n_per_class`` training images of each class from the shared ISIC 2017 folder."""
    images: dict[str, Path] = {}
    labels: dict[str, str] = {}
    taken: dict[str, int] = {}
    with (SHARED_ISIC / "labels.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["split"] != "train" or taken.get(row["diagnosis"], 0) >= n_per_class:
                continue
            taken[row["diagnosis"]] = taken.get(row["diagnosis"], 0) + 1
            images[row["image_id"]] = SHARED_ISIC / row["path"]
            labels[row["image_id"]] = row["diagnosis"]
    return images, labels, {i: "train" for i in images}


# the command-line form of tiny_config's sizes, for tests that run `medsynth train`
TINY_FLAGS = [
    "--image-size",
    "16",
    "--latent-dim",
    "8",
    "--g-width",
    "4",
    "--d-width",
    "4",
    "--max-width",
    "16",
    "--batch-size",
    "4",
    "--samples-per-class",
    "2",
    "--ema-start",
    "0",
]
