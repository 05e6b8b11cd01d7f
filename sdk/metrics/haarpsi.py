"""Haar wavelet-based perceptual similarity index (HaarPSI), one value per image pair."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from medsynth.errors import DataError
from medsynth.metrics._filters import (
    load_planes_into,
    load_pooled_into,
    prepare_pair,
    rgb_to_yiq,
    similarity,
    thread_chunks,
)

__all__ = ["haarpsi"]

_SCALES = 3
# The zero padding around the luma in its summed-area table: half the largest Haar filter.
_PAD = 2**_SCALES // 2


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
    Every Haar coefficient is read off one summed-area table of the zero-padded luma, a row at a time, and the
    maps are never stored: one pass over the rows accumulates the weighted similarity.
    """
    xa, ya, data_range = prepare_pair(x, y, data_range, "haarpsi")
    min_size = 2 ** (_SCALES + 1)
    if min(xa.shape[1:3]) < min_size:
        raise DataError(f"haarpsi: images of {xa.shape[1]}x{xa.shape[2]} are smaller than {min_size} pixels")
    eps = float(np.finfo(np.float64).eps)
    return _haarpsi_batch(xa, ya, 255.0 / data_range, subsample, c, alpha, eps, thread_chunks(len(xa)))


@njit(cache=True)
def _summed_area(plane: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """The summed-area table of ``plane`` (H, W) zero-padded by ``_PAD`` on every side: ``out[r, q]`` (shape
    (H + 2 _PAD + 1, W + 2 _PAD + 1)) is the sum of the padded plane's rows below r and columns below q."""
    h, w = plane.shape
    out[:] = 0.0
    for i in range(h):
        prev = out[_PAD + i]
        cur = out[_PAD + i + 1]
        row = 0.0
        for j in range(w):
            row += plane[i, j]
            cur[_PAD + j + 1] = prev[_PAD + j + 1] + row
        for q in range(_PAD + w + 1, cur.size):
            cur[q] = prev[q] + row
    for r in range(_PAD + h + 1, out.shape[0]):
        out[r] = out[_PAD + h]


@njit(cache=True)
def _haar_row(  # pragma: no cover - compiled
    table: np.ndarray, i: int, k: int, vertical: np.ndarray, horizontal: np.ndarray
) -> None:
    """The vertical and horizontal Haar coefficients of size k along row ``i``, from :func:`_summed_area`.

    Vertical: (1/k) * (sum of the top k/2 rows - sum of the bottom k/2 rows) of the k x k window at rows
    [i - k/2 + 1, i + k/2 + 1) and the same columns around j; horizontal: the same with the left and right
    halves. The zero padding makes this piq's "same" convolution (k/2 - 1 before, k/2 after).
    """
    w = table.shape[1] - 2 * _PAD - 1
    half = k // 2
    t0 = table[_PAD + i - half + 1]
    tm = table[_PAD + i + 1]
    t1 = table[_PAD + i + half + 1]
    o0 = _PAD - half + 1
    om = _PAD + 1
    o1 = _PAD + half + 1
    inv = 1.0 / k
    for j in range(w):
        c0 = j + o0
        cm = j + om
        c1 = j + o1
        top = tm[c1] - t0[c1] - tm[c0] + t0[c0]
        bottom = t1[c1] - tm[c1] - t1[c0] + tm[c0]
        left = t1[cm] - t0[cm] - t1[c0] + t0[c0]
        right = t1[c1] - t0[c1] - t1[cm] + t0[cm]
        vertical[j] = (top - bottom) * inv
        horizontal[j] = (left - right) * inv


@njit(cache=True)
def _mean2_row(plane: np.ndarray, i: int, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """``out[j]`` = the 2x2 mean filter of ``plane`` (H, W) at (i, j), stride 1, with one zero row and column
    at the bottom/right."""
    h, w = plane.shape
    top = plane[i]
    if i + 1 < h:
        below = plane[i + 1]
        for j in range(w - 1):
            out[j] = 0.25 * (top[j] + top[j + 1] + below[j] + below[j + 1])
        out[w - 1] = 0.25 * (top[w - 1] + below[w - 1])
    else:
        for j in range(w - 1):
            out[j] = 0.25 * (top[j] + top[j + 1])
        out[w - 1] = 0.25 * top[w - 1]


@njit(cache=True)
def _add_chroma_similarity(  # pragma: no cover - compiled
    px: np.ndarray, py: np.ndarray, i: int, c: float, rows: np.ndarray, sim_iq: np.ndarray
) -> None:
    """``sim_iq[j]`` = the mean of the I and Q similarity maps (2x2 mean-filtered chroma) along row ``i``;
    ``rows`` (2, >= W) scratch."""
    w = px.shape[2]
    sim_iq[:w] = 0.0
    for ch in (1, 2):
        _mean2_row(px[ch], i, rows[0])
        _mean2_row(py[ch], i, rows[1])
        for j in range(w):
            sim_iq[j] += 0.5 * similarity(abs(rows[0, j]), abs(rows[1, j]), c, 0.0)


# exp(t) on |t| <= 1/2: its Taylor series to t^13 / 13! (truncation below 2e-16 relative there), highest
# coefficient first for Horner's scheme
_EXP_COEFFS = tuple(1.0 / math.factorial(k) for k in range(13, -1, -1))


@njit(cache=True)
def _logistic_row(values: np.ndarray, n: int, alpha: float) -> None:  # pragma: no cover - compiled
    """``values[j] = 1 / (1 + exp(-alpha * values[j]))`` for ``j < n``, in loops LLVM vectorises.

    libm's ``exp`` is a scalar call here (Numba's pip wheels have no SVML), so ``exp(t)`` is computed as
    ``exp(t / 2^m)^(2^m)``: the Taylor series on ``|t / 2^m| <= 1/2`` squared ``m`` times, ``m`` the same
    for the whole row (from its largest ``|t|``), each step one pass over the row. Relative error about
    ``2^m`` ulps (``m = 4`` for the default alpha and similarities in [0, 1]); an overflow to infinity gives
    0, as it should.
    """
    largest = 0.0
    for j in range(n):
        largest = max(largest, abs(alpha * values[j]))
    squarings = 0
    while largest > 0.5 and squarings < 1100:  # 2^1100 exceeds every finite float: the loop ends
        largest *= 0.5
        squarings += 1
    shrink = -alpha * 0.5**squarings
    for j in range(n):
        t = shrink * values[j]
        e = 0.0
        for coeff in _EXP_COEFFS:
            e = e * t + coeff
        values[j] = e
    for _ in range(squarings):
        for j in range(n):
            values[j] *= values[j]
    for j in range(n):
        values[j] = 1.0 / (1.0 + values[j])


@njit(cache=True, error_model="numpy")
def _haarpsi_pair(  # pragma: no cover - compiled
    px: np.ndarray,
    py: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    rows: np.ndarray,
    c: float,
    alpha: float,
    eps: float,
) -> float:
    """HaarPSI of one pair of (C, H, W) planes (YIQ for colour); ``tx``, ``ty`` are summed-area table
    scratch (see :func:`_summed_area`), ``rows`` (10, >= W) scratch."""
    h, w = px.shape[1], px.shape[2]
    colour = px.shape[0] == 3
    _summed_area(px[0], tx)
    _summed_area(py[0], ty)
    vx, hx, vy, hy, sim_v, sim_h, sim_iq = rows[0], rows[1], rows[2], rows[3], rows[4], rows[5], rows[6]
    weights = rows[9]  # the coarsest scale's weights, summed over both orientations (the chroma map's weight)
    num = 0.0
    den = 0.0
    for i in range(h):
        sim_v[:w] = 0.0
        sim_h[:w] = 0.0
        for s in range(_SCALES - 1):
            _haar_row(tx, i, 2 ** (s + 1), vx, hx)
            _haar_row(ty, i, 2 ** (s + 1), vy, hy)
            for j in range(w):
                sim_v[j] += 0.5 * similarity(abs(vx[j]), abs(vy[j]), c, 0.0)
                sim_h[j] += 0.5 * similarity(abs(hx[j]), abs(hy[j]), c, 0.0)
        _haar_row(tx, i, 2**_SCALES, vx, hx)
        _haar_row(ty, i, 2**_SCALES, vy, hy)
        _logistic_row(sim_v, w, alpha)
        _logistic_row(sim_h, w, alpha)
        for j in range(w):
            weight_v = max(abs(vx[j]), abs(vy[j]))
            weight_h = max(abs(hx[j]), abs(hy[j]))
            num += weight_v * sim_v[j] + weight_h * sim_h[j]
            weights[j] = weight_v + weight_h
            den += weights[j]
        if colour:
            _add_chroma_similarity(px, py, i, c, rows[7:9], sim_iq)
            _logistic_row(sim_iq, w, alpha)
            for j in range(w):
                weight = 0.5 * weights[j]
                num += weight * sim_iq[j]
                den += weight
    score = (num + eps) / (den + eps)
    value: float = (np.log(score / (1.0 - score)) / alpha) ** 2
    return value


@njit(cache=True, parallel=True)
def _haarpsi_batch(  # pragma: no cover - compiled
    x: np.ndarray,
    y: np.ndarray,
    scale: float,
    subsample: bool,
    c: float,
    alpha: float,
    eps: float,
    chunks: int,
) -> np.ndarray:
    n, h, w, channels = x.shape
    pad = max(h % 2, w % 2) if subsample else 0
    hs, ws = ((h + pad) // 2, (w + pad) // 2) if subsample else (h, w)
    out = np.empty(n)
    for b in prange(chunks):
        qx = np.empty((channels, hs, ws))
        qy = np.empty((channels, hs, ws))
        tx = np.empty((hs + 2 * _PAD + 1, ws + 2 * _PAD + 1))
        ty = np.empty((hs + 2 * _PAD + 1, ws + 2 * _PAD + 1))
        rows = np.empty((10, ws))
        for p in range(b * n // chunks, (b + 1) * n // chunks):
            if subsample:
                load_pooled_into(x[p], scale, 2, 0, pad, qx)
                load_pooled_into(y[p], scale, 2, 0, pad, qy)
            else:
                load_planes_into(x[p], scale, 0.0, qx)
                load_planes_into(y[p], scale, 0.0, qy)
            if channels == 3:
                rgb_to_yiq(qx, qx)
                rgb_to_yiq(qy, qy)
            out[p] = _haarpsi_pair(qx, qy, tx, ty, rows, c, alpha, eps)
    return out
