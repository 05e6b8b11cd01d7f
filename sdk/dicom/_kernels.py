"""Numba kernels behind :mod:`medsynth.dicom`: one fused pass from stored pixel values to display values.

Each kernel reads a stored value ``v``, applies the modality rescale ``x = v * slope + intercept``, the VOI
function (a clipped linear ramp, the logistic sigmoid, or a lookup table), optionally inverts (MONOCHROME1),
and writes ``uint8`` (``floor(255 t + 0.5)``) or floating-point ``t`` in [0, 1]. The window kernel (linear or
sigmoid) takes the window folded into two numbers: ``t = (v * slope + shift) * gain`` with ``shift =
intercept - lower`` (see :mod:`medsynth.dicom.voi`), so the linear inner loop is a multiply-add, a multiply,
two comparisons and a store, which LLVM vectorises. A gain of ``inf`` (a LINEAR window of width 1) gives the
standard's step: values at or below the threshold make ``0 * inf = NaN`` or ``-inf``, both stored as 0.

The kernels compute in float64, except :func:`window8`, the linear window in float32 for 8/16-bit input and
uint8 output (twice the SIMD lanes), which :mod:`medsynth.dicom.voi` uses only when the window's numbers bound
its rounding error under 0.16 LSB. For other 8/16-bit inputs large enough to pay for it (SIGMOID, LUTs,
narrow windows), ``voi`` runs the float64 kernels once over every possible stored value (256 or 65,536) and
makes its single pass over the pixels with :func:`gather`: the same numbers, a lookup per pixel.

Arrays are processed flat (C-contiguous, ``ravel``); inputs of at least :data:`PARALLEL_MIN_SIZE` elements run
on all threads with ``prange``. Nothing compiles at import: each signature compiles on first call and is
cached on disk (``cache=True``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["PARALLEL_MIN_SIZE", "window", "window8", "lut", "gather", "rescale", "parallel_copy"]

# Below this many elements the thread start-up costs more than it saves.
PARALLEL_MIN_SIZE = 1 << 18

# Each kernel is a serial and a parallel loop over one inlined body. Loops run over range(src.size) (not
# start/stop bounds), so Numba knows every index is non-negative, skips its wraparound check and LLVM
# vectorises; prange splits the same loop into one contiguous block per thread.


@njit(inline="always")
def _ramp(x, gain, sigmoid):  # type: ignore[no-untyped-def]
    t = x * gain
    if sigmoid:
        t = 1.0 / (1.0 + math.exp(-t))
    # Comparisons written so that NaN lands on 0, like a value below the window.
    return 1.0 if t > 1.0 else (t if t > 0.0 else 0.0)


@njit(inline="always")
def _ramp8(v, slope, shift, gain, scale, offset):  # type: ignore[no-untyped-def]
    # The linear ramp in float32 (eight lanes per AVX2 instruction instead of four), for uint8 output only.
    t = (np.float32(v) * slope + shift) * gain
    t = np.float32(1.0) if t > np.float32(1.0) else (t if t > np.float32(0.0) else np.float32(0.0))
    return np.int32(t * scale + offset)


@njit(inline="always")
def _lookup(x, table):  # type: ignore[no-untyped-def]
    k = 0
    if x >= 0.0:
        # An integer cast of a non-negative value truncates; past the end the last entry applies.
        k = table.size - 1 if x >= table.size - 1 else int(x)
    return table[k]


@njit(inline="always")
def _put(out, i, t, scale, offset, quantize):  # type: ignore[no-untyped-def]
    # `quantize` is a loop invariant: LLVM unswitches it. uint8 goes through int32, a conversion that
    # vectorises (float -> uint8 does not).
    if quantize:
        out[i] = np.int32(t * scale + offset)
    else:
        out[i] = t * scale + offset


@njit(cache=True, error_model="numpy")
def _window_serial(src, out, slope, shift, gain, sigmoid, scale, offset, quantize):  # type: ignore[no-untyped-def]
    for i in range(src.size):
        _put(out, i, _ramp(src[i] * slope + shift, gain, sigmoid), scale, offset, quantize)


@njit(cache=True, error_model="numpy", parallel=True)
def _window_parallel(src, out, slope, shift, gain, sigmoid, scale, offset, quantize):  # type: ignore[no-untyped-def]
    for i in prange(src.size):
        _put(out, i, _ramp(src[i] * slope + shift, gain, sigmoid), scale, offset, quantize)


@njit(cache=True, error_model="numpy")
def _window8_serial(src, out, slope, shift, gain, scale, offset):  # type: ignore[no-untyped-def]
    for i in range(src.size):
        out[i] = _ramp8(src[i], slope, shift, gain, scale, offset)


@njit(cache=True, error_model="numpy", parallel=True)
def _window8_parallel(src, out, slope, shift, gain, scale, offset):  # type: ignore[no-untyped-def]
    for i in prange(src.size):
        out[i] = _ramp8(src[i], slope, shift, gain, scale, offset)


@njit(cache=True, error_model="numpy")
def _lut_serial(src, out, slope, shift, table, scale, offset, quantize):  # type: ignore[no-untyped-def]
    for i in range(src.size):
        _put(out, i, _lookup(src[i] * slope + shift, table), scale, offset, quantize)


@njit(cache=True, error_model="numpy", parallel=True)
def _lut_parallel(src, out, slope, shift, table, scale, offset, quantize):  # type: ignore[no-untyped-def]
    for i in prange(src.size):
        _put(out, i, _lookup(src[i] * slope + shift, table), scale, offset, quantize)


@njit(cache=True)
def _gather_serial(src, out, table):  # type: ignore[no-untyped-def]
    for i in range(src.size):
        out[i] = table[src[i]]


@njit(cache=True, parallel=True)
def _gather_parallel(src, out, table):  # type: ignore[no-untyped-def]
    for i in prange(src.size):
        out[i] = table[src[i]]


@njit(cache=True)
def _rescale_serial(src, out, slope, intercept):  # type: ignore[no-untyped-def]
    for i in range(src.size):
        out[i] = src[i] * slope + intercept


@njit(cache=True, parallel=True)
def _rescale_parallel(src, out, slope, intercept):  # type: ignore[no-untyped-def]
    for i in prange(src.size):
        out[i] = src[i] * slope + intercept


@njit(cache=True, parallel=True)
def _copy_parallel(src, out):  # type: ignore[no-untyped-def]
    for i in prange(src.size):
        out[i] = src[i]


def _store(out: np.ndarray, invert: bool) -> tuple[float, float, bool]:
    """``(scale, offset, quantize)`` storing ``t`` (or ``1 - t`` when ``invert``) into ``out``: uint8 gets
    ``floor(255 t + 0.5)`` (the float-to-integer conversion truncates), floating point gets ``t`` itself."""
    if out.dtype == np.uint8:
        return (-255.0, 255.5, True) if invert else (255.0, 0.5, True)
    return (-1.0, 1.0, False) if invert else (1.0, 0.0, False)


def window(
    src: np.ndarray, out: np.ndarray, slope: float, shift: float, gain: float, sigmoid: bool, invert: bool
) -> None:
    """``out = store(f((src * slope + shift) * gain))`` with ``f`` the [0, 1] clip, or the logistic function
    when ``sigmoid``; inverted when asked; flat, same size."""
    kernel = _window_parallel if src.size >= PARALLEL_MIN_SIZE else _window_serial
    kernel(src, out, slope, shift, gain, sigmoid, *_store(out, invert))


def window8(src: np.ndarray, out: np.ndarray, slope: float, shift: float, gain: float, invert: bool) -> None:
    """:func:`window` (linear) computed in float32, for 8/16-bit integer ``src`` and uint8 ``out``; the caller
    checks that float32 is precise enough (:func:`medsynth.dicom.voi.apply_transform`)."""
    kernel = _window8_parallel if src.size >= PARALLEL_MIN_SIZE else _window8_serial
    scale, offset, _ = _store(out, invert)
    kernel(src, out, *(np.float32(value) for value in (slope, shift, gain, scale, offset)))


def lut(
    src: np.ndarray, out: np.ndarray, slope: float, shift: float, table: np.ndarray, invert: bool
) -> None:
    """``out = store(table[clamp(trunc(src * slope + shift))])``, inverted when asked; flat, same size."""
    kernel = _lut_parallel if src.size >= PARALLEL_MIN_SIZE else _lut_serial
    kernel(src, out, slope, shift, table, *_store(out, invert))


def gather(src: np.ndarray, out: np.ndarray, table: np.ndarray) -> None:
    """``out = table[src]`` for unsigned ``src`` whose every value indexes ``table``; flat, same size."""
    kernel = _gather_parallel if src.size >= PARALLEL_MIN_SIZE else _gather_serial
    kernel(src, out, table)


def rescale(src: np.ndarray, out: np.ndarray, slope: float, intercept: float) -> None:
    """``out = src * slope + intercept`` in the dtype of ``out``; flat, same size."""
    kernel = _rescale_parallel if src.size >= PARALLEL_MIN_SIZE else _rescale_serial
    kernel(src, out, slope, intercept)


def parallel_copy(src: np.ndarray, out: np.ndarray) -> None:
    """Copy ``src`` into ``out`` (flat, same size) on all threads: the memory-bandwidth reference."""
    _copy_parallel(src, out)
