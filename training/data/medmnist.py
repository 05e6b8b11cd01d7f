"""MedMNIST ``.npz`` files: ``{split}_images`` (N, H, W[, C]) uint8 and ``{split}_labels`` (N, 1)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from medsynth.errors import DataError

MEDMNIST_LICENSE = "CC BY 4.0 (MedMNIST v2, Yang et al. 2023)"


def read_medmnist(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W, C) uint8 and labels (N,) int64 of ``split`` ("all" = train+val+test)."""
    splits = ("train", "val", "test") if split in ("", "all") else (split,)
    try:
        with np.load(path) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read MedMNIST file {path}: {exc}") from exc
    missing = [s for s in splits if f"{s}_images" not in arrays or f"{s}_labels" not in arrays]
    if missing:
        raise DataError(
            f"{path} has no {missing[0]}_images/{missing[0]}_labels arrays; it holds {sorted(arrays)}"
        )
    images = np.concatenate([arrays[f"{s}_images"] for s in splits])
    labels = np.concatenate([arrays[f"{s}_labels"].reshape(-1) for s in splits]).astype(np.int64)
    if not len(images):
        raise DataError(f"{path} has no images in split {split!r}")
    if len(labels) != len(images) or labels.min() < 0:
        raise DataError(f"{path}: labels must be one non-negative class index per image")
    if images.ndim == 3:
        images = images[..., None]
    if images.dtype != np.uint8:
        raise DataError(f"{path}: expected uint8 images, got {images.dtype}")
    return images, labels
