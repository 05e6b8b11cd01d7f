"""Speed of the EfficientNet-Lite0 feature extractor: onnxruntime against PyTorch eager, one machine, one run.

For each input side (64 and 128 by default, the generators' sizes; 224, the side of the shipped
``medsynth/features/efficientnet-lite0.onnx``, with ``--sizes 64,128,224``) the pooled-features graph is
exported at that static side with :func:`medsynth.export.feature_extractor.export_feature_extractor` (224: the
shipped file itself) and timed on the same uint8 batch against the same network and weights in torch eager
(``torch.inference_mode``, forward only). Both use all cores (onnxruntime's default, torch's default threads).
The session is timed on pre-resized NCHW uint8 input, so the SDK's Pillow resize is not included. Prints
features/s of each, the ratio, and the max abs difference of the features.

Run:  nice -n 10 python benchmarks/features_bench.py                 (a few minutes on 2 cores)
      python benchmarks/features_bench.py --n 32 --repeats 1         (a smoke test)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medsynth._session import create_session
from medsynth.export.feature_extractor import PooledFeatures, export_feature_extractor
from medsynth.metrics.features import FEATURE_INPUT_SIZE, features_dir
from medsynth.training.nets.efficientnet_lite import pretrained_efficientnet_lite0


def _best_rate(run: Callable[[], np.ndarray], n: int, repeats: int) -> tuple[float, np.ndarray]:
    out = run()  # warm-up (graph optimisation, allocator)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - t0)
    return n / best, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="64,128", help="comma-separated input sides")
    p.add_argument("--n", type=int, default=128, help="images per timed pass")
    p.add_argument("--batch", type=int, default=32, help="images per session run / forward")
    p.add_argument("--repeats", type=int, default=3, help="timed passes; the best is reported")
    args = p.parse_args()

    net = pretrained_efficientnet_lite0()
    module = PooledFeatures(net).eval()
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            if size == FEATURE_INPUT_SIZE:
                path = features_dir() / "efficientnet-lite0.onnx"
            else:
                path = Path(tmp) / f"lite0-{size}.onnx"
                path.write_bytes(export_feature_extractor(net, size).SerializeToString())
            session = create_session(path, device="cpu").session
            images = rng.integers(0, 256, (args.n, 3, size, size), dtype=np.uint8)
            batches = [images[i : i + args.batch] for i in range(0, args.n, args.batch)]

            def ort_run(session: Any = session, batches: list[np.ndarray] = batches) -> np.ndarray:
                return np.concatenate([session.run(None, {"image": b})[0] for b in batches])

            def torch_run(batches: list[np.ndarray] = batches) -> np.ndarray:
                with torch.inference_mode():
                    return np.concatenate([module(torch.from_numpy(b)).numpy() for b in batches])

            ort_rate, ort_out = _best_rate(ort_run, args.n, args.repeats)
            torch_rate, torch_out = _best_rate(torch_run, args.n, args.repeats)
            rows.append((size, ort_rate, torch_rate, float(np.abs(ort_out - torch_out).max())))
    print(
        f"EfficientNet-Lite0 pooled features, batch {args.batch}, {args.n} images per pass, best of "
        f"{args.repeats}; torch {torch.__version__} with {torch.get_num_threads()} threads"
    )
    print(f"{'side':>5}  {'onnxruntime feat/s':>18}  {'torch eager feat/s':>18}  {'ratio':>6}  max |diff|")
    for size, ort_rate, torch_rate, diff in rows:
        ratio = ort_rate / torch_rate
        print(f"{size:>5}  {ort_rate:>18.1f}  {torch_rate:>18.1f}  {ratio:>5.2f}x  {diff:.2g}")


if __name__ == "__main__":
    main()
