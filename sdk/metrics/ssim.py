"""Structural similarity (SSIM) and its multi-scale form (MS-SSIM), one value per image pair."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit, prange

from medsynth.errors import DataError
from medsynth.metrics._filters import (
    DOWNSAMPLE_SIDE,
    gaussian_moments_row,
    load_planes_into,
    pool2_replicate_front,
    pool_mean,
    prepare_pair,
    thread_chunks,
)

__all__ = ["ssim", "ms_ssim", "MS_SSIM_WEIGHTS"]

# Wang, Simoncelli & Bovik (2003), the weights of the five scales.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

# The kernels work in float32 on pixels scaled to [0, 255] and shifted by -128: the shift leaves the variances
# and covariance unchanged but makes the squares they are taken from smaller, so float32 cancels less.
# Scaling every range to [0, 255] makes uint8 input and the same pixels as float / 255 identical planes.
_SIDE_RANGE = 255.0
_OFFSET = np.float32(128.0)


def _constants(k1: float, k2: float) -> tuple[np.float32, np.float32]:
    """C1 and C2 for pixels in [0, 255], as float32."""
    return np.float32((k1 * _SIDE_RANGE) ** 2), np.float32((k2 * _SIDE_RANGE) ** 2)


def _gaussian(kernel_size: int, sigma: float) -> np.ndarray:
    if kernel_size % 2 != 1 or kernel_size < 1:
        raise DataError(f"kernel_size must be a positive odd number, got {kernel_size}")
    if not sigma > 0:
        raise DataError(f"kernel_sigma must be positive, got {sigma}")
    t = np.arange(kernel_size, dtype=np.float64) - (kernel_size - 1) / 2.0
    g = np.exp(-(t**2) / (2.0 * sigma**2))
    normalised: np.ndarray = (g / g.sum()).astype(np.float32)
    return normalised


def ssim(
    x: np.ndarray,
    y: np.ndarray,
    data_range: float | None = None,
    kernel_size: int = 11,
    kernel_sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    downsample: bool = True,
) -> np.ndarray:
    """Structural similarity of each pair (Wang et al. 2004), averaged over channels.

    Parameters
    ----------
    x, y : numpy.ndarray
        Batches of shape (N, H, W) or (N, H, W, C) with values in [0, data_range].
    data_range : float, optional
        The value range; default 255 for integer arrays, 1.0 for float arrays.
    kernel_size, kernel_sigma : int, float
        The Gaussian window (11 and 1.5 as in the paper, piq and scikit-image).
    k1, k2 : float
        The stability constants; C1 = (k1 L)^2, C2 = (k2 L)^2.
    downsample : bool
        Average-pool by ``round(min(H, W) / 256)`` first, as piq does (a no-op below 384 pixels).

    Returns
    -------
    numpy.ndarray
        float64 array of shape (N,); 1.0 for identical images.

    Raises
    ------
    DataError
        If the batches do not match, values fall outside [0, data_range], or an image is smaller than the
        window.

    Notes
    -----
    piq's definition: separable Gaussian window, statistics over the "valid" region only (no padding),
    population (not sample) covariance. scikit-image's ``structural_similarity(gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=L, channel_axis=-1)`` is the same number for images
    under 384 pixels (it filters with reflection, then crops the 5-pixel border the reflection touched).
    """
    xa, ya, data_range = prepare_pair(x, y, data_range, "ssim")
    g = _gaussian(kernel_size, kernel_sigma)
    f = max(1, round(min(xa.shape[1:3]) / DOWNSAMPLE_SIDE)) if downsample else 1
    if min(xa.shape[1:3]) // f < kernel_size:
        raise DataError(
            f"ssim: images of {xa.shape[1]}x{xa.shape[2]} are smaller than the {kernel_size}-pixel "
            "window; pass a smaller kernel_size"
        )
    c1, c2 = _constants(k1, k2)
    return _ssim_batch(xa, ya, _SIDE_RANGE / data_range, f, g, c1, c2, _OFFSET, thread_chunks(len(xa)))


def ms_ssim(
    x: np.ndarray,
    y: np.ndarray,
    data_range: float | None = None,
    kernel_size: int = 11,
    kernel_sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    scale_weights: Sequence[float] | None = None,
) -> np.ndarray:
    """Multi-scale structural similarity of each pair (Wang, Simoncelli & Bovik 2003).

    Parameters
    ----------
    x, y : numpy.ndarray
        Batches of shape (N, H, W) or (N, H, W, C) with values in [0, data_range].
    data_range : float, optional
        The value range; default 255 for integer arrays, 1.0 for float arrays.
    kernel_size, kernel_sigma, k1, k2 : int, float
        As for :func:`ssim`.
    scale_weights : sequence of float, optional
        One weight per scale, normalised to sum 1. By default the paper's five weights as published (they sum
        to 1.0001 and are used as they are, as piq does).

    Returns
    -------
    numpy.ndarray
        float64 array of shape (N,).

    Raises
    ------
    DataError
        If the images are smaller than ``(kernel_size - 1) * 2^(scales - 1) + 1`` (161 pixels for the
        defaults; pass fewer ``scale_weights`` or a smaller ``kernel_size`` for small images), or as for
        :func:`ssim`.

    Notes
    -----
    piq's definition: per channel, the contrast-structure terms of the first scales and the SSIM of the last
    are clipped at 0, raised to their weights and multiplied; the channel values are then averaged. Between
    scales the images are replicate-padded at the top/left when a side is odd and 2x2 average-pooled. No
    initial downsampling.
    """
    xa, ya, data_range = prepare_pair(x, y, data_range, "ms_ssim")
    g = _gaussian(kernel_size, kernel_sigma)
    if scale_weights is None:
        w = np.array(MS_SSIM_WEIGHTS)
    else:
        w = np.asarray(scale_weights, dtype=np.float64)
        if w.ndim != 1 or w.size == 0 or np.any(w < 0) or w.sum() <= 0:
            raise DataError(f"ms_ssim: scale_weights must be non-negative numbers, got {scale_weights!r}")
        w = w / w.sum()
    min_size = (kernel_size - 1) * 2 ** (w.size - 1) + 1
    if min(xa.shape[1:3]) < min_size:
        raise DataError(
            f"ms_ssim: images of {xa.shape[1]}x{xa.shape[2]} are too small for {w.size} scales with "
            f"a {kernel_size}-pixel window (need {min_size}); pass fewer scale_weights or a smaller "
            "kernel_size"
        )
    c1, c2 = _constants(k1, k2)
    return _ms_ssim_batch(xa, ya, _SIDE_RANGE / data_range, g, c1, c2, _OFFSET, w, thread_chunks(len(xa)))


@njit(cache=True, error_model="numpy")
def ssim_cs_plane(  # pragma: no cover - compiled
    x: np.ndarray,
    y: np.ndarray,
    g: np.ndarray,
    c1: np.float32,
    c2: np.float32,
    offset: np.float32,
    acc: np.ndarray,
    moments: np.ndarray,
    cols: np.ndarray,
) -> tuple[float, float]:
    """Mean SSIM and mean contrast-structure term of one (H, W) float32 plane pair, valid region only.

    The planes hold pixels minus ``offset`` (which only the luminance term needs back); ``acc`` and
    ``moments`` are (5, >= W) float32 scratch, ``cols`` (2, >= W) float64 scratch for the column sums.
    """
    h, w = x.shape
    k = g.size
    ho = h - k + 1
    wo = w - k + 1
    cs_cols = cols[0]
    ssim_cols = cols[1]
    cs_cols[:wo] = 0.0
    ssim_cols[:wo] = 0.0
    mx, my, mxx, myy, mxy = moments[0], moments[1], moments[2], moments[3], moments[4]
    for i in range(ho):
        gaussian_moments_row(x, y, g, i, acc, moments)
        for j in range(wo):
            ux = mx[j]
            uy = my[j]
            cov = mxy[j] - ux * uy
            cs = (cov + cov + c2) / ((mxx[j] - ux * ux) + (myy[j] - uy * uy) + c2)
            lx = ux + offset
            ly = uy + offset
            lxy = lx * ly
            cs_cols[j] += cs
            ssim_cols[j] += (lxy + lxy + c1) / (lx * lx + ly * ly + c1) * cs
    n = ho * wo
    return ssim_cols[:wo].sum() / n, cs_cols[:wo].sum() / n


@njit(cache=True, parallel=True)
def _ssim_batch(  # pragma: no cover - compiled
    x: np.ndarray,
    y: np.ndarray,
    scale: float,
    f: int,
    g: np.ndarray,
    c1: np.float32,
    c2: np.float32,
    offset: np.float32,
    chunks: int,
) -> np.ndarray:
    n, h, w, c = x.shape
    out = np.empty(n)
    for b in prange(chunks):
        px = np.empty((c, h, w), np.float32)
        py = np.empty((c, h, w), np.float32)
        acc = np.empty((5, w), np.float32)
        moments = np.empty((5, w), np.float32)
        cols = np.empty((2, w))
        for p in range(b * n // chunks, (b + 1) * n // chunks):
            load_planes_into(x[p], scale, offset, px)
            load_planes_into(y[p], scale, offset, py)
            qx = px
            qy = py
            if f > 1:
                qx = pool_mean(px, f, 0, 0)
                qy = pool_mean(py, f, 0, 0)
            total = 0.0
            for k in range(c):
                s, _ = ssim_cs_plane(qx[k], qy[k], g, c1, c2, offset, acc, moments, cols)
                total += s
            out[p] = total / c
    return out


@njit(cache=True, parallel=True)
def _ms_ssim_batch(  # pragma: no cover - compiled
    x: np.ndarray,
    y: np.ndarray,
    scale: float,
    g: np.ndarray,
    c1: np.float32,
    c2: np.float32,
    offset: np.float32,
    weights: np.ndarray,
    chunks: int,
) -> np.ndarray:
    n, h, w, c = x.shape
    levels = weights.size
    out = np.empty(n)
    for b in prange(chunks):
        # One pair of plane buffers per scale, and the padding that leads to each.
        xs = [np.empty((c, h, w), np.float32)]
        ys = [np.empty((c, h, w), np.float32)]
        pads = [0]
        for _ in range(1, levels):
            hl, wl = xs[-1].shape[1], xs[-1].shape[2]
            pad = max(hl % 2, wl % 2)
            pads.append(pad)
            xs.append(np.empty((c, (hl + pad) // 2, (wl + pad) // 2), np.float32))
            ys.append(np.empty((c, (hl + pad) // 2, (wl + pad) // 2), np.float32))
        acc = np.empty((5, w), np.float32)
        moments = np.empty((5, w), np.float32)
        cols = np.empty((2, w))
        for p in range(b * n // chunks, (b + 1) * n // chunks):
            load_planes_into(x[p], scale, offset, xs[0])
            load_planes_into(y[p], scale, offset, ys[0])
            prod = np.ones(c)
            for level in range(levels):
                if level > 0:
                    pool2_replicate_front(xs[level - 1], pads[level], xs[level])
                    pool2_replicate_front(ys[level - 1], pads[level], ys[level])
                for k in range(c):
                    s, cs = ssim_cs_plane(xs[level][k], ys[level][k], g, c1, c2, offset, acc, moments, cols)
                    v = s if level == levels - 1 else cs
                    prod[k] *= max(v, 0.0) ** weights[level]
            out[p] = prod.mean()
    return out
