"""Intra-set diversity: the mean pairwise distance between the feature vectors of one set, and its ratio to
the real set's.

A class-conditional generator on a small set can collapse to a few images per class while its FD stays
moderate. The ratio of the synthetic set's mean pairwise feature distance to the real set's, class by class,
shows that directly: 1 means as varied as the real images, well below 1 a collapse. It is the feature-space
form of the intra-class MS-SSIM test of Odena et al. (2017), which compared random pairs within a class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medsynth.errors import DataError
from medsynth.metrics._neighbours import pairwise_distances

__all__ = ["DiversityResult", "diversity", "mean_pairwise_distance"]

MAX_ROWS = 2000  # rows sampled from a larger set: the mean of 2M pairwise distances is precise enough


def mean_pairwise_distance(features: np.ndarray, *, max_rows: int = MAX_ROWS, seed: int = 0) -> float:
    """Mean Euclidean distance over all pairs of distinct rows (of a random ``max_rows`` of them, if more).

    Raises
    ------
    DataError
        Fewer than two rows, or not a finite 2-D array.
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2 or not np.all(np.isfinite(f)):
        raise DataError(
            f"mean_pairwise_distance: expected finite features of shape (N >= 2, D), got {f.shape}"
        )
    if f.shape[0] > max_rows:
        f = f[np.sort(np.random.default_rng(seed).choice(f.shape[0], max_rows, replace=False))]
    iu = np.triu_indices(f.shape[0], k=1)
    return float(pairwise_distances(f, f)[iu].mean())


@dataclass(frozen=True)
class DiversityResult:
    ratio: float  # synthetic / real mean pairwise distance (1 = as diverse as the real set)
    synthetic: float
    real: float

    def as_dict(self) -> dict[str, float]:
        return {"ratio": self.ratio, "synthetic": self.synthetic, "real": self.real}


def diversity(real: np.ndarray, synthetic: np.ndarray, *, seed: int = 0) -> DiversityResult:
    """The synthetic set's mean pairwise feature distance over the real set's (``inf`` if that is 0)."""
    r = mean_pairwise_distance(real, seed=seed)
    s = mean_pairwise_distance(synthetic, seed=seed)
    return DiversityResult(s / r if r > 0 else float("inf"), s, r)
