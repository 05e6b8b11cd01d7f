"""Shared Numba building blocks of the full-reference kernels: input checks, plane loading, pooling,
gradients.

Every kernel works on one image pair at a time as float64 planes of shape (C, H, W) and loops over the pairs
of a batch with ``prange``. The pooling and padding helpers reproduce piq 0.8's choices exactly (zero padding
at the bottom/right before 2x2 average pooling, replicate padding at the top/left for MS-SSIM, floor division
of odd sizes) because piq's conventions define what "agreement" means in the tests.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from medsynth.errors import DataError

__all__ = [
    "prepare_pair",
    "load_planes",
    "pool_mean",
    "pool2_replicate_front",
    "rgb_to_y",
    "rgb_to_yiq",
    "prewitt_magnitude",
    "similarity",
    "DOWNSAMPLE_SIDE",
]

# piq downsamples large images by round(min(H, W) / DOWNSAMPLE_SIDE) before SSIM and MDSI.
DOWNSAMPLE_SIDE = 256

_KERNEL_DTYPES = (np.uint8, np.float32, np.float64)


def prepare_pair(
    x: np.ndarray, y: np.ndarray, data_range: float | None, name: str
) -> tuple[np.ndarray, np.ndarray, float]:
    """Check two image batches and bring them to the (N, H, W, C) layout the kernels read.

    Parameters
    ----------
    x, y : numpy.ndarray
        Batches of shape (N, H, W) or (N, H, W, C), uint8 or float, values in [0, data_range].
    data_range : float or None
        The value range of the pixels; None means 255 for integer arrays and 1.0 for float arrays.
    name : str
        The metric's name, used in error messages.

    Returns
    -------
    tuple
        x and y as C-contiguous (N, H, W, C) arrays of uint8, float32 or float64, and the data range as float.

    Raises
    ------
    DataError
        If the shapes differ or are not 3-D/4-D, the range is not positive, or values fall outside
        [0, data_range].
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if x.shape != y.shape:
        raise DataError(f"{name}: x and y must have the same shape, got {x.shape} and {y.shape}")
    if x.ndim == 3:
        x = x[..., None]
        y = y[..., None]
    if x.ndim != 4 or x.shape[0] == 0:
        raise DataError(
            f"{name}: expected a non-empty batch of shape (N, H, W) or (N, H, W, C), got {x.shape}"
        )
    if x.shape[3] not in (1, 3):
        raise DataError(f"{name}: images must have 1 or 3 channels (last axis), got {x.shape[3]}")
    if data_range is None:
        data_range = 255.0 if np.issubdtype(x.dtype, np.integer) else 1.0
    data_range = float(data_range)
    if not data_range > 0:
        raise DataError(f"{name}: data_range must be positive, got {data_range}")
    arrays = []
    for label, a in (("x", x), ("y", y)):
        if a.dtype not in _KERNEL_DTYPES:
            a = a.astype(np.float64)
        if a.dtype != np.uint8 or data_range < 255:
            lo, hi = float(a.min()), float(a.max())
            if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi > data_range:
                raise DataError(
                    f"{name}: {label} has values in [{lo}, {hi}], outside [0, {data_range}]; "
                    "pass the right data_range or rescale the images"
                )
        arrays.append(np.ascontiguousarray(a))
    return arrays[0], arrays[1], data_range


@njit(cache=True)
def load_planes(img: np.ndarray, scale: float) -> np.ndarray:  # pragma: no cover - compiled
    """(H, W, C) image of any dtype -> float64 planes (C, H, W) multiplied by ``scale``."""
    h, w, c = img.shape
    out = np.empty((c, h, w))
    for i in range(h):
        for j in range(w):
            for k in range(c):
                out[k, i, j] = img[i, j, k] * scale
    return out


@njit(cache=True)
def pool_mean(  # pragma: no cover - compiled
    planes: np.ndarray, f: int, pad_before: int, pad_after: int
) -> np.ndarray:
    """Zero-pad each plane by ``pad_before``/``pad_after`` on both axes, then average-pool f x f with
    stride f.

    Like torch's ``F.pad`` + ``F.avg_pool2d(kernel_size=f)``: the output side is floor((side + pads) / f).
    """
    c, h, w = planes.shape
    ho = (h + pad_before + pad_after) // f
    wo = (w + pad_before + pad_after) // f
    out = np.zeros((c, ho, wo))
    inv = 1.0 / (f * f)
    for k in range(c):
        for i in range(ho):
            for a in range(f):
                r = i * f + a - pad_before
                if r < 0 or r >= h:
                    continue
                for j in range(wo):
                    s = 0.0
                    for b in range(f):
                        q = j * f + b - pad_before
                        if 0 <= q < w:
                            s += planes[k, r, q]
                    out[k, i, j] += s * inv
    return out


@njit(cache=True)
def pool2_replicate_front(planes: np.ndarray, pad: int) -> np.ndarray:  # pragma: no cover - compiled
    """Replicate-pad ``pad`` rows/columns at the top/left, then 2x2 average pooling (piq's MS-SSIM step)."""
    c, h, w = planes.shape
    ho = (h + pad) // 2
    wo = (w + pad) // 2
    out = np.empty((c, ho, wo))
    for k in range(c):
        for i in range(ho):
            r0 = max(2 * i - pad, 0)
            r1 = max(2 * i + 1 - pad, 0)
            for j in range(wo):
                q0 = max(2 * j - pad, 0)
                q1 = max(2 * j + 1 - pad, 0)
                out[k, i, j] = 0.25 * (
                    planes[k, r0, q0] + planes[k, r0, q1] + planes[k, r1, q0] + planes[k, r1, q1]
                )
    return out


@njit(cache=True)
def rgb_to_y(planes: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Luma plane (1, H, W) of RGB planes with the YIQ weights 0.299, 0.587, 0.114; grey planes pass
    through."""
    if planes.shape[0] == 1:
        return planes
    luma: np.ndarray = (0.299 * planes[0] + 0.587 * planes[1] + 0.114 * planes[2]).reshape(
        (1,) + planes.shape[1:]
    )
    return luma


@njit(cache=True)
def rgb_to_yiq(planes: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """YIQ planes (3, H, W) of RGB planes, with piq's (NTSC) matrix."""
    out = np.empty_like(planes)
    r, g, b = planes[0], planes[1], planes[2]
    out[0] = 0.299 * r + 0.587 * g + 0.114 * b
    out[1] = 0.5959 * r - 0.2746 * g - 0.3213 * b
    out[2] = 0.2115 * r - 0.5227 * g + 0.3112 * b
    return out


@njit(cache=True)
def prewitt_magnitude(plane: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Gradient magnitude of one (H, W) plane with 3x3 Prewitt filters (1/3 normalised) and zero padding."""
    h, w = plane.shape
    out = np.empty((h, w))
    for i in range(h):
        for j in range(w):
            gx = 0.0
            gy = 0.0
            for a in range(-1, 2):
                r = i + a
                if 0 <= r < h:
                    if j + 1 < w:
                        gx += plane[r, j + 1]
                    if j >= 1:
                        gx -= plane[r, j - 1]
                q = j + a
                if 0 <= q < w:
                    if i + 1 < h:
                        gy += plane[i + 1, q]
                    if i >= 1:
                        gy -= plane[i - 1, q]
            out[i, j] = np.sqrt(gx * gx + gy * gy) / 3.0
    return out


@njit(cache=True)
def similarity(a: float, b: float, constant: float, alpha: float) -> float:  # pragma: no cover - compiled
    """piq's similarity map (2ab - alpha ab + c) / (a^2 + b^2 - alpha ab + c) for two scalars."""
    ab = a * b
    return (2.0 * ab - alpha * ab + constant) / (a * a + b * b - alpha * ab + constant)
