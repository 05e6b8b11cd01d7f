"""Training-step throughput of a recipe on this CPU, with the fraction of the fp32 peak it reaches.

For each ``--recipe`` (a training YAML, e.g. ``examples/isic2017-128.yaml``) at each ``--size``: build the
Trainer exactly as ``medsynth train`` does (random images of the right size stand in for the data set: the
cost of a step does not depend on the pixels), count the floating-point operations of one step with
``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products, forward and backward, two
operations per multiply-add), take two warm-up steps, then time ``--steps`` steps. The peer, measured in the
same run, is torch's fp32 matrix product (best ``torch.mm`` of 2048 and 4096 squares, the practical peak): the
ratio is the fraction of it the step reaches. ``--channels-last`` and ``--compile`` add a row per recipe and
size with the weights in NHWC, or with G and D under ``torch.compile`` (its compile time printed beside it).

    python benchmarks/train_step_bench.py --recipe examples/isic2017-128.yaml --size 64:32 --size 128:16
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def sgemm_gflops(sizes: tuple[int, ...] = (2048, 4096), repeats: int = 10) -> float:
    """Best GFLOP/s of fp32 n x n matrix products over ``sizes`` and ``repeats``."""
    import torch

    rate = 0.0
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            rate = max(rate, 2 * n**3 / (time.perf_counter() - start) / 1e9)
    return rate


def measure(
    recipe: Path, size: int, batch: int, steps: int, channels_last: bool = False, compiled: bool = False
) -> dict[str, float]:
    """GFLOP per step, seconds per step and images per second of ``recipe`` at ``size`` and ``batch``
    (with G's and D's weights, the frozen feature network's included, in channels-last memory format if
    ``channels_last``: convolutions then run and return NHWC; with G and D compiled in place by
    ``torch.compile`` (inductor, forward and backward) if ``compiled``, whose compile time, spent in the
    untimed first steps, is returned as ``compile_s``)."""
    import numpy as np
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from medsynth.training.config import TrainConfig
    from medsynth.training.data import ImageSet
    from medsynth.training.loop import Trainer

    config = TrainConfig.from_yaml(recipe).replace(image_size=size, batch_size=batch, ema_start=0)
    n = max(256, 4 * batch)
    rng = np.random.default_rng(0)
    data = ImageSet(
        images=rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
        labels=np.arange(n) % 3,
        classes=("nevus", "melanoma", "seborrheic_keratosis"),
        ids=tuple(map(str, range(n))),
    )
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(config, data, Path(out), log=lambda _: None)
        if channels_last:
            trainer.G.to(memory_format=torch.channels_last)
            trainer.D.to(memory_format=torch.channels_last)
        counter = FlopCounterMode(display=False)
        with counter:  # counted eagerly: the compiled step does the same arithmetic
            trainer._step()
        trainer.iteration += 1
        warm = time.perf_counter()
        if compiled:
            trainer.G.compile()
            trainer.D.compile()
        trainer._step()
        trainer.iteration += 1
        trainer._step()
        trainer.iteration += 1
        compile_s = time.perf_counter() - warm
        start = time.perf_counter()
        for _ in range(steps):
            trainer._step()
            trainer.iteration += 1
        seconds = (time.perf_counter() - start) / steps
    return {
        "gflop": counter.get_total_flops() / 1e9,
        "s_per_it": seconds,
        "images_s": batch / seconds,
        "compile_s": compile_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, action="append", required=True, help="training YAML")
    parser.add_argument("--size", action="append", default=None, help="SIZE:BATCH (default 64:32, 128:16)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per row")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument(
        "--channels-last", action="store_true", help="also time each row with channels-last weights"
    )
    parser.add_argument(
        "--compile", action="store_true", help="also time each row with G and D under torch.compile"
    )
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    sizes = [tuple(int(v) for v in s.split(":")) for s in (args.size or ["64:32", "128:16"])]
    variants: list[tuple[str, dict[str, bool]]] = [("", {})]  # (row tag, measure's keyword arguments)
    if args.channels_last:
        variants.append((" (NHWC)", {"channels_last": True}))
    if args.compile:
        variants.append((" (compiled)", {"compiled": True}))
    peak = sgemm_gflops()
    print(f"peer: best torch.mm fp32 (2048, 4096 squares), {args.threads} threads: {peak:.1f} GFLOP/s")
    print(
        f"{'recipe':40} {'size':>4} {'batch':>5} {'GFLOP/it':>9} {'s/it':>7} {'it/s':>6} "
        f"{'img/s':>7} {'GFLOP/s':>8} {'of peak':>8}"
    )
    for recipe in args.recipe:
        for size, batch in sizes:
            for tag, options in variants:
                r = measure(recipe, size, batch, args.steps, **options)
                rate = r["gflop"] / r["s_per_it"]
                note = (
                    f"   (compiling and 2 warm-up steps: {r['compile_s']:.0f} s)"
                    if "compiled" in options
                    else ""
                )
                print(
                    f"{str(recipe) + tag:40} {size:>4} {batch:>5} {r['gflop']:>9.1f} {r['s_per_it']:>7.3f} "
                    f"{1 / r['s_per_it']:>6.2f} {r['images_s']:>7.1f} {rate:>8.1f} {rate / peak:>8.2f}{note}"
                )
    peak_after = sgemm_gflops()
    print(f"peer again at the end: {peak_after:.1f} GFLOP/s (a large change means the machine was shared)")


if __name__ == "__main__":
    main()
