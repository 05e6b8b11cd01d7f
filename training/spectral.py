"""Spectral regularisation of the generator: pull its images' mean power spectrum towards the real one's.

A discriminator that down-samples by strides cannot see every frequency (a pattern at a quarter of the
sampling rate aliases to zero frequency after two stride-2 layers), so a generator can paint periodic lattices
it is never penalised for. Durall et al. (2020, "Watch your up-convolution") add a spectral term to the
generator's loss; this is that idea on the full 2-D spectrum: the mean squared difference of log power per
spatial frequency between a batch of generated images and the training set, both measured as
:mod:`medsynth.metrics.spectrum` measures them (luma, mean removed, 2-D Hann window), so the loss and the
evaluation's spectral metrics agree.
"""

from __future__ import annotations

import numpy as np
import torch

from medsynth._primitives import from_uint8
from medsynth.metrics.spectrum import compared_bins, hann_window, mean_power_spectrum
from medsynth.training.flips import TRANSFORMS, flip

__all__ = [
    "SpectralTarget",
    "spectral_target",
    "batch_power_spectrum",
    "log_power_ratio",
    "spectral_loss",
    "spectral_peak_loss",
]

PEAK_BINS = 16  # bins the peak term averages: a lattice puts its power in a few (its harmonics and mirrors)


class SpectralTarget:
    """The real set's log mean power spectrum, the bins the loss compares, and the window."""

    def __init__(self, power: np.ndarray) -> None:
        h, w = power.shape
        self.floor = float(power.mean()) * 1e-6  # keeps log finite; far below any real bin's power
        self.log_power = torch.from_numpy(np.log(power + self.floor)).float()
        self.keep = torch.from_numpy(compared_bins(h, w))  # the bins the evaluation compares
        self.window = torch.from_numpy(hann_window(h, w)).float()

    def to(self, device: torch.device) -> SpectralTarget:
        self.log_power = self.log_power.to(device)
        self.keep, self.window = self.keep.to(device), self.window.to(device)
        return self


def spectral_target(images: np.ndarray, labels: np.ndarray, num_classes: int, flips: str) -> SpectralTarget:
    """The target of :func:`spectral_loss` for a training set as the trainer samples it.

    Parameters
    ----------
    images
        uint8 ``(N, H, W, C)`` training images.
    labels
        int ``(N,)`` class indices.
    num_classes
        Number of classes: the spectrum is the mean over classes of each class's mean, as a class-balanced
        sampler (and a generator asked for every class equally often) sees the set.
    flips
        The trainer's augmentation: ``"dihedral"`` averages the eight flips and turns, ``"x"`` the mirror.

    Returns
    -------
    SpectralTarget
        On the CPU, on the [-1, 1] scale of the generator's output.
    """
    scaled = from_uint8(images)
    views = [flip(scaled, t, flips) for t in range(TRANSFORMS[flips])]
    present = [c for c in range(num_classes) if (labels == c).any()]
    power = np.mean(
        [np.mean([mean_power_spectrum(v[labels == c]) for v in views], axis=0) for c in present], axis=0
    )
    return SpectralTarget(power)


def batch_power_spectrum(images: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Mean windowed periodogram of the luma of a ``(N, C, H, W)`` batch (as ``mean_power_spectrum``)."""
    luma = images.mean(dim=1)
    luma = luma - luma.mean(dim=(1, 2), keepdim=True)
    return torch.fft.fft2(luma * window).abs().square().mean(dim=0)


def log_power_ratio(fake: torch.Tensor, target: SpectralTarget) -> torch.Tensor:
    """log batch power - log target power over the compared bins (1-D); differentiable in ``fake``.

    Both spectral terms read it, so a step that uses both takes the batch's spectrum once."""
    log_power = torch.log(batch_power_spectrum(fake, target.window) + target.floor)
    return (log_power - target.log_power)[target.keep]


def spectral_loss(ratio: torch.Tensor) -> torch.Tensor:
    """Mean over the compared bins of the squared :func:`log_power_ratio`."""
    return ratio.square().mean()


def spectral_peak_loss(ratio: torch.Tensor, bins: int = PEAK_BINS) -> torch.Tensor:
    """Mean of ``relu(ratio) ** 2`` over the ``bins`` bins of :func:`log_power_ratio` where it is largest.

    :func:`spectral_loss` weighs all of an image's frequency bins alike, so one bin ten times too strong (a
    checkerboard at the sampling limit) moves it by a few parts in a thousand; this term follows the bins
    where the generator's power exceeds the real set's most, which is what the evaluation's peak ratio reads.
    """
    excess = torch.relu(ratio)
    return excess.topk(min(bins, excess.numel())).values.square().mean()
