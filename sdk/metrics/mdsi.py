"""Mean deviation similarity index (MDSI), one value per image pair."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from medsynth.metrics._filters import (
    DOWNSAMPLE_SIDE,
    load_planes,
    pool_mean,
    prepare_pair,
    prewitt_magnitude,
    similarity,
)

__all__ = ["mdsi"]


def mdsi(
    x: np.ndarray,
    y: np.ndarray,
    data_range: float | None = None,
    c1: float = 140.0,
    c2: float = 55.0,
    c3: float = 550.0,
    alpha: float = 0.6,
    q: float = 0.25,
    o: float = 0.25,
) -> np.ndarray:
    """Mean deviation similarity index of each pair (Nafchi et al. 2016); 0 for identical images.

    Parameters
    ----------
    x, y : numpy.ndarray
        Batches of shape (N, H, W) or (N, H, W, C) with values in [0, data_range]. Grey images are treated as
        RGB with three equal channels (so the chromaticity term is constant).
    data_range : float, optional
        The value range; default 255 for integer arrays, 1.0 for float arrays.
    c1, c2, c3 : float
        The gradient and chromaticity constants for images scaled to [0, 255].
    alpha : float
        The weight of the gradient term in the summation combination.
    q, o : float
        The power applied to the combined map and the final deviation pooling power (rho is 1).

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
    piq's definition with its defaults (``combination='sum'``, ``rho=1``): images scaled to [0, 255], average
    pooling by ``round(min(H, W) / 256)`` when that is at least 2 (zero padding around first), the LHM colour
    space, Prewitt gradients of L, of the other image's L and of their average, a chromaticity similarity of H
    and M, then the mean absolute deviation of the combined map raised to ``q`` taken as a complex power
    (negative values have phase pi). The multiplicative combination is not implemented. piq warns when it is
    given grey images; this function does not.
    """
    xa, ya, data_range = prepare_pair(x, y, data_range, "mdsi")
    f = max(1, round(min(xa.shape[1:3]) / DOWNSAMPLE_SIDE))
    return _mdsi_batch(xa, ya, 255.0 / data_range, f, c1, c2, c3, alpha, q, o)


@njit(cache=True)
def _to_lhm(planes: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    if planes.shape[0] == 1:
        r = planes[0]
        g = planes[0]
        b = planes[0]
    else:
        r = planes[0]
        g = planes[1]
        b = planes[2]
    out = np.empty((3,) + r.shape)
    out[0] = 0.2989 * r + 0.587 * g + 0.114 * b
    out[1] = 0.3 * r + 0.04 * g - 0.35 * b
    out[2] = 0.34 * r - 0.6 * g + 0.17 * b
    return out


@njit(cache=True, parallel=True)
def _mdsi_batch(  # pragma: no cover - compiled
    x: np.ndarray,
    y: np.ndarray,
    scale: float,
    f: int,
    c1: float,
    c2: float,
    c3: float,
    alpha: float,
    q: float,
    o: float,
) -> np.ndarray:
    n = x.shape[0]
    out = np.empty(n)
    for p in prange(n):
        px = load_planes(x[p], scale)
        py = load_planes(y[p], scale)
        if f > 1:
            half = f // 2
            px = pool_mean(px, f, (f - 1) // 2 if half else 0, half)
            py = pool_mean(py, f, (f - 1) // 2 if half else 0, half)
        lx = _to_lhm(px)
        ly = _to_lhm(py)
        gx = prewitt_magnitude(lx[0])
        gy = prewitt_magnitude(ly[0])
        gm = prewitt_magnitude(0.5 * (lx[0] + ly[0]))
        h, w = gx.shape
        re = np.empty((h, w))
        im = np.empty((h, w))
        for i in range(h):
            for j in range(w):
                gs = (
                    similarity(gx[i, j], gy[i, j], c1, 0.0)
                    + similarity(gx[i, j], gm[i, j], c2, 0.0)
                    - similarity(gy[i, j], gm[i, j], c2, 0.0)
                )
                cs = (2.0 * (lx[1, i, j] * ly[1, i, j] + lx[2, i, j] * ly[2, i, j]) + c3) / (
                    lx[1, i, j] ** 2 + ly[1, i, j] ** 2 + lx[2, i, j] ** 2 + ly[2, i, j] ** 2 + c3
                )
                v = alpha * gs + (1.0 - alpha) * cs
                mag = abs(v) ** q
                phase = q * np.arctan2(0.0, v)
                re[i, j] = mag * np.cos(phase)
                im[i, j] = mag * np.sin(phase)
        mre = re.mean()
        mim = im.mean()
        s = 0.0
        for i in range(h):
            for j in range(w):
                s += np.sqrt((re[i, j] - mre) ** 2 + (im[i, j] - mim) ** 2)
        out[p] = (s / (h * w)) ** o
    return out
