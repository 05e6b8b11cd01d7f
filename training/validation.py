"""A cheap validation metric for early stopping and checkpoint selection: the Fréchet distance between real
and generated images downsampled to 8x8 (192 numbers per RGB image), which follows colour and coarse shape.

It needs no network weights; it is a training signal, not the quality figure a model card reports.
"""

from __future__ import annotations

import numpy as np


def pixel_features(images: np.ndarray, side: int = 8) -> np.ndarray:
    """uint8 (N, H, W, C) -> float64 (N, side*side*C) block means in [0, 1]."""
    n, h, w, c = images.shape
    f = h // side
    x = images.reshape(n, side, f, side, f, c).astype(np.float64).mean(axis=(2, 4)) / 255.0
    return x.reshape(n, -1)


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``a`` and ``b``."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # tr sqrt(s1 s2) = sum sqrt(eig(sqrt(s1) s2 sqrt(s1))), with symmetric square roots for stability
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = r1 @ s2 @ r1
    tr = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr)
