"""Haar wavelet-based perceptual similarity index (HaarPSI), one value per image pair."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from medsynth.errors import DataError
from medsynth.metrics._filters import load_planes, pool_mean, prepare_pair, rgb_to_yiq, similarity

__all__ = ["haarpsi"]

_SCALES = 3


def haarpsi(
    x: np.ndarray,
    y: np.ndarray,
    data_range: float | None = None,
    subsample: bool = True,
    c: float = 30.0,
    alpha: float = 4.2,
) -> np.ndarray:
    """Haar wavelet-based perceptual similarity of each pair (Reisenhofer et al. 2018); 1 for identical
    images.

    Parameters
    ----------
    x, y : numpy.ndarray
        Batches of shape (N, H, W) or (N, H, W, C) with values in [0, data_range]; RGB is converted to YIQ.
    data_range : float, optional
        The value range; default 255 for integer arrays, 1.0 for float arrays.
    subsample : bool
        2x2 average pooling first (zero padding odd sides at the bottom/right), as in the paper.
    c, alpha : float
        The similarity constant (for [0, 255] images) and the logistic slope.

    Returns
    -------
    numpy.ndarray
        float64 array of shape (N,).

    Raises
    ------
    DataError
        If an image side is below 16 pixels, or as for :func:`medsynth.metrics.psnr`.

    Notes
    -----
    piq's definition (three Haar scales; the finest two give the similarity maps and the coarsest the weights;
    for colour images the I and Q channels, 2x2 mean-filtered, add a third map weighted by the mean weight).
    """
    xa, ya, data_range = prepare_pair(x, y, data_range, "haarpsi")
    min_size = 2 ** (_SCALES + 1)
    if min(xa.shape[1:3]) < min_size:
        raise DataError(f"haarpsi: images of {xa.shape[1]}x{xa.shape[2]} are smaller than {min_size} pixels")
    eps = float(np.finfo(np.float64).eps)
    return _haarpsi_batch(xa, ya, 255.0 / data_range, subsample, c, alpha, eps)


@njit(cache=True)
def _haar(plane: np.ndarray, k: int, vertical: bool) -> np.ndarray:  # pragma: no cover - compiled
    """Haar coefficients of size k: (1/k) * (sum of the first k/2 rows - sum of the last k/2) of each k x k
    window (columns when ``vertical`` is False), with piq's "same" zero padding (k/2 - 1 before, k/2 after).

    Separable: box sums of width k along one axis, then the signed sum along the other."""
    src = plane if vertical else plane.T
    h, w = src.shape
    before = k // 2 - 1
    box = np.zeros((h, w))
    for r in range(h):
        for j in range(w):
            s = 0.0
            for b in range(k):
                q = j + b - before
                if 0 <= q < w:
                    s += src[r, q]
            box[r, j] = s
    out = np.zeros((h, w))
    inv = 1.0 / k
    for i in range(h):
        for a in range(k):
            r = i + a - before
            if r < 0 or r >= h:
                continue
            sign = inv if a < k // 2 else -inv
            for j in range(w):
                out[i, j] += sign * box[r, j]
    return out if vertical else out.T.copy()


@njit(cache=True)
def _mean2(plane: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """2x2 mean filter with stride 1 and one zero row/column at the bottom/right (same size out)."""
    h, w = plane.shape
    out = np.empty((h, w))
    for i in range(h):
        for j in range(w):
            s = plane[i, j]
            if j + 1 < w:
                s += plane[i, j + 1]
            if i + 1 < h:
                s += plane[i + 1, j]
                if j + 1 < w:
                    s += plane[i + 1, j + 1]
            out[i, j] = 0.25 * s
    return out


@njit(cache=True, parallel=True)
def _haarpsi_batch(  # pragma: no cover - compiled
    x: np.ndarray, y: np.ndarray, scale: float, subsample: bool, c: float, alpha: float, eps: float
) -> np.ndarray:
    n = x.shape[0]
    colour = x.shape[3] == 3
    out = np.empty(n)
    for p in prange(n):
        px = load_planes(x[p], scale)
        py = load_planes(y[p], scale)
        if colour:
            px = rgb_to_yiq(px)
            py = rgb_to_yiq(py)
        if subsample:
            pad = max(px.shape[1] % 2, px.shape[2] % 2)
            px = pool_mean(px, 2, 0, pad)
            py = pool_mean(py, 2, 0, pad)
        h, w = px.shape[1], px.shape[2]
        num = 0.0
        den = 0.0
        wx = []
        for o in range(2):
            vertical = o == 0
            sim = np.zeros((h, w))
            for s in range(2):
                k = 2 ** (s + 1)
                cx = _haar(px[0], k, vertical)
                cy = _haar(py[0], k, vertical)
                for i in range(h):
                    for j in range(w):
                        sim[i, j] += 0.5 * similarity(abs(cx[i, j]), abs(cy[i, j]), c, 0.0)
            cx = _haar(px[0], 2**_SCALES, vertical)
            cy = _haar(py[0], 2**_SCALES, vertical)
            weight = np.maximum(np.abs(cx), np.abs(cy))
            wx.append(weight)
            for i in range(h):
                for j in range(w):
                    num += weight[i, j] / (1.0 + np.exp(-alpha * sim[i, j]))
                    den += weight[i, j]
        if colour:
            ix = np.abs(_mean2(px[1]))
            iy = np.abs(_mean2(py[1]))
            qx = np.abs(_mean2(px[2]))
            qy = np.abs(_mean2(py[2]))
            for i in range(h):
                for j in range(w):
                    sim_iq = 0.5 * (
                        similarity(ix[i, j], iy[i, j], c, 0.0) + similarity(qx[i, j], qy[i, j], c, 0.0)
                    )
                    weight = 0.5 * (wx[0][i, j] + wx[1][i, j])
                    num += weight / (1.0 + np.exp(-alpha * sim_iq))
                    den += weight
        score = (num + eps) / (den + eps)
        out[p] = (np.log(score / (1.0 - score)) / alpha) ** 2
    return out
