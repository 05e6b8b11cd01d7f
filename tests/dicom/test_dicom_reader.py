"""Bad and unusual input: every refusal is a DicomError that names the file and says what to do."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from helpers.dicom import ct_slice, write_dicom

from medsynth.dicom import Limits, Window, apply_window, list_files, load, read
from medsynth.errors import DataError, DicomError

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402


def sample(name: str) -> Path:
    return Path(get_testdata_file(name))


def test_a_text_file_is_not_dicom(tmp_path: Path) -> None:
    path = tmp_path / "notes.dcm"
    path.write_text("not an image\n" * 20)
    with pytest.raises(DicomError, match=r"notes.dcm is not a DICOM file"):
        load(path)
    with pytest.raises(DicomError, match="is not a file"):
        load(tmp_path / "missing.dcm")


@pytest.mark.parametrize("keep", [100, 140, 400, 1000, 39000])
def test_truncated_files_are_refused(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "cut.dcm"
    path.write_bytes(sample("CT_small.dcm").read_bytes()[:keep])
    with pytest.raises(DicomError, match="cut.dcm"):
        load(path, "full")


def test_files_without_the_part10_header_need_force(tmp_path: Path) -> None:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    raw = tmp_path / "raw.dcm"
    ds = pydicom.dcmread(sample("CT_small.dcm"))
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, ds)  # the data set alone: no preamble, no 'DICM', no file meta
    raw.write_bytes(buffer.getvalue())
    with pytest.raises(DicomError, match="is not a DICOM file"):
        read(raw)
    assert "PixelData" in read(raw, force=True)  # parsed when the caller asks for it


@pytest.mark.parametrize("uid", ["1.2.3.4.5", "1.2.840.10008.1.2.4.100"])
def test_unsupported_transfer_syntax_is_named(tmp_path: Path, uid: str) -> None:
    from pydicom.encaps import encapsulate

    ds = pydicom.dcmread(sample("CT_small.dcm"))
    ds.file_meta.TransferSyntaxUID = uid
    ds.PixelData = encapsulate([bytes(64)])
    path = tmp_path / "odd.dcm"
    ds.save_as(path)
    with pytest.raises(DicomError, match=rf"transfer syntax {uid.replace('.', '[.]')} \(.+\)"):
        load(path, "full")


def test_a_codec_that_is_not_installed_is_named_with_what_to_install() -> None:
    from pydicom.pixels import get_decoder

    uid = "1.2.840.10008.1.2.4.81"  # JPEG-LS near-lossless: needs pylibjpeg-libjpeg, pyjpegls or gdcm
    if get_decoder(uid).is_available:
        pytest.skip("a JPEG-LS decoder is installed here")
    with pytest.raises(DicomError, match=r"1[.]2[.]840[.]10008[.]1[.]2[.]4[.]81 \(JPEG-LS.*install one of"):
        load(sample("JPEGLSNearLossless_08.dcm"))


@pytest.mark.parametrize(
    "attributes, limit, message",
    [
        ({"Rows": 60000}, "max_rows", "Rows 60000 exceeds the limit of 16384"),
        ({"Columns": 60000}, "max_columns", "Columns 60000 exceeds the limit of 16384"),
        ({"NumberOfFrames": 100000}, "max_frames", "Number of Frames 100000 exceeds the limit of 4096"),
        ({"Rows": 16000, "Columns": 16000, "NumberOfFrames": 4}, "max_decoded_bytes", "decoded pixel data"),
    ],
)
def test_sizes_are_checked_from_the_header_before_decoding(
    make_dicom: Callable[..., Path], attributes: dict, limit: str, message: str
) -> None:
    # A 4x4 file whose header claims a huge image: refused before any decoder allocates for it.
    path = make_dicom("big.dcm", ct_slice(0, (4, 4)))
    ds = pydicom.dcmread(path)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.save_as(path)
    with pytest.raises(DicomError, match=rf"{message}.*Limits\({limit}=") as refused:
        load(path, "full")
    assert "decoded" not in str(refused.value.__cause__ or "")
    # Raising the limit lets the file reach the decoder, which then finds the pixel data too short.
    raised = Limits(max_rows=70000, max_columns=70000, max_frames=200000, max_decoded_bytes=1 << 62)
    with pytest.raises(DicomError, match="the pixel data cannot be decoded"):
        load(path, "full", limits=raised)


def test_file_size_limit(make_dicom: Callable[..., Path]) -> None:
    path = make_dicom("slice.dcm", ct_slice(0, (64, 64)))
    with pytest.raises(DicomError, match=r"file size \d+ exceeds the limit of 1000.*max_file_bytes"):
        load(path, "full", limits=Limits(max_file_bytes=1000))
    assert load(path, "full").shape == (1, 64, 64)


def test_a_deflate_bomb_is_measured_before_pydicom_inflates_it(tmp_path: Path) -> None:
    ds = pydicom.dcmread(sample("CT_small.dcm"))
    ds.add_new(0x00091010, "OB", bytes(20_000_000))  # a private element of zeros: deflates to ~20 kB
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1.99"  # Deflated Explicit VR Little Endian
    path = tmp_path / "bomb.dcm"
    ds.save_as(path)
    assert path.stat().st_size < 200_000
    with pytest.raises(DicomError, match=r"inflated .* exceeds the limit of 5000000.*max_file_bytes"):
        read(path, limits=Limits(max_file_bytes=5_000_000))
    assert load(path, "full", limits=Limits(max_file_bytes=50_000_000)).shape == (1, 128, 128)


def test_from_file_needs_a_window_in_the_file(make_dicom: Callable[..., Path]) -> None:
    path = make_dicom("plain.dcm", ct_slice(1), RescaleSlope=1, RescaleIntercept=-1024)
    with pytest.raises(DicomError, match=r"plain.dcm has no window.*'lung'"):
        load(path, "from-file")
    stored = pydicom.dcmread(path).pixel_array
    np.testing.assert_array_equal(load(path, "lung")[0], apply_window(stored, -600, 1500, intercept=-1024))


def test_monochrome1_is_inverted_and_the_file_window_is_used(make_dicom: Callable[..., Path]) -> None:
    stored = ct_slice(2)
    path = make_dicom(
        "mono1.dcm",
        stored,
        photometric="MONOCHROME1",
        WindowCenter=[300, 40],
        WindowWidth=[1000, 400],
        VOILUTFunction="LINEAR_EXACT",
    )
    expected = apply_window(stored, 300, 1000, "LINEAR_EXACT", out="float", invert=True)
    np.testing.assert_allclose(load(path, out="float")[0], expected)
    mono2 = make_dicom("mono2.dcm", stored)
    inverted = 1.0 - load(mono2, "full", out="float")
    np.testing.assert_allclose(load(path, "full", out="float"), inverted, rtol=0, atol=1e-7)


def test_per_frame_windows_of_an_enhanced_file(make_dicom: Callable[..., Path]) -> None:
    from pydicom.dataset import Dataset

    stored = np.stack([ct_slice(3), ct_slice(4), ct_slice(5)])
    windows = [(40.0, 400.0), (-600.0, 1500.0), (400.0, 1800.0)]
    frames = []
    for center, width in windows:
        voi, group = Dataset(), Dataset()
        voi.WindowCenter, voi.WindowWidth = center, width
        group.FrameVOILUTSequence = [voi]
        frames.append(group)
    rescale, shared = Dataset(), Dataset()
    rescale.RescaleSlope, rescale.RescaleIntercept, rescale.RescaleType = 1, -1024, "HU"
    shared.PixelValueTransformationSequence = [rescale]
    path = make_dicom(
        "enhanced.dcm",
        stored,
        PerFrameFunctionalGroupsSequence=frames,
        SharedFunctionalGroupsSequence=[shared],
    )
    got = load(path)
    for frame, (center, width) in enumerate(windows):
        np.testing.assert_array_equal(got[frame], apply_window(stored[frame], center, width, intercept=-1024))


def test_colour_images_take_the_full_range_only(make_dicom: Callable[..., Path]) -> None:
    rgb = np.random.default_rng(5).integers(0, 256, size=(2, 8, 10, 3)).astype(np.uint8)
    path = make_dicom("rgb.dcm", rgb, photometric="RGB")
    np.testing.assert_array_equal(load(path, "full"), rgb)
    np.testing.assert_array_equal(load(path, "from-file"), rgb)
    with pytest.raises(DicomError, match="colour image.*'full'"):
        load(path, "lung")


@pytest.mark.parametrize(
    "attributes, message",
    [
        ({"WindowCenter": "4711", "WindowWidth": "400"}, "WindowCenter 'abcd' is not a number"),
        ({"WindowCenter": "40", "WindowWidth": "0"}, "window width must be >= 1"),
        (
            {"WindowCenter": "40", "WindowWidth": "400", "VOILUTFunction": "GAMMA"},
            "unsupported VOI LUT function",
        ),
        ({"RescaleSlope": "nan", "RescaleIntercept": "0"}, "RescaleSlope 'nan' is not a finite number"),
    ],
)
def test_malformed_window_and_rescale_values(
    make_dicom: Callable[..., Path], attributes: dict, message: str
) -> None:
    path = make_dicom("bad.dcm", ct_slice(6))
    ds = pydicom.dcmread(path)
    with warnings.catch_warnings():  # pydicom warns about the invalid values it is asked to write
        warnings.simplefilter("ignore")
        for keyword, value in attributes.items():
            ds[keyword] = pydicom.DataElement(keyword, pydicom.datadict.dictionary_VR(keyword), value)
        ds.save_as(path)
    path.write_bytes(path.read_bytes().replace(b"4711", b"abcd"))  # pydicom would not write 'abcd' as a DS
    with pytest.raises(DicomError, match=message):
        load(path)


def test_a_dicomdir_is_not_an_image_but_indexes_its_folder(tmp_path: Path) -> None:
    source = sample("DICOMDIR").parent
    with pytest.raises(DicomError, match="is a DICOMDIR.*load_folder"):
        load(source / "DICOMDIR")
    files = list_files(source)
    assert len(files) == 31 and all(path.is_file() and source in path.parents for path in files)


def _dicomdir_copy(tmp_path: Path) -> tuple[Path, object]:
    folder = tmp_path / "media"
    shutil.copytree(sample("DICOMDIR").parent, folder, ignore=shutil.ignore_patterns("DICOMDIR-*"))
    return folder, pydicom.dcmread(folder / "DICOMDIR")


def test_dicomdir_references_that_leave_the_folder_are_refused(tmp_path: Path) -> None:
    folder, ds = _dicomdir_copy(tmp_path)
    record = next(r for r in ds.DirectoryRecordSequence if "ReferencedFileID" in r)
    with warnings.catch_warnings():  # '..' is not a valid CS value, which is the point
        warnings.simplefilter("ignore")
        record.ReferencedFileID = ["..", "..", "ETC", "PASSWD"]
        ds.save_as(folder / "DICOMDIR")
    leaving = r"references '\.\.\\\\\.\.\\\\ETC\\\\PASSWD', which leaves its folder"
    with pytest.raises(DicomError, match=leaving):
        list_files(folder)


def test_dicomdir_references_through_a_symlink_out_are_refused(tmp_path: Path) -> None:
    folder, ds = _dicomdir_copy(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "IMG").write_bytes(b"secret")
    (folder / "LINK").symlink_to(outside, target_is_directory=True)
    record = next(r for r in ds.DirectoryRecordSequence if "ReferencedFileID" in r)
    record.ReferencedFileID = ["LINK", "IMG"]
    ds.save_as(folder / "DICOMDIR")
    with pytest.raises(DicomError, match="resolves outside"):
        list_files(folder)


def test_limits_must_be_positive_integers() -> None:
    with pytest.raises(DataError, match="max_rows must be a positive integer"):
        Limits(max_rows=0)
    with pytest.raises(DataError, match="max_frames"):
        Limits(max_frames=2.5)  # type: ignore[arg-type]


def test_load_refuses_unknown_outputs_and_windows(make_dicom: Callable[..., Path]) -> None:
    path = make_dicom("ok.dcm", ct_slice(7))
    with pytest.raises(DataError, match="out must be one of"):
        load(path, "full", out="uint16")
    with pytest.raises(DataError, match="unknown window"):
        load(path, "lungs")
    assert load(path, Window(0, 100, "SIGMOID"), out="float").dtype == np.float32
    assert write_dicom  # the helper module is importable on its own
