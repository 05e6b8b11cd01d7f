"""Structural similarity (SSIM) and its multi-scale form (MS-SSIM), one value per image pair."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit, prange

from medsynth.errors import DataError
from medsynth.metrics._filters import (
    DOWNSAMPLE_SIDE,
    load_planes,
    pool2_replicate_front,
    pool_mean,
    prepare_pair,
)

__all__ = ["ssim", "ms_ssim", "MS_SSIM_WEIGHTS"]

# Wang, Simoncelli & Bovik (2003), the weights of the five scales.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _gaussian(kernel_size: int, sigma: float) -> np.ndarray:
    if kernel_size % 2 != 1 or kernel_size < 1:
        raise DataError(f"kernel_size must be a positive odd number, got {kernel_size}")
    if not sigma > 0:
        raise DataError(f"kernel_sigma must be positive, got {sigma}")
    t = np.arange(kernel_size, dtype=np.float64) - (kernel_size - 1) / 2.0
    g = np.exp(-(t**2) / (2.0 * sigma**2))
    normalised: np.ndarray = g / g.sum()
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
    return _ssim_batch(xa, ya, 1.0 / data_range, f, g, k1 * k1, k2 * k2)


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
    return _ms_ssim_batch(xa, ya, 1.0 / data_range, g, k1 * k1, k2 * k2, w)


@njit(cache=True)
def ssim_cs_plane(  # pragma: no cover - compiled
    x: np.ndarray, y: np.ndarray, g: np.ndarray, c1: float, c2: float
) -> tuple[float, float]:
    """Mean SSIM and mean contrast-structure term of one (H, W) plane pair, valid region only."""
    h, w = x.shape
    k = g.size
    ho = h - k + 1
    wo = w - k + 1
    hx = np.empty((h, wo))
    hy = np.empty((h, wo))
    hxx = np.empty((h, wo))
    hyy = np.empty((h, wo))
    hxy = np.empty((h, wo))
    for i in range(h):
        for j in range(wo):
            sx = 0.0
            sy = 0.0
            sxx = 0.0
            syy = 0.0
            sxy = 0.0
            for t in range(k):
                a = x[i, j + t]
                b = y[i, j + t]
                gt = g[t]
                sx += gt * a
                sy += gt * b
                sxx += gt * a * a
                syy += gt * b * b
                sxy += gt * a * b
            hx[i, j] = sx
            hy[i, j] = sy
            hxx[i, j] = sxx
            hyy[i, j] = syy
            hxy[i, j] = sxy
    mx = np.empty(wo)
    my = np.empty(wo)
    mxx = np.empty(wo)
    myy = np.empty(wo)
    mxy = np.empty(wo)
    ssim_sum = 0.0
    cs_sum = 0.0
    for i in range(ho):
        mx[:] = 0.0
        my[:] = 0.0
        mxx[:] = 0.0
        myy[:] = 0.0
        mxy[:] = 0.0
        for t in range(k):
            gt = g[t]
            for j in range(wo):
                mx[j] += gt * hx[i + t, j]
                my[j] += gt * hy[i + t, j]
                mxx[j] += gt * hxx[i + t, j]
                myy[j] += gt * hyy[i + t, j]
                mxy[j] += gt * hxy[i + t, j]
        for j in range(wo):
            ux = mx[j]
            uy = my[j]
            cs = (2.0 * (mxy[j] - ux * uy) + c2) / ((mxx[j] - ux * ux) + (myy[j] - uy * uy) + c2)
            ssim_sum += (2.0 * ux * uy + c1) / (ux * ux + uy * uy + c1) * cs
            cs_sum += cs
    n = ho * wo
    return ssim_sum / n, cs_sum / n


@njit(cache=True, parallel=True)
def _ssim_batch(  # pragma: no cover - compiled
    x: np.ndarray, y: np.ndarray, scale: float, f: int, g: np.ndarray, c1: float, c2: float
) -> np.ndarray:
    n = x.shape[0]
    c = x.shape[3]
    out = np.empty(n)
    for p in prange(n):
        px = load_planes(x[p], scale)
        py = load_planes(y[p], scale)
        if f > 1:
            px = pool_mean(px, f, 0, 0)
            py = pool_mean(py, f, 0, 0)
        total = 0.0
        for k in range(c):
            s, _ = ssim_cs_plane(px[k], py[k], g, c1, c2)
            total += s
        out[p] = total / c
    return out


@njit(cache=True, parallel=True)
def _ms_ssim_batch(  # pragma: no cover - compiled
    x: np.ndarray, y: np.ndarray, scale: float, g: np.ndarray, c1: float, c2: float, weights: np.ndarray
) -> np.ndarray:
    n = x.shape[0]
    c = x.shape[3]
    levels = weights.size
    out = np.empty(n)
    for p in prange(n):
        px = load_planes(x[p], scale)
        py = load_planes(y[p], scale)
        prod = np.ones(c)
        for level in range(levels):
            if level > 0:
                pad = max(px.shape[1] % 2, px.shape[2] % 2)
                px = pool2_replicate_front(px, pad)
                py = pool2_replicate_front(py, pad)
            for k in range(c):
                s, cs = ssim_cs_plane(px[k], py[k], g, c1, c2)
                v = s if level == levels - 1 else cs
                prod[k] *= max(v, 0.0) ** weights[level]
        out[p] = prod.mean()
    return out
