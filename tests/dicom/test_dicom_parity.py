"""medsynth.dicom against pydicom on every real file: pydicom's test files and the pydicom-data package.

For each file pydicom can decode here, medsynth's result must equal pydicom's ``apply_modality_lut``
followed by ``apply_voi_lut`` (the file's own window or VOI LUT) or, for files without one, the modality
output over the stored range; and, for a window of each VOI LUT function set on the data set, pydicom's
``apply_windowing``. pydicom's outputs live in the range of the stored bits; they are rescaled to [0, 1]
(and inverted for MONOCHROME1) before comparing: float32 output to float32 precision, uint8 within 1 LSB.

Files pydicom cannot read or decode here are skipped with the reason (``pytest -rs`` counts them); for those
medsynth must raise DicomError, never anything else.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.dicom import real_files

from medsynth.dicom import Window, apply_window, load, read
from medsynth.dicom.image import display
from medsynth.errors import DicomError

pydicom = pytest.importorskip("pydicom")
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, apply_windowing  # noqa: E402

FILES = real_files()
FLOAT_ATOL = 1e-6


def test_the_real_files_are_installed() -> None:
    """Both sources are present, so that the parity tests below cannot pass by having nothing to check."""
    assert len(FILES) >= 150
    assert any("data_store" in str(path) for path in FILES), "pydicom-data is not installed (dev extra)"


def _output_range(ds: Any) -> tuple[float, float]:
    """The output range pydicom's apply_windowing maps to (its y_min, y_max)."""
    if ds.get("ModalityLUTSequence"):
        low, high = 0.0, 2.0 ** ds.ModalityLUTSequence[0].LUTDescriptor[2] - 1
    elif ds.PixelRepresentation == 0:
        low, high = 0.0, 2.0**ds.BitsStored - 1
    else:
        low, high = -(2.0 ** (ds.BitsStored - 1)), 2.0 ** (ds.BitsStored - 1) - 1
    if "RescaleSlope" in ds and "RescaleIntercept" in ds and not ds.get("ModalityLUTSequence"):
        low, high = low * ds.RescaleSlope + ds.RescaleIntercept, high * ds.RescaleSlope + ds.RescaleIntercept
    return float(low), float(high)


def _flatten_functional_groups(ds: Any, frame: int) -> None:
    """Copy frame ``frame``'s rescale and window from the functional groups to the top level, where pydicom
    looks (medsynth reads them in place)."""
    for keyword, attributes in (
        ("PixelValueTransformationSequence", ("RescaleSlope", "RescaleIntercept")),
        ("FrameVOILUTSequence", ("WindowCenter", "WindowWidth", "VOILUTFunction")),
    ):
        for groups, index in (
            ("PerFrameFunctionalGroupsSequence", frame),
            ("SharedFunctionalGroupsSequence", 0),
        ):
            items = ds.get(groups)
            if items and index < len(items) and items[index].get(keyword):
                item = items[index].get(keyword)[0]
                for attribute in attributes:
                    if attribute in item and attribute not in ds:
                        setattr(ds, attribute, item[attribute].value)
                break


def _has_file_voi(ds: Any) -> bool:
    _flatten_functional_groups(ds, 0)
    lut = ds.get("VOILUTSequence")
    return bool(lut and "LUTData" in lut[0]) or ("WindowCenter" in ds and "WindowWidth" in ds)


def _reference(ds: Any, stored: np.ndarray, window: Window | str) -> np.ndarray:
    """pydicom's modality + VOI output rescaled to [0, 1], for one frame."""
    with warnings.catch_warnings(), np.errstate(over="ignore"):
        warnings.simplefilter("ignore")
        modality = apply_modality_lut(stored, ds)
        if window == "from-file":
            lut = ds.get("VOILUTSequence")
            voi = apply_voi_lut(modality, ds)
            if lut and "LUTData" in lut[0]:
                result = voi / (2.0 ** lut[0].LUTDescriptor[2] - 1)
            else:
                low, high = _output_range(ds)
                result = (voi - low) / (high - low)
        elif window == "full":
            low, high = _output_range(ds)
            result = np.clip((modality - low) / (high - low), 0.0, 1.0)
        else:
            assert isinstance(window, Window)
            ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = window.center, window.width, window.function
            low, high = _output_range(ds)
            result = (apply_windowing(modality, ds) - low) / (high - low)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        result = 1.0 - result
    return np.asarray(result, dtype=np.float64)


def _compare(ours_float: np.ndarray, ours_uint8: np.ndarray, expected: np.ndarray, what: str) -> None:
    expected = expected.reshape(ours_float.shape)
    np.testing.assert_allclose(ours_float, expected, rtol=0, atol=FLOAT_ATOL, err_msg=what)
    lsb = np.abs(ours_uint8.astype(np.int32) - np.floor(expected * 255.0 + 0.5)).max()
    assert lsb <= 1, f"{what}: uint8 differs by {lsb} LSB"


def _pydicom_pixels(path: Path) -> tuple[Any, np.ndarray]:
    """The data set and pixel array as pydicom gives them, or a skip with the reason."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path)
        except Exception as exc:
            pytest.skip(f"pydicom cannot read it ({type(exc).__name__})")
        if not any(keyword in ds for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
            pytest.skip("no pixel data")
        try:
            pixels = ds.pixel_array
            if ds.PhotometricInterpretation == "PALETTE COLOR":
                pixels = apply_color_lut(pixels, ds)
        except Exception as exc:
            pytest.skip(f"pydicom cannot decode it here ({type(exc).__name__})")
    return ds, pixels


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_parity_with_pydicom(path: Path) -> None:
    try:
        ds, pixels = _pydicom_pixels(path)
    except pytest.skip.Exception:
        with pytest.raises(DicomError):  # what pydicom cannot use, medsynth refuses with its typed error
            load(path, "full")
        raise
    ours_ds = read(path)  # medsynth's reader must accept every file pydicom decodes
    frames = int(ds.get("NumberOfFrames") or 1)
    colour = pixels.shape[-1] == 3 and pixels.ndim == (4 if frames > 1 else 3)
    stored = pixels.reshape((frames, *pixels.shape[-3 if colour else -2 :]))
    picked = sorted({0, frames // 3, 2 * frames // 3, frames - 1})  # all frames of all but the longest files

    if colour:
        bits = 8 * pixels.dtype.itemsize if ds.PhotometricInterpretation == "PALETTE COLOR" else ds.BitsStored
        expected = stored[picked] / (2.0**bits - 1)
        ours = [display(ours_ds, "full", out)[picked] for out in ("float", "uint8")]
        _compare(*ours, expected, f"{path} colour")
        return

    window = "from-file" if _has_file_voi(ds) else "full"
    expected = np.stack(
        [(_flatten_functional_groups(ds, f), _reference(ds, stored[f], window))[1] for f in picked]
    )
    ours = [display(ours_ds, window, out)[picked] for out in ("float", "uint8")]
    _compare(*ours, expected, f"{path} {window}")

    # Windows set on the data set, for each VOI LUT function, around the middle of the modality output.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        modality = np.asarray(apply_modality_lut(stored[0], ds), dtype=np.float64)
    low, high = np.percentile(modality, [1, 99])
    for function in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        chosen = Window(float(np.median(modality)), max(2.0, float(high - low)), function)
        expected = _reference(ds, stored[0], chosen)
        ours = display(ours_ds, chosen, "float")[0]
        _compare(ours, display(ours_ds, chosen, "uint8")[0], expected, f"{path} {chosen}")
        if not ds.get("ModalityLUTSequence"):
            slope, intercept = float(ds.get("RescaleSlope", 1.0)), float(ds.get("RescaleIntercept", 0.0))
            if not ("RescaleSlope" in ds and "RescaleIntercept" in ds):
                slope, intercept = 1.0, 0.0
            invert = ds.PhotometricInterpretation == "MONOCHROME1"
            arrays = [
                apply_window(stored[0], chosen.center, chosen.width, function, slope, intercept, out, invert)
                for out in ("float", "uint8")
            ]
            _compare(*arrays, expected, f"{path} apply_window {chosen}")
