"""Fréchet distance between two feature sets (the statistic behind FID and FRD), and the relative FD."""

from __future__ import annotations

import numpy as np

from medsynth.errors import DataError

__all__ = [
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_from_statistics",
    "relative_frechet_distance",
]


def _features(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 1:
        raise DataError(f"{name}: expected features of shape (N >= 2, D), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise DataError(f"{name}: features contain NaN or infinity")
    return a


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample covariance (ddof=1) of a feature set.

    Parameters
    ----------
    features : numpy.ndarray
        Array of shape (N, D) with N >= 2.

    Returns
    -------
    tuple of numpy.ndarray
        The mean (D,) and covariance (D, D), float64.

    Raises
    ------
    DataError
        If the array is not (N >= 2, D) or holds non-finite values.
    """
    f = _features(features, "feature_statistics")
    mu = f.mean(axis=0)
    centred = f - mu
    sigma = centred.T @ centred  # numpy runs A^T A as a symmetric rank-k product: exactly symmetric
    sigma /= f.shape[0] - 1
    return mu, sigma


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(sigma)
    root: np.ndarray = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
    return root


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr((sigma1 sigma2)^(1/2))`` of symmetric PSD matrices (see frechet_distance_from_statistics)."""
    try:
        w = np.linalg.cholesky(sigma1).T @ np.linalg.cholesky(sigma2)  # W W^T = L1^T sigma2 L1
        m = w @ w.T  # a symmetric rank-k product (BLAS syrk): exactly symmetric
    except np.linalg.LinAlgError:  # singular: the symmetric square root is a factor too
        factor = _psd_sqrt(sigma1)
        m = factor.T @ sigma2 @ factor
        m = (m + m.T) / 2.0  # symmetric up to round-off; eigvalsh reads one triangle
    ev = np.linalg.eigvalsh(m)
    return float(np.sqrt(np.clip(ev, 0.0, None)).sum())


def frechet_distance_from_statistics(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Fréchet (2-Wasserstein) distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    ``|mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2))``.

    Parameters
    ----------
    mu1, mu2 : numpy.ndarray
        Means of shape (D,).
    sigma1, sigma2 : numpy.ndarray
        Symmetric positive semi-definite covariances of shape (D, D).

    Returns
    -------
    float
        The distance (squared, as FID reports it), never negative.

    Raises
    ------
    DataError
        If the shapes disagree.

    Notes
    -----
    The trace term is computed without a general matrix square root: with any factor ``sigma1 = A A^T``,
    ``sigma1 sigma2`` is similar to the symmetric PSD matrix ``A^T sigma2 A``, so
    ``tr((sigma1 sigma2)^(1/2))`` is the sum of the square roots of that matrix's eigenvalues. When both
    covariances are positive definite, ``A`` and ``B`` are their Cholesky factors (each a third of a
    symmetric eigen-decomposition's cost) and ``A^T sigma2 A = W W^T`` with ``W = A^T B``: one matrix product
    and one symmetric rank-k product instead of two full products. Where a covariance is singular (fewer
    samples than dimensions) and Cholesky fails, ``A`` is ``sigma1^(1/2)`` by eigen-decomposition. Either
    way ``scipy.linalg.sqrtm`` (which the SDK does not depend on) and its complex round-off are avoided; tiny
    negative eigenvalues from round-off are clipped to 0.
    """
    mu1 = np.asarray(mu1, dtype=np.float64)
    mu2 = np.asarray(mu2, dtype=np.float64)
    sigma1 = np.asarray(sigma1, dtype=np.float64)
    sigma2 = np.asarray(sigma2, dtype=np.float64)
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise DataError(
            f"frechet_distance: shapes disagree: mu {mu1.shape} {mu2.shape}, "
            f"sigma {sigma1.shape} {sigma2.shape}"
        )
    return _distance(mu1, (sigma1 + sigma1.T) / 2.0, mu2, (sigma2 + sigma2.T) / 2.0)


def _distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """The distance of exactly symmetric float64 covariances (as :func:`feature_statistics` returns)."""
    tr_covmean = _trace_sqrt_product(sigma1, sigma2)
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)
    return max(value, 0.0)


def frechet_distance(features1: np.ndarray, features2: np.ndarray) -> float:
    """Fréchet distance between the Gaussian fits of two feature sets (FID when the features are Inception's).

    Parameters
    ----------
    features1, features2 : numpy.ndarray
        Arrays of shape (N1, D) and (N2, D), N >= 2 each.

    Returns
    -------
    float
        The distance; 0 for identical sets.

    Raises
    ------
    DataError
        If the feature arrays are malformed or their dimensions differ.
    """
    f1 = _features(features1, "frechet_distance")
    f2 = _features(features2, "frechet_distance")
    if f1.shape[1] != f2.shape[1]:
        raise DataError(f"frechet_distance: feature dimensions differ: {f1.shape[1]} and {f2.shape[1]}")
    if min(f1.shape[0], f2.shape[0]) < f1.shape[1]:
        return _frechet_distance_few_rows(f1, f2)
    return _distance(*feature_statistics(f1), *feature_statistics(f2))  # syrk: exactly symmetric already


def _frechet_distance_few_rows(f1: np.ndarray, f2: np.ndarray) -> float:
    """The same distance from the rows when a set has fewer rows than dimensions (1,280-d features of a few
    hundred images): with centred rows ``B_i = (F_i - mean_i) / sqrt(n_i - 1)``, ``sigma_i = B_i^T B_i``, and
    the non-zero eigenvalues of ``sigma1 sigma2`` are the squared singular values of ``M = B1 B2^T``
    (n1 x n2), so ``tr((sigma1 sigma2)^(1/2))`` is the sum of the singular values of ``M`` (its nuclear
    norm). Exact, and free of the round-off that the d - n zero eigenvalues of the covariance form leave;
    O(n1 n2 d + n^3) instead of O(d^3)."""
    b1 = (f1 - f1.mean(axis=0)) / np.sqrt(f1.shape[0] - 1)
    b2 = (f2 - f2.mean(axis=0)) / np.sqrt(f2.shape[0] - 1)
    tr_covmean = float(np.linalg.svd(b1 @ b2.T, compute_uv=False).sum())
    diff = f1.mean(axis=0) - f2.mean(axis=0)
    traces = np.einsum("ij,ij->", b1, b1) + np.einsum("ij,ij->", b2, b2)  # tr(sigma1) + tr(sigma2)
    value = float(diff @ diff + traces - 2.0 * tr_covmean)
    return max(value, 0.0)


def relative_frechet_distance(
    real: np.ndarray, synthetic: np.ndarray, seed: int = 0
) -> tuple[float, float, float]:
    """FD(real, synthetic) divided by the FD between two random halves of the real set.

    A value near 1 means the synthetic set is as far from the real set as the real set is from itself at this
    sample size; the ratio is comparable across feature spaces and data sets where raw FD is not.

    Parameters
    ----------
    real, synthetic : numpy.ndarray
        Feature arrays (N, D); the real set needs at least 4 rows.
    seed : int
        Seed of the random split of the real set.

    Returns
    -------
    tuple of float
        (relative FD, FD(real, synthetic), FD(real half A, real half B)). The ratio is ``inf`` when the
        halves' FD is 0 (e.g. a real set of repeated images).

    Raises
    ------
    DataError
        If the real set has fewer than 4 rows, or as for :func:`frechet_distance`.
    """
    real = _features(real, "relative_frechet_distance")
    if real.shape[0] < 4:
        raise DataError(f"relative_frechet_distance: the real set needs at least 4 rows, got {real.shape[0]}")
    fd = frechet_distance(real, synthetic)
    order = np.random.default_rng(seed).permutation(real.shape[0])
    half = real.shape[0] // 2
    baseline = frechet_distance(real[order[:half]], real[order[half : 2 * half]])
    ratio = fd / baseline if baseline > 0 else float("inf")
    return ratio, fd, baseline
