"""Reading DICOM files without trusting them.

* Files are parsed as DICOM Part 10 only (``force=False`` unless the caller asks), and every failure of the
  parser, whatever pydicom raises, becomes a :class:`~medsynth.errors.DicomError` naming the file.
* Sizes are checked before any allocation they would drive: the file size before parsing, the inflated size of
  a Deflated transfer syntax before pydicom inflates it, and Rows x Columns x frames x samples from the header
  before the pixel data is decoded. The bounds are a :class:`Limits` the caller can raise.
* A transfer syntax that pydicom cannot decode here is refused by UID and name, with what to install.
* pydicom's warnings about non-conformant values are kept out of the caller's warning filters (pydicom also
  logs them on its ``pydicom`` logger).
"""

from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medsynth.dicom._attrs import guarded, integer
from medsynth.errors import DicomError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pydicom.dataset import Dataset

__all__ = ["Limits", "DEFAULT_LIMITS", "Geometry", "read", "check_geometry", "decode", "DICOMDIR_UID"]

DICOMDIR_UID = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage
_DEFLATED = "1.2.840.10008.1.2.1.99"
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_INFLATE_STEP = 1 << 22


@dataclass(frozen=True)
class Limits:
    """Upper bounds on what a file may make medsynth read or allocate; raise them for unusual data."""

    max_file_bytes: int = 1 << 30  # size of the file on disk, and of a Deflated data set inflated
    max_rows: int = 16384  # Rows (0028,0010)
    max_columns: int = 16384  # Columns (0028,0011)
    max_frames: int = 4096  # Number of Frames (0028,0008)
    max_decoded_bytes: int = 1 << 30  # Rows x Columns x frames x samples x bytes per sample, once decoded

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DicomError(f"Limits.{name} must be a positive integer, got {value!r}")


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Geometry:
    """The pixel layout the header declares."""

    rows: int
    columns: int
    frames: int
    samples: int  # Samples per Pixel: 1 (grayscale, palette) or 3 (colour)
    bits_allocated: int


def _too_big(source: str, what: str, value: int, limit: int, field: str) -> DicomError:
    return DicomError(
        f"{source}: {what} {value} exceeds the limit of {limit}; if the file is trusted, raise "
        f"it with medsynth.dicom.Limits({field}=...)"
    )


def _check_inflated_size(path: Path, limits: Limits, source: str) -> None:
    """Measure a Deflated data set by streaming it through zlib, so a deflate bomb never fills memory."""
    from pydicom.filereader import read_dataset, read_preamble

    with path.open("rb") as handle:
        read_preamble(handle, False)
        # The File Meta group is always Explicit VR Little Endian; stop at the first element after it.
        read_dataset(handle, False, True, stop_when=lambda tag, vr, length: tag >> 16 != 2)
        data = handle.read()
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    while True:
        chunk = inflater.decompress(data, _INFLATE_STEP)
        total += len(chunk)
        if total > limits.max_file_bytes:
            raise _too_big(
                source,
                "the inflated (Deflated transfer syntax) data set of more than",
                limits.max_file_bytes,
                limits.max_file_bytes,
                "max_file_bytes",
            )
        data = inflater.unconsumed_tail
        # Done at the end of the deflate stream (a padding byte may follow it), or when input and output are.
        if inflater.eof or not chunk or (not data and len(chunk) < _INFLATE_STEP):
            return


def read(path: str | Path, *, limits: Limits = DEFAULT_LIMITS, force: bool = False) -> Dataset:
    """Parse a DICOM file into a pydicom dataset, safely.

    Parameters
    ----------
    path
        The file.
    limits
        Size bounds checked before reading (file size, inflated size of a Deflated data set).
    force
        Passed to :func:`pydicom.dcmread`: also try files without the Part 10 preamble and ``DICM`` prefix.
        Off by default, so that any file is not taken for DICOM.

    Returns
    -------
    pydicom.dataset.FileDataset
        The parsed data set (pixel data not decoded).

    Raises
    ------
    DicomError
        The file is missing, too large, not DICOM, or cannot be parsed.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise DicomError(f"{source} is not a file")
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise _too_big(source, "file size", size, limits.max_file_bytes, "max_file_bytes")
    with guarded(source):
        try:
            meta = pydicom.filereader.read_file_meta_info(path) if not force else None
            if meta is not None and str(meta.get("TransferSyntaxUID", "")) == _DEFLATED:
                _check_inflated_size(path, limits, source)
            return pydicom.dcmread(path, force=force)
        except InvalidDicomError as exc:
            raise DicomError(f"{source} is not a DICOM file (no 'DICM' after a 128-byte preamble)") from exc


def check_geometry(ds: Dataset, source: str, limits: Limits = DEFAULT_LIMITS) -> Geometry:
    """Read the pixel layout from the header and refuse it if it exceeds ``limits`` (nothing is decoded).

    Parameters
    ----------
    ds
        The data set.
    source
        The file name, for messages.
    limits
        The bounds.

    Returns
    -------
    Geometry
        Rows, columns, frames, samples per pixel and bits allocated.

    Raises
    ------
    DicomError
        No pixel data (e.g. a DICOMDIR or a structured report), missing or invalid layout attributes, or a
        layout over the limits.
    """
    meta = getattr(ds, "file_meta", None)
    if str(getattr(meta, "MediaStorageSOPClassUID", "")) == DICOMDIR_UID or "DirectoryRecordSequence" in ds:
        raise DicomError(
            f"{source} is a DICOMDIR (an index of a media folder, not an image): pass its "
            f"folder to medsynth.dicom.load_folder or 'medsynth convert'"
        )
    if not any(keyword in ds for keyword in _PIXEL_KEYWORDS):
        kind = getattr(getattr(ds, "SOPClassUID", None), "name", "")
        raise DicomError(f"{source} has no pixel data" + (f" (it is a {kind})" if kind else ""))
    geometry = Geometry(
        rows=integer(ds, "Rows", source),
        columns=integer(ds, "Columns", source),
        frames=integer(ds, "NumberOfFrames", source, default=1),
        samples=integer(ds, "SamplesPerPixel", source, default=1),
        bits_allocated=integer(ds, "BitsAllocated", source),
    )
    for name in ("rows", "columns", "frames", "samples", "bits_allocated"):
        if getattr(geometry, name) < 1:
            raise DicomError(
                f"{source}: {name.replace('_', ' ')} must be at least 1, got {getattr(geometry, name)}"
            )
    if geometry.samples not in (1, 3):
        raise DicomError(f"{source}: Samples per Pixel {geometry.samples} is not 1 or 3")
    if geometry.bits_allocated > 64:
        raise DicomError(f"{source}: Bits Allocated {geometry.bits_allocated} is more than 64")
    for name, limit_name in (("rows", "max_rows"), ("columns", "max_columns"), ("frames", "max_frames")):
        value, limit = getattr(geometry, name), getattr(limits, limit_name)
        if value > limit:
            what = "Number of Frames" if name == "frames" else name.capitalize()
            raise _too_big(source, what, value, limit, limit_name)
    decoded = (
        geometry.rows
        * geometry.columns
        * geometry.frames
        * geometry.samples
        * max(1, (geometry.bits_allocated + 7) // 8)
    )
    if decoded > limits.max_decoded_bytes:
        raise _too_big(
            source,
            "the decoded pixel data of (bytes)",
            decoded,
            limits.max_decoded_bytes,
            "max_decoded_bytes",
        )
    return geometry


def _check_transfer_syntax(ds: Dataset, source: str) -> None:
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    meta = getattr(ds, "file_meta", None)
    raw = meta.get("TransferSyntaxUID") if meta is not None else None
    if not raw:
        raise DicomError(
            f"{source} has no Transfer Syntax UID (0002,0010) in its file meta, so its pixel "
            f"data cannot be decoded"
        )
    uid = UID(str(raw))
    name = uid.name if uid.name != str(uid) else "not a registered transfer syntax"
    try:
        decoder = get_decoder(uid)
    except (NotImplementedError, ValueError, TypeError):
        raise DicomError(
            f"{source}: transfer syntax {uid} ({name}) is not supported; convert the file to "
            f"Explicit VR Little Endian (1.2.840.10008.1.2.1), e.g. with dcmtk's "
            f"dcmconv"
        ) from None
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) or "a decoding plugin"
        raise DicomError(
            f"{source}: transfer syntax {uid} ({name}) cannot be decoded here; install one of: {missing}"
        )


def decode(ds: Dataset, source: str, limits: Limits = DEFAULT_LIMITS) -> tuple[np.ndarray, Geometry]:
    """Decode the pixel data into ``(frames, rows, columns[, samples])``, after checking the header.

    Colour is returned as pydicom decodes it (YBR converted to RGB); PALETTE COLOR is expanded to RGB with the
    file's palette. The array is C-contiguous and in native byte order.

    Parameters
    ----------
    ds
        The data set.
    source
        The file name, for messages.
    limits
        The bounds checked (before decoding) by :func:`check_geometry`.

    Returns
    -------
    pixels : numpy.ndarray
        ``(frames, rows, columns)`` or ``(frames, rows, columns, 3)``.
    geometry : Geometry
        The checked layout.

    Raises
    ------
    DicomError
        Any header problem of :func:`check_geometry`, an unsupported transfer syntax (named by UID), or pixel
        data that does not decode.
    """
    geometry = check_geometry(ds, source, limits)
    _check_transfer_syntax(ds, source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pixels: Any = ds.pixel_array
            if str(ds.get("PhotometricInterpretation", "")).strip().upper() == "PALETTE COLOR":
                from pydicom.pixels import apply_color_lut

                pixels = apply_color_lut(pixels, ds)
        except Exception as exc:  # decoders and plugins raise many types on corrupt data; all mean "bad data"
            raise DicomError(
                f"{source}: the pixel data cannot be decoded ({type(exc).__name__}: {exc})"
            ) from exc
    pixels = np.asarray(pixels)
    # RGB, or PALETTE COLOR expanded to RGB
    colour = geometry.samples == 3 or pixels.ndim == (4 if geometry.frames > 1 else 3)
    shape = (geometry.frames, geometry.rows, geometry.columns) + ((3,) if colour else ())
    if pixels.size != int(np.prod(shape)):
        raise DicomError(f"{source}: decoded {pixels.shape} pixels, the header declares {shape}")
    if pixels.dtype.kind not in "uif":
        raise DicomError(f"{source}: decoded pixel type {pixels.dtype} is not numeric")
    if not pixels.dtype.isnative:
        pixels = pixels.astype(pixels.dtype.newbyteorder("="))
    return np.ascontiguousarray(pixels.reshape(shape)), geometry
