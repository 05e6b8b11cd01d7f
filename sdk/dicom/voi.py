"""From a dataset's Modality LUT and VOI LUT modules to one fused display transform per frame.

The grayscale pipeline of PS3.4 N.2.1: stored value -> Modality LUT (Rescale Slope / Intercept, or a Modality
LUT Sequence) -> VOI LUT (Window Center / Width with LINEAR, LINEAR_EXACT or SIGMOID per PS3.3 C.11.2.1.2 and
C.11.2.1.3, or a VOI LUT Sequence) -> [0, 1], inverted for MONOCHROME1. Attribute choices follow pydicom's
``apply_modality_lut`` / ``apply_voi_lut`` (a LUT Sequence wins over rescale or window; the first window of a
multi-valued pair) so results match it, with one addition: enhanced multi-frame files keep rescale and window
in the Shared / Per-Frame Functional Groups, which are read here when the top level has none.

Every stage is folded into a :class:`Transform`, which :func:`apply_transform` runs as one kernel pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from medsynth.dicom import _kernels
from medsynth.dicom._attrs import first, get, integer, number
from medsynth.dicom.presets import FROM_FILE, FULL_RANGE, Window
from medsynth.errors import DataError, DicomError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pydicom.dataset import Dataset

__all__ = ["Transform", "linear_transform", "transforms_for", "colour_transform", "apply_transform"]

_MONOCHROME = ("MONOCHROME1", "MONOCHROME2")


@dataclass(frozen=True)
class Transform:
    """One fused display transform: ``t = f((v * slope + shift) * gain)`` or ``table[v * slope + shift]``."""

    kind: str  # "linear" (clipped ramp), "sigmoid" or "lut"
    slope: float  # multiplies the stored value
    shift: float  # added after the slope: intercept minus the window's lower edge or the LUT's first value
    gain: float = 1.0  # multiplies the shifted value (linear, sigmoid)
    table: np.ndarray | None = None  # float64 display values in [0, 1] (lut)
    invert: bool = False  # MONOCHROME1: t -> 1 - t


@dataclass(frozen=True)
class _Lut:
    first: int  # first stored / input value mapped (LUT Descriptor value 2)
    values: np.ndarray  # float64 LUT Data, LUT Descriptor value 1 entries
    bits: int  # bits per entry (LUT Descriptor value 3): the output range is [0, 2**bits - 1]


def linear_transform(
    window: Window, slope: float = 1.0, intercept: float = 0.0, invert: bool = False
) -> Transform:
    """Fold a rescale and a window into a :class:`Transform`.

    Parameters
    ----------
    window
        Center, width and VOI LUT function (applied to ``v * slope + intercept``).
    slope, intercept
        Rescale Slope and Intercept.
    invert
        Invert the output (MONOCHROME1).

    Returns
    -------
    Transform
        A linear or sigmoid transform.
    """
    if window.function == "SIGMOID":
        return Transform("sigmoid", slope, intercept - window.center, 4.0 / window.width, invert=invert)
    if window.function == "LINEAR":
        # C.11.2.1.2.1: the LINEAR ramp runs over [c - 0.5 - (w - 1) / 2, c - 0.5 + (w - 1) / 2].
        center, width = window.center - 0.5, window.width - 1.0
    else:
        center, width = window.center, window.width
    lower = center - width / 2.0
    # Width 1 (LINEAR) is the standard's step at the center: an infinite gain sends x <= lower to 0 and
    # x > lower to 1.
    gain = 1.0 / width if width > 0 else math.inf
    return Transform("linear", slope, intercept - lower, gain, invert=invert)


def _range_transform(lower: float, upper: float, slope: float, intercept: float, invert: bool) -> Transform:
    span = upper - lower
    return Transform("linear", slope, intercept - lower, 1.0 / span if span != 0 else math.inf, invert=invert)


# float32 is used for a linear window into uint8 when its rounding error stays under 0.16 LSB: with |v| <
# 2**bits, (2**bits |slope| + |shift|) |gain| <= 2048 bounds the error of t by 5 * 2**-24 * 2048 (a standard
# forward error bound for the multiply-add-multiply), so at most a value within 0.16 LSB of a rounding
# boundary moves by 1 LSB.
_FLOAT32_BUDGET = 2048.0


def _float32_is_enough(src: np.ndarray, transform: Transform, out: np.ndarray) -> bool:
    if transform.kind != "linear" or out.dtype != np.uint8 or not math.isfinite(transform.gain):
        return False
    largest = float(1 << (8 * src.dtype.itemsize))
    return (largest * abs(transform.slope) + abs(transform.shift)) * abs(transform.gain) <= _FLOAT32_BUDGET


def apply_transform(src: np.ndarray, transform: Transform, out: np.ndarray) -> None:
    """Run ``transform`` over ``src`` into ``out`` (both C-contiguous, same size; ``out`` uint8 or float).

    For 8- and 16-bit integer input (CT, MR, CR, 8-bit colour): a linear window into uint8 runs in float32
    when that is precise to 0.16 LSB; otherwise inputs of at least four times as many pixels as they have
    possible values are mapped through a table of the transform over every possible value (computed by the
    same float64 kernels, so the numbers are identical), one lookup per pixel. Everything else runs the
    float64 kernels directly.
    """
    flat_in, flat_out = src.reshape(-1), out.reshape(-1)
    if flat_in.dtype.kind not in "iu" or flat_in.dtype.itemsize > 2:
        _apply_direct(flat_in, transform, flat_out)
    elif _float32_is_enough(flat_in, transform, flat_out):
        t = transform
        _kernels.window8(flat_in, flat_out, t.slope, t.shift, t.gain, t.invert)
    elif flat_in.size >= 4 << (8 * flat_in.dtype.itemsize):
        unsigned = flat_in.view(f"u{flat_in.dtype.itemsize}")  # a signed value v indexes entry v mod 2**bits
        values = np.arange(1 << (8 * flat_in.dtype.itemsize), dtype=unsigned.dtype).view(flat_in.dtype)
        table = np.empty(values.size, dtype=flat_out.dtype)
        _apply_direct(values, transform, table)
        _kernels.gather(unsigned, flat_out, table)
    else:
        _apply_direct(flat_in, transform, flat_out)


def _apply_direct(flat_in: np.ndarray, transform: Transform, flat_out: np.ndarray) -> None:
    t = transform
    if t.kind in ("linear", "sigmoid"):
        _kernels.window(flat_in, flat_out, t.slope, t.shift, t.gain, t.kind == "sigmoid", t.invert)
    else:
        assert t.table is not None  # construction invariant of "lut" transforms, not an input check
        _kernels.lut(flat_in, flat_out, t.slope, t.shift, t.table, t.invert)


def _table(values: np.ndarray, transform: Transform) -> np.ndarray:
    """The display values ``transform`` gives for the input values ``values`` (a LUT's entries)."""
    table = np.empty(values.size, dtype=np.float64)
    apply_transform(np.ascontiguousarray(values, dtype=np.float64), transform, table)
    return table


def _frame_item(ds: Dataset, frame: int, sequence: str, source: str) -> Dataset | None:
    """The first item of ``sequence`` in frame ``frame``'s Per-Frame or else the Shared Functional Groups."""
    for groups, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        items = get(ds, groups, source)
        if items and index < len(items):
            inner = get(items[index], sequence, source)
            if inner:
                return inner[0]  # type: ignore[no-any-return]
    return None


def _lut(item: Dataset, ds: Dataset, source: str, what: str) -> _Lut | None:
    descriptor, data = get(item, "LUTDescriptor", source), get(item, "LUTData", source)
    if descriptor is None or data is None:
        return None
    try:
        count, first_mapped, bits = (int(value) for value in descriptor)
    except (TypeError, ValueError):
        raise DicomError(
            f"{source}: the {what} LUT Descriptor {descriptor!r} is not three integers"
        ) from None
    count = count or 65536  # PS3.3 C.11.1.1.1: 0 means 2**16 entries
    if not 8 <= bits <= 16:
        raise DicomError(f"{source}: the {what} LUT has {bits} bits per entry; 8 to 16 are supported")
    if isinstance(data, bytes):  # OW: raw words in the file's byte order
        little = ds.original_encoding[1] if hasattr(ds, "original_encoding") else True
        values = np.frombuffer(data[: 2 * (len(data) // 2)], dtype="<u2" if little is not False else ">u2")
    else:
        try:
            values = np.asarray(data if hasattr(data, "__len__") else [data], dtype=np.float64)
        except (TypeError, ValueError):
            raise DicomError(f"{source}: the {what} LUT Data is not a list of numbers") from None
    if values.ndim != 1 or values.size < count:
        raise DicomError(
            f"{source}: the {what} LUT Data holds {values.size} entries, its descriptor says {count}"
        )
    values = values[:count].astype(np.float64)
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 2**bits - 1:
        raise DicomError(f"{source}: the {what} LUT Data has values outside [0, {2**bits - 1}] ({bits} bits)")
    return _Lut(first_mapped, values, bits)


@dataclass(frozen=True)
class _Modality:
    slope: float = 1.0
    intercept: float = 0.0
    lut: _Lut | None = None


def _modality(ds: Dataset, frame: int, source: str) -> _Modality:
    sequence = get(ds, "ModalityLUTSequence", source)
    if sequence:
        lut = _lut(sequence[0], ds, source, "Modality")
        if lut is not None:
            return _Modality(lut=lut)
    for holder in (_frame_item(ds, frame, "PixelValueTransformationSequence", source), ds):
        if holder is None:
            continue
        slope, intercept = number(holder, "RescaleSlope", source), number(holder, "RescaleIntercept", source)
        if slope is not None and intercept is not None:
            return _Modality(slope, intercept)
    return _Modality()


def _file_voi(ds: Dataset, frame: int, source: str) -> Window | _Lut | None:
    sequence = get(ds, "VOILUTSequence", source)
    if sequence:
        lut = _lut(sequence[0], ds, source, "VOI")
        if lut is not None:
            return lut
    for holder in (_frame_item(ds, frame, "FrameVOILUTSequence", source), ds):
        if holder is None:
            continue
        center, width = number(holder, "WindowCenter", source), number(holder, "WindowWidth", source)
        if center is not None and width is not None:
            function = first(get(holder, "VOILUTFunction", source)) or "LINEAR"
            try:
                return Window(center, width, str(function))
            except DataError as exc:
                raise DicomError(f"{source}: {exc}") from None
    return None


def _stored_range(ds: Dataset, source: str) -> tuple[float, float]:
    bits = integer(ds, "BitsStored", source)
    if integer(ds, "PixelRepresentation", source, default=0) == 0:
        return 0.0, float(2**bits - 1)
    return float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)


def _frame_transform(ds: Dataset, frame: int, spec: Window | str, source: str) -> Transform:
    photometric = str(get(ds, "PhotometricInterpretation", source) or "").strip().upper()
    invert = photometric == "MONOCHROME1"
    modality = _modality(ds, frame, source)
    voi: Window | _Lut | None
    if spec == FROM_FILE:
        voi = _file_voi(ds, frame, source)
        if voi is None:
            raise DicomError(
                f"{source} has no window (no VOI LUT Sequence, no Window Center/Width): give a "
                f"window such as 'lung', 'center,width' or '{FULL_RANGE}'"
            )
    elif spec == FULL_RANGE:
        voi = None
    else:
        assert isinstance(spec, Window)  # parse_window's contract
        voi = spec

    if modality.lut is None:  # rescale (or identity) followed by the VOI stage
        if isinstance(voi, Window):
            return linear_transform(voi, modality.slope, modality.intercept, invert)
        if isinstance(voi, _Lut):
            return Transform(
                "lut",
                modality.slope,
                modality.intercept - voi.first,
                table=voi.values / (2**voi.bits - 1),
                invert=invert,
            )
        if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
            raise DicomError(
                f"{source} has floating-point pixel data, which has no stored range: give a window"
            )
        slope, intercept = modality.slope, modality.intercept
        lower, upper = (value * slope + intercept for value in _stored_range(ds, source))
        return _range_transform(lower, upper, modality.slope, modality.intercept, invert)

    # Modality LUT: every stored value indexes the LUT, so the VOI stage folds into one table over its
    # entries.
    lut = modality.lut
    if isinstance(voi, Window):
        table = _table(lut.values, linear_transform(voi))
    elif isinstance(voi, _Lut):
        voi_table = voi.values / (2**voi.bits - 1)
        table = _table(lut.values, Transform("lut", 1.0, -float(voi.first), table=voi_table))
    else:
        table = lut.values / (2**lut.bits - 1)
    return Transform("lut", 1.0, -float(lut.first), table=table, invert=invert)


def transforms_for(ds: Dataset, spec: Window | str, frames: int, source: str) -> list[Transform]:
    """The display transform of every frame of a grayscale dataset (one entry when all frames share it).

    Parameters
    ----------
    ds
        The dataset (its pixel data need not be decoded).
    spec
        A :class:`Window`, ``"from-file"`` or ``"full"`` (see :func:`medsynth.dicom.presets.parse_window`).
    frames
        Number of frames.
    source
        The file name, for messages.

    Returns
    -------
    list of Transform
        Length 1, or ``frames`` when Per-Frame Functional Groups give frames their own rescale or window.

    Raises
    ------
    DicomError
        ``"from-file"`` on a file with no window, a malformed Modality/VOI LUT, window or rescale value.
    """
    photometric = str(get(ds, "PhotometricInterpretation", source) or "").strip().upper()
    if photometric not in _MONOCHROME:
        raise DicomError(f"{source}: photometric interpretation {photometric!r} is not grayscale")
    per_frame = get(ds, "PerFrameFunctionalGroupsSequence", source)
    varies = bool(per_frame) and any(
        get(item, keyword, source)
        for item in per_frame
        for keyword in ("PixelValueTransformationSequence", "FrameVOILUTSequence")
    )
    if not varies:
        return [_frame_transform(ds, 0, spec, source)]
    return [_frame_transform(ds, frame, spec, source) for frame in range(frames)]


def colour_transform(bits: int) -> Transform:
    """The full-range transform of colour samples of ``bits`` bits: ``t = v / (2**bits - 1)``."""
    return Transform("linear", 1.0, 0.0, 1.0 / (2**bits - 1))
