"""Array-level windowing: the fused kernels for arrays that did not come from a file.

:func:`apply_window` is rescale + window + clip + cast in one pass (the transform :func:`medsynth.dicom.load`
uses too); :func:`apply_modality` is the rescale alone, e.g. stored values to Hounsfield units.
"""

from __future__ import annotations

import math

import numpy as np

from medsynth.dicom.presets import Window
from medsynth.dicom.voi import Transform, apply_transform, linear_transform
from medsynth.errors import DataError

__all__ = ["apply_window", "apply_modality", "run_transform", "OUTPUTS"]

OUTPUTS = {"uint8": np.uint8, "float": np.float32}


def _pixels(array: np.ndarray) -> np.ndarray:
    """A C-contiguous, native-endian numeric array the kernels accept (bool as uint8, float16 as float32)."""
    array = np.asarray(array)
    if array.dtype.kind == "b":
        array = array.view(np.uint8)
    if array.dtype.kind not in "uif":
        raise DataError(f"pixel arrays must be integer or floating point, got {array.dtype}")
    if array.dtype == np.float16:
        array = array.astype(np.float32)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return np.ascontiguousarray(array)


def _finite(name: str, value: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(value)
    ):
        raise DataError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def run_transform(pixels: np.ndarray, transform: Transform, out: str = "uint8") -> np.ndarray:
    """Apply a :class:`~medsynth.dicom.voi.Transform` to a whole array.

    Parameters
    ----------
    pixels
        Stored values, any shape.
    transform
        The fused display transform.
    out
        ``"uint8"`` (0..255) or ``"float"`` (float32 in [0, 1]).

    Returns
    -------
    numpy.ndarray
        Same shape as ``pixels``.

    Raises
    ------
    DataError
        ``out`` is not one of :data:`OUTPUTS`, or ``pixels`` is not numeric.
    """
    if out not in OUTPUTS:
        raise DataError(f"out must be one of {', '.join(OUTPUTS)}, got {out!r}")
    pixels = _pixels(pixels)
    result = np.empty(pixels.shape, dtype=OUTPUTS[out])
    apply_transform(pixels, transform, result)
    return result


def apply_window(
    array: np.ndarray,
    center: float,
    width: float,
    function: str = "LINEAR",
    slope: float = 1.0,
    intercept: float = 0.0,
    out: str = "uint8",
    invert: bool = False,
) -> np.ndarray:
    """Rescale, window, clip and cast in one pass, as PS3.3 C.11.1 and C.11.2.1.2 define them.

    ``x = array * slope + intercept`` is mapped through the VOI LUT function to ``t`` in [0, 1] (below the
    window 0, above it 1), inverted if asked, and stored as ``round(255 t)`` or float32 ``t``. This equals
    pydicom's ``apply_windowing`` output rescaled from its output range to [0, 1].

    Parameters
    ----------
    array
        Stored pixel values (any integer or float dtype, any shape).
    center, width
        Window Center and Width, in the units of ``x`` (e.g. HU).
    function
        VOI LUT Function: ``"LINEAR"`` (width >= 1), ``"LINEAR_EXACT"`` or ``"SIGMOID"`` (width > 0).
    slope, intercept
        Rescale Slope and Intercept.
    out
        ``"uint8"`` or ``"float"`` (float32).
    invert
        Invert the output (MONOCHROME1 display).

    Returns
    -------
    numpy.ndarray
        Same shape as ``array``.

    Raises
    ------
    DataError
        Non-numeric array, non-finite parameters, an unknown function or an invalid width.
    """
    window = Window(center, width, function)
    slope, intercept = _finite("slope", slope), _finite("intercept", intercept)
    transform = linear_transform(window, slope, intercept, bool(invert))
    return run_transform(array, transform, out)


def apply_modality(
    array: np.ndarray, slope: float = 1.0, intercept: float = 0.0, dtype: type[np.floating] = np.float32
) -> np.ndarray:
    """``array * slope + intercept`` (the Rescale of PS3.3 C.11.1) in one parallel pass.

    Parameters
    ----------
    array
        Stored pixel values.
    slope, intercept
        Rescale Slope and Intercept.
    dtype
        ``numpy.float32`` (default) or ``numpy.float64`` (what pydicom's ``apply_modality_lut`` returns).

    Returns
    -------
    numpy.ndarray
        Same shape as ``array``, in ``dtype``.

    Raises
    ------
    DataError
        Non-numeric array, non-finite parameters or an unsupported ``dtype``.
    """
    from medsynth.dicom import _kernels

    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise DataError(f"dtype must be float32 or float64, got {dtype!r}")
    pixels = _pixels(array)
    result = np.empty(pixels.shape, dtype=dtype)
    _kernels.rescale(
        pixels.reshape(-1), result.reshape(-1), _finite("slope", slope), _finite("intercept", intercept)
    )
    return result
