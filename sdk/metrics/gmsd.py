"""Gradient magnitude similarity deviation (GMSD) and its multi-scale form (MS-GMSD), one value per pair."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit, prange

from medsynth.errors import DataError
from medsynth.metrics._filters import (
    load_planes,
    pool_mean,
    prepare_pair,
    prewitt_magnitude,
    rgb_to_y,
    similarity,
)

__all__ = ["gmsd", "ms_gmsd", "MS_GMSD_WEIGHTS"]

# Zhang et al. (2017), the weights of the four scales.
MS_GMSD_WEIGHTS = (0.096, 0.596, 0.289, 0.019)


def gmsd(
    x: np.ndarray, y: np.ndarray, data_range: float | None = None, t: float = 170 / 255.0**2
) -> np.ndarray:
    """Gradient magnitude similarity deviation of each pair (Xue et al. 2013); 0 for identical images.

    Parameters
    ----------
    x, y : numpy.ndarray
        Batches of shape (N, H, W) or (N, H, W, C) with values in [0, data_range]; RGB is reduced to its luma
        (Y of YIQ).
    data_range : float, optional
        The value range; default 255 for integer arrays, 1.0 for float arrays.
    t : float
        The stability constant for images scaled to [0, 1] (the paper's 170 for [0, 255]).

    Returns
    -------
    numpy.ndarray
        float64 array of shape (N,).

    Raises
    ------
    DataError
        If the batches do not match or values fall outside [0, data_range].

    Notes
    -----
    piq's definition: luma, zero-pad odd sides at the bottom/right and 2x2 average-pool, Prewitt gradient
    magnitudes with zero padding, then the population standard deviation of the similarity map.
    """
    xa, ya, data_range = prepare_pair(x, y, data_range, "gmsd")
    return _gmsd_batch(xa, ya, 1.0 / data_range, t)


def ms_gmsd(
    x: np.ndarray,
    y: np.ndarray,
    data_range: float | None = None,
    scale_weights: Sequence[float] | None = None,
    alpha: float = 0.5,
    t: float = 170.0,
) -> np.ndarray:
    """Multi-scale GMSD of each pair (Zhang et al. 2017), luma only (piq's default ``chromatic=False``).

    Parameters
    ----------
    x, y : numpy.ndarray
        Batches of shape (N, H, W) or (N, H, W, C) with values in [0, data_range].
    data_range : float, optional
        The value range; default 255 for integer arrays, 1.0 for float arrays.
    scale_weights : sequence of float, optional
        One weight per scale, normalised to sum 1; by default the paper's four.
    alpha : float
        The masking coefficient of the similarity map.
    t : float
        The stability constant for images scaled to [0, 255].

    Returns
    -------
    numpy.ndarray
        float64 array of shape (N,); 0 for identical images.

    Raises
    ------
    DataError
        If an image side is below ``2^scales + 1`` (17 for the defaults), or as for :func:`gmsd`.

    Notes
    -----
    piq's definition: the first scale is the full-resolution luma; each further scale zero-pads odd sides at
    the bottom/right and 2x2 average-pools; the result is ``sqrt(sum_s w_s GMSD_s^2)``. The chromatic variant
    (MS-GMSDc) is not implemented.
    """
    xa, ya, data_range = prepare_pair(x, y, data_range, "ms_gmsd")
    if scale_weights is None:
        w = np.array(MS_GMSD_WEIGHTS)
    else:
        w = np.asarray(scale_weights, dtype=np.float64)
        if w.ndim != 1 or w.size == 0 or np.any(w < 0) or w.sum() <= 0:
            raise DataError(f"ms_gmsd: scale_weights must be non-negative numbers, got {scale_weights!r}")
        w = w / w.sum()
    min_size = 2**w.size + 1
    if min(xa.shape[1:3]) < min_size:
        raise DataError(
            f"ms_gmsd: images of {xa.shape[1]}x{xa.shape[2]} are too small for {w.size} scales "
            f"(need {min_size}); pass fewer scale_weights"
        )
    return _ms_gmsd_batch(xa, ya, 255.0 / data_range, w, alpha, t)


@njit(cache=True)
def gmsd_plane(x: np.ndarray, y: np.ndarray, t: float, alpha: float) -> float:  # pragma: no cover - compiled
    """GMSD of one (H, W) luma plane pair."""
    gx = prewitt_magnitude(x)
    gy = prewitt_magnitude(y)
    h, w = x.shape
    gms = np.empty((h, w))
    for i in range(h):
        for j in range(w):
            gms[i, j] = similarity(gx[i, j], gy[i, j], t, alpha)
    mean = gms.mean()
    s = 0.0
    for i in range(h):
        for j in range(w):
            d = gms[i, j] - mean
            s += d * d
    deviation: float = np.sqrt(s / (h * w))
    return deviation


@njit(cache=True, parallel=True)
def _gmsd_batch(  # pragma: no cover - compiled
    x: np.ndarray, y: np.ndarray, scale: float, t: float
) -> np.ndarray:
    n = x.shape[0]
    out = np.empty(n)
    for p in prange(n):
        px = rgb_to_y(load_planes(x[p], scale))
        py = rgb_to_y(load_planes(y[p], scale))
        pad = max(px.shape[1] % 2, px.shape[2] % 2)
        px = pool_mean(px, 2, 0, pad)
        py = pool_mean(py, 2, 0, pad)
        out[p] = gmsd_plane(px[0], py[0], t, 0.0)
    return out


@njit(cache=True, parallel=True)
def _ms_gmsd_batch(  # pragma: no cover - compiled
    x: np.ndarray, y: np.ndarray, scale: float, weights: np.ndarray, alpha: float, t: float
) -> np.ndarray:
    n = x.shape[0]
    out = np.empty(n)
    for p in prange(n):
        px = rgb_to_y(load_planes(x[p], scale))
        py = rgb_to_y(load_planes(y[p], scale))
        total = 0.0
        for s in range(weights.size):
            if s > 0:
                pad = max(px.shape[1] % 2, px.shape[2] % 2)
                px = pool_mean(px, 2, 0, pad)
                py = pool_mean(py, 2, 0, pad)
            g = gmsd_plane(px[0], py[0], t, alpha)
            total += weights[s] * g * g
        out[p] = np.sqrt(total)
    return out
