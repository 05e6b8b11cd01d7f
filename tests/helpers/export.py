"""Helpers of the export tests: tiny real checkpoints, trained for 2 steps by the medsynth Trainer.

Every architecture registered in medsynth.training.nets is covered (parametrised over ``arch_names()``), plus
the WGAN-GP+LSTM variant when wgan-gp is registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medsynth.imageset import ImageSet
from medsynth.training.config import TrainConfig
from medsynth.training.loop import Trainer
from medsynth.training.nets import arch_names, get_arch

CLASSES = ("nevus", "melanoma", "seborrheic_keratosis")
SIZE = 16
LATENT = 8


def variants() -> list[tuple[str, dict[str, Any]]]:
    """(arch, config overrides) for every registered architecture, and the options that change the graph."""
    found: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in arch_names()]
    found += [(name, {option: True}) for name in arch_names() for option in get_arch(name).options]
    return found


def variant_id(variant: tuple[str, dict[str, Any]]) -> str:
    arch, options = variant
    return arch + "".join(f"-{k}" for k, v in sorted(options.items()) if v)


def tiny_images(channels: int = 3, per_class: int = 4, seed: int = 0) -> ImageSet:
    """Random images whose class shifts the mean colour, so the data set is not pure noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(per_class * len(CLASSES), dtype=np.int64) % len(CLASSES)
    base = rng.integers(0, 160, (len(labels), SIZE, SIZE, channels))
    images = (base + 40 * labels[:, None, None, None]).astype(np.uint8)
    ids = tuple(f"img{i:03d}" for i in range(len(labels)))
    return ImageSet(
        images=images, labels=labels, classes=CLASSES, ids=ids, name="tiny test set", license="CC0-1.0"
    )


def tiny_config(arch: str, **changes: Any) -> TrainConfig:
    values: dict[str, Any] = dict(
        data="/private/site/data/isic",
        arch=arch,
        image_size=SIZE,
        latent_dim=LATENT,
        g_width=8,
        d_width=8,
        batch_size=4,
        max_iterations=2,
        epochs=1,
        samples_per_class=1,
        ema_start=0,
        ema_decay=0.9,
        seed=5,
        extra={"notes": "baseline", "copied_from": "runs/old-run"},
    )
    values.update(changes)
    return TrainConfig(**values)


@dataclass(frozen=True)
class Trained:
    """A 2-step training run."""

    run_dir: Path
    checkpoint: Path
    data: ImageSet
    config: TrainConfig


def train(out: Path, arch: str, *, channels: int = 3, **changes: Any) -> Trained:
    data = tiny_images(channels)
    config = tiny_config(arch, **changes)
    result = Trainer(config, data, out, log=lambda _: None).fit()
    return Trained(out, result.checkpoint, data, config)
