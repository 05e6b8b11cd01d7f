"""Card text and windows that DICOM cannot carry as they are: over-long text, control characters and
backslashes become valid values (pydicom validating in RAISE mode, and dciodvfy), impossible windows are a
ModelError naming the value."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from test_dicom_writer import card, dciodvfy_errors, image, meta

from medsynth.errors import ModelError
from medsynth.writers.dicom import DicomWriter

pydicom = pytest.importorskip("pydicom")

LUNG = {"kind": "window", "center": -600, "width": 1500, "units": "HU"}
HOSTILE = {
    "long": dict(name="n" * 300, intended_use="u" * 20000, description="d" * 5000),
    "control": dict(name="evil\nname\\with\x01controls\u2028é", intended_use="line 1\nline 2\x00\x1b\\end"),
    "multibyte": dict(name="é" * 63 + "x", intended_use="€" * 4000),
}


@pytest.fixture
def strict(monkeypatch):
    """pydicom raises on any invalid value, when it is set and when it is written."""
    from pydicom import config

    monkeypatch.setattr(config.settings, "reading_validation_mode", config.RAISE)
    monkeypatch.setattr(config.settings, "writing_validation_mode", config.RAISE)


def lengths(ds):
    """(keyword, VR, UTF-8 bytes, value) of every text element, nested ones included."""
    found = []
    for element in ds.iterall():
        if element.VR in ("SH", "LO", "ST", "LT") and isinstance(element.value, str):
            found.append((element.keyword, element.VR, len(element.value.encode("utf-8")), element.value))
    return found


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_card_text_gives_valid_dicom(tmp_path: Path, strict, case: str) -> None:
    model = dataclasses.replace(card(1, LUNG), **HOSTILE[case])
    path = tmp_path / "image.dcm"
    DicomWriter().write(path, image(model), meta(model))
    ds = pydicom.dcmread(path)
    limit = {"SH": 16, "LO": 64, "ST": 1024, "LT": 10240}
    for keyword, vr, size, value in lengths(ds):
        assert size <= limit[vr], (keyword, vr, size)
        allowed = "\r\n\f" if vr in ("ST", "LT") else ""
        assert all(c >= " " or c in allowed for c in value), (keyword, value[:80])
        assert "\u2028" not in value and (vr in ("ST", "LT") or "\\" not in value), (keyword, value[:80])
    assert ds.ImageComments.startswith("Synthetic image, not of a patient.")
    if case == "multibyte":  # cut at a character boundary, not inside one
        assert ds.ContributingEquipmentSequence[0].ManufacturerModelName == "é" * 32
    assert dciodvfy_errors(path) == []


@pytest.mark.parametrize(
    ("center", "width"), [(0, 1e300), (1e300, 10), (-1e15, 1e3), (0, 1e29), (1000, 1e-12), (0.5, 1e-320)]
)
def test_impossible_windows_are_refused_naming_the_value(tmp_path: Path, center: float, width: float) -> None:
    model = card(1, {"kind": "window", "center": center, "width": width, "units": "HU"})
    message = re.escape(f"window center {center:g}, width {width:g} cannot be stored")
    with pytest.raises(ModelError, match=message):
        DicomWriter().write(tmp_path / "image.dcm", image(model), meta(model))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("center", "width"), [(-600, 1500), (9e14, 1e14), (0, 1e-6), (40, 80)])
def test_extreme_but_storable_windows_pass(tmp_path: Path, strict, center: float, width: float) -> None:
    model = card(1, {"kind": "window", "center": center, "width": width, "units": "HU"})
    path = tmp_path / "image.dcm"
    DicomWriter().write(path, image(model), meta(model))
    ds = pydicom.dcmread(path)
    assert float(ds.WindowWidth) == pytest.approx(width, rel=1e-9)
    assert dciodvfy_errors(path) == []
