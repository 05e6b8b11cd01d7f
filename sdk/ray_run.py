"""Generation on a Ray cluster: the same files and manifest as :func:`medsynth.writers.run.write_run`.

>>> from medsynth.ray_run import write_run_on_ray
>>> write_run_on_ray("model.onnx", {"melanoma": 100000}, "/shared/synth", address="auto")  # doctest: +SKIP

Work is cut into (class, index range) items, one inference batch each, and spread over a pool of Ray
*actors*: an actor loads the model once (its bytes come through the object store, and the actor checks
their sha256 against the driver's) and serves many items, where a Ray task would load the model for every
item. Ray Data's ``map_batches`` would do the same with pandas and pyarrow as extra dependencies and nothing
this needs. Each actor runs onnxruntime with as many threads as the CPUs Ray reserved for it.

* ``png`` and ``dcm``: actors write each file atomically (temp file, then rename) straight into ``out``,
  which must therefore be storage that every node and the driver see at the same path (NFS, a shared
  volume); a file the driver cannot see afterwards is an error. Then the driver runs the one-process
  :func:`~medsynth.writers.run.write_run`, which finds every file present and writes the manifest last, so
  the folder is byte-identical to a one-process run by construction.
* ``npz``: actors return the images through the object store and the driver streams them, in order, into
  ``images.npz`` through the same ``write_run``; ``out`` need only be the driver's.

Image ``i`` of class ``c`` is a pure function of (model, seed, c, i) (:mod:`medsynth.seeding`), so which
actor makes it does not matter. An actor that dies is restarted by Ray and its pending items retried;
a run that stops anyway is resumed by running it again (finished files are skipped).

``import medsynth`` never imports this module or ray; ``pip install "medsynth[ray]"`` provides ray.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medsynth._extras import require
from medsynth.errors import ArgumentError, ModelError, OutputError
from medsynth.generator import DEFAULT_BATCH_SIZE, Generator
from medsynth.writers._atomic import atomic_write_bytes
from medsynth.writers.base import FileWriter, ImageMeta
from medsynth.writers.formats import load_writer
from medsynth.writers.run import RunSummary, image_file_name, write_run

__all__ = ["write_run_on_ray"]

_RETRIES = 3  # restarts of a dead actor, and retries of the items it held


@dataclass(frozen=True)
class _Item:
    """Images ``start .. stop - 1`` of one class."""

    class_index: int
    start: int
    stop: int


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
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
        self.threads = max(1, int(cpus))
        self.generator = Generator.load(path, device=device, threads=self.threads)
        if self.generator.sha256 != sha256:
            raise ModelError(f"the model a Ray worker received has sha256 {self.generator.sha256}, the "
                             f"driver's has {sha256}; the transfer is damaged, run again")

    def images(self, item: _Item, seed: int) -> np.ndarray:
        return self.generator.generate_indices(item.class_index, range(item.start, item.stop), seed)

    def write(self, item: _Item, seed: int, out: str, fmt: str) -> int:
        """Write the item's missing files into ``out``; return how many were written."""
        writer = load_writer(fmt)
        assert isinstance(writer, FileWriter)
        gen = self.generator
        name = gen.classes[item.class_index]
        folder = Path(out) / name
        folder.mkdir(parents=True, exist_ok=True)
        missing = [i for i in range(item.start, item.stop)
                   if not (folder / image_file_name(name, i, writer.suffix)).is_file()]
        if not missing:
            return 0
        images = gen.generate_indices(item.class_index, missing, seed)
        for i, image in zip(missing, images, strict=True):
            meta = ImageMeta(card=gen.card, class_name=name, class_index=item.class_index, seed=seed, index=i,
                             model_sha256=gen.sha256)
            writer.write(folder / image_file_name(name, i, writer.suffix), image, meta)
        return len(missing)


class _Pool:
    """Items handed to idle actors, at most ``2 * actors`` in flight; results in submission order."""

    def __init__(self, ray: Any, actors: list[Any], call: Callable[[Any, _Item], Any]) -> None:
        self.ray, self.call = ray, call
        self.idle = deque(actors)
        self.capacity = 2 * len(actors)

    def run(self, items: Iterable[_Item]) -> Iterable[tuple[_Item, Any]]:
        """Yield (item, result) in the order of ``items``."""
        pending: deque[tuple[_Item, Any, Any]] = deque()
        for item in items:
            if len(pending) >= self.capacity:
                yield self._finish(pending)
            actor = self.idle[0]
            self.idle.rotate(-1)
            pending.append((item, actor, self.call(actor, item)))
        while pending:
            yield self._finish(pending)

    def _finish(self, pending: deque[tuple[_Item, Any, Any]]) -> tuple[_Item, Any]:
        item, _, ref = pending.popleft()
        return item, self.ray.get(ref)


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
                    zip(range(item.start, item.stop), images, strict=True))
            if queue[0][0] != i:
                raise RuntimeError(f"image {i} of class {class_index} was not among the Ray results")
            out.append(queue.popleft()[1])
        if not out:
            return super().generate_indices(cls, [], seed)
        return np.stack(out)


def _items(plan: Mapping[int, int], batch_size: int, done: Callable[[_Item], bool]) -> list[_Item]:
    """The work items of ``plan`` (class index -> n), one batch each, in class-index order; not the done."""
    items = []
    for class_index, n in sorted(plan.items()):
        for start in range(0, n, batch_size):
            item = _Item(class_index, start, min(start + batch_size, n))
            if not done(item):
                items.append(item)
    return items


def _check_reachable(address: str) -> None:
    """Fail fast on a ``host:port`` or ``ray://host:port`` that nothing listens on (ray.init would wait)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ArgumentError(f"--ray {address!r} is not auto, host:port or ray://host:port")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as exc:
        raise ArgumentError(f"cannot connect to the Ray cluster at {address!r} ({exc.strerror or exc}); "
                            "start one with 'ray start --head' or check the address") from exc


def _connect(ray: Any, address: str | None) -> None:
    if ray.is_initialized():
        return
    if address not in (None, "auto", "local"):
        _check_reachable(str(address))
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise ArgumentError(f"cannot connect to the Ray cluster at {address!r} ({exc}); start one with "
                            "'ray start --head' or pass --ray host:port or ray://host:port") from exc


def write_run_on_ray(model: str | os.PathLike[str] | Generator | None, plan: Mapping[str | int, int],
                     out: str | os.PathLike[str], *, address: str | None = "auto", fmt: str = "png",
                     seed: int = 0, batch_size: int = DEFAULT_BATCH_SIZE, workers: int | None = None,
                     cpus_per_worker: int = 1, device: str = "cpu",
                     progress: Callable[[int, int], None] | None = None) -> RunSummary:
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

    Returns
    -------
    RunSummary
        As ``write_run`` returns it; ``written`` counts the images the actors made.

    Raises
    ------
    MissingExtraError
        ray is not installed.
    ArgumentError
        No cluster at ``address``, or bad ``workers`` / ``cpus_per_worker``; and as ``write_run``.
    OutputError
        As ``write_run``, and a file an actor wrote that the driver cannot see (``out`` is not shared).
    ModelError, UnknownClassError
        As ``write_run``; a model whose bytes arrive damaged at an actor.
    """
    for name, value in (("workers", workers), ("cpus_per_worker", cpus_per_worker)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise ArgumentError(f"{name} must be a positive integer, got {value!r}")
    ray = _ray()
    local = model if isinstance(model, Generator) else Generator.load(model, device="cpu", threads=1)
    out = Path(out)
    writer = load_writer(fmt)
    counts = {local.card.class_index(cls): n for cls, n in plan.items()}
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ArgumentError(f"batch_size must be a positive integer, got {batch_size!r}")
    per_image = isinstance(writer, FileWriter)
    _connect(ray, address)  # before anything is written: a wrong address leaves no trace
    if per_image:
        # Checks the folder, the seed, the plan and the model on the driver, and creates the folder and its
        # run file, before any actor writes: the first image of the run, by the one-process code.
        first = min((c for c, n in counts.items() if isinstance(n, int) and n > 0), default=None)
        if first is None:
            return write_run(local, plan, out, fmt=fmt, seed=seed, batch_size=batch_size)
        boot = write_run(local, {first: 1}, out, fmt=fmt, seed=seed, batch_size=1)

    gpus = 1 if device == "cuda" else 0
    if workers is None:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)) // cpus_per_worker)
    actor_class = ray.remote(num_cpus=cpus_per_worker, num_gpus=gpus, max_restarts=_RETRIES,
                             max_task_retries=_RETRIES)(_Worker)
    model_ref = ray.put(local.path.read_bytes())
    # The reference travels inside a list, so that Ray hands it over instead of the bytes and a restarted
    # actor can fetch them again while the driver holds the reference.
    actors = [actor_class.remote([model_ref], local.path.name, local.sha256, device) for _ in range(workers)]
    try:
        if per_image:
            summary = _files(ray, actors, local, plan, counts, out, fmt, seed, batch_size, progress,
                             boot.written)
            return RunSummary(out=summary.out, format=summary.format, per_class=summary.per_class,
                              written=summary.written + boot.written,
                              skipped=summary.skipped - boot.written, manifest=summary.manifest)
        pool = _Pool(ray, actors, lambda actor, item: actor.images.remote(item, seed))
        results = pool.run(_items(counts, batch_size, lambda item: False))
        return write_run(_RayImages(local, results), plan, out, fmt=fmt, seed=seed, batch_size=batch_size,
                         progress=progress)
    finally:
        for actor in actors:
            ray.kill(actor)


def _files(ray: Any, actors: list[Any], local: Generator, plan: Mapping[str | int, int],
           counts: Mapping[int, int], out: Path, fmt: str, seed: int, batch_size: int,
           progress: Callable[[int, int], None] | None, booted: int) -> RunSummary:
    """Per-image formats: the actors write the files; ``write_run`` then finds them, writes the manifest.

    ``booted`` images were written by the driver's first ``write_run``; they count as made by this call.
    """
    writer = load_writer(fmt)

    def present(class_index: int, index: int) -> bool:
        name = local.classes[class_index]
        return (out / name / image_file_name(name, index, writer.suffix)).is_file()

    items = _items(counts, batch_size, lambda item: all(present(item.class_index, i)
                                                        for i in range(item.start, item.stop)))
    # Only the images this call makes count, as in write_run: those missing now, and the driver's first.
    total = booted + sum(1 for item in items for i in range(item.start, item.stop)
                         if not present(item.class_index, i))
    report = progress or (lambda done, total: None)
    done = booted
    if done:
        report(done, total)
    pool = _Pool(ray, actors, lambda actor, item: actor.write.remote(item, seed, str(out), fmt))
    written = 0
    for _, count in pool.run(items):
        written += count
        done += count
        report(done, total)
    missing = [(c, i) for c, n in counts.items() for i in range(n) if not present(c, i)]
    if missing:
        c, i = missing[0]
        example = f"{local.classes[c]}/{image_file_name(local.classes[c], i, writer.suffix)}"
        raise OutputError(f"{len(missing)} images the Ray workers wrote are not in {out} as the driver sees "
                          f"it (e.g. {example}); "
                          "--out must be storage shared by every node, or use --format npz")
    summary = write_run(local, plan, out, fmt=fmt, seed=seed, batch_size=batch_size)
    return RunSummary(out=summary.out, format=summary.format, per_class=summary.per_class, written=written,
                      skipped=summary.total - written, manifest=summary.manifest)
