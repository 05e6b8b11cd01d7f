"""A cheap validation metric for early stopping and checkpoint selection: the Fréchet distance between real
and generated images downsampled to 8x8 (192 numbers per RGB image), which follows colour and coarse shape.

It needs no network weights; it is a training signal, not the quality figure a model card reports.
"""

from __future__ import annotations

import numpy as np

from medsynth.metrics.frechet import frechet_distance as frechet  # the SDK's, shared with `medsynth evaluate`

__all__ = ["frechet", "pixel_features"]


def pixel_features(images: np.ndarray, side: int = 8) -> np.ndarray:
    """uint8 (N, H, W, C) -> float64 (N, side*side*C) block means in [0, 1]."""
    n, h, w, c = images.shape
    f = h // side
    x = images.reshape(n, side, f, side, f, c).astype(np.float64).mean(axis=(2, 4)) / 255.0
    return x.reshape(n, -1)
