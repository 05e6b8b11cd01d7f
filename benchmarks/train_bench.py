"""Training speed and peak memory per architecture at 64x64, batch 64, on this CPU.

Each measurement runs in a fresh subprocess (so ``ru_maxrss`` is that run's own peak resident memory, torch's
allocations included): build the Trainer with the architecture's presets (as ``medsynth train`` does), take
one warm-up step, then time ``--iterations`` generator iterations (each with its ``n_critic`` discriminator
steps). The peer, measured in the same run, is the same loop with the small-data techniques off
(no DiffAugment, no generator EMA): the ratio is what those techniques cost.

    nice -n 10 python benchmarks/train_bench.py --iterations 3
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

ARCHS = ("dcgan", "sngan", "sngan-cnn", "sngan-aa", "wgan-gp", "stylegan")


def child(arch: str, mode: str, iterations: int, threads: int) -> dict[str, float]:
    """One measurement, in this process."""
    import tempfile
    from pathlib import Path

    import numpy as np

    from medsynth.training.config import TrainConfig
    from medsynth.training.data import ImageSet
    from medsynth.training.loop import Trainer
    from medsynth.training.nets import get_arch

    rng = np.random.default_rng(0)
    n = 256
    data = ImageSet(
        images=rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8),
        labels=np.arange(n) % 3,
        classes=("a", "b", "c"),
        ids=tuple(map(str, range(n))),
    )
    values = {
        **get_arch(arch).presets,
        "arch": arch,
        "image_size": 64,
        "batch_size": 64,
        "threads": threads,
        "ema_start": 0,
    }
    if mode == "bare":
        values.update(diffaugment="", ema_decay=0.0)
    config = TrainConfig(**values)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(config, data, Path(out), log=lambda _: None)
        trainer._step()  # warm-up: first-call allocations and oneDNN kernel selection
        trainer.iteration += 1
        start = time.perf_counter()
        for _ in range(iterations):
            trainer._step()
            trainer.iteration += 1
        seconds = time.perf_counter() - start
        params = sum(p.numel() for net in (trainer.G, trainer.D) for p in net.parameters())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    return {
        "its": iterations / seconds,
        "maxrss_mb": peak_mb,
        "params_m": params / 1e6,
        "n_critic": config.n_critic,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3, help="timed generator iterations per run")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--archs", default=",".join(ARCHS))
    parser.add_argument("--child", nargs=2, metavar=("ARCH", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.iterations, args.threads)))
        return
    print(
        f"training at 64x64, batch 64, torch threads {args.threads}, {args.iterations} timed iterations "
        "after 1 warm-up, each in a fresh process"
    )
    print(
        f"{'arch':<10} {'n_critic':>8} {'params (M)':>10} {'it/s':>8} {'peer it/s':>10} {'ratio':>6} "
        f"{'peak RSS (MB)':>14} {'peer RSS':>9}"
    )
    for arch in args.archs.split(","):
        results = {}
        for mode in ("full", "bare"):
            cmd = [
                sys.executable,
                __file__,
                "--child",
                arch,
                mode,
                "--iterations",
                str(args.iterations),
                "--threads",
                str(args.threads),
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
        full, bare = results["full"], results["bare"]
        print(
            f"{arch:<10} {full['n_critic']:>8} {full['params_m']:>10.2f} {full['its']:>8.3f} "
            f"{bare['its']:>10.3f} {full['its'] / bare['its']:>6.2f} {full['maxrss_mb']:>14.0f} "
            f"{bare['maxrss_mb']:>9.0f}",
            flush=True,
        )
    print("peer = the same loop without DiffAugment and generator EMA; ratio = it/s / peer it/s")


if __name__ == "__main__":
    main()
