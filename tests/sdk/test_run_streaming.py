"""Runs of any size stream: the plan is walked batch by batch and the manifest written as the images are
made, so memory does not grow with the number of images (measured with tracemalloc); resume stays exact;
a failed run leaves no folder it made without finishing a file, and keeps every file it finished."""

from __future__ import annotations

import csv
import hashlib
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from helpers.files import tree

from medsynth import Generator
from medsynth.cli import main
from medsynth.errors import ModelError, OutputError
from medsynth.writers import run as run_module
from medsynth.writers._journal import JOURNAL_FILE, read_journal
from medsynth.writers.png import PngWriter
from medsynth.writers.run import RUN_FILE, write_run

HUGE = 10**12  # images per class: a materialised plan would need hundreds of terabytes


class Stop(Exception):
    """Raised from the progress callback to end a run after a few batches."""


@pytest.fixture(scope="module")
def gen(tiny_model):
    return Generator.load(tiny_model, device="cpu", threads=1)


def peak_of_first_batches(gen, out, n, fmt, batches=3, batch_size=16):
    """Peak traced memory (bytes) of a run of ``n`` images per class stopped after ``batches`` batches."""

    def progress(done, total):
        assert total == 2 * n
        if done >= batches * batch_size:
            raise Stop

    tracemalloc.start()
    try:
        with pytest.raises(Stop):
            write_run(
                gen,
                {"nevus": n, "melanoma": n},
                out,
                fmt=fmt,
                batch_size=batch_size,
                progress=progress,
                fsync=False,
            )
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", ["png", "npz"])
def test_memory_does_not_grow_with_the_number_of_images(gen, tmp_path, monkeypatch, fmt):
    if fmt == "npz":  # the disk check would (rightly) refuse a huge NPZ; the stream is what is measured here
        monkeypatch.setattr(run_module.shutil, "disk_usage", lambda path: SimpleNamespace(free=2**62))
    peak_of_first_batches(gen, tmp_path / "warm", 100, fmt)  # imports and caches, once
    small = peak_of_first_batches(gen, tmp_path / "small", 100, fmt)
    # 2 x 10^5 images would add some 130 MB if the plan were a list of per-image records (about 675 B each)
    medium = peak_of_first_batches(gen, tmp_path / "medium", 10**5, fmt)
    assert medium < small + 256 * 1024, (small, medium)
    huge = peak_of_first_batches(gen, tmp_path / "huge", HUGE, fmt)
    assert huge < small + 256 * 1024 and huge < 8 * 2**20, (small, huge)


def test_the_files_of_a_stopped_huge_run_are_kept_and_journaled(gen, tmp_path):
    out = tmp_path / "out"
    peak_of_first_batches(gen, out, HUGE, "png", batches=2, batch_size=8)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert files[:2] == ["nevus/nevus_000000.png", "nevus/nevus_000001.png"] and len(files) >= 16
    journal = read_journal(out)
    assert set(journal) == set(files)
    for path, (size, sha256) in journal.items():
        data = (out / path).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (size, sha256)
    assert not (out / "manifest.csv").exists() and (out / RUN_FILE).exists()


def test_a_sparse_resume_across_windows_is_exact(gen, tmp_path, monkeypatch):
    monkeypatch.setattr(run_module, "_WINDOW_SPAN", 2)  # windows of 2 batches: many window boundaries
    plan = {"nevus": 23, "seborrheic_keratosis": 17}
    fresh, resumed = tmp_path / "fresh", tmp_path / "resumed"
    write_run(gen, plan, fresh, batch_size=3)
    write_run(gen, plan, resumed, batch_size=5)
    removed = [p for k, p in enumerate(sorted(resumed.rglob("*.png"))) if k % 7 in (0, 3) or k > 35]
    for path in removed:
        path.unlink()
    damaged = resumed / "nevus" / "nevus_000005.png"
    assert damaged not in removed
    damaged.write_bytes(b"damaged")
    summary = write_run(gen, plan, resumed, batch_size=3)
    assert summary.written == len(removed) + 1 and summary.skipped == 40 - summary.written
    assert tree(resumed) == tree(fresh)


def test_a_class_added_to_a_folder_keeps_the_manifest_sorted_and_whole(gen, tmp_path):
    out = tmp_path / "out"
    write_run(gen, {"melanoma": 5}, out, batch_size=2)
    write_run(gen, {"nevus": 3, "seborrheic_keratosis": 2}, out, batch_size=2)
    write_run(gen, {"melanoma": 7}, out, batch_size=4)
    with (out / "manifest.csv").open(newline="") as handle:
        rows = [(r["class_index"], r["index"], r["path"]) for r in csv.DictReader(handle)]
    assert len(rows) == 3 + 7 + 2 and rows == sorted(rows, key=lambda r: (int(r[0]), int(r[1]), r[2]))
    oracle = tmp_path / "oracle"
    write_run(gen, {"nevus": 3, "melanoma": 7, "seborrheic_keratosis": 2}, oracle, batch_size=16)
    assert tree(out) == tree(oracle)


def test_an_npz_that_cannot_fit_is_refused_naming_the_count(tiny_model, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("diagnosis\nnevus\nmelanoma\n", encoding="utf-8")
    out = tmp_path / "new" / "out"
    args = [
        "generate",
        "--model",
        str(tiny_model),
        "--balance-from",
        str(labels),
        "--target",
        str(HUGE),
        "--format",
        "npz",
        "--out",
        str(out),
        "--quiet",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("Error: images.npz would hold 1999999999998 images of 192 bytes")
    assert not (tmp_path / "new").exists()


# -- what a failed run leaves -----------------------------------------------------------------------------


def failing_on_call(gen, monkeypatch, call):
    """Make ``gen.generate_indices`` raise ModelError on its ``call``-th call (1-based)."""
    real, calls = gen.generate_indices, []

    def generate_indices(cls, indices, seed=0):
        calls.append(1)
        if len(calls) == call:
            raise ModelError("the model failed (test)")
        return real(cls, indices, seed)

    monkeypatch.setattr(gen, "generate_indices", generate_indices)


@pytest.mark.parametrize("fmt", ["png", "npz"])
def test_a_failure_after_the_first_batch_with_nothing_finished_leaves_no_folder(
    gen, tmp_path, monkeypatch, fmt
):
    out = tmp_path / "deep" / "out"
    if fmt == "png":  # the first batch is made, its first file cannot be written

        def refuse(self, path, image, meta, *, batch=None):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(PngWriter, "write", refuse)
    else:  # the NPZ stream fails on its second batch: the file is never committed
        failing_on_call(gen, monkeypatch, 2)
    with pytest.raises((OutputError, ModelError)):
        write_run(gen, {"nevus": 4, "melanoma": 3}, out, fmt=fmt, batch_size=2)
    assert not (tmp_path / "deep").exists()


def test_a_failed_run_in_an_empty_folder_leaves_it_empty(gen, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    failing_on_call(gen, monkeypatch, 2)
    with pytest.raises(ModelError):
        write_run(gen, {"nevus": 4}, out, fmt="npz", batch_size=2)
    assert out.is_dir() and list(out.iterdir()) == []


def test_a_failure_after_files_were_finished_keeps_them_and_resumes(gen, tmp_path, monkeypatch):
    out = tmp_path / "out"
    failing_on_call(gen, monkeypatch, 3)
    with pytest.raises(ModelError):
        write_run(gen, {"nevus": 4, "melanoma": 4}, out, batch_size=2)
    kept = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert kept == [
        "nevus/nevus_000000.png",
        "nevus/nevus_000001.png",
        "nevus/nevus_000002.png",
        "nevus/nevus_000003.png",
    ]
    assert (out / RUN_FILE).exists() and (out / JOURNAL_FILE).exists()
    monkeypatch.undo()
    summary = write_run(gen, {"nevus": 4, "melanoma": 4}, out, batch_size=2)
    assert (summary.written, summary.skipped) == (4, 4)
    oracle = tmp_path / "oracle"
    write_run(gen, {"nevus": 4, "melanoma": 4}, oracle, batch_size=8)
    assert tree(out) == tree(oracle)


def test_a_failed_resume_leaves_the_earlier_run_alone(gen, tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_run(gen, {"nevus": 2}, out, batch_size=2)
    before = tree(out)
    failing_on_call(gen, monkeypatch, 1)
    with pytest.raises(ModelError):
        write_run(gen, {"nevus": 2, "melanoma": 2}, out, batch_size=2)
    assert tree(out) == before and np.all([p.exists() for p in (out / RUN_FILE, out / "manifest.csv")])
