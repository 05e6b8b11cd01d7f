"""Pairs per second of the Numba metric kernels against piq (and scikit-image where it has the metric), peers
measured in the same run (the best of --repeat calls each, interleaved). FD, KID and PRDC are timed by
distribution_bench.py.

    nice -n 10 .venv/bin/python benchmarks/metrics_bench.py [--only haarpsi,ssim] [--repeat 3]

piq runs on float32 tensors (its usual use) with torch's default threads; the Numba kernels read the uint8
arrays directly. Compilation is paid before timing (one warm-up call on a small batch).
"""

from __future__ import annotations

import argparse
import sys
import time
import types

import numpy as np


def _import_piq():
    # piq imports torchvision at import; its pure-tensor metrics never use it.
    if "torchvision" not in sys.modules:

        class _Empty(types.ModuleType):
            def __getattr__(self, name):
                if name.startswith("__"):
                    raise AttributeError(name)
                value = type(name, (), {}) if name[:1].isupper() else _Empty(f"{self.__name__}.{name}")
                setattr(self, name, value)
                return value

        root = _Empty("torchvision")
        root.__path__ = []
        for sub in ("models", "transforms"):
            sys.modules[f"torchvision.{sub}"] = _Empty(f"torchvision.{sub}")
        sys.modules["torchvision"] = root
    import piq

    return piq


def _rate(n: int, fn, *args, **kwargs) -> float:
    """Pairs per second of one call ``fn(*args, **kwargs)`` that scores ``n`` pairs."""
    start = time.perf_counter()
    fn(*args, **kwargs)
    return n / (time.perf_counter() - start)


def _best_rates(repeat: int, *calls) -> list[float]:
    """The best rate of each ``(n, fn, args, kwargs)`` over ``repeat`` rounds, the calls interleaved per round
    so that a change of load hits every peer alike."""
    best = [0.0] * len(calls)
    for _ in range(repeat):
        for i, (n, fn, args, kwargs) in enumerate(calls):
            best[i] = max(best[i], _rate(n, fn, *args, **kwargs))
    return best


def _each(fn, x, y) -> list:
    """``fn`` over the pairs one at a time (scikit-image scores one image pair per call)."""
    return [fn(a, b) for a, b in zip(x, y, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated kernels (default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="calls per peer; the best rate is printed")
    opts = parser.parse_args()
    import torch
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    import medsynth.metrics as m

    piq = _import_piq()
    kernels = {
        "psnr": (m.psnr, piq.psnr),
        "ssim": (m.ssim, piq.ssim),
        "ms_ssim": (m.ms_ssim, piq.multi_scale_ssim),
        "gmsd": (m.gmsd, piq.gmsd),
        "ms_gmsd": (m.ms_gmsd, piq.multi_scale_gmsd),
        "mdsi": (m.mdsi, piq.mdsi),
        "haarpsi": (m.haarpsi, piq.haarpsi),
    }
    if opts.only:
        wanted = set(opts.only.split(","))
        unknown = sorted(wanted - set(kernels))
        if unknown:
            parser.error(f"--only: unknown kernels {unknown}; choose from {sorted(kernels)}")
        kernels = {k: v for k, v in kernels.items() if k in wanted}
    sk = {
        "psnr": lambda a, b: peak_signal_noise_ratio(a, b, data_range=255),
        "ssim": lambda a, b: structural_similarity(
            a,
            b,
            data_range=255,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            channel_axis=-1,
        ),
    }
    rng = np.random.default_rng(0)
    print(f"torch threads {torch.get_num_threads()}; RGB uint8 pairs")
    print(
        f"{'kernel':8} {'size':>7} {'pairs':>5} {'medsynth/s':>11} {'piq/s':>9} {'ratio':>6}"
        f" {'skimage/s':>10} {'ratio':>6}"
    )
    for side, n in ((64, 256), (176, 64), (256, 32)):
        x = rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8)
        y = np.clip(x.astype(int) + rng.integers(-30, 31, x.shape), 0, 255).astype(np.uint8)
        tx = torch.from_numpy(x).permute(0, 3, 1, 2).float().contiguous()
        ty = torch.from_numpy(y).permute(0, 3, 1, 2).float().contiguous()
        for name, (ours, theirs) in kernels.items():
            if name == "ms_ssim" and side < 161:
                print(
                    f"{name:8} {side:>4}x{side:<3}  n/a: MS-SSIM needs 161 pixels with 5 scales"
                    " (piq and medsynth)"
                )
                continue
            ours(x[:2], y[:2])  # compile
            with torch.no_grad():
                theirs(tx[:2], ty[:2], data_range=255.0, reduction="none")
                piq_kwargs = {"data_range": 255.0, "reduction": "none"}
                calls = [(n, ours, (x, y), {}), (n, theirs, (tx, ty), piq_kwargs)]
                if name in sk:
                    calls.append((n, _each, (sk[name], x, y), {}))
                rates = _best_rates(opts.repeat, *calls)
            r_ours, r_piq = rates[0], rates[1]
            line = f"{name:8} {side:>4}x{side:<3} {n:>5} {r_ours:>11.1f} {r_piq:>9.1f} {r_ours / r_piq:>6.1f}"
            if name in sk:
                line += f" {rates[2]:>10.1f} {r_ours / rates[2]:>6.1f}"
            print(line)


if __name__ == "__main__":
    main()
