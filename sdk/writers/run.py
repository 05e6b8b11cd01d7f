"""Write a generation run to an output folder: resumable, atomic, byte-identical on re-run.

Layout of ``<out>`` for a per-image format (PNG, DICOM)::

    .medsynth-run.json            written first: the model sha256, seed and format this folder belongs to
    <class>/<class>_000000.png    one file per image, each written atomically
    manifest.csv                  written last

and for NPZ one ``images.npz`` instead of the class folders. Image ``i`` of class ``c`` is a pure function
of (model, seed, c, i), so a re-run skips the files that exist and writes the same bytes for the rest: a run
killed at any point and re-run ends identical to one that was never interrupted. A folder of another model,
seed or format is refused (one format per folder, so the manifest lists each image once). Nothing is created
before the first batch has been generated and checked, so bad input or a broken model leaves no trace.
"""

from __future__ import annotations

import itertools
import json
import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medsynth._version import __version__
from medsynth.errors import ArgumentError, OutputError
from medsynth.generator import DEFAULT_BATCH_SIZE, Generator
from medsynth.seeding import check_seed
from medsynth.writers._atomic import atomic_write_bytes, remove_stale_temps
from medsynth.writers.base import ContainerWriter, FileWriter, ImageMeta
from medsynth.writers.formats import load_writer
from medsynth.writers.manifest import MANIFEST_NAME, ManifestRow, merge_rows, read_manifest, write_manifest

__all__ = ["RUN_FILE", "RunSummary", "write_run", "image_file_name"]

RUN_FILE = ".medsynth-run.json"
CONTAINER_STEM = "images"
_RUN_SCHEMA = 1


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


def _check_out(out: Path, identity: Mapping[str, object]) -> None:
    """Refuse an output folder that cannot be written or holds another run; writes nothing."""
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
    run_file = out / RUN_FILE
    if not run_file.exists():
        if any(out.iterdir()):
            raise OutputError(f"output folder {out} is not empty and was not written by medsynth; choose an "
                              "empty or new --out")
        return
    try:
        found = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OutputError(f"{run_file} is unreadable ({exc}); choose another --out") from exc
    if not isinstance(found, dict):
        raise OutputError(f"{run_file} is not a medsynth run file; choose another --out")
    for key, what in (("model_sha256", "model"), ("seed", "seed")):
        if found.get(key) != identity[key]:
            raise OutputError(f"output folder {out} holds images of another {what} ({key} "
                              f"{found.get(key)!r}, this run {identity[key]!r}); choose another --out or "
                              f"the same {what}")
    held = _held_format(out, found)
    if held is not None and held != identity["format"]:
        # One format per folder, so that manifest.csv lists every image exactly once.
        raise OutputError(f"output folder {out} holds {held} images; a folder holds one format (its manifest "
                          f"lists each image once): choose another --out for --format {identity['format']}")


def _normalise_plan(generator: Generator, plan: Mapping[str | int, int]) -> list[tuple[int, int]]:
    """Return (class_index, n) pairs in class-index order, dropping zeros."""
    if not plan:
        raise ArgumentError("the plan names no class; give at least one class and a count")
    counts: dict[int, int] = {}
    for cls, n in plan.items():
        index = generator.card.class_index(cls)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ArgumentError(f"the number of images of class {cls!r} must be a non-negative integer, "
                                f"got {n!r}")
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

    def __init__(self, out: Path, identity: Mapping[str, object]) -> None:
        self.out = out
        self.identity = identity
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
                    remove_stale_temps(self.out / name)
                    self.subfolders.add(name)
        except OSError as exc:
            raise OutputError(f"cannot write to output folder {self.out}: {exc.strerror or exc}") from exc


def write_run(generator: Generator, plan: Mapping[str | int, int], out: Path, *, fmt: str = "png",
              seed: int = 0, batch_size: int = DEFAULT_BATCH_SIZE,
              progress: Callable[[int, int], None] | None = None) -> RunSummary:
    """Generate the images of ``plan`` into ``out`` with a manifest, skipping those already there.

    Parameters
    ----------
    generator
        The loaded model.
    plan
        Class (name or index) -> number of images; image indices run from 0 to n - 1 for each class.
    out
        Output folder; created if missing. It must be empty, new, or hold an earlier run of the same model
        and seed.
    fmt
        Output format name (``png``, ``npz``, ``dcm``).
    seed
        Run seed (non-negative).
    batch_size
        Images per inference call; the output does not depend on it.
    progress
        Called as ``progress(done, total)`` after each batch is stored: ``done`` images of the ``total``
        that this call makes (images an earlier run left are not counted); first called once the first
        batch is checked, never when there is nothing to make.

    Returns
    -------
    RunSummary
        Counts and paths.

    Raises
    ------
    ArgumentError
        An empty plan, a negative count, a bad seed or batch size.
    UnknownClassError
        A class the model does not have.
    OutputError
        An output folder that cannot be written, or holds another model's or seed's images; an unknown or
        unavailable format.
    ModelError
        The model returned non-finite values.
    """
    check_seed(seed)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ArgumentError(f"batch_size must be a positive integer, got {batch_size!r}")
    work = _normalise_plan(generator, plan)
    writer = load_writer(fmt)
    identity = _identity(generator, seed, fmt)
    _check_out(out, identity)
    folder = _Folder(out, identity)
    report = progress or (lambda done, total: None)

    metas = [ImageMeta(card=generator.card, class_name=generator.classes[c], class_index=c, seed=seed,
                       index=i, model_sha256=generator.sha256) for c, n in work for i in range(n)]
    if isinstance(writer, FileWriter):
        paths, written = _write_files(generator, writer, metas, folder, batch_size, report)
    else:
        paths, written = _write_container(generator, writer, metas, folder, batch_size, report)

    rows = [ManifestRow(path=path, class_name=m.class_name, class_index=m.class_index, seed=seed,
                        index=m.index, model_sha256=generator.sha256, medsynth_version=__version__)
            for path, m in zip(paths, metas, strict=True)]
    manifest = out / MANIFEST_NAME
    folder.prepare()
    old = read_manifest(manifest) if manifest.exists() else []
    try:
        write_manifest(manifest, merge_rows(old, rows))
    except OSError as exc:
        raise OutputError(f"cannot write manifest {manifest}: {exc.strerror or exc}") from exc
    per_class = {generator.classes[c]: n for c, n in work}
    return RunSummary(out=out, format=fmt, per_class=per_class, written=written, skipped=len(metas) - written,
                      manifest=manifest)


def _store(writer: FileWriter, out: Path, paths: Sequence[str], metas: Sequence[ImageMeta],
           chunk: Sequence[int], images: np.ndarray) -> int:
    """Write the files of one batch; return how many."""
    for k, image in zip(chunk, images, strict=True):
        target = out / paths[k]
        try:
            writer.write(target, image, metas[k])
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return len(chunk)


def _write_files(generator: Generator, writer: FileWriter, metas: Sequence[ImageMeta], folder: _Folder,
                 batch_size: int, report: Callable[[int, int], None]) -> tuple[list[str], int]:
    """Write one file per image; return the manifest paths and how many files were written.

    Encoding and writing a batch runs on one background thread while the next batch is generated (file I/O
    waits and Pillow/zlib release the GIL); at most two batches wait to be written.
    """
    paths = [f"{m.class_name}/{image_file_name(m.class_name, m.index, writer.suffix)}" for m in metas]
    missing = [k for k, path in enumerate(paths) if not (folder.out / path).is_file()]
    done, total = 0, len(missing)
    by_class: dict[int, list[int]] = {}
    for k in missing:
        by_class.setdefault(metas[k].class_index, []).append(k)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="medsynth-writer") as pool:
        pending: deque[Future[int]] = deque()
        try:
            for class_index, ks in by_class.items():
                for chunk in _chunks(ks, batch_size):
                    first = metas[chunk[0]]
                    indices = [metas[k].index for k in chunk]
                    images = generator.generate_indices(class_index, indices, first.seed)
                    folder.prepare([first.class_name])
                    pending.append(pool.submit(_store, writer, folder.out, paths, metas, chunk, images))
                    while len(pending) > 1:
                        done += pending.popleft().result()
                        report(done, total)
            while pending:
                done += pending.popleft().result()
                report(done, total)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return paths, len(missing)


def _write_container(generator: Generator, writer: ContainerWriter, metas: Sequence[ImageMeta],
                     folder: _Folder, batch_size: int,
                     report: Callable[[int, int], None]) -> tuple[list[str], int]:
    """Write all images into one container file unless the same run already wrote it."""
    name = f"{CONTAINER_STEM}{writer.suffix}"
    target = folder.out / name
    paths = [name] * len(metas)
    manifest = folder.out / MANIFEST_NAME
    if target.is_file() and manifest.is_file():
        listed = [(r.class_index, r.index) for r in read_manifest(manifest) if r.path == name]
        if listed == [(m.class_index, m.index) for m in metas]:
            return paths, 0

    def batches() -> Iterator[np.ndarray]:
        done = 0
        for chunk in _chunks(range(len(metas)), batch_size):
            # A chunk may span two classes; generate each class's part separately.
            parts = []
            for class_index in dict.fromkeys(metas[k].class_index for k in chunk):
                ks = [k for k in chunk if metas[k].class_index == class_index]
                parts.append(generator.generate_indices(class_index, [metas[k].index for k in ks],
                                                        metas[ks[0]].seed))
            images = np.concatenate(parts) if len(parts) > 1 else parts[0]
            folder.prepare()
            yield images
            done += len(chunk)
            report(done, len(metas))

    stream = batches()
    first = next(stream)  # generated and checked before the folder or any temp file exists
    try:
        writer.write_all(target, metas, itertools.chain([first], stream))
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return paths, len(metas)
