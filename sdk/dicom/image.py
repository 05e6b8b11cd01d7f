"""``load``: one DICOM file to display-ready pixels, by the standard.

read (safely) -> check the header against the limits -> decode -> modality LUT + VOI LUT + MONOCHROME1
inversion fused in one kernel pass per frame. Colour images (RGB, YBR decoded to RGB, PALETTE COLOR expanded)
have no VOI stage: their samples are scaled from their stored bits to [0, 1].
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from medsynth.dicom._attrs import get, guarded, integer
from medsynth.dicom.display import OUTPUTS, run_transform
from medsynth.dicom.presets import FROM_FILE, FULL_RANGE, Window, WindowSpec, parse_window
from medsynth.dicom.reader import DEFAULT_LIMITS, Limits, decode, read
from medsynth.dicom.voi import apply_transform, colour_transform, transforms_for
from medsynth.errors import DataError, DicomError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pydicom.dataset import Dataset

__all__ = ["load", "display"]


def display(
    ds: Dataset,
    window: Window | str,
    out: str = "uint8",
    *,
    source: str = "<dataset>",
    limits: Limits = DEFAULT_LIMITS,
) -> np.ndarray:
    """Decode a parsed data set and map it to display values.

    Parameters
    ----------
    ds
        A pydicom data set with pixel data.
    window
        A parsed window (:func:`medsynth.dicom.presets.parse_window`): a :class:`Window`, ``"from-file"`` or
        ``"full"``.
    out
        ``"uint8"`` or ``"float"`` (float32 in [0, 1]).
    source
        The file name, for messages.
    limits
        Size bounds checked before decoding.

    Returns
    -------
    numpy.ndarray
        ``(frames, rows, columns)`` grayscale or ``(frames, rows, columns, 3)`` RGB.

    Raises
    ------
    DicomError
        See :func:`load`.
    """
    if out not in OUTPUTS:
        raise DataError(f"out must be one of {', '.join(OUTPUTS)}, got {out!r}")
    with guarded(source):
        return _display(ds, window, out, source, limits)


def _display(ds: Dataset, window: Window | str, out: str, source: str, limits: Limits) -> np.ndarray:
    pixels, geometry = decode(ds, source, limits)
    if pixels.ndim == 4:
        if isinstance(window, Window):
            raise DicomError(
                f"{source} is a colour image; windows apply to grayscale images only: use "
                f"'{FULL_RANGE}' (or '{FROM_FILE}', which means the same for colour)"
            )
        palette = str(get(ds, "PhotometricInterpretation", source) or "").strip().upper() == "PALETTE COLOR"
        bits = 8 * pixels.dtype.itemsize if palette else integer(ds, "BitsStored", source)
        if pixels.dtype.kind == "f" or not 1 <= bits <= 8 * pixels.dtype.itemsize:
            raise DicomError(f"{source}: Bits Stored {bits} does not fit its {pixels.dtype} colour samples")
        return run_transform(pixels, colour_transform(bits), out)
    transforms = transforms_for(ds, window, geometry.frames, source)
    if len(transforms) == 1:
        return run_transform(pixels, transforms[0], out)
    result = np.empty(pixels.shape, dtype=OUTPUTS[out])
    for frame, transform in enumerate(transforms):
        apply_transform(pixels[frame], transform, result[frame])
    return result


def load(
    path: str | Path,
    window: WindowSpec = FROM_FILE,
    out: str = "uint8",
    *,
    limits: Limits = DEFAULT_LIMITS,
    force: bool = False,
) -> np.ndarray:
    """Read a DICOM file and return its pixels after the modality LUT and the VOI LUT.

    Parameters
    ----------
    path
        The DICOM file.
    window
        ``"from-file"`` (the file's VOI LUT Sequence, else its first Window Center/Width and VOI LUT
        Function), ``"full"`` (the whole stored range), a preset name from :data:`medsynth.dicom.PRESETS`
        (``"lung"``, ``"brain"``, ...), a ``(center, width)`` pair, ``"C,W"``, or a :class:`Window`.
    out
        ``"uint8"`` (0..255) or ``"float"`` (float32 in [0, 1]).
    limits
        Size bounds checked before reading and before decoding; raise them for large trusted files.
    force
        Also accept files without the DICOM Part 10 header (off by default).

    Returns
    -------
    numpy.ndarray
        ``(frames, rows, columns)`` for grayscale, ``(frames, rows, columns, 3)`` for colour. MONOCHROME1 is
        inverted, so that 0 is black for every file.

    Raises
    ------
    DicomError
        Not DICOM, truncated, unsupported transfer syntax (named by UID), over the limits, a DICOMDIR, no
        pixel data, ``"from-file"`` on a file without a window, a window on a colour image, or malformed
        LUT / window / rescale attributes.
    DataError
        An unknown window name or ``out`` value.
    """
    spec = parse_window(window)
    ds = read(path, limits=limits, force=force)
    return display(ds, spec, out, source=str(path), limits=limits)
