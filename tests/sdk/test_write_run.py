"""write_run: folder layout, manifest last, resume, byte-identical re-runs, refusing foreign folders."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers.files import tree
from PIL import Image

from medsynth import Generator
from medsynth.errors import ArgumentError, ModelError, OutputError, UnknownClassError
from medsynth.writers._atomic import TEMP_SUFFIX
from medsynth.writers.run import RUN_FILE, write_run


@pytest.fixture(scope="module")
def gen(tiny_model):
    return Generator.load(tiny_model, device="cpu")


def test_png_run_layout_pixels_and_manifest(tmp_path, gen):
    out = tmp_path / "out"
    steps = []
    summary = write_run(
        gen,
        {"melanoma": 3, 2: 2},
        out,
        seed=4,
        batch_size=2,
        progress=lambda done, total: steps.append((done, total)),
    )
    assert summary.written == 5 and summary.skipped == 0 and summary.total == 5
    assert dict(summary.per_class) == {"melanoma": 3, "seborrheic_keratosis": 2}
    assert steps == [(2, 5), (3, 5), (5, 5)]  # batches never span classes
    assert sorted(tree(out)) == [
        RUN_FILE,
        "manifest.csv",
        "melanoma/melanoma_000000.png",
        "melanoma/melanoma_000001.png",
        "melanoma/melanoma_000002.png",
        "seborrheic_keratosis/seborrheic_keratosis_000000.png",
        "seborrheic_keratosis/seborrheic_keratosis_000001.png",
    ]
    expected, _ = gen.generate(3, "melanoma", seed=4)
    with Image.open(out / "melanoma" / "melanoma_000002.png") as png:
        np.testing.assert_array_equal(np.asarray(png), expected[2])
    with (out / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["path"], r["class"], r["class_index"], r["index"]) for r in rows][:2] == [
        ("melanoma/melanoma_000000.png", "melanoma", "1", "0"),
        ("melanoma/melanoma_000001.png", "melanoma", "1", "1"),
    ]
    assert {(r["seed"], r["model_sha256"], r["medsynth_version"], r["synthetic"]) for r in rows} == {
        ("4", gen.sha256, "0.1.0", "1")
    }
    identity = json.loads((out / RUN_FILE).read_text())
    assert identity["model_sha256"] == gen.sha256 and identity["seed"] == 4
    # The manifest is the last file written.
    assert (out / "manifest.csv").stat().st_mtime_ns >= max(p.stat().st_mtime_ns for p in out.rglob("*.png"))


def test_rerun_skips_and_is_byte_identical_and_batch_size_does_not_matter(tmp_path, gen):
    first, other = tmp_path / "a", tmp_path / "b"
    write_run(gen, {"nevus": 7}, first, seed=1, batch_size=3)
    before = tree(first)
    again = write_run(gen, {"nevus": 7}, first, seed=1, batch_size=5)
    assert again.written == 0 and again.skipped == 7
    assert tree(first) == before
    write_run(gen, {"nevus": 7}, other, seed=1, batch_size=1)
    assert tree(other) == before


def test_missing_files_are_regenerated_identically_and_stale_temps_removed(tmp_path, gen):
    out = tmp_path / "out"
    write_run(gen, {"nevus": 6}, out, seed=2)
    complete = tree(out)
    (out / "nevus" / "nevus_000003.png").unlink()
    (out / "nevus" / f".nevus_000004.png.99-0-aa{TEMP_SUFFIX}").write_bytes(b"half a png")
    summary = write_run(gen, {"nevus": 6}, out, seed=2)
    assert summary.written == 1 and summary.skipped == 5
    assert tree(out) == complete


def test_without_a_manifest_nothing_is_trusted(tmp_path, gen):
    out = tmp_path / "out"
    write_run(gen, {"nevus": 6}, out, seed=2)
    complete = tree(out)
    (out / "manifest.csv").unlink()
    (out / "nevus" / "nevus_000001.png").write_bytes(b"junk!")  # a 5-byte file where a PNG was
    summary = write_run(gen, {"nevus": 6}, out, seed=2)
    assert summary.written == 6 and summary.skipped == 0  # no record to verify against: all regenerated
    assert tree(out) == complete


def test_growing_a_run_keeps_the_earlier_rows(tmp_path, gen):
    out = tmp_path / "out"
    write_run(gen, {"nevus": 2}, out, seed=0)
    write_run(gen, {"melanoma": 1, "nevus": 3}, out, seed=0)
    direct = tmp_path / "direct"
    write_run(gen, {"nevus": 3, "melanoma": 1}, direct, seed=0)
    assert tree(out) == tree(direct)


def test_npz_run_and_rerun(tmp_path, gen):
    out = tmp_path / "out"
    summary = write_run(gen, {"melanoma": 3, "nevus": 2}, out, fmt="npz", seed=6, batch_size=2)
    assert summary.written == 5 and sorted(tree(out)) == [RUN_FILE, "images.npz", "manifest.csv"]
    with np.load(out / "images.npz") as data:
        assert data["labels"].tolist() == [0, 0, 1, 1, 1]  # class-index order
        np.testing.assert_array_equal(data["images"][2:], gen.generate(3, "melanoma", seed=6)[0])
    before = tree(out)
    assert write_run(gen, {"melanoma": 3, "nevus": 2}, out, fmt="npz", seed=6, batch_size=4).written == 0
    assert tree(out) == before
    grown = write_run(gen, {"melanoma": 4}, out, fmt="npz", seed=6)  # one more melanoma: the rest is kept
    assert grown.written == 1 and grown.skipped == 3
    with np.load(out / "images.npz") as data:
        assert data["labels"].tolist() == [0, 0, 1, 1, 1, 1]
        assert data["indices"].tolist() == [0, 1, 0, 1, 2, 3]
    with (out / "manifest.csv").open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 6


def test_another_seed_or_model_is_refused_and_nothing_changes(tmp_path, gen, grey_model):
    out = tmp_path / "out"
    write_run(gen, {"nevus": 2}, out, seed=0)
    before = tree(out)
    with pytest.raises(OutputError, match=r"another seed \(seed 0, this run 1\)"):
        write_run(gen, {"nevus": 2}, out, seed=1)
    with pytest.raises(OutputError, match="another model"):
        write_run(Generator.load(grey_model, device="cpu"), {"normal": 2}, out, seed=0)
    assert tree(out) == before


def test_foreign_or_unwritable_folders_are_refused(tmp_path, gen):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not empty and was not written by medsynth"):
        write_run(gen, {"nevus": 1}, foreign)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        write_run(gen, {"nevus": 1}, a_file)
    with pytest.raises(OutputError, match="cannot create output folder"):
        write_run(gen, {"nevus": 1}, a_file / "sub")
    assert a_file.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_read_only_folder_is_refused(tmp_path, gen):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="not writable"):
            write_run(gen, {"nevus": 1}, locked)
        with pytest.raises(OutputError, match="cannot create"):
            write_run(gen, {"nevus": 1}, locked / "new")
    finally:
        locked.chmod(0o755)
    assert not any(locked.iterdir())


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux procfs, unwritable even for root")
def test_unwritable_system_folder_is_refused(gen):
    proc = Path("/proc/self")
    with pytest.raises(OutputError, match="is not writable"):
        write_run(gen, {"nevus": 1}, proc)
    with pytest.raises(OutputError, match="cannot create output folder"):
        write_run(gen, {"nevus": 1}, proc / "medsynth-out")
    assert not (proc / "medsynth-out").exists()


@pytest.mark.parametrize(
    ("plan", "kwargs", "error"),
    [
        ({}, {}, ArgumentError),
        ({"nevus": 0}, {}, ArgumentError),
        ({"nevus": -1}, {}, ArgumentError),
        ({"nevus": 1, 0: 2}, {}, ArgumentError),
        ({"naevus": 1}, {}, UnknownClassError),
        ({"nevus": 1}, {"seed": -1}, ArgumentError),
        ({"nevus": 1}, {"batch_size": 0}, ArgumentError),
        ({"nevus": 1}, {"fmt": "tiff"}, OutputError),
    ],
)
def test_bad_input_writes_nothing(tmp_path, gen, plan, kwargs, error):
    out = tmp_path / "out"
    with pytest.raises(error):
        write_run(gen, plan, out, **kwargs)
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["png", "npz"])
def test_nan_model_writes_nothing(tmp_path, nan_model, fmt):
    out = tmp_path / "out"
    with pytest.raises(ModelError, match="NaN"):
        write_run(Generator.load(nan_model, device="cpu"), {"nevus": 3}, out, fmt=fmt)
    assert not out.exists()


def test_a_folder_from_before_the_format_key_keeps_its_format(tmp_path, gen):
    """A run file without "format" (written before it was recorded): the manifest's suffixes say the format;
    the same format resumes with every file verified and kept, another one is refused."""
    out = tmp_path / "out"
    write_run(gen, {"nevus": 3}, out, fmt="png", seed=2)
    run_file = out / RUN_FILE
    identity = json.loads(run_file.read_text(encoding="utf-8"))
    assert identity["format"] == "png"
    del identity["format"]
    run_file.write_text(json.dumps(identity), encoding="utf-8")
    before = tree(out)
    with pytest.raises(OutputError, match="holds png images; a folder holds one format"):
        write_run(gen, {"nevus": 3}, out, fmt="npz", seed=2)
    assert tree(out) == before
    again = write_run(gen, {"nevus": 3}, out, fmt="png", seed=2)
    assert again.written == 0 and again.skipped == 3 and tree(out) == before
