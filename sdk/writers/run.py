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
rewrites ``images.npz`` with the earlier images and the new ones. A run that fails before it has finished
a file leaves nothing behind (a folder it created is removed, one that was empty is empty again); one that
fails later keeps every file it finished, listed in the journal, and the same command resumes it.
"""

from __future__ import annotations

import bisect
import contextvars
import hashlib
import itertools
import json
import os
import shutil
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np

from medsynth._checks import MAX_BATCH_SIZE, MAX_INDEX, check_int
from medsynth._onnx_files import file_sha256
from medsynth._version import __version__
from medsynth.errors import ArgumentError, OutputError
from medsynth.generator import DEFAULT_BATCH_SIZE, Generator
from medsynth.seeding import check_seed
from medsynth.writers._atomic import (
    TEMP_SUFFIX,
    atomic_batch,
    atomic_write_bytes,
    fsync_folder,
    remove_stale_temps,
    write_options,
)
from medsynth.writers._journal import JOURNAL_FILE, FileRecord, Journal, read_journal
from medsynth.writers._lock import LOCK_FILE, run_lock
from medsynth.writers.base import ContainerWriter, FileWriter, ImageMeta
from medsynth.writers.formats import load_writer
from medsynth.writers.manifest import MANIFEST_NAME, ManifestRow, merge_sorted, read_manifest, write_manifest

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
    return {
        "medsynth_run": _RUN_SCHEMA,
        "model_name": generator.card.name,
        "model_sha256": generator.sha256,
        "seed": seed,
        "format": fmt,
    }


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
        if any(
            entry.name not in _OURS_WHEN_NEW and not entry.name.endswith(TEMP_SUFFIX)
            for entry in out.iterdir()
        ):
            raise OutputError(
                f"output folder {out} is not empty and was not written by medsynth; choose an "
                "empty or new --out"
            )
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
            raise OutputError(
                f"output folder {out} holds images of another {what} ({key} {shown}, this run "
                f"{identity[key]!r}); choose another --out or the same {what}"
            )
    held = _held_format(out, found)
    if held is not None and held != identity["format"]:
        # One format per folder, so that manifest.csv lists every image exactly once.
        raise OutputError(
            f"output folder {out} holds {str(held)[:80]} images; a folder holds one format "
            f"(its manifest lists each image once): choose another --out for --format "
            f"{identity['format']}"
        )


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


class _Folder:
    """Creates the output folder and its run file on first use, turning OSError into OutputError."""

    def __init__(self, out: Path, identity: Mapping[str, object], fsync: bool) -> None:
        self.out = out
        self.identity = identity
        self.fsync = fsync
        self.ready = False
        self.subfolders: set[str] = set()
        self.wrote_run_file = False  # this run created the run file: the folder was new or empty
        self.made: list[str] = []  # subfolders this run created

    def prepare(self, subfolders: Sequence[str] = ()) -> None:
        try:
            if not self.ready:
                self.out.mkdir(parents=True, exist_ok=True)
                run_file = self.out / RUN_FILE
                if not run_file.exists():
                    atomic_write_bytes(run_file, _identity_bytes(self.identity))
                    self.wrote_run_file = True
                remove_stale_temps(self.out)
                self.ready = True
            for name in subfolders:
                if name not in self.subfolders:
                    if not (self.out / name).exists():
                        (self.out / name).mkdir()
                        self.made.append(name)
                    if self.fsync:
                        fsync_folder(self.out)
                    remove_stale_temps(self.out / name)
                    self.subfolders.add(name)
        except OSError as exc:
            raise OutputError(f"cannot write to output folder {self.out}: {exc.strerror or exc}") from exc

    def undo(self) -> None:
        """After a failure: if this run made the folder's run file and finished no file, remove what it made
        (its run file and empty class folders; the lock then removes the folder if the run created it).
        A folder holding any finished file is left as it is, so that a re-run resumes from it."""
        if not self.wrote_run_file:
            return
        try:
            for name in self.made:
                (self.out / name).rmdir()  # fails if a file was finished in it
            if {entry.name for entry in self.out.iterdir()} - {RUN_FILE, LOCK_FILE}:
                return
            (self.out / RUN_FILE).unlink()
        except OSError:
            return


def write_run(
    generator: Generator,
    plan: Mapping[str | int, int],
    out: Path,
    *,
    fmt: str = "png",
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
    wait: bool = False,
    fsync: bool = True,
    published: Callable[[Sequence[str]], None] | None = None,
    png_compression: int | None = None,
) -> RunSummary:
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
        fsync every file before the rename that publishes it, and its folder after (durable across a power
        loss): per batch, the files' fsyncs are issued together and the folder is fsynced once, before the
        batch is journalled (group commit). ``False`` is faster and still safe against kills, and resume
        still verifies every file.
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
    manifest = out / MANIFEST_NAME
    tally = _Tally()
    with run_lock(out, wait=wait) as lock, write_options(run_id=lock.run_id, fsync=fsync):
        _check_owner(out, identity)
        folder = _Folder(out, identity, fsync)
        old = read_manifest(manifest) if manifest.exists() else []
        records = {row.path: (row.size, row.sha256) for row in old if row.sha256}
        records.update(read_journal(out))
        journal = Journal(out)
        try:
            # The rows are made as the images are: drawing them runs the generation, batch by batch, so
            # neither the plan nor the manifest ever sits in memory whole.
            hand_over = published or (lambda paths: None)
            if isinstance(writer, FileWriter):
                paths = _RunPaths(generator.classes, dict(work), writer.suffix)
                new = _write_files(
                    generator,
                    writer,
                    work,
                    seed,
                    folder,
                    batch_size,
                    report,
                    records,
                    journal,
                    paths,
                    tally,
                    hand_over,
                )
                rows = merge_sorted(old, new, lambda row: paths.key(row.path) is not None)
            else:
                name = f"{CONTAINER_STEM}{writer.suffix}"
                new = _write_container(
                    generator, writer, work, seed, folder, batch_size, report, old, records, tally, hand_over
                )
                rows = merge_sorted(old, new, lambda row: row.path == name)
            first = next(rows)  # the first batch is generated and checked before the folder holds anything
            folder.prepare()
            write_manifest(manifest, itertools.chain([first], rows))
        except BaseException as exc:
            journal.close(remove=False)
            folder.undo()
            if isinstance(exc, OSError) and not isinstance(exc, OutputError):
                raise OutputError(f"cannot write manifest {manifest}: {exc.strerror or exc}") from exc
            raise
        journal.close(remove=True)
    per_class = {generator.classes[c]: n for c, n in work}
    total = sum(per_class.values())
    return RunSummary(
        out=out,
        format=fmt,
        per_class=per_class,
        written=tally.written,
        skipped=total - tally.written,
        manifest=manifest,
    )


@dataclass
class _Tally:
    """What a run's row stream did, known once it is exhausted."""

    written: int = 0  # images of this run that were not there before


class _RunPaths:
    """The file paths of a run's images, ``<class>/<class>_<index>.<suffix>``, both ways, without a list."""

    def __init__(self, classes: Sequence[str], counts: Mapping[int, int], suffix: str) -> None:
        self.classes = classes
        self.counts = counts  # class index -> images of the run
        self.suffix = suffix
        self._index = {name: c for c, name in enumerate(classes)}

    def path(self, class_index: int, index: int) -> str:
        name = self.classes[class_index]
        return f"{name}/{image_file_name(name, index, self.suffix)}"

    def key(self, path: str) -> tuple[int, int] | None:
        """The (class index, index) of a path of this run, or None for any other path."""
        name, _, file = path.partition("/")
        c = self._index.get(name)
        digits = file.removeprefix(f"{name}_").removesuffix(self.suffix)
        if c is None or not digits.isdigit() or not digits.isascii():
            return None
        index = int(digits)
        if index >= self.counts.get(c, 0) or self.path(c, index) != path:
            return None
        return c, index


def _row(path: str, meta: ImageMeta, record: FileRecord) -> ManifestRow:
    return ManifestRow(
        path=path,
        class_name=meta.class_name,
        class_index=meta.class_index,
        seed=meta.seed,
        index=meta.index,
        model_sha256=meta.model_sha256,
        medsynth_version=__version__,
        size=record[0],
        sha256=record[1],
    )


def _matches(path: Path, record: FileRecord | None) -> bool:
    """Whether ``path`` is a regular file with the recorded size and sha256."""
    if record is None or path.is_symlink() or not path.is_file():
        return False
    try:
        return path.stat().st_size == record[0] and file_sha256(path) == record[1]
    except OSError:
        return False


def _store(
    writer: FileWriter,
    out: Path,
    items: Sequence[tuple[str, ImageMeta]],
    images: np.ndarray,
    journal: Journal,
) -> list[FileRecord]:
    """Write the files of one batch, publish them together, then journal them; return each (size, sha256).

    Group commit (:func:`atomic_batch`): each file is written to its temp name, then all are fsynced, then
    renamed into place, then their folder is fsynced once; only then does the journal record them, so the
    journal lists only files that are durable under their final names. A kill before that leaves files
    the journal does not list: the next run rewrites them.
    """
    records: list[FileRecord] = []
    target = out / items[0][0]
    try:
        with atomic_batch() as batch:
            for (path, meta), image in zip(items, images, strict=True):
                target = out / path
                data = writer.write(target, image, meta, batch=batch)
                records.append((len(data), hashlib.sha256(data).hexdigest()))
            target = target.parent  # the commit: fsync the files, rename them, fsync their folder
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        for (path, _), record in zip(items, records, strict=True):
            journal.add(path, *record)
        journal.flush()
    except OSError as exc:
        raise OutputError(f"cannot write {journal.path}: {exc.strerror or exc}") from exc
    return records


_WINDOW_SPAN = 8  # a window of the index range spans at most this many batches (bounds resume's memory)


@dataclass
class _Window:
    """Consecutive images of one class: those found intact, and those to make as one batch."""

    class_index: int
    rows: list[tuple[str, ImageMeta, FileRecord | None]]  # in index order; None: to be made
    future: Future[list[FileRecord]] | None = None  # the batch being written

    def finished(self) -> Iterator[tuple[str, ImageMeta, FileRecord]]:
        made = iter(self.future.result() if self.future is not None else ())
        for path, meta, record in self.rows:
            yield path, meta, record if record is not None else next(made)


def _write_files(
    generator: Generator,
    writer: FileWriter,
    work: Sequence[tuple[int, int]],
    seed: int,
    folder: _Folder,
    batch_size: int,
    report: Callable[[int, int], None],
    records: Mapping[str, FileRecord],
    journal: Journal,
    paths: _RunPaths,
    tally: _Tally,
    published: Callable[[Sequence[str]], None],
) -> Iterator[ManifestRow]:
    """Yield the manifest rows of a per-image run in (class, index) order, writing each file unless it is
    there with its recorded size and sha256.

    The plan is walked index by index in windows of at most ``_WINDOW_SPAN`` batches; the images missing
    from a window are made as one batch. Encoding and writing a batch runs on one background thread, a
    little nicer than inference, while the next batch is generated (file I/O waits and Pillow/zlib release
    the GIL); at most two batches wait to be written, so a writer that falls behind holds the generation
    back rather than piling up batches, and memory does not grow with the number of images.
    ``published`` gets the files found intact first, then each batch once it is written and journalled.
    """
    found: set[str] = set()
    for path, record in records.items():  # what earlier runs left: verified before anything is made
        if paths.key(path) is not None and _matches(folder.out / path, record):
            found.add(path)
    intact = sorted(found, key=lambda path: paths.key(path) or (-1, -1))
    for first in range(0, len(intact), batch_size):
        published(intact[first : first + batch_size])
    del intact
    total = sum(n for _, n in work) - len(found)
    done = 0

    def windows() -> Iterator[_Window]:
        for class_index, n in work:
            window = _Window(class_index, [])
            missing = 0
            for index in range(n):
                path = paths.path(class_index, index)
                meta = ImageMeta(
                    card=generator.card,
                    class_name=generator.classes[class_index],
                    class_index=class_index,
                    seed=seed,
                    index=index,
                    model_sha256=generator.sha256,
                )
                have = records[path] if path in found else None
                window.rows.append((path, meta, have))
                missing += have is None
                if missing == batch_size or len(window.rows) >= _WINDOW_SPAN * batch_size:
                    yield window
                    window, missing = _Window(class_index, []), 0
            if window.rows:
                yield window

    def rows_of(window: _Window) -> Iterator[ManifestRow]:
        nonlocal done
        for path, meta, record in window.finished():
            yield _row(path, meta, record)
        if window.future is not None:
            done += len(window.future.result())
            published([path for path, _, record in window.rows if record is None])
            report(done, total)

    with ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="medsynth-writer", initializer=_lower_priority
    ) as pool:
        pending: deque[_Window] = deque()
        try:
            for window in windows():
                todo = [(path, meta) for path, meta, record in window.rows if record is None]
                if todo:
                    images = generator.generate_indices(window.class_index, [m.index for _, m in todo], seed)
                    folder.prepare([generator.classes[window.class_index]])
                    context = contextvars.copy_context()  # the run's temp names and fsync choice
                    window.future = pool.submit(
                        context.run, _store, writer, folder.out, todo, images, journal
                    )
                pending.append(window)
                while len(pending) > 1 or (pending and pending[0].future is None):
                    yield from rows_of(pending.popleft())
            while pending:
                yield from rows_of(pending.popleft())
        except BaseException:
            for window in pending:
                if window.future is not None:
                    window.future.cancel()
            raise
    tally.written = total


class _Metas(Sequence[ImageMeta]):
    """The metas of a container's images, per class an index sequence (a range, mostly), never a list."""

    def __init__(self, generator: Generator, seed: int, parts: Sequence[tuple[int, Sequence[int]]]) -> None:
        self.generator = generator
        self.seed = seed
        self.parts = [(c, indices) for c, indices in parts if len(indices)]
        self.starts = list(itertools.accumulate((len(indices) for _, indices in self.parts), initial=0))

    def meta(self, class_index: int, index: int) -> ImageMeta:
        return ImageMeta(
            card=self.generator.card,
            class_name=self.generator.classes[class_index],
            class_index=class_index,
            seed=self.seed,
            index=index,
            model_sha256=self.generator.sha256,
        )

    def __len__(self) -> int:
        return self.starts[-1]

    @overload
    def __getitem__(self, k: int) -> ImageMeta: ...

    @overload
    def __getitem__(self, k: slice) -> Sequence[ImageMeta]: ...

    def __getitem__(self, k: int | slice) -> ImageMeta | Sequence[ImageMeta]:
        if isinstance(k, slice):
            return [self[j] for j in range(*k.indices(len(self)))]
        if k < 0:
            k += len(self)
        if not 0 <= k < len(self):
            raise IndexError(k)
        part = bisect.bisect_right(self.starts, k) - 1
        class_index, indices = self.parts[part]
        return self.meta(class_index, indices[k - self.starts[part]])

    def __iter__(self) -> Iterator[ImageMeta]:
        for class_index, indices in self.parts:
            for index in indices:
                yield self.meta(class_index, index)


def _check_space(target: Path, images: int, image_bytes: int) -> None:
    """Refuse a container that cannot fit on the disk it would be written to, before writing anything."""
    need = images * image_bytes
    where = target.parent
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return
    if need > free:
        raise OutputError(
            f"{target.name} would hold {images} images of {image_bytes} bytes each "
            f"({need / 1e9:.3g} GB) but {where} has {free / 1e9:.3g} GB free; ask for fewer "
            "images, or free space"
        )


def _write_container(
    generator: Generator,
    writer: ContainerWriter,
    work: Sequence[tuple[int, int]],
    seed: int,
    folder: _Folder,
    batch_size: int,
    report: Callable[[int, int], None],
    old: Sequence[ManifestRow],
    records: Mapping[str, FileRecord],
    tally: _Tally,
    published: Callable[[Sequence[str]], None],
) -> Iterator[ManifestRow]:
    """Write the images of this run and of earlier runs in the folder into one container file, unless it
    already holds exactly those (its size and sha256 as recorded); then yield its manifest rows.

    The run's images are, per class, a range of indices; earlier images beyond it are kept in a list (they
    are listed in the old manifest anyway), so memory does not grow with the number of images made.
    """
    name = f"{CONTAINER_STEM}{writer.suffix}"
    target = folder.out / name
    listed = [(r.class_index, r.index) for r in old if r.path == name]
    intact = _matches(target, records.get(name))
    counts = dict(work)
    before, beyond = 0, dict[int, list[int]]()
    if intact:
        for class_index, index in set(listed):
            if index < counts.get(class_index, 0):
                before += 1
            else:
                beyond.setdefault(class_index, []).append(index)
    parts: list[tuple[int, Sequence[int]]] = []
    for class_index in sorted(set(counts) | set(beyond)):
        parts.append((class_index, range(counts.get(class_index, 0))))
        parts.append((class_index, sorted(beyond.get(class_index, ()))))
    union = _Metas(generator, seed, parts)
    tally.written = sum(counts.values()) - before
    record = records.get(name)
    if (
        intact
        and record is not None
        and len(listed) == len(union)
        and all(key == (m.class_index, m.index) for key, m in zip(listed, union, strict=True))
    ):
        published([name])
        yield from (_row(name, m, record) for m in union)
        return
    card = generator.card
    _check_space(target, len(union), card.image_size * card.image_size * card.channels)

    def batches() -> Iterator[np.ndarray]:
        done = 0
        for class_index, indices in union.parts:
            for first in range(0, len(indices), batch_size):
                chunk = indices[first : first + batch_size]
                images = generator.generate_indices(class_index, chunk, seed)
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
    published([name])
    yield from (_row(name, m, record) for m in union)
