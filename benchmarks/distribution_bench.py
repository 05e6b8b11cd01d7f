"""Time and peak memory of the distribution metrics on 10,000 x 2,048 features (two sets), each against a peer
measured in the same run on the same arrays:

- Fréchet distance (statistics of both sets included) against pytorch-fid's recipe, ``np.cov`` and
  ``scipy.linalg.sqrtm(sigma1 @ sigma2)``; the two answers' relative difference is printed too;
- KID (100 subsets of 1,000) against piq's ``KID`` on the same features;
- PRDC (k = 5) against the reference implementation, the PyPI package ``prdc`` (full distance matrices).

    .venv/bin/python benchmarks/distribution_bench.py [--n 10000] [--d 2048]

Peak memory is the largest Python-heap allocation seen by ``tracemalloc`` during the call (numpy's arrays are
traced; BLAS's internal buffers are not).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np


def _measure(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, seconds, peak MiB) of one call."""
    tracemalloc.start()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, seconds, peak / 2**20


def _scipy_fd(f1: np.ndarray, f2: np.ndarray) -> float:
    """pytorch-fid's calculate_frechet_distance, statistics included."""
    from scipy import linalg

    mu1, mu2 = f1.mean(axis=0), f2.mean(axis=0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = linalg.sqrtm(s1.dot(s2)).real
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _piq_kid(f1: np.ndarray, f2: np.ndarray) -> float:
    import torch
    from metrics_bench import _import_piq  # the script folder is on sys.path

    piq = _import_piq()
    metric = piq.KID(degree=3, subset_size=1000, ret_var=False)
    return float(metric.compute_metric(torch.from_numpy(f1), torch.from_numpy(f2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="rows per set")
    parser.add_argument("--d", type=int, default=2048, help="feature dimension")
    args = parser.parse_args()

    import prdc as prdc_reference

    from medsynth.metrics.frechet import frechet_distance
    from medsynth.metrics.kid import kid
    from medsynth.metrics.prdc import prdc

    rng = np.random.default_rng(0)
    mixing = rng.standard_normal((args.d, args.d)).astype(np.float32) / np.sqrt(args.d)
    f1 = rng.standard_normal((args.n, args.d)).astype(np.float32) @ mixing  # correlated, like real features
    f2 = (rng.standard_normal((args.n, args.d)).astype(np.float32) + 0.05) @ mixing
    print(f"{args.n:,} x {args.d:,} float32 features per set")
    print(
        f"{'metric':8} {'medsynth s':>10} {'MiB':>7} {'peer':>22} {'peer s':>8} {'MiB':>7} {'ratio':>6}"
        "  agreement"
    )
    rows = (
        ("fd", lambda: frechet_distance(f1, f2), "scipy sqrtm (pytorch-fid)", lambda: _scipy_fd(f1, f2)),
        ("kid", lambda: kid(f1, f2).mean, "piq KID", lambda: _piq_kid(f1, f2)),
        (
            "prdc",
            lambda: prdc(f1, f2, k=5),
            "prdc 0.2 (reference)",
            lambda: prdc_reference.compute_prdc(f1, f2, nearest_k=5),
        ),
    )
    for name, ours, peer_name, peer in rows:
        value, t_ours, m_ours = _measure(ours)
        reference, t_peer, m_peer = _measure(peer)
        if name == "prdc":
            mine = (value.precision, value.recall, value.density, value.coverage)
            theirs = tuple(reference[k] for k in ("precision", "recall", "density", "coverage"))
            agreement = "max |diff| " + f"{max(abs(a - b) for a, b in zip(mine, theirs, strict=True)):.1e}"
        elif name == "kid":  # different random subsets: agreement within sampling noise only
            agreement = f"{value:.5f} against {reference:.5f} (other subsets)"
        else:
            agreement = f"relative diff {abs(value - reference) / abs(reference):.1e} (FD {value:.4f})"
        print(
            f"{name:8} {t_ours:>10.2f} {m_ours:>7.0f} {peer_name:>22} {t_peer:>8.2f} {m_peer:>7.0f}"
            f" {t_peer / t_ours:>6.1f}  {agreement}"
        )


if __name__ == "__main__":
    main()
