"""Mean deviation similarity index (MDSI), one value per image pair."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from medsynth.metrics._filters import (
    DOWNSAMPLE_SIDE,
    load_planes_into,
    load_pooled_into,
    prepare_pair,
    prewitt_row,
    similarity,
    thread_chunks,
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
    return _mdsi_batch(xa, ya, 255.0 / data_range, f, c1, c2, c3, alpha, q, o, thread_chunks(len(xa)))


@njit(cache=True)
def _to_lhm(planes: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """LHM planes of RGB (or grey) planes (C, H, W) into the interior of ``out`` (3, H + 2, W + 2), whose
    one-pixel border stays as it is (zero: the padding of the Prewitt filters)."""
    grey = planes.shape[0] == 1
    h, w = planes.shape[1], planes.shape[2]
    for i in range(h):
        for j in range(w):
            r = planes[0, i, j]
            g = r if grey else planes[1, i, j]
            b = r if grey else planes[2, i, j]
            out[0, i + 1, j + 1] = 0.2989 * r + 0.587 * g + 0.114 * b
            out[1, i + 1, j + 1] = 0.3 * r + 0.04 * g - 0.35 * b
            out[2, i + 1, j + 1] = 0.34 * r - 0.6 * g + 0.17 * b


@njit(cache=True, error_model="numpy")
def _mdsi_pair(  # pragma: no cover - compiled
    lx: np.ndarray,
    ly: np.ndarray,
    rows: np.ndarray,
    re: np.ndarray,
    im: np.ndarray,
    cols: np.ndarray,
    c1: float,
    c2: float,
    c3: float,
    alpha: float,
    q: float,
    o: float,
) -> float:
    """MDSI of one pair of (3, H + 2, W + 2) zero-bordered LHM planes.

    ``rows`` is (6, >= W) scratch, ``re`` and ``im`` (H, W) scratch for the complex map, ``cols`` (2, >= W)
    float64 scratch for its column sums. The Prewitt responses of the average luma are the averages of the two
    lumas' responses (the filter is linear), and the complex power of a real value has phase 0 or pi, so no
    angle is computed; the loops run along a row (all but the power vectorise).
    """
    h, w = lx.shape[1] - 2, lx.shape[2] - 2
    cos_neg = np.cos(q * np.pi)
    sin_neg = np.sin(q * np.pi)
    ax, ay, bx, by, v, mag = rows[0], rows[1], rows[2], rows[3], rows[4], rows[5]
    cols_re, cols_im = cols[0], cols[1]
    cols_re[:w] = 0.0
    cols_im[:w] = 0.0
    for i in range(h):
        prewitt_row(lx[0], i, ax, ay)
        prewitt_row(ly[0], i, bx, by)
        hx, mx = lx[1, i + 1], lx[2, i + 1]
        hy, my = ly[1, i + 1], ly[2, i + 1]
        for j in range(w):
            ux = 0.5 * (ax[j] + bx[j])
            uy = 0.5 * (ay[j] + by[j])
            gx = np.sqrt(ax[j] * ax[j] + ay[j] * ay[j]) / 3.0
            gy = np.sqrt(bx[j] * bx[j] + by[j] * by[j]) / 3.0
            gm = np.sqrt(ux * ux + uy * uy) / 3.0
            gs = similarity(gx, gy, c1, 0.0) + similarity(gx, gm, c2, 0.0) - similarity(gy, gm, c2, 0.0)
            a, b, c, d = hx[j + 1], hy[j + 1], mx[j + 1], my[j + 1]
            # (2(ab + cd) + c3) / (a^2 + b^2 + c^2 + d^2 + c3), written so that equal pixels give exactly 1
            cs = 1.0 - ((a - b) ** 2 + (c - d) ** 2) / (a * a + b * b + c * c + d * d + c3)
            v[j] = alpha * gs + (1.0 - alpha) * cs
        for j in range(w):
            mag[j] = abs(v[j]) ** q
        re_row, im_row = re[i], im[i]
        for j in range(w):
            negative = v[j] < 0.0
            re_row[j] = mag[j] * cos_neg if negative else mag[j]
            im_row[j] = mag[j] * sin_neg if negative else 0.0
            cols_re[j] += re_row[j]
            cols_im[j] += im_row[j]
    n = h * w
    mre = cols_re[:w].sum() / n
    mim = cols_im[:w].sum() / n
    cols_re[:w] = 0.0
    for i in range(h):
        re_row, im_row = re[i], im[i]
        for j in range(w):
            dr = re_row[j] - mre
            di = im_row[j] - mim
            cols_re[j] += np.sqrt(dr * dr + di * di)
    value: float = (cols_re[:w].sum() / n) ** o
    return value


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
    chunks: int,
) -> np.ndarray:
    n, h, w, c = x.shape
    half = f // 2
    before = (f - 1) // 2 if half else 0
    hs = (h + before + half) // f if f > 1 else h
    ws = (w + before + half) // f if f > 1 else w
    out = np.empty(n)
    for b in prange(chunks):
        qx = np.empty((c, hs, ws))
        qy = np.empty((c, hs, ws))
        lx = np.zeros((3, hs + 2, ws + 2))
        ly = np.zeros((3, hs + 2, ws + 2))
        rows = np.empty((6, ws))
        re = np.empty((hs, ws))
        im = np.empty((hs, ws))
        cols = np.empty((2, ws))
        for p in range(b * n // chunks, (b + 1) * n // chunks):
            if f > 1:
                load_pooled_into(x[p], scale, f, before, half, qx)
                load_pooled_into(y[p], scale, f, before, half, qy)
            else:
                load_planes_into(x[p], scale, 0.0, qx)
                load_planes_into(y[p], scale, 0.0, qy)
            _to_lhm(qx, lx)
            _to_lhm(qy, ly)
            out[p] = _mdsi_pair(lx, ly, rows, re, im, cols, c1, c2, c3, alpha, q, o)
    return out
