"""Numba kernels behind :mod:`medsynth.dicom`: one fused pass from stored pixel values to display values.

Each kernel reads a stored value ``v``, applies the modality rescale ``x = v * slope + intercept``, the VOI
function (a clipped linear ramp, the sigmoid, or a lookup table), optionally inverts (MONOCHROME1), and writes
``uint8`` (``floor(255 t + 0.5)``) or floating-point ``t`` in [0, 1]. The linear and sigmoid kernels take the
window folded into two numbers: ``t = (v * slope + shift) * gain`` with ``shift = intercept - lower`` (see
:mod:`medsynth.dicom.voi`), so the inner loop is a multiply-add, a multiply, two comparisons and a store,
which LLVM vectorises. A gain of ``inf`` (a LINEAR window of width 1) gives the standard's step: values at or
below the threshold make ``0 * inf = NaN`` or ``-inf``, both stored as 0.

Arrays are processed flat (C-contiguous, ``ravel``); inputs of at least :data:`PARALLEL_MIN_SIZE` elements are
split into chunks run on all threads with ``prange``. Nothing compiles at import: each signature compiles on
first call and is cached on disk (``cache=True``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["PARALLEL_MIN_SIZE", "linear", "sigmoid", "lut", "rescale", "parallel_copy"]

# Below this many elements the thread start-up costs more than it saves.
PARALLEL_MIN_SIZE = 1 << 18
# Elements per parallel work item: large enough to amortise scheduling, small enough to balance many cores.
_CHUNK = 1 << 16


@njit(cache=True, error_model="numpy")
def _linear_chunk(src, out, slope, shift, gain, invert, scale, offset, start, stop):  # type: ignore[no-untyped-def]
    for i in range(start, stop):
        t = (src[i] * slope + shift) * gain
        # Comparisons written so that NaN lands on 0, like a value below the window.
        t = 1.0 if t > 1.0 else (t if t > 0.0 else 0.0)
        if invert:
            t = 1.0 - t
        out[i] = t * scale + offset


@njit(cache=True, error_model="numpy")
def _sigmoid_chunk(src, out, slope, shift, gain, invert, scale, offset, start, stop):  # type: ignore[no-untyped-def]
    for i in range(start, stop):
        t = 1.0 / (1.0 + math.exp(-(src[i] * slope + shift) * gain))
        if not t >= 0.0:  # NaN input
            t = 0.0
        if invert:
            t = 1.0 - t
        out[i] = t * scale + offset


@njit(cache=True, error_model="numpy")
def _lut_chunk(src, out, slope, shift, table, invert, scale, offset, start, stop):  # type: ignore[no-untyped-def]
    last = table.size - 1
    for i in range(start, stop):
        x = src[i] * slope + shift
        k = 0
        if x >= 0.0:
            # An integer cast of a non-negative value truncates; past the end the last entry applies.
            k = last if x >= last else int(x)
        t = table[k]
        if invert:
            t = 1.0 - t
        out[i] = t * scale + offset


@njit(cache=True, error_model="numpy")
def _rescale_chunk(src, out, slope, intercept, start, stop):  # type: ignore[no-untyped-def]
    for i in range(start, stop):
        out[i] = src[i] * slope + intercept


@njit(cache=True, parallel=True)
def _linear_parallel(src, out, slope, shift, gain, invert, scale, offset):  # type: ignore[no-untyped-def]
    n = src.size
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        stop = min(n, (c + 1) * _CHUNK)
        _linear_chunk(src, out, slope, shift, gain, invert, scale, offset, c * _CHUNK, stop)


@njit(cache=True, parallel=True)
def _sigmoid_parallel(src, out, slope, shift, gain, invert, scale, offset):  # type: ignore[no-untyped-def]
    n = src.size
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        stop = min(n, (c + 1) * _CHUNK)
        _sigmoid_chunk(src, out, slope, shift, gain, invert, scale, offset, c * _CHUNK, stop)


@njit(cache=True, parallel=True)
def _lut_parallel(src, out, slope, shift, table, invert, scale, offset):  # type: ignore[no-untyped-def]
    n = src.size
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        _lut_chunk(src, out, slope, shift, table, invert, scale, offset, c * _CHUNK, min(n, (c + 1) * _CHUNK))


@njit(cache=True, parallel=True)
def _rescale_parallel(src, out, slope, intercept):  # type: ignore[no-untyped-def]
    n = src.size
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        _rescale_chunk(src, out, slope, intercept, c * _CHUNK, min(n, (c + 1) * _CHUNK))


@njit(cache=True, parallel=True)
def _copy_parallel(src, out):  # type: ignore[no-untyped-def]
    n = src.size
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        for i in range(c * _CHUNK, min(n, (c + 1) * _CHUNK)):
            out[i] = src[i]


def _store(out: np.ndarray) -> tuple[float, float]:
    # uint8 stores floor(255 t + 0.5) (a float-to-integer store truncates); floating point stores t itself.
    return (255.0, 0.5) if out.dtype == np.uint8 else (1.0, 0.0)


def linear(src: np.ndarray, out: np.ndarray, slope: float, shift: float, gain: float, invert: bool) -> None:
    """``out = store(clip((src * slope + shift) * gain, 0, 1))``, inverted when asked; flat, same size."""
    if src.size >= PARALLEL_MIN_SIZE:
        _linear_parallel(src, out, slope, shift, gain, invert, *_store(out))
    else:
        _linear_chunk(src, out, slope, shift, gain, invert, *_store(out), 0, src.size)


def sigmoid(src: np.ndarray, out: np.ndarray, slope: float, shift: float, gain: float, invert: bool) -> None:
    """``out = store(1 / (1 + exp(-(src * slope + shift) * gain)))``, inverted when asked; flat, same size."""
    if src.size >= PARALLEL_MIN_SIZE:
        _sigmoid_parallel(src, out, slope, shift, gain, invert, *_store(out))
    else:
        _sigmoid_chunk(src, out, slope, shift, gain, invert, *_store(out), 0, src.size)


def lut(src: np.ndarray, out: np.ndarray, slope: float, shift: float, table: np.ndarray,
        invert: bool) -> None:
    """``out = store(table[clamp(trunc(src * slope + shift))])``, inverted when asked; flat, same size."""
    if src.size >= PARALLEL_MIN_SIZE:
        _lut_parallel(src, out, slope, shift, table, invert, *_store(out))
    else:
        _lut_chunk(src, out, slope, shift, table, invert, *_store(out), 0, src.size)


def rescale(src: np.ndarray, out: np.ndarray, slope: float, intercept: float) -> None:
    """``out = src * slope + intercept`` in the dtype of ``out``; flat, same size."""
    if src.size >= PARALLEL_MIN_SIZE:
        _rescale_parallel(src, out, slope, intercept)
    else:
        _rescale_chunk(src, out, slope, intercept, 0, src.size)


def parallel_copy(src: np.ndarray, out: np.ndarray) -> None:
    """Copy ``src`` into ``out`` (flat, same size) on all threads: the memory-bandwidth reference."""
    _copy_parallel(src, out)
