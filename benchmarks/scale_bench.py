"""Generation on Ray against one process, on one machine in one run: wall time and images/s of

* ``write_run`` in one process with 1 onnxruntime thread, and with one thread per core;
* ``write_run_on_ray`` with 1 worker and with 2 workers (1 CPU and 1 thread each), on a local
  ``ray.init(num_cpus=2)`` started before the clock runs;

for the bundled model (64x64 RGB) writing PNG files, and the ratio of each to the one-process, one-thread
run (the peer) and of 2 Ray workers to 1. The Ray times include starting the actors (each loads the model)
but not starting Ray. Every Ray folder is checked to be byte-identical to the one-process folder. Report the
load average printed with the table: on a busy machine the figures say nothing. Ray runs in its one-machine
mode, its servers on 127.0.0.1 only.

Run:  python benchmarks/scale_bench.py [--n 2000] [--format png|npz]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before ray is imported: 127.0.0.1 only
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402

from medsynth import Generator  # noqa: E402
from medsynth.ray_run import write_run_on_ray  # noqa: E402
from medsynth.writers.run import write_run  # noqa: E402


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="images (of class melanoma)")
    parser.add_argument("--format", default="png", choices=("png", "npz"))
    parser.add_argument("--batch-size", type=int, default=64, help="images per inference call and work item")
    args = parser.parse_args()
    plan = {"melanoma": args.n}
    root = Path(tempfile.mkdtemp(prefix="medsynth-scale-"))
    rows: list[tuple[str, float]] = []
    try:
        for label, threads in (("1 process, 1 thread", 1), (f"1 process, {os.cpu_count()} threads", None)):
            gen = Generator.load(None, device="cpu", threads=threads)
            out = root / f"one-{threads}"
            start = time.perf_counter()
            write_run(gen, plan, out, fmt=args.format, batch_size=args.batch_size)
            rows.append((label, time.perf_counter() - start))
        reference = _tree(root / "one-1")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        for workers in (1, 2):
            out = root / f"ray-{workers}"
            start = time.perf_counter()
            write_run_on_ray(
                None,
                plan,
                out,
                fmt=args.format,
                workers=workers,
                cpus_per_worker=1,
                batch_size=args.batch_size,
            )
            rows.append((f"Ray, {workers} worker(s) x 1 CPU", time.perf_counter() - start))
            assert _tree(out) == reference, "the Ray folder differs from the one-process folder"
        ray.shutdown()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = rows[0][1]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{args.n} images, {args.format}, batch {args.batch_size}, bundled model, {os.cpu_count()} cores; "
        f"load average {load}"
    )
    print(f"{'run':<32} {'wall s':>8} {'img/s':>8} {'vs 1 process, 1 thread':>24}")
    for label, seconds in rows:
        print(f"{label:<32} {seconds:8.2f} {args.n / seconds:8.1f} {base / seconds:23.2f}x")
    print(f"Ray, 2 workers against 1 worker: {rows[2][1] / rows[3][1]:.2f}x")


if __name__ == "__main__":
    main()
