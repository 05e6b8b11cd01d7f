"""Shared Numba building blocks of the full-reference kernels: input checks, plane loading, pooling,
gradients, and the separable Gaussian filter of SSIM's five moments.

Every kernel works on one image pair at a time as planes of shape (C, H, W) (float32 for SSIM and MS-SSIM,
float64 for the others) and splits the pairs of a batch into one chunk per thread (``prange`` over the
chunks), so that each thread allocates its planes and row buffers once and reuses them for all its pairs.
The pooling and padding helpers reproduce piq 0.8's choices exactly (zero padding
at the bottom/right before 2x2 average pooling, replicate padding at the top/left for MS-SSIM, floor division
of odd sizes) because piq's conventions define what "agreement" means in the tests.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit

from medsynth.errors import DataError

__all__ = [
    "prepare_pair",
    "thread_chunks",
    "load_planes_into",
    "load_pooled_into",
    "pool_mean",
    "pool_mean_into",
    "pool2_replicate_front",
    "gaussian_moments_row",
    "rgb_to_yiq",
    "prewitt_row",
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


def thread_chunks(n: int) -> int:
    """The number of chunks a batch of ``n`` pairs is split into: one per Numba thread, at most ``n``.

    The kernels take it as an argument (a compiled function that asks Numba cannot be cached); chunk ``b``
    holds the pairs ``b * n // chunks`` to ``(b + 1) * n // chunks``.
    """
    chunks: int = min(n, get_num_threads())
    return chunks


@njit(cache=True)
def load_planes_into(  # pragma: no cover - compiled
    img: np.ndarray, scale: float, offset: float | np.float32, out: np.ndarray
) -> None:
    """(H, W, C) image of any dtype -> planes (C, H, W) in ``out`` (any float dtype): ``value * scale -
    offset``, computed in float64 and then stored."""
    h, w, c = img.shape
    for k in range(c):
        for i in range(h):
            for j in range(w):
                out[k, i, j] = img[i, j, k] * scale - offset


@njit(cache=True)
def pool_mean_into(  # pragma: no cover - compiled
    planes: np.ndarray, f: int, pad_before: int, pad_after: int, out: np.ndarray
) -> None:
    """Zero-pad each plane by ``pad_before``/``pad_after`` on both axes, then average-pool f x f with
    stride f, into ``out`` of shape (C, floor((H + pads) / f), floor((W + pads) / f)).

    Like torch's ``F.pad`` + ``F.avg_pool2d(kernel_size=f)``; :func:`load_pooled_into` on the planes seen as
    (H, W, C), with scale 1.
    """
    load_pooled_into(planes.transpose(1, 2, 0), 1.0, f, pad_before, pad_after, out)


@njit(cache=True)
def load_pooled_into(  # pragma: no cover - compiled
    img: np.ndarray, scale: float, f: int, pad_before: int, pad_after: int, out: np.ndarray
) -> None:
    """``img * scale`` (an (H, W, C) image of any dtype), zero-padded by ``pad_before``/``pad_after`` on both
    axes and average-pooled f x f with stride f, into float planes ``out`` of shape (C, floor((H + pads) / f),
    floor((W + pads) / f)): loading and pooling in one pass, without the full-size float planes."""
    h, w, c = img.shape
    ho, wo = out.shape[1], out.shape[2]
    out[:] = 0.0
    inv = 1.0 / (f * f)
    # the output columns whose window lies inside the image run without bounds tests; then the padded edges
    first = (pad_before + f - 1) // f
    last = min(wo, (w + pad_before) // f)
    for i in range(ho):
        for a in range(f):
            r = i * f + a - pad_before
            if r < 0 or r >= h:
                continue
            row = img[r]
            for k in range(c):
                dst = out[k, i]
                for j in range(first, last):
                    s = 0.0
                    for b in range(f):
                        s += row[j * f + b - pad_before, k] * scale
                    dst[j] += s * inv
            for j in range(wo):
                if first <= j < last:
                    continue
                for k in range(c):
                    s = 0.0
                    for b in range(f):
                        q = j * f + b - pad_before
                        if 0 <= q < w:
                            s += row[q, k] * scale
                    out[k, i, j] += s * inv


@njit(cache=True)
def pool_mean(  # pragma: no cover - compiled
    planes: np.ndarray, f: int, pad_before: int, pad_after: int
) -> np.ndarray:
    """:func:`pool_mean_into` into a new array of the planes' dtype."""
    c, h, w = planes.shape
    out = np.empty((c, (h + pad_before + pad_after) // f, (w + pad_before + pad_after) // f), planes.dtype)
    pool_mean_into(planes, f, pad_before, pad_after, out)
    return out


@njit(cache=True)
def pool2_replicate_front(  # pragma: no cover - compiled
    planes: np.ndarray, pad: int, out: np.ndarray
) -> None:
    """Replicate-pad ``pad`` rows/columns at the top/left, then 2x2 average pooling (piq's MS-SSIM step),
    into ``out`` of shape (C, (H + pad) // 2, (W + pad) // 2)."""
    c = planes.shape[0]
    ho, wo = out.shape[1], out.shape[2]
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


@njit(cache=True)
def gaussian_moments_row(  # pragma: no cover - compiled
    x: np.ndarray, y: np.ndarray, g: np.ndarray, i: int, acc: np.ndarray, out: np.ndarray
) -> None:
    """Row ``i`` of the five Gaussian-filtered moments of two planes, valid region only (no padding).

    One separable pass for all five: the taps ``g`` down the columns of x, y, x^2, y^2 and xy (products formed
    on the fly) into ``acc``, then the same taps along the row into ``out``. Both inner loops run along a row,
    so LLVM vectorises them.

    Parameters
    ----------
    x, y : numpy.ndarray
        (H, W) planes (float32 for SSIM).
    g : numpy.ndarray
        (k,) taps of the dtype of the planes.
    i : int
        The output row, 0 <= i <= H - k.
    acc : numpy.ndarray
        (5, >= W) scratch.
    out : numpy.ndarray
        (5, >= W - k + 1); on return its first W - k + 1 columns hold the filtered x, y, x^2, y^2 and xy.
    """
    k = g.size
    w = x.shape[1]
    wo = w - k + 1
    a0, a1, a2, a3, a4 = acc[0], acc[1], acc[2], acc[3], acc[4]
    a0[:w] = 0.0
    a1[:w] = 0.0
    a2[:w] = 0.0
    a3[:w] = 0.0
    a4[:w] = 0.0
    for t in range(k):
        gt = g[t]
        xr = x[i + t]
        yr = y[i + t]
        for j in range(w):
            a = xr[j]
            b = yr[j]
            ga = gt * a
            gb = gt * b
            a0[j] += ga
            a1[j] += gb
            a2[j] += ga * a
            a3[j] += gb * b
            a4[j] += ga * b
    for q in range(5):
        src = acc[q]
        dst = out[q]
        g0 = g[0]
        for j in range(wo):
            dst[j] = g0 * src[j]
        for t in range(1, k):
            gt = g[t]
            for j in range(wo):
                dst[j] += gt * src[j + t]


@njit(cache=True)
def rgb_to_yiq(planes: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """YIQ planes (3, H, W) of RGB planes into ``out`` (which may be ``planes``), with piq's (NTSC) matrix."""
    h, w = planes.shape[1], planes.shape[2]
    for i in range(h):
        for j in range(w):
            r = planes[0, i, j]
            g = planes[1, i, j]
            b = planes[2, i, j]
            out[0, i, j] = 0.299 * r + 0.587 * g + 0.114 * b
            out[1, i, j] = 0.5959 * r - 0.2746 * g - 0.3213 * b
            out[2, i, j] = 0.2115 * r - 0.5227 * g + 0.3112 * b


@njit(cache=True)
def prewitt_row(  # pragma: no cover - compiled
    padded: np.ndarray, i: int, gx: np.ndarray, gy: np.ndarray
) -> None:
    """The unnormalised 3x3 Prewitt responses (d/dx, d/dy) along row ``i`` of a plane, into ``gx``, ``gy``.

    ``padded`` is the (H + 2, W + 2) plane with a one-pixel zero border (the zero padding of piq's
    convolution), so the loop has no bounds tests and vectorises."""
    w = padded.shape[1] - 2
    r0 = padded[i]
    r1 = padded[i + 1]
    r2 = padded[i + 2]
    for j in range(w):
        gx[j] = (r0[j + 2] - r0[j]) + (r1[j + 2] - r1[j]) + (r2[j + 2] - r2[j])
        gy[j] = (r2[j] + r2[j + 1] + r2[j + 2]) - (r0[j] + r0[j + 1] + r0[j + 2])


@njit(cache=True, error_model="numpy")
def similarity(a: float, b: float, constant: float, alpha: float) -> float:  # pragma: no cover - compiled
    """piq's similarity map (2ab - alpha ab + c) / (a^2 + b^2 - alpha ab + c) for two scalars.

    Written as 1 - (a - b)^2 / (a^2 + b^2 - alpha ab + c), the same value, so that equal inputs give exactly 1
    whatever the rounding of the sums (the deviation-pooled indices raise these maps to small powers, which
    turns a one-ulp wobble into 1e-5)."""
    d = a - b
    return 1.0 - d * d / (a * a + b * b - alpha * a * b + constant)
