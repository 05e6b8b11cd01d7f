"""Memorization audit: is each synthetic image closer to a training image than fresh real images are?"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medsynth.errors import DataError
from medsynth.metrics._neighbours import nearest

__all__ = ["MemorizationResult", "memorization_audit", "pixel_space", "save_closest_pairs"]


@dataclass(frozen=True)
class MemorizationResult:
    """Nearest-training-image distances of synthetic and held-out real images in one space."""

    space: str  # the space the distances were measured in, e.g. "pixels-32" or "radiomics"
    synthetic_to_train: (
        np.ndarray
    )  # (n_synthetic,) distance of each synthetic image to its nearest training image
    nearest_train: np.ndarray  # (n_synthetic,) index of that training image
    holdout_to_train: np.ndarray  # (n_holdout,) the same distance for each held-out real image
    percentile: float  # the percentile of holdout_to_train that defines a copy
    threshold: float  # that percentile's value
    copy_rate: float  # share of synthetic images closer to a training image than the threshold
    median_ratio: (
        float  # median synthetic-to-train over median holdout-to-train (< 1: closer than fresh data)
    )

    def closest(self, k: int) -> np.ndarray:
        """Indices of the k synthetic images nearest to a training image, nearest first."""
        return np.argsort(self.synthetic_to_train, kind="stable")[:k]

    def summary(self) -> dict[str, float | int | str]:
        """JSON-ready scalars of the audit."""
        return {
            "space": self.space,
            "percentile": self.percentile,
            "threshold": self.threshold,
            "copy_rate": self.copy_rate,
            "median_ratio": self.median_ratio,
            "n_copies": int((self.synthetic_to_train < self.threshold).sum()),
            "n_synthetic": int(self.synthetic_to_train.size),
            "n_holdout": int(self.holdout_to_train.size),
            "synthetic_to_train_median": float(np.median(self.synthetic_to_train)),
            "holdout_to_train_median": float(np.median(self.holdout_to_train)),
        }


def pixel_space(images: np.ndarray, size: int = 32) -> np.ndarray:
    """Pixel-space vectors for nearest-neighbour search: each image box-downsampled to ``size`` x ``size``.

    Parameters
    ----------
    images : numpy.ndarray
        uint8 batch (N, H, W) or (N, H, W, C).
    size : int
        Side of the downsampled image (32 by default: coarse enough to ignore noise, fine enough to see a
        copy).

    Returns
    -------
    numpy.ndarray
        float64 (N, size * size * C) in [0, 1], divided by sqrt(size * size * C) so that a distance is the
        root-mean-square pixel difference.
    """
    from PIL import Image

    a = np.asarray(images)
    if a.ndim == 3:
        a = a[..., None]
    if a.ndim != 4 or a.dtype != np.uint8:
        raise DataError(f"pixel_space: expected a uint8 batch (N, H, W[, C]), got {a.dtype} {a.shape}")
    out = np.empty((a.shape[0], size, size, a.shape[3]))
    for i, img in enumerate(a):
        pil = Image.fromarray(img[..., 0] if a.shape[3] == 1 else img)
        small = np.asarray(pil.resize((size, size), Image.Resampling.BOX), dtype=np.float64) / 255.0
        out[i] = small.reshape(size, size, a.shape[3])
    flat = out.reshape(a.shape[0], -1)
    scaled: np.ndarray = flat / np.sqrt(flat.shape[1])
    return scaled


def memorization_audit(
    synthetic: np.ndarray, train: np.ndarray, holdout: np.ndarray, *, space: str, percentile: float = 1.0
) -> MemorizationResult:
    """Nearest training image of every synthetic image, judged against held-out real images.

    A synthetic image counts as a copy when its distance to the nearest training image is below the
    ``percentile``-th percentile of the held-out real images' distances to their nearest training image:
    closer to a patient's image than all but ``percentile`` % of genuinely new real images are. For a
    generator that copies nothing the copy rate is about ``percentile`` / 100; well above that means
    memorization.

    Parameters
    ----------
    synthetic, train, holdout : numpy.ndarray
        Vectors (N, D) of the synthetic, training and held-out real images in one space (pixel or feature).
    space : str
        Name of the space, kept in the result.
    percentile : float
        Percentile of the holdout distances used as the copy threshold (1 by default; 5 is a looser audit).

    Returns
    -------
    MemorizationResult
        The distances, nearest indices, threshold and copy rate.

    Raises
    ------
    DataError
        If a set is empty, the dimensions differ, or the percentile is outside (0, 100).
    """
    sets = [np.asarray(a, dtype=np.float64) for a in (synthetic, train, holdout)]
    if any(a.ndim != 2 or a.shape[0] == 0 for a in sets) or len({a.shape[1] for a in sets}) != 1:
        raise DataError(
            "memorization_audit: synthetic, train and holdout must be non-empty (N, D) arrays with one "
            f"D, got {[a.shape for a in sets]}"
        )
    if not 0 < percentile < 100:
        raise DataError(f"memorization_audit: percentile must be in (0, 100), got {percentile}")
    syn, train_v, hold = sets
    idx, d_syn = nearest(syn, train_v)
    _, d_hold = nearest(hold, train_v)
    threshold = float(np.percentile(d_hold, percentile))
    med_hold = float(np.median(d_hold))
    return MemorizationResult(
        space=space,
        synthetic_to_train=d_syn,
        nearest_train=idx,
        holdout_to_train=d_hold,
        percentile=percentile,
        threshold=threshold,
        copy_rate=float((d_syn < threshold).mean()),
        median_ratio=float(np.median(d_syn)) / med_hold if med_hold > 0 else float("inf"),
    )


def save_closest_pairs(
    path: Path, synthetic_images: np.ndarray, train_images: np.ndarray, result: MemorizationResult, k: int = 8
) -> Path:
    """Write the k closest (synthetic, nearest training image) pairs side by side as one PNG.

    Each row is one pair: synthetic on the left, its nearest training image on the right, a 4-pixel gap
    between columns and rows. Rows are ordered nearest first.

    Parameters
    ----------
    path : pathlib.Path
        The PNG file to write.
    synthetic_images, train_images : numpy.ndarray
        uint8 batches (N, H, W[, C]) with one size, in the order the audit saw them.
    result : MemorizationResult
        The audit.
    k : int
        Number of pairs.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from PIL import Image

    order = result.closest(k)
    syn = synthetic_images if synthetic_images.ndim == 4 else synthetic_images[..., None]
    trn = train_images if train_images.ndim == 4 else train_images[..., None]
    h, w, c = syn.shape[1:]
    gap = 4
    canvas = np.full((len(order) * (h + gap) - gap, 2 * w + gap, c), 255, dtype=np.uint8)
    for row, i in enumerate(order):
        top = row * (h + gap)
        canvas[top : top + h, :w] = syn[i]
        canvas[top : top + h, w + gap :] = trn[result.nearest_train[i]]
    Image.fromarray(canvas[..., 0] if c == 1 else canvas).save(path)
    return path
