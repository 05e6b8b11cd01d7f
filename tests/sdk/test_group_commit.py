"""Group commit: a batch's files are fsynced, renamed into place, their folder fsynced once, and only then
journalled; a run killed (SIGKILL) in the middle of a batch resumes to the bytes of an uninterrupted run,
and a file the journal does not list is never trusted."""

from __future__ import annotations

import csv
import ctypes
import os
import signal
import stat
import subprocess
import sys

import pytest
from helpers.files import tree

from medsynth import Generator
from medsynth.writers import _atomic
from medsynth.writers._atomic import TEMP_SUFFIX, atomic_batch, write_options
from medsynth.writers._journal import JOURNAL_FILE, Journal, read_journal
from medsynth.writers.run import write_run

CLI = "from medsynth.cli import main; main()"


@pytest.fixture(scope="module")
def gen(tiny_model):
    return Generator.load(tiny_model, device="cpu")


DURABILITY = ["syncfs", "fsync"]  # one syncfs per batch (Linux >= 5.8), or an fsync per file elsewhere


@pytest.fixture(params=DURABILITY)
def durability(request, monkeypatch):
    """Run the test with batches made durable by syncfs, then with per-file fsyncs."""
    if request.param == "syncfs" and _atomic._syncfs() is None:
        pytest.skip("syncfs with write-back error reports needs Linux >= 5.8")
    if request.param == "fsync":
        monkeypatch.setattr(_atomic, "_syncfs_call", None)
    return request.param


class Events:
    """Every write and fsync (of a file or a folder, by inode), syncfs (by device), rename and journal record
    of a run, in order."""

    def __init__(self, monkeypatch):
        self.log = []
        real_fsync, real_replace, real_add = os.fsync, os.replace, Journal.add
        real_write, real_syncfs = os.write, _atomic._syncfs()

        def fsync(fd):
            info = os.fstat(fd)
            self.log.append(("dirsync" if stat.S_ISDIR(info.st_mode) else "fsync", info.st_ino))
            real_fsync(fd)

        def write(fd, data):
            self.log.append(("write", os.fstat(fd).st_ino))
            return real_write(fd, data)

        def syncfs(fd):
            self.log.append(("syncfs", os.fstat(fd).st_dev))
            return real_syncfs(fd)

        if real_syncfs is not None:
            monkeypatch.setattr(_atomic, "_syncfs_call", syncfs)

        def replace(src, dst):
            self.log.append(("rename", os.stat(src).st_ino, os.fspath(dst)))
            real_replace(src, dst)

        def add(journal, path, size, sha256):
            self.log.append(("journal", path))
            real_add(journal, path, size, sha256)

        monkeypatch.setattr(_atomic.os, "fsync", fsync)
        monkeypatch.setattr(_atomic.os, "write", write)
        monkeypatch.setattr(_atomic.os, "replace", replace)
        monkeypatch.setattr(Journal, "add", add)

    def where(self, predicate):
        return [k for k, event in enumerate(self.log) if predicate(event)]

    def durable(self, inode, durability):
        """Where the file ``inode`` was made durable: its fsync, or the first syncfs after its last write."""
        if durability == "fsync":
            return self.where(lambda e: e == ("fsync", inode))
        last_write = max(self.where(lambda e: e == ("write", inode)))
        return [k for k in self.where(lambda e: e[0] == "syncfs") if k > last_write][:1]


def test_each_batch_is_made_durable_renamed_and_its_folder_fsynced_once_before_it_is_journalled(
    tmp_path, gen, monkeypatch, durability
):
    events = Events(monkeypatch)
    out = tmp_path / "out"
    write_run(gen, {"nevus": 10, "melanoma": 5}, out, seed=3, batch_size=4)
    with (out / "manifest.csv").open(newline="") as handle:
        pngs = [row["path"] for row in csv.DictReader(handle)]
    assert len(pngs) == 15
    folders = {name: (out / name).stat().st_ino for name in ("nevus", "melanoma")}
    for path in pngs:
        inode = (out / path).stat().st_ino
        durable = events.durable(inode, durability)
        renames = events.where(lambda e, p=path: e[0] == "rename" and e[2] == os.fspath(out / p))
        journalled = events.where(lambda e, p=path: e == ("journal", p))
        assert len(durable) == 1 and len(renames) == 1 and len(journalled) == 1, path
        # The content is durable before the name appears, and the name before the journal lists it.
        assert durable[0] < renames[0] < journalled[0], path
        folder = folders[path.split("/")[0]]
        assert any(
            renames[0] < k < journalled[0] for k in events.where(lambda e, f=folder: e == ("dirsync", f))
        )
    # One folder fsync per batch (nevus: 4 + 4 + 2, melanoma: 4 + 1), not one per file.
    assert len(events.where(lambda e: e == ("dirsync", folders["nevus"]))) == 3
    assert len(events.where(lambda e: e == ("dirsync", folders["melanoma"]))) == 2
    # Files: the 15 PNGs (or the 5 batches' syncfs), the run file and the manifest, once each.
    if durability == "fsync":
        assert len(events.where(lambda e: e[0] == "fsync")) == 15 + 2
    else:
        assert len(events.where(lambda e: e[0] == "fsync")) == 2
        assert len(events.where(lambda e: e[0] == "syncfs")) == 3 + 2
    # The output folder itself: after the run file, after creating each class folder, after the manifest.
    assert len(events.where(lambda e: e == ("dirsync", out.stat().st_ino))) == 1 + 2 + 1


def test_no_fsync_renames_the_same_files_without_any_fsync(tmp_path, gen, monkeypatch):
    write_run(gen, {"nevus": 10, "melanoma": 5}, tmp_path / "a", seed=3, batch_size=4)
    events = Events(monkeypatch)
    write_run(gen, {"nevus": 10, "melanoma": 5}, tmp_path / "b", seed=3, batch_size=4, fsync=False)
    assert events.where(lambda e: e[0] in ("fsync", "dirsync", "syncfs")) == []
    assert len(events.where(lambda e: e[0] == "rename" and e[2].endswith(".png"))) == 15
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


def test_a_batch_holds_at_most_max_open_files_open_and_fsyncs_each_once(tmp_path, monkeypatch):
    monkeypatch.setattr(_atomic, "_syncfs_call", None)  # the per-file fsync path holds descriptors
    monkeypatch.setattr(_atomic, "_MAX_OPEN", 3)
    events = Events(monkeypatch)
    with write_options(run_id="t"), atomic_batch() as batch:
        for k in range(7):
            batch.write_bytes(tmp_path / f"{k}.bin", bytes([k]) * (k + 1))
            assert len(batch._open) < 3
        assert not list(tmp_path.glob("*.bin"))  # nothing is published before the commit
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == {
        f"{k}.bin": bytes([k]) * (k + 1) for k in range(7)
    }
    inodes = sorted((tmp_path / f"{k}.bin").stat().st_ino for k in range(7))
    assert sorted(i for kind, i, *_ in events.log if kind == "fsync") == inodes
    assert [e[0] for e in events.log].count("dirsync") == 1
    assert max(events.where(lambda e: e[0] == "fsync")) < min(events.where(lambda e: e[0] == "rename"))


def test_syncfs_batches_hold_no_descriptor_and_sync_each_file_system_once(tmp_path, monkeypatch):
    if _atomic._syncfs() is None:
        pytest.skip("syncfs with write-back error reports needs Linux >= 5.8")
    events = Events(monkeypatch)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with write_options(run_id="t"), atomic_batch() as batch:
        for k in range(6):
            batch.write_bytes(tmp_path / "ab"[k % 2] / f"{k}.bin", bytes([k]))
            assert batch._open == []
    # two folders on one file system: one syncfs, before every rename; then each folder fsynced once
    assert [e[0] for e in events.log if e[0] != "write"] == ["syncfs"] + ["rename"] * 6 + ["dirsync"] * 2
    assert events.log[events.where(lambda e: e[0] == "syncfs")[0]][1] == tmp_path.stat().st_dev
    assert sorted(p.name for p in tmp_path.rglob("*.bin")) == [f"{k}.bin" for k in range(6)]


def test_a_refused_syncfs_falls_back_to_an_fsync_per_file(tmp_path, monkeypatch):
    """A sandbox that refuses syncfs (ENOSYS from a seccomp filter) must not fail the run: that batch's files
    are fsynced one by one before their renames, and later batches take the per-file path from the start."""
    events = Events(monkeypatch)
    calls = []

    def refused(fd):
        calls.append(fd)
        ctypes.set_errno(38)  # ENOSYS
        return -1

    monkeypatch.setattr(_atomic, "_syncfs_call", refused)  # restored after the test
    for batch_no in range(2):
        with write_options(run_id="t"), atomic_batch() as batch:
            for k in range(3):
                batch.write_bytes(tmp_path / f"{batch_no}-{k}.bin", bytes([k]))
    assert len(calls) == 1  # the second batch did not try syncfs again
    for path in sorted(tmp_path.glob("*.bin")):
        inode = path.stat().st_ino
        fsyncs = events.where(lambda e, i=inode: e == ("fsync", i))
        renames = events.where(lambda e, p=path: e[0] == "rename" and e[2] == os.fspath(p))
        assert len(fsyncs) == 1 and len(renames) == 1 and fsyncs[0] < renames[0], path.name
    names = sorted(p.name for p in tmp_path.glob("*.bin"))
    assert names == [f"{b}-{k}.bin" for b in range(2) for k in range(3)]


def test_a_batch_that_fails_publishes_nothing_and_leaves_no_temp_file(tmp_path, monkeypatch, durability):
    (tmp_path / "1.bin").write_bytes(b"old")
    with pytest.raises(RuntimeError), write_options(run_id="t"), atomic_batch() as batch:
        batch.write_bytes(tmp_path / "0.bin", b"new")
        batch.write_bytes(tmp_path / "1.bin", b"new")
        raise RuntimeError("encoder failed")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == {"1.bin": b"old"}

    def fail(fd):
        raise OSError(5, "Input/output error")

    def syncfs_fails(fd):
        ctypes.set_errno(5)
        return -1

    if durability == "fsync":
        monkeypatch.setattr(_atomic.os, "fsync", fail)
    else:
        monkeypatch.setattr(_atomic, "_syncfs_call", syncfs_fails)
    with pytest.raises(OSError, match="Input/output"), write_options(run_id="t"), atomic_batch() as batch:
        batch.write_bytes(tmp_path / "0.bin", b"new")
        batch.write_bytes(tmp_path / "1.bin", b"new")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == {"1.bin": b"old"}


# Runs ``medsynth generate`` (argv after the first two arguments) and kills itself with SIGKILL just before
# (``before``) or just after (``after``) the rename that publishes the file whose name ends with argv[1].
KILLING_CLI = """
import os, signal, sys
name, when = sys.argv[1], sys.argv[2]
real = os.replace
def replace(src, dst):
    if when == "before" and os.fspath(dst).endswith(name):
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
    if when == "after" and os.fspath(dst).endswith(name):
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
sys.argv = [sys.argv[0]] + sys.argv[3:]
from medsynth.cli import main
main()
"""
N, BATCH = 40, 8


def generate(model, out, *extra):
    args = ["generate", "--model", str(model), "--class", "melanoma", "--n", str(N), "--out", str(out)]
    return [*args, "--seed", "7", "--batch-size", str(BATCH), "--threads", "1", "--quiet", *extra]


@pytest.mark.parametrize(
    ("when", "fsync"),
    [("before", True), ("after", True), ("after", False)],
    ids=["staged-not-renamed", "partly-renamed", "partly-renamed-no-fsync"],
)
def test_sigkill_in_the_middle_of_a_batch_then_resume_is_byte_identical(tmp_path, tiny_model, when, fsync):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    extra = () if fsync else ("--no-fsync",)
    # The third batch (images 16-23): killed before its first rename, or after three of its eight.
    name = "melanoma_000016.png" if when == "before" else "melanoma_000018.png"
    process = subprocess.run(
        [sys.executable, "-c", KILLING_CLI, name, when, *generate(tiny_model, killed, *extra)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr
    assert not (killed / "manifest.csv").exists()
    folder = killed / "melanoma"
    journalled = set(read_journal(killed))
    assert journalled == {f"melanoma/melanoma_{i:06d}.png" for i in range(16)}  # the first two batches
    renamed = sorted(p.name for p in folder.glob("*.png") if f"melanoma/{p.name}" not in journalled)
    temps = list(folder.glob(f".*{TEMP_SUFFIX}"))
    if when == "before":
        assert renamed == [] and len(temps) == BATCH
    else:
        assert renamed == [f"melanoma_{i:06d}.png" for i in (16, 17, 18)] and len(temps) == BATCH - 3
    # A file the journal does not list is not trusted: spoil the published but unjournalled ones.
    for spoiled in renamed:
        data = (folder / spoiled).read_bytes()
        (folder / spoiled).write_bytes(data[: len(data) // 2])

    resumed = subprocess.run(
        [sys.executable, "-c", CLI, *generate(tiny_model, killed, *extra)], capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    whole = subprocess.run(
        [sys.executable, "-c", CLI, *generate(tiny_model, clean, *extra)], capture_output=True, text=True
    )
    assert whole.returncode == 0, whole.stderr
    assert tree(killed) == tree(clean)
    assert not [p for p in killed.rglob("*") if p.name.endswith(TEMP_SUFFIX)]
    assert not (killed / JOURNAL_FILE).exists()
