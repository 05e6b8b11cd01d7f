"""PNG writing against generation, on one machine in one run (issue 16 item 2: PNG adds at most 25%).

What it measures, for a bundled model's images (``medsynth.Generator``, no torch):

1. **Encode.** Time and size per image of ``PngWriter(compression=L).encode`` (medsynth's encoder: Paeth
   rows, ISA-L at 1-3, zlib at 0 and 4-9, with the text chunks) for every level 0-9, and of the peers Pillow
   (levels 1 and 6, no text chunks) and fpng (PyPI ``fpng``, if it imports: RGB only, no text chunks);
   each against level 6 and against the inference time per image measured in the same run.
2. **End to end.** ``write_run`` (what ``medsynth generate`` runs; fsync on, as the CLI's default) for
   ``--format npz`` (the peer), ``--format png`` at the default level and at level 6, and at the default
   level with the writer thread at the inference threads' priority (``_WRITER_NICENESS = 0``), and png and npz
   with onnxruntime's intra-op threads not spinning between ops (``_INTRA_OP_SPINNING = False``); the ratio of
   each to npz and to pure inference of the same images. The goal is png / npz <= 1.25. With fsync on, three
   rows say how much of the rest is the disk: the batch made durable by an fsync per file (8 in flight)
   instead of one ``syncfs`` (what medsynth does off Linux >= 5.8), every file committed alone (file fsync,
   rename, folder fsync: medsynth before group commit), and ``--no-fsync``.

Each figure is the best of ``--repeats``. Run it on an idle machine:

    python benchmarks/png_bench.py                      # isic2017-64, 512 images to encode, 3000 end to end
    python benchmarks/png_bench.py --model isic2017-128
    python benchmarks/png_bench.py --quick              # tiny sizes: checks that it works, measures nothing
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

import medsynth._session as session_module
import medsynth.writers._atomic as _atomic
import medsynth.writers.run as run_module
from medsynth import Generator
from medsynth.writers.base import ImageMeta
from medsynth.writers.png import DEFAULT_PNG_COMPRESSION, PngWriter
from medsynth.writers.run import write_run


def best_of(repeats: int, action: Callable[[], object]) -> float:
    """The shortest wall time of ``repeats`` calls of ``action``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def images_of(gen: Generator, n: int, seed: int) -> tuple[np.ndarray, list[ImageMeta]]:
    """``n`` images spread over the model's classes, with their metas."""
    per_class = [n // len(gen.classes) + (k < n % len(gen.classes)) for k in range(len(gen.classes))]
    images, metas = [], []
    for class_index, count in enumerate(per_class):
        if count:
            images.append(gen.generate_indices(class_index, range(count), seed))
            metas += [
                ImageMeta(
                    card=gen.card,
                    class_name=gen.classes[class_index],
                    class_index=class_index,
                    seed=seed,
                    index=i,
                    model_sha256=gen.sha256,
                )
                for i in range(count)
            ]
    return np.concatenate(images), metas


def fpng_encoder() -> Callable[[np.ndarray], bytes] | None:
    """fpng's encoder of one (H, W, C) uint8 image, or None when fpng does not import."""
    try:
        import fpng  # type: ignore[import-not-found]
    except ImportError:
        return None

    def encode(image: np.ndarray) -> bytes:
        pixels = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image  # fpng writes RGB(A) only
        h, w, c = pixels.shape
        return bytes(fpng.from_bytes(np.ascontiguousarray(pixels).tobytes(), w, h, c))

    return encode


def pillow_png(image: np.ndarray, level: int) -> bytes:
    """Pillow's PNG of one image at a zlib level (adaptive filters), without text chunks."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).save(
        buffer, format="PNG", compress_level=level, optimize=False
    )
    return buffer.getvalue()


def encode_table(gen: Generator, n: int, repeats: int, batch_size: int) -> None:
    images, metas = images_of(gen, n, seed=0)
    infer = (
        best_of(
            repeats,
            lambda: [
                gen.generate_indices(0, range(k, min(k + batch_size, n)), 1) for k in range(0, n, batch_size)
            ],
        )
        / n
    )
    rows: list[tuple[str, float, float]] = []
    for level in range(10):
        writer = PngWriter(compression=level)
        sizes = [len(writer.encode(image, meta)) for image, meta in zip(images, metas, strict=True)]
        seconds = (
            best_of(repeats, lambda w=writer: [w.encode(im, m) for im, m in zip(images, metas, strict=True)])
            / n
        )
        rows.append(
            (
                f"medsynth {level}" + (" (default)" if level == DEFAULT_PNG_COMPRESSION else ""),
                seconds,
                float(np.mean(sizes)),
            )
        )
    for level in (1, 6):  # the peer: Pillow, what medsynth wrote with before its own encoder
        sizes = [len(pillow_png(image, level)) for image in images]
        seconds = best_of(repeats, lambda lv=level: [pillow_png(im, lv) for im in images]) / n
        rows.append((f"pillow {level} (peer)", seconds, float(np.mean(sizes))))
    fpng = fpng_encoder()
    if fpng is not None:
        sizes = [len(fpng(image)) for image in images]
        seconds = best_of(repeats, lambda: [fpng(im) for im in images]) / n
        rows.append(("fpng (no text chunks)", seconds, float(np.mean(sizes))))
    base_time, base_size = rows[6][1], rows[6][2]
    raw = images[0].size
    print(
        f"\n## Encode, {gen.card.name} ({gen.card.image_size} px, {gen.card.channels} ch), {n} images, "
        f"best of {repeats}; inference {infer * 1e3:.3f} ms/image (batch {batch_size}), raw {raw} B/image"
    )
    print(
        f"{'encoder':<24}{'ms/image':>10}{'x level 6':>11}{'x infer':>9}{'KB/image':>10}{'x raw':>8}"
        f"{'x level 6 size':>16}"
    )
    for name, seconds, size in rows:
        print(
            f"{name:<24}{seconds * 1e3:>10.3f}{seconds / base_time:>11.2f}{seconds / infer:>9.2f}"
            f"{size / 1024:>10.2f}{size / raw:>8.3f}{size / base_size:>16.3f}"
        )
    if fpng is None:
        print("fpng: not installed (pip install fpng), not measured")


class _PerFileBatch:
    """Stands in for ``atomic_batch``'s batch: publishes each file at once with ``atomic_write_bytes`` (file
    fsync, rename, folder fsync: medsynth before group commit), so the benchmark can time that peer."""

    def write_bytes(self, path: Path, data: bytes) -> None:
        _atomic.atomic_write_bytes(path, data)


@contextmanager
def _per_file_batch() -> Iterator[_PerFileBatch]:
    yield _PerFileBatch()


@contextmanager
def _patched(module: object, **values: object) -> Iterator[None]:
    saved = {name: getattr(module, name) for name in values}
    for name, value in values.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


def end_to_end_table(
    gen: Generator, n: int, repeats: int, batch_size: int, fsync: bool, threads: int | None
) -> None:
    plan = {name: n // len(gen.classes) + (k < n % len(gen.classes)) for k, name in enumerate(gen.classes)}
    root = Path(tempfile.mkdtemp(prefix="png-bench-"))
    with _patched(session_module, _INTRA_OP_SPINNING=False):
        no_spin = Generator.load(gen.path, device="cpu", threads=threads)

    def one(
        fmt: str,
        level: int | None = None,
        *,
        niceness: int = run_module._WRITER_NICENESS,
        sync: bool = fsync,
        syncfs: bool = True,
        per_file: bool = False,
        generator: Generator = gen,
    ) -> Callable[[], object]:
        def action() -> object:
            out = root / "run"
            shutil.rmtree(out, ignore_errors=True)
            batch = _per_file_batch if per_file else run_module.atomic_batch
            with (
                _patched(run_module, _WRITER_NICENESS=niceness, atomic_batch=batch),
                _patched(_atomic, _syncfs_call=_atomic._syncfs() if syncfs else None),
            ):
                return write_run(
                    generator,
                    plan,
                    out,
                    fmt=fmt,
                    seed=0,
                    batch_size=batch_size,
                    fsync=sync,
                    png_compression=level,
                )

        return action

    def infer() -> None:
        for class_index, count in enumerate(plan.values()):
            for first in range(0, count, batch_size):
                gen.generate_indices(class_index, range(first, min(first + batch_size, count)), 0)

    default = f"png level {DEFAULT_PNG_COMPRESSION}"
    cases = [
        ("inference only (no writing)", infer),
        ("npz (peer)", one("npz")),
        (f"{default} (default)", one("png")),
    ]
    if fsync:
        cases += [
            (f"{default}, an fsync per file, no syncfs", one("png", syncfs=False)),
            (f"{default}, per-file commit (before)", one("png", per_file=True)),
            (f"{default}, --no-fsync", one("png", sync=False)),
        ]
    cases += [
        (f"{default}, writer not niced", one("png", niceness=0)),
        (f"{default}, onnxruntime not spinning", one("png", generator=no_spin)),
        ("npz, onnxruntime not spinning", one("npz", generator=no_spin)),
        ("png level 6 (before the option)", one("png", 6)),
    ]
    try:
        times = [(name, best_of(repeats, action)) for name, action in cases]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base, npz = times[0][1], times[1][1]
    print(
        f"\n## End to end, write_run of {n} images ({gen.card.name}), batch {batch_size}, "
        f"fsync {'on' if fsync else 'off'} unless the row says otherwise, best of {repeats}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'run':<44}{'s':>8}{'img/s':>9}{'x npz':>8}{'x inference':>13}")
    for name, seconds in times:
        print(f"{name:<44}{seconds:>8.2f}{n / seconds:>9.0f}{seconds / npz:>8.2f}{seconds / base:>13.2f}")
    ratio = times[2][1] / npz
    print(f"png (default level) / npz = {ratio:.2f} (goal <= 1.25: {'met' if ratio <= 1.25 else 'NOT met'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="isic2017-64")
    parser.add_argument("--n", type=int, default=512, help="images to encode per encoder")
    parser.add_argument("--n-run", type=int, default=3000, help="images of each end-to-end run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads (default: per core)")
    parser.add_argument("--no-fsync", action="store_true", help="end to end without fsync")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (a smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.n, args.n_run, args.repeats = 12, 24, 1
    gen = Generator.load(args.model, device="cpu", threads=args.threads)
    gen.generate_indices(0, range(2), 0)  # warm the session up
    encode_table(gen, args.n, args.repeats, args.batch_size)
    end_to_end_table(
        gen, args.n_run, args.repeats, args.batch_size, fsync=not args.no_fsync, threads=args.threads
    )


if __name__ == "__main__":
    main()
