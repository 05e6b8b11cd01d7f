"""Generation on Ray against one process, on one machine in one run: wall time and images/s of

* ``write_run`` in one process with 1 onnxruntime thread, and with one thread per core;
* ``write_run_on_ray`` with 1 worker and with 2 workers (1 CPU and 1 thread each), on a local
  ``ray.init(num_cpus=2)`` started before the clock runs;

for the bundled model (64x64 RGB) writing PNG files, and the ratio to the one-process, one-thread run.
Every Ray folder is checked to be byte-identical to the one-process folder. Report the load average
printed with the table: on a busy machine the figures say nothing.

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

import ray

from medsynth import Generator
from medsynth.ray_run import write_run_on_ray
from medsynth.writers.run import write_run


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="images (of class melanoma)")
    parser.add_argument("--format", default="png", choices=("png", "npz"))
    args = parser.parse_args()
    plan = {"melanoma": args.n}
    root = Path(tempfile.mkdtemp(prefix="medsynth-scale-"))
    rows: list[tuple[str, float]] = []
    try:
        for label, threads in (("1 process, 1 thread", 1), (f"1 process, {os.cpu_count()} threads", None)):
            gen = Generator.load(None, device="cpu", threads=threads)
            out = root / f"one-{threads}"
            start = time.perf_counter()
            write_run(gen, plan, out, fmt=args.format)
            rows.append((label, time.perf_counter() - start))
        reference = _tree(root / "one-1")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        for workers in (1, 2):
            out = root / f"ray-{workers}"
            start = time.perf_counter()
            write_run_on_ray(None, plan, out, fmt=args.format, workers=workers, cpus_per_worker=1)
            rows.append((f"Ray, {workers} worker(s) x 1 CPU", time.perf_counter() - start))
            assert _tree(out) == reference, "the Ray folder differs from the one-process folder"
        ray.shutdown()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = rows[0][1]
    print(f"{args.n} images, {args.format}, bundled model; load average {os.getloadavg()}")
    print(f"{'run':<32} {'wall s':>8} {'img/s':>8} {'vs 1 thread':>12}")
    for label, seconds in rows:
        print(f"{label:<32} {seconds:8.2f} {args.n / seconds:8.1f} {base / seconds:11.2f}x")


if __name__ == "__main__":
    main()
