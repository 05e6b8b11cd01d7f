"""``medsynth convert`` through click's CliRunner, and ``load_folder`` for training sets."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers.dicom import ct_slice
from PIL import Image

from medsynth.cli import main
from medsynth.dicom import apply_window, load, load_folder
from medsynth.dicom.resize import to_square
from medsynth.errors import DataError

pydicom = pytest.importorskip("pydicom")


@pytest.fixture
def dicom_folder(make_dicom: Callable[..., Path], tmp_path: Path) -> Path:
    """in/: a CT slice, a UID-named file in a subfolder, a 3-frame file, an RGB file, a text and a hidden
    file."""
    make_dicom("in/ct1.dcm", ct_slice(1, (20, 30)), RescaleSlope=1, RescaleIntercept=-1024)
    make_dicom("in/sub/1.2.840.99.7", ct_slice(2, (30, 30)), RescaleSlope=1, RescaleIntercept=-1024)
    make_dicom("in/multi.dcm", ct_slice(3, (3, 12, 12)), RescaleSlope=1, RescaleIntercept=-1024)
    make_dicom("in/rgb.dcm", np.zeros((8, 8, 3), dtype=np.uint8), photometric="RGB")
    (tmp_path / "in" / "notes.txt").write_text("not dicom\n")
    (tmp_path / "in" / ".hidden.dcm").write_text("ignored\n")
    return tmp_path / "in"


def png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_convert_windows_pads_resizes_and_reports(dicom_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["convert", str(dicom_folder), str(out), "--window", "lung", "--size", "16"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == [
        "ct1.png",
        "multi_frame0000.png",
        "multi_frame0001.png",
        "multi_frame0002.png",
        "sub/1.2.840.99.7.png",
    ]
    stored = pydicom.dcmread(dicom_folder / "ct1.dcm").pixel_array
    expected = to_square(apply_window(stored, -600, 1500, intercept=-1024), 16)
    np.testing.assert_array_equal(png(out / "ct1.png"), expected)
    np.testing.assert_array_equal(
        png(out / "multi_frame0002.png"), to_square(load(dicom_folder / "multi.dcm", "lung")[2], 16)
    )
    assert "converted 5 images from 3 files" in result.output
    assert "skipped 2 files:" in result.output
    assert "rgb.dcm: is a colour image" in result.output and "notes.txt: is not a DICOM file" in result.output
    assert ".hidden" not in result.output


def test_center_width_on_the_command_line_equals_the_preset(dicom_folder: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["convert", str(dicom_folder), str(tmp_path / "a"), "--window", "lung"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["convert", str(dicom_folder), str(tmp_path / "b"), "--window=-600,1500"])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(png(tmp_path / "a" / "ct1.png"), png(tmp_path / "b" / "ct1.png"))
    assert png(tmp_path / "b" / "ct1.png").shape == (20, 30)  # no --size: native size


@pytest.mark.parametrize(
    "args, message",
    [
        (["--window", "lungs"], "Error: unknown window 'lungs'"),
        (["--limit", "max_pixels=3"], "Error: --limit takes NAME=INTEGER"),
    ],
)
def test_bad_options_are_one_line_errors(
    dicom_folder: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(main, ["convert", str(dicom_folder), str(tmp_path / "out"), *args])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "out").exists()


def test_a_raised_limit_is_applied(dicom_folder: Path, tmp_path: Path) -> None:
    args = ["convert", str(dicom_folder), str(tmp_path / "out"), "--window", "full", "--limit", "max_rows=16"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "Rows 20 exceeds the limit of 16" in result.output
    assert (tmp_path / "out" / "multi_frame0000.png").is_file()


def test_nothing_convertible_is_an_error_after_the_report(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("text")
    result = CliRunner().invoke(main, ["convert", str(tmp_path / "in"), str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "a.txt: is not a DICOM file" in result.output
    assert "Error: no image could be converted" in result.output


def test_a_dicomdir_folder_is_converted_through_its_references(tmp_path: Path) -> None:
    from pydicom.data import get_testdata_file

    media = tmp_path / "media"
    source = Path(get_testdata_file("DICOMDIR")).parent
    shutil.copytree(source, media, ignore=shutil.ignore_patterns("DICOMDIR-*"))
    args = ["convert", str(media), str(tmp_path / "out"), "--window", "full", "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "converted 31 images from 31 files" in result.output
    assert (tmp_path / "out" / "77654033" / "CR1" / "6154.png").is_file()


def test_load_folder_for_training(dicom_folder: Path) -> None:
    images, paths, skipped = load_folder(dicom_folder, "lung", 16)
    assert images.shape == (5, 16, 16) and images.dtype == np.uint8
    assert [p.name for p in paths] == ["ct1.dcm", "multi.dcm", "multi.dcm", "multi.dcm", "1.2.840.99.7"]
    np.testing.assert_array_equal(images[3], to_square(load(dicom_folder / "multi.dcm", "lung")[2], 16))
    assert sorted(p.name for p, _ in skipped) == ["notes.txt", "rgb.dcm"]


def test_load_folder_keeps_shapes_and_channels_consistent(
    make_dicom: Callable[..., Path], tmp_path: Path
) -> None:
    make_dicom("set/a.dcm", ct_slice(4, (10, 10)))
    make_dicom("set/b.dcm", ct_slice(5, (12, 10)))
    make_dicom("set/c.dcm", np.zeros((10, 10, 3), dtype=np.uint8), photometric="RGB")
    images, paths, skipped = load_folder(tmp_path / "set", "full", None)
    assert images.shape == (1, 10, 10) and [p.name for p in paths] == ["a.dcm"]
    reasons = dict((p.name, r) for p, r in skipped)
    assert "give a size" in reasons["b.dcm"] and "keep grayscale and colour files apart" in reasons["c.dcm"]
    images, _, skipped = load_folder(tmp_path / "set", "full", 8)
    assert images.shape == (2, 8, 8) and [p.name for p, _ in skipped] == ["c.dcm"]


def test_load_folder_without_images_says_why(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no DICOM image could be loaded.*the folder has no files"):
        load_folder(tmp_path / "empty", "full", 8)
    with pytest.raises(DataError, match="is not a folder"):
        load_folder(tmp_path / "missing", "full", 8)


def test_import_medsynth_loads_neither_numba_nor_pydicom() -> None:
    code = (
        "import sys, medsynth; assert 'numba' not in sys.modules and 'pydicom' not in sys.modules; "
        "import medsynth.dicom; assert 'numba' in sys.modules and 'pydicom' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=600)  # generous: CI machines are shared


def test_convert_never_replaces_a_file_it_did_not_write(dicom_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    mine = Image.fromarray(np.full((4, 4), 7, dtype=np.uint8))
    mine.save(out / "ct1.png")
    before = (out / "ct1.png").read_bytes()
    result = CliRunner().invoke(main, ["convert", str(dicom_folder), str(out), "--quiet", "--window", "lung"])
    assert result.exit_code == 0, result.output
    assert (out / "ct1.png").read_bytes() == before
    assert "ct1.dcm: " in result.output and "was not written by medsynth convert" in result.output
    # Its own outputs are replaced on a re-run (same bytes), the user's file still is not.
    again = CliRunner().invoke(main, ["convert", str(dicom_folder), str(out), "--quiet", "--window", "lung"])
    assert again.exit_code == 0, again.output
    assert (out / "ct1.png").read_bytes() == before
    assert "converted 4 images from 2 files" in again.output
    assert Image.open(out / "multi_frame0000.png").text["medsynth:convert"] == "multi.dcm"


def test_convert_refuses_in_equal_out_and_out_inside_in(dicom_folder: Path, tmp_path: Path) -> None:
    user_png = dicom_folder / "ct1.png"
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(user_png)
    before = user_png.read_bytes()
    for out in (dicom_folder, dicom_folder / ".", dicom_folder / "sub" / "pngs"):
        result = CliRunner().invoke(main, ["convert", str(dicom_folder), str(out)])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert user_png.read_bytes() == before
    assert not (dicom_folder / "sub" / "pngs").exists()


def test_convert_does_not_write_through_a_symlink(dicom_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"precious")
    (out / "ct1.png").symlink_to(victim)
    result = CliRunner().invoke(main, ["convert", str(dicom_folder), str(out), "--quiet", "--window", "lung"])
    assert result.exit_code == 0, result.output
    assert victim.read_bytes() == b"precious" and (out / "ct1.png").is_symlink()
