"""Blocked Euclidean nearest-neighbour searches (BLAS matrix products; memory bounded by the block size)."""

from __future__ import annotations

import numpy as np

__all__ = ["pairwise_distances", "nearest"]

_BLOCK_ROWS = 1024


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``a`` (n, D) and ``b`` (m, D), shape (n, m), float64."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    sq = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T)
    distances: np.ndarray = np.sqrt(np.clip(sq, 0.0, None))
    return distances


def nearest(query: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index and distance of each query row's nearest reference row.

    Returns
    -------
    tuple of numpy.ndarray
        (indices int64 (n,), distances float64 (n,)).
    """
    n = query.shape[0]
    idx = np.empty(n, dtype=np.int64)
    dist = np.empty(n)
    for start in range(0, n, _BLOCK_ROWS):
        d = pairwise_distances(query[start : start + _BLOCK_ROWS], reference)
        j = d.argmin(axis=1)
        idx[start : start + d.shape[0]] = j
        dist[start : start + d.shape[0]] = d[np.arange(d.shape[0]), j]
    return idx, dist
