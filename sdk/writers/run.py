"""Write a generation run to an output folder: resumable, atomic, byte-identical on re-run.

Layout of ``<out>`` for a per-image format (PNG, DICOM)::

    .medsynth-run.lock            while a run writes: its lock, naming the holder (see writers/_lock.py)
    .medsynth-run.json            written first: the model sha256, seed and format this folder belongs to
    .medsynth-journal.csv         while a run writes: path, size, sha256 of each file it published
    <class>/<class>_000000.png    one file per image, each written atomically
    manifest.csv                  written last, with every file's size and sha256

and for NPZ one ``images.npz`` instead of the class folders. Image ``i`` of class ``c`` is a pure function
of (model, seed, c, i), so a re-run keeps the files whose size and sha256 match the manifest (or the journal
of a killed run) and writes the rest, a file that differs included: a run killed at any point, or a file
truncated by a power loss, and re-run ends identical to one that was never interrupted. A folder of another
model, seed or format is refused (one format per folder, so the manifest lists each image once), and so is a
folder another run holds. An NPZ run that adds classes or images
rewrites ``images.npz`` with the earlier images and the new ones. Nothing is left behind when a run fails
before its first batch has been generated and checked.
"""

from __future__ import annotations

import contextvars
import hashlib
import itertools
import json
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medsynth._checks import MAX_BATCH_SIZE, MAX_INDEX, check_int
from medsynth._onnx_files import file_sha256
from medsynth._version import __version__
from medsynth.errors import ArgumentError, OutputError
from medsynth.generator import DEFAULT_BATCH_SIZE, Generator
from medsynth.seeding import check_seed
from medsynth.writers._atomic import (
    TEMP_SUFFIX,
    atomic_write_bytes,
    fsync_folder,
    remove_stale_temps,
    write_options,
)
from medsynth.writers._journal import JOURNAL_FILE, FileRecord, Journal, read_journal
from medsynth.writers._lock import LOCK_FILE, run_lock
from medsynth.writers.base import ContainerWriter, FileWriter, ImageMeta
from medsynth.writers.formats import load_writer
from medsynth.writers.manifest import MANIFEST_NAME, ManifestRow, merge_rows, read_manifest, write_manifest

__all__ = ["RUN_FILE", "RunSummary", "write_run", "image_file_name"]

RUN_FILE = ".medsynth-run.json"
CONTAINER_STEM = "images"
_RUN_SCHEMA = 1
# The writer thread runs this much nicer than the inference threads (Linux): on a machine with as many cores
# as onnxruntime has threads, encoding then fills the gaps instead of preempting an inference thread that the
# others wait for. 0 turns it off; benchmarks/png_bench.py measures both.
_WRITER_NICENESS = 5


def _lower_priority() -> None:
    """Make the calling (writer) thread ``_WRITER_NICENESS`` nicer; Linux only, best effort."""
    if _WRITER_NICENESS <= 0 or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()  # on Linux a thread's own priority, not the process's
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + _WRITER_NICENESS))
    except OSError:  # not permitted (some containers): the writer runs at the process's priority
        pass


@dataclass(frozen=True)
class RunSummary:
    """What :func:`write_run` did."""

    out: Path  # the output folder
    format: str  # the format name
    per_class: Mapping[str, int]  # images of the run per class (written or already there)
    written: int  # images generated and written by this call
    skipped: int  # images already present from an earlier call
    manifest: Path  # the manifest file

    @property
    def total(self) -> int:
        """Images of the run."""
        return sum(self.per_class.values())


def image_file_name(class_name: str, index: int, suffix: str) -> str:
    """Return the file name of image ``index`` of a class, e.g. ``melanoma_000042.png``."""
    return f"{class_name}_{index:06d}{suffix}"


def _identity(generator: Generator, seed: int, fmt: str) -> dict[str, object]:
    return {"medsynth_run": _RUN_SCHEMA, "model_name": generator.card.name, "model_sha256": generator.sha256,
            "seed": seed, "format": fmt}


def _held_format(out: Path, found: Mapping[str, object]) -> object:
    """The format a run folder holds: from its run file, or (older folders) its manifest's file suffixes."""
    if "format" in found:
        return found["format"]
    manifest = out / MANIFEST_NAME
    rows = read_manifest(manifest) if manifest.is_file() else []
    suffixes = {Path(row.path).suffix.lstrip(".") for row in rows}
    return suffixes.pop() if len(suffixes) == 1 else None


def _identity_bytes(identity: Mapping[str, object]) -> bytes:
    return (json.dumps(identity, sort_keys=True, indent=2) + "\n").encode("utf-8")


def _check_path(out: Path) -> None:
    """Refuse an output path that is not a folder or cannot be created; writes nothing."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"output folder {out} exists and is not a folder; choose another --out")
    if not out.exists():
        parent = out.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(f"cannot create output folder {out}: {parent} is not a writable folder")
        return
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {out} is not writable; choose another --out or fix its permissions")


_OURS_WHEN_NEW = {LOCK_FILE, JOURNAL_FILE}  # what may be in a folder before its run file exists


def _check_owner(out: Path, identity: Mapping[str, object]) -> None:
    """Refuse a folder that holds another run or files medsynth did not write; call it under the lock."""
    run_file = out / RUN_FILE
    if not run_file.exists():
        if any(entry.name not in _OURS_WHEN_NEW and not entry.name.endswith(TEMP_SUFFIX)
               for entry in out.iterdir()):
            raise OutputError(f"output folder {out} is not empty and was not written by medsynth; choose an "
                              "empty or new --out")
        return
    try:
        found = json.loads(run_file.read_text(encoding="utf-8")[:65536])
    except (OSError, ValueError) as exc:
        raise OutputError(f"{run_file} is unreadable ({exc}); choose another --out") from exc
    if not isinstance(found, dict):
        raise OutputError(f"{run_file} is not a medsynth run file; choose another --out")
    for key, what in (("model_sha256", "model"), ("seed", "seed")):
        if found.get(key) != identity[key]:
            shown = repr(found.get(key))
            shown = shown if len(shown) <= 80 else f"{shown[:80]}..."
            raise OutputError(f"output folder {out} holds images of another {what} ({key} {shown}, this run "
                              f"{identity[key]!r}); choose another --out or the same {what}")
    held = _held_format(out, found)
    if held is not None and held != identity["format"]:
        # One format per folder, so that manifest.csv lists every image exactly once.
        raise OutputError(f"output folder {out} holds {str(held)[:80]} images; a folder holds one format "
                          f"(its manifest lists each image once): choose another --out for --format "
                          f"{identity['format']}")


def _normalise_plan(generator: Generator, plan: Mapping[str | int, int]) -> list[tuple[int, int]]:
    """Return (class_index, n) pairs in class-index order, dropping zeros."""
    if not plan:
        raise ArgumentError("the plan names no class; give at least one class and a count")
    counts: dict[int, int] = {}
    for cls, n in plan.items():
        index = generator.card.class_index(cls)
        n = check_int(f"the number of images of class {str(cls)[:80]!r}", n, low=0, high=MAX_INDEX)
        if index in counts:
            raise ArgumentError(f"class {generator.classes[index]!r} appears twice in the plan")
        counts[index] = int(n)
    if not any(counts.values()):
        raise ArgumentError("the plan asks for no images; give a positive count")
    return sorted((index, n) for index, n in counts.items() if n > 0)


def _chunks(indices: Sequence[int], size: int) -> Iterator[list[int]]:
    for first in range(0, len(indices), size):
        yield list(indices[first:first + size])


class _Folder:
    """Creates the output folder and its run file on first use, turning OSError into OutputError."""

    def __init__(self, out: Path, identity: Mapping[str, object], fsync: bool) -> None:
        self.out = out
        self.identity = identity
        self.fsync = fsync
        self.ready = False
        self.subfolders: set[str] = set()

    def prepare(self, subfolders: Sequence[str] = ()) -> None:
        try:
            if not self.ready:
                self.out.mkdir(parents=True, exist_ok=True)
                run_file = self.out / RUN_FILE
                if not run_file.exists():
                    atomic_write_bytes(run_file, _identity_bytes(self.identity))
                remove_stale_temps(self.out)
                self.ready = True
            for name in subfolders:
                if name not in self.subfolders:
                    (self.out / name).mkdir(exist_ok=True)
                    if self.fsync:
                        fsync_folder(self.out)
                    remove_stale_temps(self.out / name)
                    self.subfolders.add(name)
        except OSError as exc:
            raise OutputError(f"cannot write to output folder {self.out}: {exc.strerror or exc}") from exc


def write_run(generator: Generator, plan: Mapping[str | int, int], out: Path, *, fmt: str = "png",
              seed: int = 0, batch_size: int = DEFAULT_BATCH_SIZE,
              progress: Callable[[int, int], None] | None = None, wait: bool = False,
              fsync: bool = True, published: Callable[[Sequence[str]], None] | None = None,
              png_compression: int | None = None) -> RunSummary:
    """Generate the images of ``plan`` into ``out`` with a manifest, skipping those already there.

    Parameters
    ----------
    generator
        The loaded model.
    plan
        Class (name or index) -> number of images; image indices run from 0 to n - 1 for each class.
    out
        Output folder; created if missing. It must be empty, new, or hold an earlier run of the same model,
        seed and format. It is locked for the whole run: one writer at a time.
    fmt
        Output format name (``png``, ``npz``, ``dcm``).
    seed
        Run seed (non-negative).
    batch_size
        Images per inference call; the output does not depend on it.
    progress
        Called as ``progress(done, total)`` after each batch is stored: ``done`` images of the ``total``
        that this call makes (images an earlier run left are not counted; an NPZ run that adds images
        makes the earlier ones again, and counts them); first called once the first batch is checked,
        never when there is nothing to make.
    wait
        If another run holds ``out``, wait for it to finish instead of refusing.
    fsync
        fsync every file and folder before and after the rename that publishes it (durable across a power
        loss); ``False`` is faster and still safe against kills, and resume still verifies every file.
    published
        Called on this thread with the paths (relative to ``out``) of files of the run as soon as they are
        published: first those an earlier run left that verified, then each batch once written and
        journalled (before ``progress`` reports it), while the next batch is generated; for NPZ once, with
        the container. :class:`medsynth.pacs.StreamingSender` uses it to send files while the run writes.
        An exception it raises stops the run as any failure does (the files written so far stay and a
        re-run resumes).
    png_compression
        With ``fmt="png"``: the zlib level, 0 (fastest) to 9 (smallest); ``None`` is
        :data:`medsynth.writers.png.DEFAULT_PNG_COMPRESSION`. The level changes the bytes, not the pixels;
        files an earlier run wrote at another level are kept (they verify against the manifest).

    Returns
    -------
    RunSummary
        Counts and paths.

    Raises
    ------
    ArgumentError
        An empty plan, a negative count, a bad seed or batch size, a PNG compression level outside 0-9 or
        given for another format.
    UnknownClassError
        A class the model does not have.
    OutputError
        An output folder that cannot be written, holds another model's, seed's or format's images, or is in
        use by another run; an unknown or unavailable format.
    ModelError
        The model returned non-finite values.
    """
    check_seed(seed)
    batch_size = check_int("batch_size", batch_size, low=1, high=MAX_BATCH_SIZE)
    work = _normalise_plan(generator, plan)
    writer = load_writer(fmt, png_compression=png_compression)
    identity = _identity(generator, seed, fmt)
    _check_path(out)
    report = progress or (lambda done, total: None)
    metas = [ImageMeta(card=generator.card, class_name=generator.classes[c], class_index=c, seed=seed,
                       index=i, model_sha256=generator.sha256) for c, n in work for i in range(n)]
    manifest = out / MANIFEST_NAME
    with run_lock(out, wait=wait) as lock, write_options(run_id=lock.run_id, fsync=fsync):
        _check_owner(out, identity)
        folder = _Folder(out, identity, fsync)
        old = read_manifest(manifest) if manifest.exists() else []
        records = {row.path: (row.size, row.sha256) for row in old if row.sha256}
        records.update(read_journal(out))
        journal = Journal(out)
        try:
            hand_over = published or (lambda paths: None)
            if isinstance(writer, FileWriter):
                rows, written = _write_files(generator, writer, metas, folder, batch_size, report, records,
                                             journal, hand_over)
            else:
                rows, written = _write_container(generator, writer, metas, folder, batch_size, report, old,
                                                 records)
                hand_over([rows[0].path])
            folder.prepare()
            write_manifest(manifest, merge_rows(old, rows))
        except OSError as exc:
            if isinstance(exc, OutputError):
                raise
            raise OutputError(f"cannot write manifest {manifest}: {exc.strerror or exc}") from exc
        finally:
            journal.close(remove=False)
        journal.close(remove=True)
    per_class = {generator.classes[c]: n for c, n in work}
    return RunSummary(out=out, format=fmt, per_class=per_class, written=written, skipped=len(metas) - written,
                      manifest=manifest)


def _row(path: str, meta: ImageMeta, record: FileRecord) -> ManifestRow:
    return ManifestRow(path=path, class_name=meta.class_name, class_index=meta.class_index, seed=meta.seed,
                       index=meta.index, model_sha256=meta.model_sha256, medsynth_version=__version__,
                       size=record[0], sha256=record[1])


def _matches(path: Path, record: FileRecord | None) -> bool:
    """Whether ``path`` is a regular file with the recorded size and sha256."""
    if record is None or path.is_symlink() or not path.is_file():
        return False
    try:
        return path.stat().st_size == record[0] and file_sha256(path) == record[1]
    except OSError:
        return False


def _store(writer: FileWriter, out: Path, paths: Sequence[str], metas: Sequence[ImageMeta],
           chunk: Sequence[int], images: np.ndarray, journal: Journal) -> list[tuple[int, FileRecord]]:
    """Write the files of one batch and journal them; return (position, (size, sha256)) of each."""
    done = []
    for k, image in zip(chunk, images, strict=True):
        target = out / paths[k]
        try:
            data = writer.write(target, image, metas[k])
            record = (len(data), hashlib.sha256(data).hexdigest())
            journal.add(paths[k], *record)
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
        done.append((k, record))
    journal.flush()
    return done


def _write_files(generator: Generator, writer: FileWriter, metas: Sequence[ImageMeta], folder: _Folder,
                 batch_size: int, report: Callable[[int, int], None], records: Mapping[str, FileRecord],
                 journal: Journal, published: Callable[[Sequence[str]], None],
                 ) -> tuple[list[ManifestRow], int]:
    """Write one file per image unless it is there with its recorded size and sha256; return the manifest
    rows and how many files were written.

    Encoding and writing a batch runs on one background thread, a little nicer than inference, while the
    next batch is generated (file I/O waits and Pillow/zlib release the GIL); at most two batches wait to be
    written, so a writer that falls behind holds the generation back rather than piling up batches.
    ``published`` gets the files found intact first, then each batch once it is written and journalled.
    """
    paths = [f"{m.class_name}/{image_file_name(m.class_name, m.index, writer.suffix)}" for m in metas]
    found: dict[int, FileRecord] = {}
    for k, path in enumerate(paths):
        record = records.get(path)
        if record is not None and _matches(folder.out / path, record):
            found[k] = record
    missing = [k for k in range(len(metas)) if k not in found]
    for chunk in _chunks(sorted(found), batch_size):
        published([paths[k] for k in chunk])
    done, total = 0, len(missing)
    by_class: dict[int, list[int]] = {}
    for k in missing:
        by_class.setdefault(metas[k].class_index, []).append(k)

    def finish(future: Future[list[tuple[int, FileRecord]]]) -> None:
        nonlocal done
        batch = future.result()
        found.update(batch)
        done += len(batch)
        published([paths[k] for k, _ in batch])
        report(done, total)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="medsynth-writer",
                            initializer=_lower_priority) as pool:
        pending: deque[Future[list[tuple[int, FileRecord]]]] = deque()
        try:
            for class_index, ks in by_class.items():
                for chunk in _chunks(ks, batch_size):
                    first = metas[chunk[0]]
                    indices = [metas[k].index for k in chunk]
                    images = generator.generate_indices(class_index, indices, first.seed)
                    folder.prepare([first.class_name])
                    context = contextvars.copy_context()  # the run's temp names and fsync choice
                    pending.append(pool.submit(context.run, _store, writer, folder.out, paths, metas, chunk,
                                               images, journal))
                    while len(pending) > 1:
                        finish(pending.popleft())
            while pending:
                finish(pending.popleft())
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    rows = [_row(path, meta, found[k]) for k, (path, meta) in enumerate(zip(paths, metas, strict=True))]
    return rows, len(missing)


def _write_container(generator: Generator, writer: ContainerWriter, metas: Sequence[ImageMeta],
                     folder: _Folder, batch_size: int, report: Callable[[int, int], None],
                     old: Sequence[ManifestRow],
                     records: Mapping[str, FileRecord]) -> tuple[list[ManifestRow], int]:
    """Write the images of this run and of earlier runs in the folder into one container file, unless it
    already holds exactly those (its size and sha256 as recorded); return its manifest rows and how many of
    this run's images were not in it before."""
    name = f"{CONTAINER_STEM}{writer.suffix}"
    target = folder.out / name
    listed = [(r.class_index, r.index) for r in old if r.path == name]
    intact = _matches(target, records.get(name))
    keys = sorted({(m.class_index, m.index) for m in metas} | (set(listed) if intact else set()))
    union = [ImageMeta(card=generator.card, class_name=generator.classes[c], class_index=c,
                       seed=metas[0].seed, index=i, model_sha256=generator.sha256) for c, i in keys]
    before = set(listed) if intact else set()
    written = sum(1 for m in metas if (m.class_index, m.index) not in before)
    record = records.get(name)
    if intact and record is not None and listed == keys:
        return [_row(name, m, record) for m in union], 0

    def batches() -> Iterator[np.ndarray]:
        done = 0
        for chunk in _chunks(range(len(union)), batch_size):
            # A chunk may span two classes; generate each class's part separately.
            parts = []
            for class_index in dict.fromkeys(union[k].class_index for k in chunk):
                ks = [k for k in chunk if union[k].class_index == class_index]
                parts.append(generator.generate_indices(class_index, [union[k].index for k in ks],
                                                        union[ks[0]].seed))
            images = np.concatenate(parts) if len(parts) > 1 else parts[0]
            folder.prepare()
            yield images
            done += len(chunk)
            report(done, len(union))

    stream = batches()
    first = next(stream)  # generated and checked before the folder holds anything
    try:
        writer.write_all(target, union, itertools.chain([first], stream))
        record = (target.stat().st_size, file_sha256(target))
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return [_row(name, m, record) for m in union], written
