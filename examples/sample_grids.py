"""One sample grid per class of a medsynth ONNX generator, as PNG files (the pictures in the README).

python examples/sample_grids.py sdk/models/isic2017-64.onnx --out docs/images [--rows 4 --cols 8 --seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from medsynth import Generator


def grid(images: np.ndarray, rows: int, cols: int, pad: int = 2) -> np.ndarray:
    n, h, w, c = images.shape
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i in range(min(n, rows * cols)):
        r, k = divmod(i, cols)
        out[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + k * (w + pad) : pad + k * (w + pad) + w] = (
            images[i]
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--cols", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=int, default=2, help="nearest-neighbour upscaling for display")
    args = parser.parse_args()
    gen = Generator.load(args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    for cls in gen.classes:
        images, _ = gen.generate(args.rows * args.cols, cls, seed=args.seed)
        g = grid(images, args.rows, args.cols)
        if args.scale > 1:
            g = g.repeat(args.scale, 0).repeat(args.scale, 1)
        path = args.out / f"{gen.card.name}-{cls}.png"
        Image.fromarray(g.squeeze(-1) if g.shape[-1] == 1 else g).save(path)
        print(path)


if __name__ == "__main__":
    main()
