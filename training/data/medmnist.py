"""MedMNIST ``.npz`` files: ``{split}_images`` (N, H, W[, C]) uint8 and ``{split}_labels`` (N, 1)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from medsynth.errors import DataError

MEDMNIST_LICENSE = "CC BY 4.0 (MedMNIST v2, Yang et al. 2023)"


def read_medmnist(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W, C) uint8 and labels (N,) int64 of ``split`` ("all" = train+val+test)."""
    try:
        with np.load(path) as npz:
            splits = ("train", "val", "test") if split in ("", "all") else (split,)
            missing = [s for s in splits if f"{s}_images" not in npz.files]
            if missing:
                raise DataError(f"{path} has no {missing[0]}_images array; it holds {sorted(npz.files)}")
            images = np.concatenate([npz[f"{s}_images"] for s in splits])
            labels = np.concatenate([npz[f"{s}_labels"].reshape(-1) for s in splits]).astype(np.int64)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read MedMNIST file {path}: {exc}") from exc
    if images.ndim == 3:
        images = images[..., None]
    if images.dtype != np.uint8:
        raise DataError(f"{path}: expected uint8 images, got {images.dtype}")
    return images, labels
