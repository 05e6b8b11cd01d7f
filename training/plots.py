"""What a run shows a person: fixed-noise sample grids, score and loss curves, and a GIF of the grids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from medsynth._primitives import atomic_open


def save_grid(images: np.ndarray, rows: int, path: Path, pad: int = 2) -> None:
    """Save uint8 (N, H, W, C) images as a grid of ``rows`` rows (one per class), atomically."""
    n, h, w, c = images.shape
    cols = n // rows
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i in range(rows * cols):
        r, k = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[top : top + h, left : left + w] = images[i]
    im = Image.fromarray(grid.squeeze(-1) if c == 1 else grid)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as handle:
        im.save(handle, format="PNG")


def save_gif(frames: list[Path], path: Path, ms_per_frame: int = 400) -> None:
    """An animated GIF of the sample grids, in order; the last frame is held longer."""
    if not frames:
        return
    images = []
    for frame in frames:
        with Image.open(frame) as im:
            images.append(im.convert("RGB"))
    durations = [ms_per_frame] * (len(images) - 1) + [2000]
    with atomic_open(path) as handle:
        images[0].save(
            handle, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0
        )


VALIDATION_CURVES = (  # history key, legend, matplotlib style
    ("val_fd_pixel", "FD, pixels 8x8", "k:"),
    ("val_fd_radiomic", "FRD, radiomics", "b-."),
    ("val_fd_perceptual", "FD, EfficientNet-Lite0", "m--"),
)


def save_curves(history: list[dict[str, Any]], path: Path, title: str = "") -> None:
    """Panels: the discriminator's mean scores D(x) and D(G(z)) per epoch, the losses of D and G, and (when
    the run validated) each validation FD divided by its first reading, so that the spaces share one axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    epochs = [h["epoch"] for h in history]
    curves = [
        (key, label, style) for key, label, style in VALIDATION_CURVES if any(key in h for h in history)
    ]
    if not curves and any("val_metric" in h for h in history):  # checkpoints from before the named keys
        curves = [("val_metric", "validation metric", "k:")]
    fig, axes = plt.subplots(1, 3 if curves else 2, figsize=(15 if curves else 10, 3.6), dpi=100)
    ax1, ax2 = axes[0], axes[1]
    ax1.plot(epochs, [h["d_real"] for h in history], label="D(x), real")
    ax1.plot(epochs, [h["d_fake"] for h in history], label="D(G(z)), fake")
    ax1.set_xlabel("epoch"), ax1.set_ylabel("mean discriminator score"), ax1.legend(), ax1.grid(alpha=0.3)
    ax2.plot(epochs, [h["loss_d"] for h in history], label="D loss")
    ax2.plot(epochs, [h["loss_g"] for h in history], label="G loss")
    ax2.set_xlabel("epoch"), ax2.set_ylabel("loss"), ax2.legend(), ax2.grid(alpha=0.3)
    if curves:
        ax3 = axes[2]
        for key, label, style in curves:
            pts = [(h["epoch"], h[key]) for h in history if key in h]
            first = pts[0][1] or 1.0
            ax3.plot(
                [e for e, _ in pts], [v / first for _, v in pts], style, label=f"{label} (first {first:.3g})"
            )
        ax3.set_xlabel("epoch"), ax3.set_ylabel("validation FD / first reading")
        ax3.legend(fontsize=8), ax3.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        with atomic_open(path) as handle:
            fig.savefig(handle, format="png")
    finally:
        plt.close(fig)
