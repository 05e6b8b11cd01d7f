"""Speck regularisation of the generator: a hinge on pixels more isolated than real images' pixels are.

A discriminator on pretrained features that start at stride 4 cannot see a single off-colour pixel, and a
generator learns to paint them (isolated purple or green specks inside lesions, about 0.5% of its pixels where
real ISIC images hold 0.014%). This term measures each generated pixel's **isolation** exactly as
:func:`medsynth.metrics.isolated_pixels.pixel_isolation` does for the evaluation (the smallest chroma distance
to any of its eight neighbours, in 0-255 units) and adds to the generator's loss, per image, the sum over
pixels of ``relu(isolation / threshold - 1)``. The threshold is the one the evaluation counts specks above:
the real training images' 90th percentile of their most isolated pixel. Pixels as isolated as real ones cost
nothing, so edges, hairs and texture are left alone; the gradient of the smallest distance pulls a speck
towards its nearest neighbours' colour. The hinge is linear, not squared: a generator's specks are many and
mild (on ISIC at 64 px most sit between the threshold, 17, and 25), where real images' rare ones are far out,
and a squared hinge would hardly push the mild ones.
"""

from __future__ import annotations

import numpy as np
import torch

from medsynth.metrics.isolated_pixels import MIN_THRESHOLD, NEIGHBOURS, pixel_isolation

__all__ = ["speck_threshold", "batch_isolation", "speck_loss"]

_EPS = 1e-6  # squared 0-255 units: keeps the square root's gradient finite where a pixel equals a neighbour


def speck_threshold(images: np.ndarray, quantile: float = 0.9) -> float:
    """The isolation (0-255 units) above which :func:`speck_loss` counts a pixel, from uint8 training images.

    As the evaluation's threshold: the ``quantile`` of the real images' per-image maximum isolation, never
    below :data:`~medsynth.metrics.isolated_pixels.MIN_THRESHOLD`.
    """
    worst = pixel_isolation(images).max(axis=(1, 2))
    return max(MIN_THRESHOLD, float(np.quantile(worst, quantile)))


def batch_isolation(images: torch.Tensor) -> torch.Tensor:
    """Per interior pixel of a ``(N, C, H, W)`` batch on [-1, 1], the isolation of ``pixel_isolation``.

    Differentiable; ``(N, H - 2, W - 2)`` in 0-255 units.
    """
    x = (images + 1) * 127.5
    if x.shape[1] == 3:
        r, g, b = x[:, 0], x[:, 1], x[:, 2]
        x = torch.stack([r - g, (r + g) / 2 - b], dim=1)
    h, w = x.shape[2:]
    centre = x[:, :, 1:-1, 1:-1]
    distances = [
        (centre - x[:, :, 1 + dy : h - 1 + dy, 1 + dx : w - 1 + dx]).square().sum(dim=1)
        for dy, dx in NEIGHBOURS
    ]
    return torch.stack(distances).amin(dim=0).clamp_min(_EPS).sqrt()


def speck_loss(fake: torch.Tensor, threshold: float) -> torch.Tensor:
    """Mean over images of the sum over pixels of ``relu(isolation / threshold - 1)``."""
    return torch.relu(batch_isolation(fake) / threshold - 1).sum(dim=(1, 2)).mean()
