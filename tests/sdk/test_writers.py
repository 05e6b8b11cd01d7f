"""Writers: PNG and NPZ round trips through independent readers, reproducible bytes, atomicity, formats."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
from PIL import Image

from medsynth.errors import OutputError
from medsynth.writers._atomic import TEMP_SUFFIX, atomic_open, atomic_write_bytes, remove_stale_temps
from medsynth.writers.base import ContainerWriter, FileWriter, ImageMeta
from medsynth.writers.formats import FORMATS, load_writer
from medsynth.writers.manifest import COLUMNS, ManifestRow, merge_rows, read_manifest, write_manifest
from medsynth.writers.npz import NpzWriter
from medsynth.writers.png import PngWriter

SHA = "ab" * 32


def _meta(card, class_index=1, index=0, seed=3):
    return ImageMeta(
        card=card,
        class_name=card.classes[class_index],
        class_index=class_index,
        seed=seed,
        index=index,
        model_sha256=SHA,
    )


def _images(n, size, channels, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, channels), dtype=np.uint8)


@pytest.mark.parametrize("channels", [1, 3])
def test_png_round_trip_and_reproducible_bytes(tmp_path, onnx_models, channels):
    card = onnx_models.make_card(channels=channels, photometric="RGB" if channels == 3 else "MONOCHROME2")
    image = _images(1, 8, channels)[0]
    writer = PngWriter()
    path = tmp_path / "x.png"
    writer.write(path, image, _meta(card))
    with Image.open(path) as decoded:
        assert decoded.mode == ("RGB" if channels == 3 else "L")
        pixels = np.asarray(decoded)
        text = dict(decoded.text)
    np.testing.assert_array_equal(pixels.reshape(image.shape), image)
    assert text["medsynth:synthetic"] == "1" and text["medsynth:model_sha256"] == SHA
    assert "Synthetic image, not of a patient" in text["Description"] and "melanoma" in text["Description"]
    assert writer.encode(image, _meta(card)) == path.read_bytes()  # same input, same bytes
    assert b"tIME" not in path.read_bytes()
    assert not list(tmp_path.glob(f"*{TEMP_SUFFIX}"))


def test_writers_refuse_images_of_the_wrong_shape_or_type(tmp_path, onnx_models):
    card = onnx_models.make_card()
    for bad in (
        np.zeros((8, 8, 1), np.uint8),
        np.zeros((4, 4, 3), np.uint8),
        np.zeros((8, 8, 3), np.float32),
    ):
        with pytest.raises(ValueError, match="uint8 images of shape"):
            PngWriter().write(tmp_path / "x.png", bad, _meta(card))
    assert not any(tmp_path.iterdir())


def test_npz_round_trip_reproducible_and_streamed(tmp_path, onnx_models):
    card = onnx_models.make_card()
    metas = [_meta(card, class_index=c, index=i) for c in (0, 2) for i in range(5)]
    images = _images(10, 8, 3)
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    NpzWriter().write_all(first, metas, iter([images[:3], images[3:4], images[4:]]))
    NpzWriter().write_all(second, metas, iter([images]))
    assert first.read_bytes() == second.read_bytes()  # batching does not change the bytes
    with np.load(first) as data:  # allow_pickle stays False: every array is plain
        np.testing.assert_array_equal(data["images"], images)
        assert data["labels"].tolist() == [0] * 5 + [2] * 5
        assert data["indices"].tolist() == list(range(5)) * 2
        assert data["class_names"].tolist() == list(card.classes)
        assert data["seed"].shape == () and int(data["seed"]) == 3
        assert str(data["model_sha256"]) == SHA


@pytest.mark.parametrize("batches", [[], [np.zeros((3, 8, 8, 3), np.uint8)] * 2])
def test_npz_with_the_wrong_number_of_images_leaves_nothing(tmp_path, onnx_models, batches):
    metas = [_meta(onnx_models.make_card(), index=i) for i in range(4)]
    with pytest.raises(ValueError, match="metas"):
        NpzWriter().write_all(tmp_path / "x.npz", metas, iter(batches))
    assert not any(tmp_path.iterdir())


def test_atomic_open_leaves_nothing_on_failure_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, b"old")
    with pytest.raises(RuntimeError), atomic_open(path) as handle:
        handle.write(b"half")
        raise RuntimeError("killed")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
    mode = path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # not mkstemp's 0600


def test_remove_stale_temps_only_removes_ours(tmp_path):
    (tmp_path / f".a.png.123-0-ff{TEMP_SUFFIX}").write_bytes(b"x")
    (tmp_path / "a.png").write_bytes(b"keep")
    (tmp_path / ".hidden").write_bytes(b"keep")
    assert remove_stale_temps(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden", "a.png"]


def test_manifest_round_trip_and_merge(tmp_path):
    rows = [ManifestRow(f"c/c_{i:06d}.png", "c", 1, 0, i, SHA, "0.1.0") for i in (2, 0)]
    path = tmp_path / "manifest.csv"
    write_manifest(path, rows)
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)
    assert COLUMNS == (
        "path",
        "class",
        "class_index",
        "seed",
        "index",
        "model_sha256",
        "medsynth_version",
        "synthetic",
        "size",
        "sha256",
    )
    assert read_manifest(path) == rows
    newer = [
        ManifestRow("a/a_000000.png", "a", 0, 0, 0, SHA, "0.2.0"),
        ManifestRow("c/c_000000.png", "c", 1, 0, 0, SHA, "0.2.0"),
    ]
    merged = merge_rows(rows, newer)
    assert [(r.path, r.medsynth_version) for r in merged] == [
        ("a/a_000000.png", "0.2.0"),
        ("c/c_000000.png", "0.2.0"),
        ("c/c_000002.png", "0.1.0"),
    ]
    bogus = tmp_path / "other.csv"
    bogus.write_text("a,b\n1,2\n")
    with pytest.raises(OutputError, match="not a medsynth manifest"):
        read_manifest(bogus)


def test_format_registry(onnx_models):
    assert set(FORMATS) == {"png", "npz", "dcm"}
    assert isinstance(load_writer("png"), FileWriter) and load_writer("png").suffix == ".png"
    assert isinstance(load_writer("npz"), ContainerWriter)
    with pytest.raises(OutputError, match="unknown output format 'tiff'"):
        load_writer("tiff")


def test_dcm_format_is_the_dicom_module_or_a_clear_error():
    if importlib.util.find_spec("medsynth.writers.dicom") is None:
        with pytest.raises(OutputError, match="'dcm' is not available.*medsynth.writers.dicom"):
            load_writer("dcm")
    else:
        writer = load_writer("dcm")
        assert isinstance(writer, FileWriter) and writer.suffix == ".dcm"
