"""Gradient magnitude similarity deviation (GMSD) and its multi-scale form (MS-GMSD), one value per pair."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit, prange

from medsynth.errors import DataError
from medsynth.metrics._filters import prepare_pair, prewitt_row, similarity, thread_chunks

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
    side = _pooled_sides(xa.shape[1], xa.shape[2], 1)[1]
    return _gmsd_batch(xa, ya, 1.0 / data_range, t, side, thread_chunks(len(xa)))


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
    sides = np.array(_pooled_sides(xa.shape[1], xa.shape[2], w.size - 1), dtype=np.int64)
    return _ms_gmsd_batch(xa, ya, 255.0 / data_range, w, alpha, t, sides, thread_chunks(len(xa)))


# The kernels fuse every step into preallocated float32 buffers, one set per thread chunk: the luma is
# written straight into a plane with a one-pixel zero border (the zero padding of piq's Prewitt convolution),
# each 2x2 pooling reads one bordered plane and writes the next (its zero border is also piq's bottom/right
# zero padding of odd sides), and the gradient magnitudes, the similarity map and its deviation are taken row
# by row in one pass, with the deviation's sums in float64.


@njit(cache=True)
def _luma_into(img: np.ndarray, scale: float, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """(H, W, C) image -> its luma (Y of YIQ for RGB) times ``scale``, into bordered ``out``'s interior."""
    h, w, c = img.shape
    for i in range(h):
        row = out[i + 1]
        if c == 1:
            for j in range(w):
                row[j + 1] = img[i, j, 0] * scale
        else:
            for j in range(w):
                row[j + 1] = (0.299 * img[i, j, 0] + 0.587 * img[i, j, 1] + 0.114 * img[i, j, 2]) * scale


@njit(cache=True)
def _pool2_into(src: np.ndarray, dst: np.ndarray) -> None:  # pragma: no cover - compiled
    """2x2 mean pooling of bordered ``src``'s interior into bordered ``dst``'s interior.

    An odd side reads ``src``'s zero border as its padding, as piq pads before pooling."""
    ho, wo = dst.shape[0] - 2, dst.shape[1] - 2
    for i in range(ho):
        r0 = src[2 * i + 1]
        r1 = src[2 * i + 2]
        row = dst[i + 1]
        for j in range(wo):
            row[j + 1] = 0.25 * (r0[2 * j + 1] + r0[2 * j + 2] + r1[2 * j + 1] + r1[2 * j + 2])


@njit(cache=True, error_model="numpy", fastmath=True)
def _deviation(  # pragma: no cover - compiled
    px: np.ndarray, py: np.ndarray, t: float, alpha: float, rows: np.ndarray
) -> float:
    """GMSD of two bordered luma planes: the population std of the similarity of their Prewitt magnitudes.

    ``rows`` is a (4, W) scratch buffer. The sums are of ``similarity - 1`` (the similarity is at most 1), so
    that the deviation of nearly identical images does not cancel."""
    h, w = px.shape[0] - 2, px.shape[1] - 2
    gx1, gy1, gx2, gy2 = rows[0], rows[1], rows[2], rows[3]
    s1 = 0.0
    s2 = 0.0
    for i in range(h):
        prewitt_row(px, i, gx1, gy1)
        prewitt_row(py, i, gx2, gy2)
        for j in range(w):
            a = np.sqrt(gx1[j] * gx1[j] + gy1[j] * gy1[j]) / 3.0
            b = np.sqrt(gx2[j] * gx2[j] + gy2[j] * gy2[j]) / 3.0
            d = similarity(a, b, t, alpha) - 1.0
            s1 += d
            s2 += d * d
    n = h * w
    mean = s1 / n
    deviation: float = np.sqrt(max(s2 / n - mean * mean, 0.0))
    return deviation


def _pooled_sides(h: int, w: int, scales: int) -> list[tuple[int, int]]:
    """The plane sides after each 2x2 pooling, with piq's padding of both sides when either is odd."""
    sides = [(h, w)]
    for _ in range(scales):
        pad = max(h % 2, w % 2)
        h, w = (h + pad) // 2, (w + pad) // 2
        sides.append((h, w))
    return sides


@njit(cache=True, parallel=True)
def _gmsd_batch(  # pragma: no cover - compiled
    x: np.ndarray, y: np.ndarray, scale: float, t: float, side: tuple[int, int], chunks: int
) -> np.ndarray:
    n, h, w = x.shape[0], x.shape[1], x.shape[2]
    out = np.empty(n)
    for b in prange(chunks):
        fx = np.zeros((h + 2, w + 2), np.float32)
        fy = np.zeros((h + 2, w + 2), np.float32)
        px = np.zeros((side[0] + 2, side[1] + 2), np.float32)
        py = np.zeros((side[0] + 2, side[1] + 2), np.float32)
        rows = np.empty((4, w), np.float32)
        for p in range(b * n // chunks, (b + 1) * n // chunks):
            _luma_into(x[p], scale, fx)
            _luma_into(y[p], scale, fy)
            _pool2_into(fx, px)
            _pool2_into(fy, py)
            out[p] = _deviation(px, py, t, 0.0, rows)
    return out


@njit(cache=True, parallel=True)
def _ms_gmsd_batch(  # pragma: no cover - compiled
    x: np.ndarray,
    y: np.ndarray,
    scale: float,
    weights: np.ndarray,
    alpha: float,
    t: float,
    sides: np.ndarray,
    chunks: int,
) -> np.ndarray:
    n, w = x.shape[0], x.shape[2]
    out = np.empty(n)
    for b in prange(chunks):
        xs = [np.zeros((sides[s, 0] + 2, sides[s, 1] + 2), np.float32) for s in range(weights.size)]
        ys = [np.zeros((sides[s, 0] + 2, sides[s, 1] + 2), np.float32) for s in range(weights.size)]
        rows = np.empty((4, w), np.float32)
        for p in range(b * n // chunks, (b + 1) * n // chunks):
            _luma_into(x[p], scale, xs[0])
            _luma_into(y[p], scale, ys[0])
            total = 0.0
            for s in range(weights.size):
                if s > 0:
                    _pool2_into(xs[s - 1], xs[s])
                    _pool2_into(ys[s - 1], ys[s])
                g = _deviation(xs[s], ys[s], t, alpha, rows)
                total += weights[s] * g * g
            out[p] = np.sqrt(total)
    return out
