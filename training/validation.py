"""Validation metrics for early stopping and checkpoint selection: the Fréchet distance between real and
generated images downsampled to 8x8 (192 numbers per RGB image), which follows colour and coarse shape and
needs no weights; the Fréchet radiomics distance (FRD, ``medsynth evaluate``'s radiomic space: intensity
and texture statistics, z-scored against the real set), always logged; and optionally in the pooled features
of the ImageNet EfficientNet-Lite0 (the perceptual space of ``medsynth evaluate --features
efficientnet-lite0``), which follows texture and structure.

A discriminator built on the same pretrained network (``--arch projected``) makes the perceptual FD
optimistic (Kynkäänniemi et al., ICLR 2023): the generator is trained to match exactly those features. Both
are training signals, not the quality figures a model card reports.
"""

from __future__ import annotations

import numpy as np
import torch

from medsynth._primitives import from_uint8
from medsynth.metrics.frechet import frechet_distance as frechet  # the SDK's, shared with `medsynth evaluate`
from medsynth.metrics.radiomics import frechet_radiomics_distance  # FRD, as `medsynth evaluate` reports it
from medsynth.training.nets.efficientnet_lite import lite_input, pretrained_efficientnet_lite0

__all__ = ["frechet", "radiomic_fd", "pixel_features", "PerceptualFeatures"]


class PerceptualFeatures:
    """Pooled 1,280-d EfficientNet-Lite0 features of uint8 (N, H, W, C) images at their own size."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.net = pretrained_efficientnet_lite0().to(device)

    def __call__(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        out = []
        with torch.no_grad():
            for i in range(0, len(images), batch_size):
                x = (
                    torch.from_numpy(from_uint8(images[i : i + batch_size]))
                    .permute(0, 3, 1, 2)
                    .to(self.device)
                )
                out.append(self.net.pooled(lite_input(x)).double().cpu().numpy())
        return np.concatenate(out)


def radiomic_fd(real: np.ndarray, fake: np.ndarray) -> float:
    """FRD of uint8 (N, H, W, C) ``fake`` against ``real``, leaving torch's thread count as it was.

    The radiomic kernels are Numba ``parallel`` loops, and Numba's OpenMP threading layer sets OpenMP's
    thread count, which is torch's too: after the first call a run asked for ``--threads 1`` would train on
    every core, and a run resumed from a checkpoint (no validation yet in that process) would not compute what
    the uninterrupted run computes.
    """
    threads = torch.get_num_threads()
    try:
        return frechet_radiomics_distance(real, fake)
    finally:
        torch.set_num_threads(threads)


def pixel_features(images: np.ndarray, side: int = 8) -> np.ndarray:
    """uint8 (N, H, W, C) -> float64 (N, side*side*C) block means in [0, 1]."""
    n, h, w, c = images.shape
    f = h // side
    x = images.reshape(n, side, f, side, f, c).astype(np.float64).mean(axis=(2, 4)) / 255.0
    return x.reshape(n, -1)
