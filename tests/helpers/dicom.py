"""Helpers for the DICOM tests: small DICOM files written with pydicom, and the real test files.

Real files come from pydicom's test data and the pydicom-data package (both installed with the dev extra);
:func:`real_files` lists them through ``pydicom.data.get_testdata_files``, which includes pydicom-data.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"


def write_dicom(
    path: Path,
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    transfer_syntax: str = EXPLICIT_LE,
    **attributes: Any,
) -> Path:
    """Write a minimal image file: ``pixels`` is (rows, cols), (frames, rows, cols) or (..., 3) colour."""
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.uid import generate_uid

    pixels = np.asarray(pixels)
    colour = photometric in ("RGB", "YBR_FULL")
    frames = pixels.shape[0] if pixels.ndim == (4 if colour else 3) else 1
    rows, cols = pixels.shape[-3:-1] if colour else pixels.shape[-2:]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(path)])
    meta.TransferSyntaxUID = transfer_syntax
    ds = FileDataset(str(path), Dataset(), file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.Rows, ds.Columns = int(rows), int(cols)
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 3 if colour else 1
    if colour:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 8 * pixels.dtype.itemsize
    ds.BitsStored = bits_stored or 8 * pixels.dtype.itemsize
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    data = np.ascontiguousarray(pixels).astype(pixels.dtype.newbyteorder("<")).tobytes()
    ds.PixelData = data + b"\0" * (len(data) % 2)
    ds["PixelData"].VR = "OW" if pixels.dtype.itemsize > 1 else "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def ct_slice(seed: int = 0, shape: tuple[int, ...] = (32, 32)) -> np.ndarray:
    """A CT-like int16 slice of stored values (-1024 air to ~2000 bone with intercept 0)."""
    rng = np.random.default_rng(seed)
    return rng.integers(-1024, 2000, size=shape).astype(np.int16)


def real_files() -> list[Path]:
    """Every file of pydicom's test data and of pydicom-data (installed with the dev extra)."""
    from pydicom.data import get_testdata_files

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sorted(Path(f) for f in get_testdata_files() if os.path.isfile(f))
