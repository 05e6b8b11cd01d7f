"""Generation on a Ray cluster: the same files and manifest as :func:`medsynth.writers.run.write_run`.

>>> from medsynth.ray_run import write_run_on_ray
>>> write_run_on_ray("model.onnx", {"melanoma": 100000}, "/shared/synth", address="auto")  # doctest: +SKIP

Work is cut into (class, image indices) items, one inference batch each, and spread over a pool of Ray
*actors*: an actor loads the model once (its bytes come through the object store, and the actor checks
their sha256 against the driver's) and serves many items, where a Ray task would load the model for every
item. Ray Data's ``map_batches`` would do the same with pandas and pyarrow as extra dependencies and nothing
this needs. Each actor runs onnxruntime with as many threads as the CPUs Ray reserved for it.

* ``png`` and ``dcm``: the driver holds the folder's run lock for the whole run (one writer, as for
  ``write_run``). It writes the run file and the first image with ``write_run``, works out which files are
  missing or fail their recorded size and sha256 (the manifest, or the journal of a killed run), and hands
  those to the actors. Actors write each file atomically straight into ``out``, which must therefore be
  storage that every node and the driver see at the same path (NFS, a shared volume), and return each file's
  size and sha256; the driver appends them to the run's journal as they arrive, exactly as a one-process run
  journals its own files. Then ``write_run`` runs once more under the same lock: it verifies every file
  against the journal, finds nothing to make, writes the manifest last and removes the journal. The folder
  is byte-identical to a one-process run, and a run killed at any point resumes from what it had finished.
* ``npz``: actors return the images through the object store and the driver streams them, in order, into
  ``images.npz`` through the same ``write_run``; ``out`` need only be the driver's.

Image ``i`` of class ``c`` is a pure function of (model, seed, c, i) (:mod:`medsynth.seeding`), so which
actor makes it does not matter. An actor that dies is restarted by Ray and its pending items retried;
a run that stops anyway is resumed by running it again (verified files are kept).

``import medsynth`` never imports this module or ray; ``pip install "medsynth[ray]"`` provides ray.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medsynth._checks import MAX_BATCH_SIZE, MAX_COUNT, MAX_INDEX, check_int
from medsynth._extras import require
from medsynth._onnx_files import file_sha256
from medsynth.errors import ArgumentError, MedsynthError, ModelError, OutputError
from medsynth.generator import DEFAULT_BATCH_SIZE, Generator
from medsynth.seeding import check_seed
from medsynth.writers._atomic import (
    atomic_batch,
    atomic_write_bytes,
    fsync_folder,
    remove_stale_temps,
    write_options,
)
from medsynth.writers._journal import FileRecord, Journal, read_journal
from medsynth.writers._lock import run_lock
from medsynth.writers.base import FileWriter, ImageMeta
from medsynth.writers.formats import load_writer
from medsynth.writers.manifest import MANIFEST_NAME, read_manifest
from medsynth.writers.run import RunSummary, image_file_name, write_run

__all__ = ["write_run_on_ray"]

_RETRIES = 3  # restarts of a dead actor, and retries of the items it held


@dataclass(frozen=True)
class _Item:
    """Some images of one class: one inference batch."""

    class_index: int
    indices: tuple[int, ...]


def _ray() -> Any:
    return require("ray", "ray", "generation on Ray")


class _Worker:
    """One Ray actor: the model loaded once, then items generated (and, for per-image formats, written)."""

    def __init__(self, model: list[Any], name: str, sha256: str, device: str) -> None:
        import ray

        # one copy per model and node, named by its sha256 (a restarted actor fetches the bytes again)
        folder = Path(tempfile.gettempdir()) / f"medsynth-ray-{sha256[:16]}"
        folder.mkdir(exist_ok=True)
        path = folder / name
        atomic_write_bytes(path, ray.get(model[0]))
        # ray leaves get_assigned_resources unannotated; the ignore is unused where ray is not installed
        resources = ray.get_runtime_context().get_assigned_resources()  # type: ignore[no-untyped-call, unused-ignore]
        cpus = resources.get("CPU", 1.0)
        self.threads = max(1, int(cpus))
        self.generator = Generator.load(path, device=device, threads=self.threads)
        if self.generator.sha256 != sha256:
            raise ModelError(
                f"the model a Ray worker received has sha256 {self.generator.sha256}, the "
                f"driver's has {sha256}; the transfer is damaged, run again"
            )

    def images(self, item: _Item, seed: int) -> np.ndarray:
        return self.generator.generate_indices(item.class_index, item.indices, seed)

    def write(
        self, item: _Item, seed: int, out: str, fmt: str, run_id: str, fsync: bool
    ) -> list[tuple[str, int, str]]:
        """Write the item's files into ``out`` (replacing any); return (path, size, sha256) of each."""
        writer = load_writer(fmt)
        if not isinstance(writer, FileWriter):
            raise OutputError(f"format {fmt!r} does not write one file per image")
        gen = self.generator
        name = gen.classes[item.class_index]
        images = gen.generate_indices(item.class_index, item.indices, seed)
        records = []
        path = f"{name}/"
        # The driver's run id in temp names; the item's files are published together (one folder fsync)
        # before the driver journals them, as write_run does with a batch.
        with write_options(run_id=run_id, fsync=fsync):
            try:
                with atomic_batch() as batch:
                    for i, image in zip(item.indices, images, strict=True):
                        meta = ImageMeta(
                            card=gen.card,
                            class_name=name,
                            class_index=item.class_index,
                            seed=seed,
                            index=i,
                            model_sha256=gen.sha256,
                        )
                        path = f"{name}/{image_file_name(name, i, writer.suffix)}"
                        data = writer.write(Path(out) / path, image, meta, batch=batch)
                        records.append((path, len(data), hashlib.sha256(data).hexdigest()))
            except OSError as exc:
                raise OutputError(
                    f"a Ray worker on {socket.gethostname()} cannot write {out}/{path}: "
                    f"{exc.strerror or exc}; --out must be storage shared by every "
                    "node"
                ) from exc
        return records


class _Pool:
    """Items handed to the actors in turn, at most ``2 * actors`` in flight; results in submission order.

    ``timeout_s`` bounds the wait for any one item (None: no bound); a worker's MedsynthError is raised as
    itself.
    """

    def __init__(
        self, ray: Any, actors: list[Any], call: Callable[[Any, _Item], Any], timeout_s: float | None
    ) -> None:
        self.ray, self.call, self.timeout_s = ray, call, timeout_s
        self.actors = deque(actors)
        self.capacity = 2 * len(actors)

    def run(self, items: Iterable[_Item]) -> Iterable[tuple[_Item, Any]]:
        """Yield (item, result) in the order of ``items``."""
        pending: deque[tuple[_Item, Any]] = deque()
        for item in items:
            if len(pending) >= self.capacity:
                yield self._finish(pending)
            actor = self.actors[0]
            self.actors.rotate(-1)
            pending.append((item, self.call(actor, item)))
        while pending:
            yield self._finish(pending)

    def _finish(self, pending: deque[tuple[_Item, Any]]) -> tuple[_Item, Any]:
        item, ref = pending.popleft()
        try:
            return item, self.ray.get(ref, timeout=self.timeout_s)
        except self.ray.exceptions.GetTimeoutError:
            raise MedsynthError(
                f"a Ray worker took more than {self.timeout_s} s over {len(item.indices)} "
                f"images of class index {item.class_index}; the cluster may lack free CPUs "
                "(see 'ray status'). Run again to resume"
            ) from None
        except self.ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, MedsynthError):
                raise exc.cause from None
            raise


class _RayImages(Generator):
    """The driver's generator whose images come from the Ray actors, in the order ``write_run`` asks."""

    def __init__(self, local: Generator, results: Iterable[tuple[_Item, Any]]) -> None:
        super().__init__(local._session, local.card, local.path, local.sha256)
        self._results = iter(results)
        self._rows: dict[int, deque[tuple[int, np.ndarray]]] = {}

    def generate_indices(self, cls: str | int, indices: Iterable[int], seed: int = 0) -> np.ndarray:
        class_index = self.card.class_index(cls)
        wanted = [int(i) for i in indices]
        queue = self._rows.setdefault(class_index, deque())
        out = []
        for i in wanted:
            while not queue or queue[0][0] < i:
                if queue:
                    queue.popleft()
                    continue
                item, images = next(self._results)
                self._rows.setdefault(item.class_index, deque()).extend(
                    zip(item.indices, images, strict=True)
                )
            if queue[0][0] != i:
                raise RuntimeError(f"image {i} of class {class_index} was not among the Ray results")
            out.append(queue.popleft()[1])
        if not out:
            return super().generate_indices(cls, [], seed)
        return np.stack(out)


def _items(todo: Mapping[int, Sequence[int]], batch_size: int) -> list[_Item]:
    """The work items of ``todo`` (class index -> image indices), one batch each, in class-index order."""
    return [
        _Item(class_index, tuple(indices[first : first + batch_size]))
        for class_index, indices in sorted(todo.items())
        for first in range(0, len(indices), batch_size)
    ]


def _check_reachable(address: str) -> None:
    """Fail fast on a ``host:port`` or ``ray://host:port`` that nothing listens on (ray.init would wait)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ArgumentError(f"--ray {address!r} is not auto, host:port or ray://host:port")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as exc:
        raise ArgumentError(
            f"cannot connect to the Ray cluster at {address!r} ({exc.strerror or exc}); "
            "start one with 'ray start --head' or check the address"
        ) from exc


def _connect(ray: Any, address: str | None) -> None:
    if ray.is_initialized():
        return
    if address not in (None, "auto", "local"):
        _check_reachable(str(address))
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise ArgumentError(
            f"cannot connect to the Ray cluster at {address!r} ({exc}); start one with "
            "'ray start --head' or pass --ray host:port or ray://host:port"
        ) from exc


def _start_actors(
    ray: Any, local: Generator, workers: int | None, cpus_per_worker: int, device: str
) -> list[Any]:
    gpus = 1 if device == "cuda" else 0
    if workers is None:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)) // cpus_per_worker)
    actor_class = ray.remote(
        num_cpus=cpus_per_worker, num_gpus=gpus, max_restarts=_RETRIES, max_task_retries=_RETRIES
    )(_Worker)
    model_ref = ray.put(local.path.read_bytes())
    # The reference travels inside a list, so that Ray hands it over instead of the bytes and a restarted
    # actor can fetch them again while the driver holds the reference (through the actors' arguments).
    return [actor_class.remote([model_ref], local.path.name, local.sha256, device) for _ in range(workers)]


def _verified(path: Path, record: FileRecord | None) -> bool:
    """Whether ``path`` is a regular file with the recorded size and sha256 (as ``write_run`` checks)."""
    if record is None or path.is_symlink() or not path.is_file():
        return False
    try:
        return path.stat().st_size == record[0] and file_sha256(path) == record[1]
    except OSError:
        return False


def write_run_on_ray(
    model: str | os.PathLike[str] | Generator | None,
    plan: Mapping[str | int, int],
    out: str | os.PathLike[str],
    *,
    address: str | None = "auto",
    fmt: str = "png",
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    cpus_per_worker: int = 1,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
    wait: bool = False,
    fsync: bool = True,
    item_timeout_s: float | None = None,
) -> RunSummary:
    """Generate ``plan`` into ``out`` on a Ray cluster; the result is that of :func:`write_run`.

    Parameters
    ----------
    model
        A loaded :class:`Generator`, a bundled model name, a path, or ``None`` for the default model.
    plan
        Class (name or index) -> number of images, as for :func:`~medsynth.writers.run.write_run`.
    out
        Output folder. For ``png`` and ``dcm`` it must be shared storage that the driver and every Ray node
        see at the same path.
    address
        The cluster: ``"auto"`` (the one ``ray start`` runs on this machine), ``"host:port"``,
        ``"ray://host:port"`` (Ray Client), or ``None`` (a new local one). Ignored when ``ray.init`` was
        called already.
    fmt
        ``png``, ``npz`` or ``dcm``.
    seed, batch_size
        As for ``write_run``; one work item is one batch.
    workers
        Actors to start (default: as many as the cluster's CPUs allow at ``cpus_per_worker`` each).
    cpus_per_worker
        CPUs Ray reserves for each actor; also its onnxruntime thread count.
    device
        Device of the actors' sessions (``cpu``, ``cuda``, ``auto``); with ``cuda`` each actor reserves a GPU.
    progress
        Called on the driver as ``progress(done, total)``, over the images this call makes (as for
        ``write_run``: images an earlier run left are not counted).
    wait, fsync
        As for ``write_run``: wait for another run that holds ``out``; fsync files before publishing them.
    item_timeout_s
        Give up when one work item (a batch, including the start of the actor that serves it) takes longer
        than this many seconds; ``None``: wait as long as it takes.

    Returns
    -------
    RunSummary
        As ``write_run`` returns it; ``written`` counts the images made by this call.

    Raises
    ------
    MissingExtraError
        ray is not installed.
    ArgumentError
        No cluster at ``address``, or bad ``workers`` / ``cpus_per_worker`` / ``item_timeout_s``; and as
        ``write_run``.
    OutputError
        As ``write_run``, and a file an actor wrote that the driver cannot see (``out`` is not shared).
    ModelError, UnknownClassError
        As ``write_run``; a model whose bytes arrive damaged at an actor.
    MedsynthError
        A work item took longer than ``item_timeout_s``.
    """
    for name, value in (("workers", workers), ("cpus_per_worker", cpus_per_worker)):
        if value is not None:
            check_int(name, value, low=1, high=MAX_COUNT)
    if item_timeout_s is not None and (
        isinstance(item_timeout_s, bool)
        or not isinstance(item_timeout_s, (int, float))
        or not item_timeout_s > 0
    ):
        raise ArgumentError(f"item_timeout_s must be a positive number of seconds, got {item_timeout_s!r}")
    ray = _ray()
    local = model if isinstance(model, Generator) else Generator.load(model, device="cpu", threads=1)
    out = Path(out)
    writer = load_writer(fmt)
    check_seed(seed)
    batch_size = check_int("batch_size", batch_size, low=1, high=MAX_BATCH_SIZE)
    counts = {
        local.card.class_index(cls): check_int(
            f"the number of images of class {str(cls)[:80]!r}", n, low=0, high=MAX_INDEX
        )
        for cls, n in plan.items()
    }
    first = min((c for c, n in counts.items() if n > 0), default=None)
    if first is None or len(counts) < len(plan):  # no images, or a class twice: write_run says so
        return write_run(local, plan, out, fmt=fmt, seed=seed, batch_size=batch_size, wait=wait, fsync=fsync)
    _connect(ray, address)  # before anything is written: a wrong address leaves no trace
    if not isinstance(writer, FileWriter):
        actors = _start_actors(ray, local, workers, cpus_per_worker, device)
        try:
            pool = _Pool(ray, actors, lambda actor, item: actor.images.remote(item, seed), item_timeout_s)
            todo = {c: range(n) for c, n in counts.items() if n > 0}
            return write_run(
                _RayImages(local, pool.run(_items(todo, batch_size))),
                plan,
                out,
                fmt=fmt,
                seed=seed,
                batch_size=batch_size,
                progress=progress,
                wait=wait,
                fsync=fsync,
            )
        finally:
            for actor in actors:
                ray.kill(actor)
    with run_lock(out, wait=wait, reentrant=True) as lock:  # one writer for the whole run, lent to write_run
        return _files(
            ray,
            local,
            plan,
            counts,
            first,
            out,
            fmt,
            seed,
            batch_size,
            progress,
            fsync,
            lock.run_id,
            lambda: _start_actors(ray, local, workers, cpus_per_worker, device),
            item_timeout_s,
        )


def _files(
    ray: Any,
    local: Generator,
    plan: Mapping[str | int, int],
    counts: Mapping[int, int],
    first: int,
    out: Path,
    fmt: str,
    seed: int,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
    fsync: bool,
    run_id: str,
    start_actors: Callable[[], list[Any]],
    item_timeout_s: float | None,
) -> RunSummary:
    """Per-image formats, under the run lock: the actors write the files, the driver journals them, then
    ``write_run`` verifies them and writes the manifest."""
    earlier = read_journal(out)  # a killed run's records: the first write_run below removes the journal
    # The first image by the one-process code: it checks the folder, seed, plan and model, creates the
    # folder and its run file, and writes a manifest of what the folder holds, before any actor writes.
    boot = write_run(local, {first: 1}, out, fmt=fmt, seed=seed, batch_size=1, fsync=fsync)
    suffix = load_writer(fmt).suffix
    manifest = out / MANIFEST_NAME
    records = {row.path: (row.size, row.sha256) for row in read_manifest(manifest) if row.sha256}
    records.update(earlier)
    journal = Journal(out)
    todo: dict[int, list[int]] = {}
    try:
        for c, n in sorted(counts.items()):
            name = local.classes[c]
            for i in range(n):
                path = f"{name}/{image_file_name(name, i, suffix)}"
                if _verified(out / path, records.get(path)):
                    if path in earlier:
                        journal.add(path, *records[path])  # kept for the next run if this one is killed
                else:
                    todo.setdefault(c, []).append(i)
        journal.flush()
        total = boot.written + sum(len(indices) for indices in todo.values())
        report = progress or (lambda done, total: None)
        done = boot.written
        if done:
            report(done, total)
        made: list[tuple[str, int, str]] = []
        if todo:
            try:
                for c in todo:  # the class folders, and no temp files of a killed run in them
                    (out / local.classes[c]).mkdir(exist_ok=True)
                    remove_stale_temps(out / local.classes[c])
                if fsync:
                    fsync_folder(out)
            except OSError as exc:
                raise OutputError(f"cannot write to output folder {out}: {exc.strerror or exc}") from exc
            actors = start_actors()
            try:
                pool = _Pool(
                    ray,
                    actors,
                    lambda actor, item: actor.write.remote(item, seed, str(out), fmt, run_id, fsync),
                    item_timeout_s,
                )
                for _, batch in pool.run(_items(todo, batch_size)):
                    for path, size, sha256 in batch:
                        journal.add(path, size, sha256)
                    journal.flush()
                    made.extend(batch)
                    done += len(batch)
                    report(done, total)
            finally:
                for actor in actors:
                    ray.kill(actor)
    finally:
        journal.close(remove=False)
    unseen = [path for path, size, _ in made if not _visible(out / path, size)]
    if unseen:
        raise OutputError(
            f"{len(unseen)} images the Ray workers wrote are not in {out} as the driver sees "
            f"it (e.g. {unseen[0]}); --out must be storage shared by every node, or use "
            "--format npz"
        )
    # Every file is in the journal now: write_run verifies them all, makes none, writes the manifest last.
    summary = write_run(local, plan, out, fmt=fmt, seed=seed, batch_size=batch_size, fsync=fsync)
    written = boot.written + len(made) + summary.written
    return RunSummary(
        out=summary.out,
        format=summary.format,
        per_class=summary.per_class,
        written=written,
        skipped=summary.total - written,
        manifest=summary.manifest,
    )


def _visible(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except OSError:
        return False
