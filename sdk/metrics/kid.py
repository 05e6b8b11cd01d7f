"""Kernel Inception Distance: the unbiased squared MMD with a cubic polynomial kernel (Bińkowski et al.
2018)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medsynth.errors import DataError

__all__ = ["KIDResult", "kid", "mmd2_unbiased"]


@dataclass(frozen=True)
class KIDResult:
    """KID over random subsets."""

    mean: float  # mean of the per-subset unbiased MMD^2 estimates
    std: float  # their standard deviation (ddof=0) over subsets
    subset_size: int  # rows drawn from each set per subset
    n_subsets: int  # number of subsets


def _kernel(a: np.ndarray, b: np.ndarray, degree: int, gamma: float, coef0: float) -> np.ndarray:
    gram: np.ndarray = (gamma * (a @ b.T) + coef0) ** degree
    return gram


def mmd2_unbiased(
    x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None, coef0: float = 1.0
) -> float:
    """Unbiased estimate of the squared MMD between two samples with
    ``k(a, b) = (gamma <a, b> + coef0)^degree``.

    Parameters
    ----------
    x, y : numpy.ndarray
        Samples of shape (n, D) and (m, D), n, m >= 2 (they may differ).
    degree, gamma, coef0 : int, float, float
        The polynomial kernel; gamma defaults to 1 / D.

    Returns
    -------
    float
        ``mean_{i != j} k(x_i, x_j) + mean_{i != j} k(y_i, y_j) - 2 mean k(x_i, y_j)``.

    Raises
    ------
    DataError
        If a sample has fewer than 2 rows or the dimensions differ.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or x.shape[0] < 2 or y.shape[0] < 2:
        raise DataError(
            f"kid: expected two feature arrays (n >= 2, D) with the same D, got {x.shape}, {y.shape}"
        )
    g = 1.0 / x.shape[1] if gamma is None else gamma
    n, m = x.shape[0], y.shape[0]
    kxx = _kernel(x, x, degree, g, coef0)
    kyy = _kernel(y, y, degree, g, coef0)
    kxy = _kernel(x, y, degree, g, coef0)
    term_x = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    term_y = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(term_x + term_y - 2.0 * kxy.mean())


def kid(
    real: np.ndarray, synthetic: np.ndarray, subset_size: int = 1000, n_subsets: int = 100, seed: int = 0
) -> KIDResult:
    """Kernel Inception Distance: the mean unbiased MMD^2 over random subsets drawn without replacement.

    Parameters
    ----------
    real, synthetic : numpy.ndarray
        Feature arrays (N1, D) and (N2, D).
    subset_size : int
        Rows per subset from each set, capped at the smaller set's size (1000 as in the paper and piq).
    n_subsets : int
        Number of subsets (100 as in the paper and piq). With one subset as large as both sets the estimate
        uses every row once.
    seed : int
        Seed of the subset draws.

    Returns
    -------
    KIDResult
        Mean and standard deviation over subsets. Unbiased, so it can be slightly negative for close sets.

    Raises
    ------
    DataError
        If a set has fewer than 2 rows, the dimensions differ, or the counts are not positive.
    """
    real = np.asarray(real, dtype=np.float64)
    synthetic = np.asarray(synthetic, dtype=np.float64)
    if subset_size < 2 or n_subsets < 1:
        raise DataError(f"kid: subset_size must be >= 2 and n_subsets >= 1, got {subset_size}, {n_subsets}")
    if real.ndim != 2 or synthetic.ndim != 2:
        raise DataError(f"kid: expected 2-D feature arrays, got {real.shape} and {synthetic.shape}")
    m = min(subset_size, real.shape[0], synthetic.shape[0])
    rng = np.random.default_rng(seed)
    values = np.empty(n_subsets)
    for s in range(n_subsets):
        xi = rng.choice(real.shape[0], m, replace=False)
        yi = rng.choice(synthetic.shape[0], m, replace=False)
        values[s] = mmd2_unbiased(real[xi], synthetic[yi])
    return KIDResult(float(values.mean()), float(values.std()), m, n_subsets)
