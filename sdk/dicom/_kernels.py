"""Numba kernels behind :mod:`medsynth.dicom`: one fused pass from stored pixel values to display values.

Each kernel reads a stored value ``v``, applies the modality rescale ``x = v * slope + intercept``, the VOI
function (a clipped linear ramp, the logistic sigmoid, or a lookup table), optionally inverts (MONOCHROME1),
and writes ``uint8`` (``floor(255 t + 0.5)``) or floating-point ``t`` in [0, 1]. The window kernel (linear or
sigmoid) takes the window folded into two numbers: ``t = (v * slope + shift) * gain`` with ``shift =
intercept - lower`` (see :mod:`medsynth.dicom.voi`), so the linear inner loop is a multiply-add, a multiply,
two comparisons and a store, which LLVM vectorises. A gain of ``inf`` (a LINEAR window of width 1) gives the
standard's step: values at or below the threshold make ``0 * inf = NaN`` or ``-inf``, both stored as 0.

For 8- and 16-bit integer inputs large enough to pay for it, :mod:`medsynth.dicom.voi` runs these kernels once
over every possible stored value (256 or 65,536 of them) and then makes its single pass over the pixels with
:func:`gather`: the same numbers, several times faster (a table lookup instead of float arithmetic per pixel).

Arrays are processed flat (C-contiguous, ``ravel``); inputs of at least :data:`PARALLEL_MIN_SIZE` elements are
split into chunks run on all threads with ``prange``. Nothing compiles at import: each signature compiles on
first call and is cached on disk (``cache=True``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["PARALLEL_MIN_SIZE", "window", "lut", "gather", "rescale", "parallel_copy"]

# Below this many elements the thread start-up costs more than it saves.
PARALLEL_MIN_SIZE = 1 << 18
# Elements per parallel work item: large enough to amortise scheduling, small enough to balance many cores.
_CHUNK = 1 << 16


@njit(cache=True, error_model="numpy")
def _window_chunk(src, out, slope, shift, gain, sigmoid, scale, offset, quantize, start, stop):  # type: ignore[no-untyped-def]
    # `sigmoid` and `quantize` are loop invariants: LLVM unswitches them and vectorises each variant.
    for i in range(start, stop):
        t = (src[i] * slope + shift) * gain
        if sigmoid:
            t = 1.0 / (1.0 + math.exp(-t))
        # Comparisons written so that NaN lands on 0, like a value below the window.
        t = 1.0 if t > 1.0 else (t if t > 0.0 else 0.0)
        if quantize:
            out[i] = np.int32(t * scale + offset)  # via int32: a vectorisable conversion, unlike float->uint8
        else:
            out[i] = t * scale + offset


@njit(cache=True, error_model="numpy")
def _lut_chunk(src, out, slope, shift, table, scale, offset, quantize, start, stop):  # type: ignore[no-untyped-def]
    last = table.size - 1
    for i in range(start, stop):
        x = src[i] * slope + shift
        k = 0
        if x >= 0.0:
            # An integer cast of a non-negative value truncates; past the end the last entry applies.
            k = last if x >= last else int(x)
        if quantize:
            out[i] = np.int32(table[k] * scale + offset)
        else:
            out[i] = table[k] * scale + offset


@njit(cache=True)
def _gather_chunk(src, out, table, start, stop):  # type: ignore[no-untyped-def]
    for i in range(start, stop):
        out[i] = table[src[i]]


@njit(cache=True, error_model="numpy")
def _rescale_chunk(src, out, slope, intercept, start, stop):  # type: ignore[no-untyped-def]
    for i in range(start, stop):
        out[i] = src[i] * slope + intercept


@njit(cache=True, parallel=True)
def _window_parallel(src, out, slope, shift, gain, sigmoid, scale, offset, quantize):  # type: ignore[no-untyped-def]
    n = src.size
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        stop = min(n, (c + 1) * _CHUNK)
        _window_chunk(src, out, slope, shift, gain, sigmoid, scale, offset, quantize, c * _CHUNK, stop)


@njit(cache=True, parallel=True)
def _lut_parallel(src, out, slope, shift, table, scale, offset, quantize):  # type: ignore[no-untyped-def]
    n = src.size
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        stop = min(n, (c + 1) * _CHUNK)
        _lut_chunk(src, out, slope, shift, table, scale, offset, quantize, c * _CHUNK, stop)


@njit(cache=True, parallel=True)
def _gather_parallel(src, out, table):  # type: ignore[no-untyped-def]
    n = src.size
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        _gather_chunk(src, out, table, c * _CHUNK, min(n, (c + 1) * _CHUNK))


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


def _store(out: np.ndarray, invert: bool) -> tuple[float, float, bool]:
    """``(scale, offset, quantize)`` storing ``t`` (or ``1 - t`` when ``invert``) into ``out``: uint8 gets
    ``floor(255 t + 0.5)`` (the float-to-integer conversion truncates), floating point gets ``t`` itself."""
    if out.dtype == np.uint8:
        return (-255.0, 255.5, True) if invert else (255.0, 0.5, True)
    return (-1.0, 1.0, False) if invert else (1.0, 0.0, False)


def window(src: np.ndarray, out: np.ndarray, slope: float, shift: float, gain: float, sigmoid: bool,
           invert: bool) -> None:
    """``out = store(f((src * slope + shift) * gain))`` with ``f`` the [0, 1] clip, or the logistic function
    when ``sigmoid``; inverted when asked; flat, same size."""
    if src.size >= PARALLEL_MIN_SIZE:
        _window_parallel(src, out, slope, shift, gain, sigmoid, *_store(out, invert))
    else:
        _window_chunk(src, out, slope, shift, gain, sigmoid, *_store(out, invert), 0, src.size)


def lut(src: np.ndarray, out: np.ndarray, slope: float, shift: float, table: np.ndarray,
        invert: bool) -> None:
    """``out = store(table[clamp(trunc(src * slope + shift))])``, inverted when asked; flat, same size."""
    if src.size >= PARALLEL_MIN_SIZE:
        _lut_parallel(src, out, slope, shift, table, *_store(out, invert))
    else:
        _lut_chunk(src, out, slope, shift, table, *_store(out, invert), 0, src.size)


def gather(src: np.ndarray, out: np.ndarray, table: np.ndarray) -> None:
    """``out = table[src]`` for unsigned ``src`` whose every value indexes ``table``; flat, same size."""
    if src.size >= PARALLEL_MIN_SIZE:
        _gather_parallel(src, out, table)
    else:
        _gather_chunk(src, out, table, 0, src.size)


def rescale(src: np.ndarray, out: np.ndarray, slope: float, intercept: float) -> None:
    """``out = src * slope + intercept`` in the dtype of ``out``; flat, same size."""
    if src.size >= PARALLEL_MIN_SIZE:
        _rescale_parallel(src, out, slope, intercept)
    else:
        _rescale_chunk(src, out, slope, intercept, 0, src.size)


def parallel_copy(src: np.ndarray, out: np.ndarray) -> None:
    """Copy ``src`` into ``out`` (flat, same size) on all threads: the memory-bandwidth reference."""
    _copy_parallel(src, out)
