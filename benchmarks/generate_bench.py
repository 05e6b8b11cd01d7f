"""Generation speed of the SDK against PyTorch eager, on one machine in one run.

What it measures (prints one table per part):

1. images/s of ``Generator.generate`` (latents, onnxruntime, finite check, uint8) for a DCGAN-sized
   class-conditional generator at 64x64 and 128x128, batch 1 / 64 / 256, against the same network (same
   weights) in PyTorch eager (``torch.inference_mode``, forward only: its peer measurement is favoured), the
   ratio, and the achieved fraction of the machine's fp32 peak (``--peak-gflops``, 246 by default);
2. wall time of ``medsynth generate --n 1000`` (PNG + manifest) against pure inference of the same images;
3. cold start: ``import medsynth`` (and whether torch was imported) and the first image, in fresh processes.

Run:  nice -n 10 python benchmarks/generate_bench.py            (about two minutes on 2 cores)
      python benchmarks/generate_bench.py --quick              (smaller repeats, for a smoke test)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from medsynth import Generator, ModelCard
from medsynth.model_card import stamp_card
from medsynth.writers.run import write_run

CLASSES = ("nevus", "melanoma", "seborrheic_keratosis")
LATENT = 100


class DCGANGenerator(nn.Module):
    """Radford et al.'s DCGAN generator, conditioned by multiplying z with a class embedding."""

    def __init__(self, size: int, ngf: int = 64, classes: int = len(CLASSES)) -> None:
        super().__init__()
        self.embed = nn.Embedding(classes, LATENT)
        layers = int(np.log2(size)) - 2  # up-sampling blocks after the 4x4 stem: 4 for 64x64
        width = ngf * 2 ** (layers - 1)  # 512 at 64x64, 1024 at 128x128 (as in DCGAN)
        blocks: list[nn.Module] = [
            nn.ConvTranspose2d(LATENT, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(layers - 1):
            blocks += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        blocks += [nn.ConvTranspose2d(width, 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return self.net((z * self.embed(label))[:, :, None, None])


def flops_per_image(model: DCGANGenerator) -> float:
    """Multiply-adds x 2 of the transposed convolutions (BatchNorm/ReLU/Tanh/embedding are negligible)."""
    total, side = 0, 1
    for layer in model.net:
        if isinstance(layer, nn.ConvTranspose2d):
            k, s, p = layer.kernel_size[0], layer.stride[0], layer.padding[0]
            total += side * side * layer.in_channels * layer.out_channels * k * k
            side = (side - 1) * s - 2 * p + k
    return 2.0 * total


def build(size: int, folder: Path) -> tuple[DCGANGenerator, Path]:
    torch.manual_seed(size)
    model = DCGANGenerator(size)
    with torch.no_grad():  # non-trivial BatchNorm statistics, so folding them is real work
        for layer in model.net:
            if isinstance(layer, nn.BatchNorm2d):
                layer.running_mean.uniform_(-0.1, 0.1)
                layer.running_var.uniform_(0.5, 1.5)
    model.eval()
    path = folder / f"dcgan{size}.onnx"
    z, label = torch.randn(2, LATENT), torch.zeros(2, dtype=torch.int64)
    torch.onnx.export(
        model,
        (z, label),
        str(path),
        input_names=["z", "label"],
        output_names=["image"],
        dynamic_axes={"z": {0: "batch"}, "label": {0: "batch"}, "image": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    proto = onnx.load(str(path))
    proto.ir_version = min(proto.ir_version, 10)
    card = ModelCard(
        schema_version=1,
        name=f"bench-dcgan{size}",
        arch="dcgan",
        classes=CLASSES,
        latent_dim=LATENT,
        image_size=size,
        channels=3,
        photometric="RGB",
        modality="XC",
        intensity={"kind": "display"},
        license="Apache-2.0",
        intended_use="Benchmark only; random weights.",
        medsynth_version="0.1.0",
    )
    stamp_card(proto, card)
    onnx.save(proto, str(path))
    return model, path


def best_rate(run, images: int, repeats: int) -> float:
    """Images per second of the best of ``repeats`` timed calls of ``run`` (after one warm-up call)."""
    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return images / best


def throughput(
    sizes: list[int], batches: list[int], folder: Path, threads: int, peak: float, quick: bool
) -> list[dict[str, object]]:
    torch.set_num_threads(threads)
    rows = []
    for size in sizes:
        model, path = build(size, folder)
        gen = Generator.load(path, device="cpu", threads=threads)
        flops = flops_per_image(model)
        for batch in batches:
            calls = max(1, (8 if quick else 64) // batch) if batch < 64 else 1
            n = batch * calls
            repeats = 2 if quick else (3 if size * batch <= 64 * 64 else 2)

            def sdk_run(gen: Generator = gen, n: int = n, batch: int = batch) -> None:
                gen.generate(n, "melanoma", seed=0, batch_size=batch)

            z = torch.randn(batch, LATENT)
            label = torch.ones(batch, dtype=torch.int64)

            def eager(
                model: nn.Module = model, z: torch.Tensor = z, label: torch.Tensor = label, calls: int = calls
            ) -> None:
                with torch.inference_mode():
                    for _ in range(calls):
                        model(z, label)

            sdk = best_rate(sdk_run, n, repeats)

            ref = best_rate(eager, n, repeats)
            gflop = flops / 1e9
            rows.append(
                {
                    "size": size,
                    "batch": batch,
                    "sdk_img_s": sdk,
                    "torch_img_s": ref,
                    "ratio": sdk / ref,
                    "sdk_gflops": sdk * gflop,
                    "peak_fraction": sdk * gflop / peak,
                    "torch_peak_fraction": ref * gflop / peak,
                    "gflop_per_image": gflop,
                }
            )
            print(
                f"  {size}x{size} batch {batch}: sdk {sdk:8.1f} img/s, torch eager {ref:8.1f} img/s",
                flush=True,
            )
    return rows


def cli_overhead(path: Path, n: int, threads: int) -> dict[str, float]:
    gen = Generator.load(path, device="cpu", threads=threads)
    gen.generate(64, "melanoma", batch_size=64)  # warm-up
    start = time.perf_counter()
    gen.generate(n, "melanoma", seed=0, batch_size=64)
    inference = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_run(gen, {"melanoma": n}, Path(tmp) / "out", seed=0, batch_size=64)
        in_process = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-c",
                "from medsynth.cli import main; main()",
                "generate",
                "--model",
                str(path),
                "--class",
                "melanoma",
                "--n",
                str(n),
                "--out",
                str(Path(tmp) / "cli"),
                "--threads",
                str(threads),
                "--quiet",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        cli = time.perf_counter() - start
    return {
        "n": n,
        "inference_s": inference,
        "write_run_s": in_process,
        "cli_s": cli,
        "overhead": in_process / inference - 1.0,
    }


_COLD = """
import sys, time
t0 = time.perf_counter()
import medsynth
t1 = time.perf_counter()
gen = medsynth.Generator.load(sys.argv[1], device="cpu")
images, _ = gen.generate(1, 0)
t2 = time.perf_counter()
print({"import_s": t1 - t0, "first_image_s": t2 - t0, "torch_imported": "torch" in sys.modules})
"""


def cold_start(path: Path, repeats: int) -> dict[str, object]:
    runs = []
    for _ in range(repeats):
        done = subprocess.run(
            [sys.executable, "-c", _COLD, str(path)], capture_output=True, text=True, check=True
        )
        runs.append(eval(done.stdout.strip().splitlines()[-1]))  # noqa: S307 - our own dict literal
    return {
        "import_s": float(np.median([r["import_s"] for r in runs])),
        "first_image_s": float(np.median([r["first_image_s"] for r in runs])),
        "torch_imported": any(r["torch_imported"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--peak-gflops", type=float, default=246.0, help="fp32 peak of this machine")
    parser.add_argument("--cli-n", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (smoke test)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="medsynth-bench-"))
    try:
        print(
            f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, "
            f"threads {args.threads}, torch {torch.__version__}, peak {args.peak_gflops:.0f} GFLOP/s fp32",
            flush=True,
        )
        rows = throughput(args.sizes, args.batches, folder, args.threads, args.peak_gflops, args.quick)
        print("\n1. Generator.generate (onnxruntime) vs the same network in torch eager")
        print(
            f"{'size':>7} {'batch':>5} {'GFLOP/img':>9} {'sdk img/s':>10} {'torch img/s':>11} {'ratio':>6} "
            f"{'sdk %peak':>9} {'torch %peak':>11}"
        )
        for r in rows:
            print(
                f"{r['size']:>4}x{r['size']:<3} {r['batch']:>4} {r['gflop_per_image']:>9.3f} "
                f"{r['sdk_img_s']:>10.1f} {r['torch_img_s']:>11.1f} {r['ratio']:>5.2f}x "
                f"{100 * r['peak_fraction']:>8.1f}% {100 * r['torch_peak_fraction']:>10.1f}%"
            )
        model64 = folder / f"dcgan{args.sizes[0]}.onnx"
        cli = cli_overhead(model64, args.cli_n, args.threads)
        side = args.sizes[0]
        print(
            f"\n2. {cli['n']} images {side}x{side}: pure inference {cli['inference_s']:.2f} s, "
            f"write_run PNG+manifest {cli['write_run_s']:.2f} s (+{100 * cli['overhead']:.1f}%), "
            f"whole `medsynth generate` process {cli['cli_s']:.2f} s"
        )
        cold = cold_start(model64, 3 if args.quick else 5)
        print(
            f"\n3. cold start (median of fresh processes): import medsynth {cold['import_s']:.3f} s "
            f"(torch imported: {cold['torch_imported']}), first image {cold['first_image_s']:.3f} s"
        )
        if args.json:
            args.json.write_text(json.dumps({"throughput": rows, "cli": cli, "cold": cold}, indent=2))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
