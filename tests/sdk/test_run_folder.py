"""A run folder stays true: one writer at a time (real concurrent processes), verifiable files (size and
sha256 in the manifest, checked on resume), npz runs that add a class (fsync: test_group_commit.py)."""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from helpers.files import tree
from PIL import Image

from medsynth import Generator
from medsynth.errors import OutputError
from medsynth.writers._atomic import TEMP_SUFFIX
from medsynth.writers._journal import JOURNAL_FILE
from medsynth.writers._lock import LOCK_FILE, run_lock
from medsynth.writers.run import RUN_FILE, write_run

CLI = "from medsynth.cli import main; main()"


def manifest(out):
    with (out / "manifest.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def gen(tiny_model):
    return Generator.load(tiny_model, device="cpu")


@pytest.fixture(scope="module")
def slow_model(model_factory, onnx_models):
    return model_factory("slow-lock", card=onnx_models.make_card(name="slow", latent_dim=128, image_size=32))


def generate(model, out, *extra, n=150, seed=0, cls="melanoma"):
    return [
        sys.executable,
        "-c",
        CLI,
        "generate",
        "--model",
        str(model),
        "--class",
        cls,
        "--n",
        str(n),
        "--out",
        str(out),
        "--seed",
        str(seed),
        "--batch-size",
        "1",
        "--threads",
        "1",
        "--quiet",
        *extra,
    ]


def hold_lock(out, ready, seconds):
    """A process that holds the run lock of ``out`` for ``seconds`` and leaves a temp file of its own."""
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from medsynth.writers._lock import run_lock
        out = Path({str(out)!r})
        with run_lock(out):
            (out / ".x.png.holder-0{TEMP_SUFFIX}").write_bytes(b"in flight")
            Path({str(ready)!r}).write_text("ready")
            time.sleep({seconds})
    """)
    return subprocess.Popen([sys.executable, "-c", code])


def wait_for(path, process, limit=30.0):
    deadline = time.monotonic() + limit
    while not path.exists():
        assert process.poll() is None and time.monotonic() < deadline, "the helper process did not start"
        time.sleep(0.01)


# -- every file verifiable ------------------------------------------------------------------------------
def test_manifest_records_each_files_size_and_sha256(tmp_path, gen):
    out = tmp_path / "out"
    write_run(gen, {"melanoma": 3, "nevus": 2}, out, seed=1)
    rows = manifest(out)
    assert len(rows) == 5
    for row in rows:
        data = (out / row["path"]).read_bytes()
        assert int(row["size"]) == len(data) and row["sha256"] == hashlib.sha256(data).hexdigest()
    assert not (out / JOURNAL_FILE).exists() and not (out / LOCK_FILE).exists()


@pytest.mark.parametrize("damage", ["truncate", "five_bytes", "same_size_flip"])
def test_resume_rewrites_a_file_that_differs_from_the_manifest(tmp_path, gen, damage):
    out = tmp_path / "out"
    write_run(gen, {"melanoma": 4}, out, seed=3)
    complete = tree(out)
    target = out / "melanoma" / "melanoma_000002.png"
    data = bytearray(target.read_bytes())
    if damage == "truncate":
        target.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "five_bytes":
        target.write_bytes(b"\x89PNG\r")
    else:
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    summary = write_run(gen, {"melanoma": 4}, out, seed=3)
    assert summary.written == 1 and summary.skipped == 3
    assert tree(out) == complete
    Image.open(target).load()  # a whole PNG again


def test_a_damaged_npz_is_rewritten(tmp_path, gen):
    out = tmp_path / "out"
    write_run(gen, {"nevus": 3}, out, fmt="npz", seed=2)
    complete = tree(out)
    npz = out / "images.npz"
    npz.write_bytes(npz.read_bytes()[:-100])
    assert write_run(gen, {"nevus": 3}, out, fmt="npz", seed=2).written == 3
    assert tree(out) == complete


def test_journal_of_a_killed_run_lets_resume_verify(tmp_path, gen):
    out = tmp_path / "out"
    write_run(gen, {"nevus": 4}, out, seed=5)
    complete = tree(out)
    rows = manifest(out)
    (out / "manifest.csv").unlink()  # as if killed before the manifest: only a journal is left
    lines = [f"{r['path']},{r['size']},{r['sha256']}" for r in rows[:3]]
    (out / JOURNAL_FILE).write_text("\n".join(lines) + "\nnevus/nevus_000003.png,12")  # torn last line
    summary = write_run(gen, {"nevus": 4}, out, seed=5)
    assert summary.written == 1 and summary.skipped == 3
    assert tree(out) == complete


def test_old_manifests_without_sizes_are_read_and_their_files_regenerated(tmp_path, gen):
    out = tmp_path / "out"
    write_run(gen, {"nevus": 2}, out, seed=0)
    complete = tree(out)
    rows = (out / "manifest.csv").read_text().splitlines()
    old = [",".join(line.split(",")[:-2]) for line in rows]  # the medsynth 0.1 columns
    (out / "manifest.csv").write_text("\n".join(old) + "\n")
    assert write_run(gen, {"nevus": 2}, out, seed=0).written == 2
    assert tree(out) == complete


# -- npz: adding a class keeps the first -----------------------------------------------------------------
def test_adding_a_class_to_an_npz_folder_keeps_the_first(tmp_path, gen):
    out, direct = tmp_path / "out", tmp_path / "direct"
    write_run(gen, {"nevus": 2}, out, fmt="npz", seed=4)
    summary = write_run(gen, {"melanoma": 3}, out, fmt="npz", seed=4)
    assert summary.written == 3
    write_run(gen, {"nevus": 2, "melanoma": 3}, direct, fmt="npz", seed=4)
    assert tree(out) == tree(direct)
    with np.load(out / "images.npz") as data:
        assert data["labels"].tolist() == [0, 0, 1, 1, 1]
        np.testing.assert_array_equal(data["images"][:2], gen.generate(2, "nevus", seed=4)[0])


# -- one writer per run folder ---------------------------------------------------------------------------
def test_a_second_run_is_refused_naming_the_holder_and_its_temps_survive(tmp_path, tiny_model):
    out, ready = tmp_path / "out", tmp_path / "ready"
    holder = hold_lock(out, ready, 30)
    try:
        wait_for(ready, holder)
        result = subprocess.run(generate(tiny_model, out, n=2), capture_output=True, text=True, check=False)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
        assert f"in use by another medsynth run (process {holder.pid} on " in result.stderr
        assert (out / f".x.png.holder-0{TEMP_SUFFIX}").read_bytes() == b"in flight"
        assert not (out / RUN_FILE).exists()
    finally:
        holder.kill()
        holder.wait()
    # The lock died with its holder (SIGKILL): the folder can be used at once.
    done = subprocess.run(generate(tiny_model, out, n=2), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert not list(out.glob(f".*{TEMP_SUFFIX}"))  # the dead run's temp file is removed


def test_wait_blocks_until_the_holder_is_done(tmp_path, tiny_model):
    out, ready = tmp_path / "out", tmp_path / "ready"
    holder = hold_lock(out, ready, 1.5)
    wait_for(ready, holder)
    result = subprocess.run(
        generate(tiny_model, out, "--wait", n=2), capture_output=True, text=True, check=False
    )
    assert holder.wait() == 0
    assert result.returncode == 0, result.stderr
    assert len(manifest(out)) == 2


def test_two_runs_of_different_seeds_never_mix(tmp_path, slow_model):
    out = tmp_path / "out"
    runs = [
        subprocess.Popen(
            generate(slow_model, out, seed=seed, n=30),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (0, 1)
    ]
    codes = [run.wait() for run in runs]
    errors = [run.stderr.read() for run in runs]
    for run in runs:
        run.stderr.close()
    assert sorted(codes) == [0, 2], errors
    loser = errors[codes.index(2)]
    assert "in use by another medsynth run" in loser or "another seed" in loser
    seed = codes.index(0)
    import json

    assert json.loads((out / RUN_FILE).read_text())["seed"] == seed
    for png in (out / "melanoma").glob("*.png"):
        assert f"seed {seed}," in Image.open(png).text["Description"]
    assert len(manifest(out)) == 30


def test_concurrent_waiting_runs_keep_every_manifest_row(tmp_path, slow_model):
    out = tmp_path / "out"
    classes = ("nevus", "melanoma")
    runs = [
        subprocess.Popen(
            generate(slow_model, out, "--wait", n=20, cls=cls),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cls in classes
    ]
    codes = [run.wait() for run in runs]
    errors = [run.stderr.read() for run in runs]
    for run in runs:
        run.stderr.close()
    assert codes == [0, 0], errors
    rows = manifest(out)
    assert sorted({r["class"] for r in rows}) == sorted(classes) and len(rows) == 40
    assert not (out / LOCK_FILE).exists()


def test_failure_before_the_first_batch_leaves_no_folder(tmp_path, nan_model):
    out = tmp_path / "deep" / "out"
    gen = Generator.load(nan_model, device="cpu")
    with pytest.raises(Exception, match="NaN"):
        write_run(gen, {"nevus": 2}, out)
    assert not (tmp_path / "deep").exists()


def test_lock_in_process_refuses_a_second_holder(tmp_path):
    out = tmp_path / "out"
    with run_lock(out):
        with pytest.raises(OutputError, match=f"process {os.getpid()} on"):
            with run_lock(out):
                pass
    assert not out.exists()  # the lock made the folder and removed it again, empty
