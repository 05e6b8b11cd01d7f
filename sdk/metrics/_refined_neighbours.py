"""Exact k-nearest-neighbour ball tests: float32 Gram blocks, refined in float64 where float32 can't decide.

PRDC compares every squared distance of two 10,000-row sets with a per-point radius. Float64 matrix products
cost twice float32's on this kind of CPU, so the distances come from float32 products of the centred features,
``|a|^2 + |b|^2 - 2 <a, b>`` (the norms in float64), and each value carries a rigorous error bound
``e = c (|a|^2 + |b|^2)`` with ``c = (D + 4) 2^-23``: twice the worst-case float32 dot-product error of
length D, plus the rounding of the centred features to float32. A comparison the bound does not settle is
redone in float64 from the original rows as ``sum((a - b)^2)``, so the results equal a float64 computation's:

- the k-th neighbour radius: the (k+1)-th smallest upper bound U caps the true radius; every row whose lower
  bound is at most U is measured exactly, and the radius is the k-th of those exact distances;
- a ball test ``d^2 < r^2``: decided by the bound unless ``|d^2 - r^2| <= e``, and then measured exactly.

Near-ties are rare (a few per row), so the float64 work is a small fraction of the products'.
Memory is bounded by ``_BLOCK_ROWS`` rows of Gram matrix at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numba import get_num_threads, njit, prange

from medsynth.metrics._neighbours import _BLOCK_ROWS

__all__ = ["CentredSet", "centred_pair", "kth_neighbour_sq", "ball_counts"]


@dataclass(frozen=True)
class CentredSet:
    """One feature set ready for the refined tests."""

    exact: np.ndarray  # the rows as given, float64 (n, D): the exact distances
    centred: np.ndarray  # float32 (n, D), minus a shared centre: the Gram products
    norms: np.ndarray  # float64 (n,) squared norms of the float32 centred rows


def _prepare(points: np.ndarray, centre: np.ndarray) -> CentredSet:
    exact = np.ascontiguousarray(points, dtype=np.float64)
    centred = np.ascontiguousarray(exact - centre, dtype=np.float32)
    as64 = centred.astype(np.float64)
    return CentredSet(exact, centred, np.einsum("ij,ij->i", as64, as64))


def centred_pair(a: np.ndarray, b: np.ndarray) -> tuple[CentredSet, CentredSet]:
    """Both sets centred on the first one's mean (distances do not change; the cancellation in the Gram form
    shrinks from the features' norms to their spread)."""
    centre = np.asarray(a, dtype=np.float64).mean(axis=0)
    return _prepare(a, centre), _prepare(b, centre)


def _bound_factor(dim: int) -> float:
    return (dim + 4) * 2.0**-23


def _gram_blocks(rows: CentredSet, cols: CentredSet) -> Iterator[tuple[slice, np.ndarray]]:
    """``(rows slice, float32 Gram block)`` for at most ``_BLOCK_ROWS`` rows at a time."""
    n = rows.centred.shape[0]
    for start in range(0, n, _BLOCK_ROWS):
        block = slice(start, min(start + _BLOCK_ROWS, n))
        yield block, rows.centred[block] @ cols.centred.T


@njit(cache=True)
def _exact_sq(a: np.ndarray, b: np.ndarray) -> float:  # pragma: no cover - compiled
    s = 0.0
    for t in range(a.shape[0]):
        diff = a[t] - b[t]
        s += diff * diff
    return s


@njit(cache=True, parallel=True)
def _kth_rows(  # pragma: no cover - compiled
    gram: np.ndarray,
    row_norms: np.ndarray,
    col_norms: np.ndarray,
    row_exact: np.ndarray,
    col_exact: np.ndarray,
    k: int,
    c: float,
    out: np.ndarray,
) -> None:
    """``out[i]`` = the exact (k+1)-th smallest squared distance from row i to the columns (self included)."""
    rows, cols = gram.shape
    for i in prange(rows):
        # Pass 1: the k+1 smallest upper bounds, kept sorted by insertion.
        top = np.full(k + 1, np.inf)
        for j in range(cols):
            s = row_norms[i] + col_norms[j]
            upper = s - 2.0 * gram[i, j] + c * s
            if upper < top[k]:
                p = k
                while p > 0 and top[p - 1] > upper:
                    top[p] = top[p - 1]
                    p -= 1
                top[p] = upper
        cap = top[k]
        # Pass 2: every column that may lie within the cap, measured exactly.
        exact = np.empty(cols)
        count = 0
        for j in range(cols):
            s = row_norms[i] + col_norms[j]
            if s - 2.0 * gram[i, j] - c * s <= cap:
                exact[count] = _exact_sq(row_exact[i], col_exact[j])
                count += 1
        out[i] = np.sort(exact[:count])[k]


def kth_neighbour_sq(points: CentredSet, k: int) -> np.ndarray:
    """Exact squared distance from each row to its k-th nearest other row of the same set (the row itself is
    the 0-th), float64 (n,)."""
    n, dim = points.centred.shape
    out = np.empty(n)
    c = _bound_factor(dim)
    for block, gram in _gram_blocks(points, points):
        _kth_rows(
            gram, points.norms[block], points.norms, points.exact[block], points.exact, k, c, out[block]
        )
    return out


@njit(cache=True)
def _less(  # pragma: no cover - compiled
    approx: float, bound: float, radius_sq: float, a: np.ndarray, b: np.ndarray
) -> bool:
    """``|a - b|^2 < radius_sq`` from the float32 value and its bound, measured exactly when undecided."""
    if approx + bound < radius_sq:
        return True
    if approx - bound >= radius_sq:
        return False
    return _exact_sq(a, b) < radius_sq


@njit(cache=True, parallel=True)
def _ball_block(  # pragma: no cover - compiled
    gram: np.ndarray,
    real_norms: np.ndarray,
    fake_norms: np.ndarray,
    real_exact: np.ndarray,
    fake_exact: np.ndarray,
    real_r2: np.ndarray,
    fake_r2: np.ndarray,
    c: float,
    chunks: int,
    inside_count: np.ndarray,
    covered: np.ndarray,
    recalled: np.ndarray,
) -> None:
    """One block of real rows against all synthetic columns; ``inside_count`` is (chunks, m), one row per
    thread, summed by the caller."""
    rows, cols = gram.shape
    for t in prange(chunks):
        for i in range(t * rows // chunks, (t + 1) * rows // chunks):
            any_inside = False
            any_recalled = False
            for j in range(cols):
                s = real_norms[i] + fake_norms[j]
                approx = s - 2.0 * gram[i, j]
                bound = c * s
                if _less(approx, bound, real_r2[i], real_exact[i], fake_exact[j]):
                    inside_count[t, j] += 1
                    any_inside = True
                if not any_recalled and _less(approx, bound, fake_r2[j], real_exact[i], fake_exact[j]):
                    any_recalled = True
            covered[i] = any_inside
            recalled[i] = any_recalled


def ball_counts(
    real: CentredSet, synthetic: CentredSet, real_r2: np.ndarray, fake_r2: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ball tests of PRDC, exactly.

    Returns
    -------
    tuple of numpy.ndarray
        ``inside_count`` int64 (m,): real balls holding each synthetic row; ``covered`` bool (n,): real balls
        holding some synthetic row; ``recalled`` bool (n,): real rows inside some synthetic ball.
    """
    n, dim = real.centred.shape
    m = synthetic.centred.shape[0]
    c = _bound_factor(dim)
    chunks = max(1, min(_BLOCK_ROWS, get_num_threads()))
    counts = np.zeros((chunks, m), dtype=np.int64)
    covered = np.empty(n, dtype=np.bool_)
    recalled = np.empty(n, dtype=np.bool_)
    for block, gram in _gram_blocks(real, synthetic):
        _ball_block(
            gram,
            real.norms[block],
            synthetic.norms,
            real.exact[block],
            synthetic.exact,
            real_r2[block],
            fake_r2,
            c,
            min(chunks, gram.shape[0]),
            counts,
            covered[block],
            recalled[block],
        )
    return counts.sum(axis=0), covered, recalled
