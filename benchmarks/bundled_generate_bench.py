"""Generation speed of the bundled models against the same networks in PyTorch, with the fraction of the fp32
peak, all measured in one run on this machine.

For each bundled model (``--models``, default every one):

1. **FLOPs counted from the graph**: ONNX shape inference at batch 1, then 2 x multiply-adds of every Conv,
   ConvTranspose, Gemm and MatMul node (element-wise ops, resizes and normalisations are left out; they are a
   few percent).
2. **The peak in the same run**: the best of ten 2048 x 2048 fp32 ``torch.mm`` calls (``train_step_bench``'s
   ``sgemm_gflops``), measured before and after every model; the higher one is the peak.
3. **images/s at ``--batch``** (default 64) of
   - ``Generator.generate`` (latents, onnxruntime, finite check, uint8), what a user gets;
   - the bare onnxruntime session on fixed inputs, with intra-op spinning on (onnxruntime's default) and off;
   - the same network in torch eager (``torch.inference_mode``), rebuilt from the card's training config with
     the ONNX file's weights (the largest difference to onnxruntime's output is printed: the same weights, not
     only the same shapes);
   - the same network under ``torch.compile`` with inductor's freezing (weights folded as constants; compile
     time printed and left out).
4. **Where onnxruntime's time goes** (``--profile``): its profiler over a few batches, summed per op type.

Run:  python benchmarks/bundled_generate_bench.py                 (a few minutes on 2 cores, idle machine)
      python benchmarks/bundled_generate_bench.py --no-compile     (skip torch.compile, which takes minutes)
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from generate_bench import best_rate  # the script folder is on sys.path
from onnx import shape_inference
from train_step_bench import sgemm_gflops

import medsynth._session as session_module
from medsynth import Generator
from medsynth._session import create_session
from medsynth.registry import REGISTRY

_FLOP_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def graph_flops(path: Path) -> tuple[float, dict[str, float]]:
    """FLOPs per image (2 x multiply-adds of the dense ops) from the graph at batch 1, and per op type."""
    model = onnx.load(str(path))
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].dim_value:
            dims[0].Clear()
            dims[0].dim_value = 1
    model = shape_inference.infer_shapes(model, data_prop=True)
    shapes: dict[str, tuple[int, ...]] = {}
    for value in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if all(d.dim_value for d in dims):
            shapes[value.name] = tuple(d.dim_value for d in dims)
    for init in model.graph.initializer:
        shapes[init.name] = tuple(init.dims)
    per_op: dict[str, float] = collections.defaultdict(float)
    for node in model.graph.node:
        if node.op_type not in _FLOP_OPS:
            continue
        out = shapes.get(node.output[0])
        weight = shapes.get(node.input[1])
        if out is None or weight is None:
            raise SystemExit(f"{path}: no inferred shape for {node.op_type} node {node.name!r}")
        if node.op_type == "Conv":  # weight (Cout, Cin/group, kh, kw); every output element does Cin/g*kh*kw
            macs = int(np.prod(out)) * int(np.prod(weight[1:]))
        elif (
            node.op_type == "ConvTranspose"
        ):  # weight (Cin, Cout/group, kh, kw); every input element scatters
            macs = int(np.prod(shapes[node.input[0]])) * int(np.prod(weight[1:]))
        else:  # Gemm / MatMul: (M, K) x (K, N)
            macs = int(np.prod(out)) * int(shapes[node.input[0]][-1])
        per_op[node.op_type] += 2.0 * macs
    return sum(per_op.values()), dict(per_op)


def profiling_session(path: Path, threads: int, prefix: str) -> ort.InferenceSession:
    """A session with the SDK's options (read back from one :func:`create_session` made) and profiling on."""
    sdk = create_session(path, device="cpu", threads=threads).session.get_session_options()
    options = ort.SessionOptions()
    options.graph_optimization_level = sdk.graph_optimization_level
    options.execution_mode = sdk.execution_mode
    options.inter_op_num_threads = sdk.inter_op_num_threads
    options.intra_op_num_threads = sdk.intra_op_num_threads
    options.enable_profiling = True
    options.profile_file_prefix = prefix
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def sdk_session(path: Path, threads: int, spinning: bool) -> ort.InferenceSession:
    """The onnxruntime session the SDK makes (``create_session``), with intra-op spinning on or off."""
    saved = session_module._INTRA_OP_SPINNING
    session_module._INTRA_OP_SPINNING = spinning
    try:
        return create_session(path, device="cpu", threads=threads).session
    finally:
        session_module._INTRA_OP_SPINNING = saved


def torch_peer(gen: Generator) -> tuple[torch.nn.Module, int, int]:
    """The bundled generator rebuilt in torch from its card's training config, with the ONNX file's weights.

    Returns the network (eval mode) and how many of its state-dict tensors the ONNX initializers supplied, of
    how many.
    """
    from medsynth.training.exported_weights import card_config, exported_state
    from medsynth.training.nets.factory import build_networks

    net, _ = build_networks(card_config(gen.card), len(gen.classes), gen.card.channels)
    net.eval()
    loaded, missing = exported_state(net, gen.path)
    net.load_state_dict(loaded, strict=False)
    return net, len(loaded), len(loaded) + len(missing)


def profile_ops(path: Path, feeds: dict[str, np.ndarray], threads: int, runs: int) -> list[tuple[str, float]]:
    """Share of onnxruntime's node time per op type over ``runs`` calls (the first, warm-up call left out)."""
    with tempfile.TemporaryDirectory() as folder:
        sess = profiling_session(path, threads, os.path.join(folder, "ort"))
        sess.run(None, feeds)
        for _ in range(runs):
            sess.run(None, feeds)
        events = json.loads(Path(sess.end_profiling()).read_text())
    per_op: dict[str, float] = collections.defaultdict(float)
    runs_seen = 0
    for event in events:
        if event.get("cat") == "Session" and event.get("name") == "model_run":
            runs_seen += 1
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"]
    total = sum(per_op.values()) or 1.0
    return sorted(((op, t / total) for op, t in per_op.items()), key=lambda x: -x[1])


def bench_model(name: str, args: argparse.Namespace) -> dict[str, Any]:
    gen = Generator.load(name, device="cpu", threads=args.threads)
    flops, per_op = graph_flops(gen.path)
    gflop = flops / 1e9
    batch = args.batch
    rng = np.random.default_rng(0)
    z = rng.standard_normal((batch, gen.card.latent_dim)).astype(np.float32)
    label = (np.arange(batch) % len(gen.classes)).astype(np.int64)
    feeds = {"z": z, "label": label}
    row: dict[str, Any] = {"model": name, "batch": batch, "gflop_per_image": gflop, "flops_by_op": per_op}

    row["peak_gflops"] = sgemm_gflops(sizes=(2048,))
    rates: dict[str, float] = {}
    rates["Generator.generate"] = best_rate(
        lambda: gen.generate(batch, gen.classes[1], seed=0, batch_size=batch), batch, args.repeats
    )
    for spinning in (True, False):
        sess = sdk_session(gen.path, args.threads, spinning)
        rates[f"onnxruntime, spinning {'on' if spinning else 'off'}"] = best_rate(
            lambda sess=sess: sess.run(None, feeds), batch, args.repeats
        )
    reference = sdk_session(gen.path, args.threads, True).run(None, feeds)[0]

    torch.set_num_threads(args.threads)
    net, loaded, total = torch_peer(gen)
    zt, lt = torch.from_numpy(z), torch.from_numpy(label)
    with torch.inference_mode():
        diff = float((net(zt, lt) - torch.from_numpy(reference)).abs().max())
        rates["torch eager"] = best_rate(lambda: net(zt, lt), batch, args.repeats)
    row["torch_weights_loaded"] = f"{loaded}/{total}"
    row["torch_max_abs_diff"] = diff
    if args.compile:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        compiled = torch.compile(net)
        start = time.perf_counter()
        with torch.inference_mode():
            out = compiled(zt, lt)
            row["compile_s"] = time.perf_counter() - start
            row["compiled_max_abs_diff"] = float((out - torch.from_numpy(reference)).abs().max())
            rates["torch.compile (freezing)"] = best_rate(lambda: compiled(zt, lt), batch, args.repeats)
    row["img_s"] = rates
    row["peak_after_gflops"] = sgemm_gflops(sizes=(2048,))
    if args.profile:
        row["ort_profile"] = profile_ops(gen.path, feeds, args.threads, runs=5)
    return row


def report(row: dict[str, Any]) -> None:
    peak = max(row["peak_gflops"], row["peak_after_gflops"])
    gflop = row["gflop_per_image"]
    print(
        f"\n{row['model']}: {gflop:.3f} GFLOP/image from the graph "
        f"({', '.join(f'{k} {v / 1e9:.3f}' for k, v in row['flops_by_op'].items())}), batch {row['batch']}, "
        f"sgemm peak {row['peak_gflops']:.0f} GFLOP/s before, {row['peak_after_gflops']:.0f} after"
    )
    sdk = row["img_s"]["Generator.generate"]
    print(f"  {'':34} {'img/s':>8} {'GFLOP/s':>8} {'% peak':>7} {'sdk / this':>10}")
    for what, rate in row["img_s"].items():
        share = 100 * rate * gflop / peak
        print(f"  {what:34} {rate:8.1f} {rate * gflop:8.1f} {share:6.1f}% {sdk / rate:9.2f}x")
    print(
        f"  torch peer: {row['torch_weights_loaded']} weight tensors from the ONNX file, "
        f"max |torch - onnxruntime| {row['torch_max_abs_diff']:.2e}"
        + (
            f"; compiled {row['compiled_max_abs_diff']:.2e}, compile {row['compile_s']:.0f} s"
            if "compile_s" in row
            else ""
        )
    )
    if "ort_profile" in row:
        print(
            "  onnxruntime node time by op type: "
            + ", ".join(f"{op} {100 * s:.1f}%" for op, s in row["ort_profile"][:8])
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=[m.name for m in REGISTRY])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per measurement (best kept)")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="skip torch.compile")
    parser.add_argument("--profile", action="store_true", help="onnxruntime's per-op-type time")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, threads {args.threads}, "
        f"onnxruntime {ort.__version__}, torch {torch.__version__}",
        flush=True,
    )
    rows = []
    for name in args.models:
        rows.append(bench_model(name, args))
        report(rows[-1])
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
