"""Class guidance for the projected GAN: a fixed linear probe on the frozen feature pyramid.

A projection discriminator's class signal is weak on a small, imbalanced set: the first ``isic2017-128`` drew
melanomas that looked like small nevi, and balancing a classifier's training set with them lowered its
melanoma recall. Before training, a logistic regression is fitted to the pooled deepest features (strides 16
and 32) of the real training images, under the run's own DiffAugment, with class-balanced weights. It is
never trained again. The generator's loss then gains ``class_weight`` times the probe's cross-entropy on its
images for the labels it was asked for: the features the discriminator already computes are reused, so the
probe costs almost nothing per step. This is the auxiliary-classifier idea of AC-GAN (Odena et al. 2017),
with a classifier fitted once on real images only (as in TAC-GAN's real-only classifier term), so that
the generator cannot pull it towards its own images.

The probe is a function of the data, the seed and the pretrained weights, so a resumed run refits the same
one; it is not stored in checkpoints or exported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from medsynth._primitives import from_uint8
from medsynth.training.downstream.metrics import balanced_accuracy

PROBE_SCALES = 2  # the deepest pyramid scales the probe reads (strides 16 and 32: 112 + 320 channels)
PROBE_L2 = 1e-3  # ridge on the standardised features
PROBE_DRAWS = 2  # augmented copies of each real image the probe is fitted on


class FeatureDiscriminator(Protocol):
    """A discriminator that exposes its frozen features, so a probe can read them (the projected one)."""

    def features(self, x: torch.Tensor) -> list[torch.Tensor]: ...

    def scores(self, feats: list[torch.Tensor], label: torch.Tensor) -> torch.Tensor: ...


def pooled(feats: Sequence[torch.Tensor]) -> torch.Tensor:
    """Global-average-pooled deepest pyramid scales, concatenated: (N, 432) for EfficientNet-Lite0."""
    return torch.cat([f.mean(dim=(2, 3)) for f in feats[-PROBE_SCALES:]], dim=1)


class ClassProbe(nn.Module):
    """Standardised pooled features -> class logits (a fixed linear map; its tensors are buffers)."""

    mean: torch.Tensor
    std: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor

    def __init__(
        self, mean: torch.Tensor, std: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
    ) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        return F.linear(standardise(feats, self.mean, self.std), self.weight, self.bias)


@torch.no_grad()
def _features(
    pyramid: Callable[[torch.Tensor], list[torch.Tensor]],
    images: np.ndarray,
    augment: Callable[[torch.Tensor], torch.Tensor],
    device: torch.device,
    batch: int,
) -> torch.Tensor:
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(from_uint8(images[i : i + batch])).permute(0, 3, 1, 2).to(device)
        out.append(pooled(pyramid(augment(x))).cpu())
    return torch.cat(out)


def standardised_features(
    pyramid: Callable[[torch.Tensor], list[torch.Tensor]],
    images: np.ndarray,
    labels: np.ndarray,
    augment: Callable[[torch.Tensor], torch.Tensor],
    *,
    device: torch.device | str = "cpu",
    batch: int = 64,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The probe's space on real images: :func:`pooled` features of :data:`PROBE_DRAWS` augmented copies of
    uint8 ``images`` (N, H, W, C), standardised per channel, on the CPU.

    Returns ``(z, targets, mean, std)``: ``z`` (PROBE_DRAWS * N, channels) with the copies one after the
    other (row ``i`` is image ``i % N``), their class indices, and the statistics :func:`standardise` uses.
    """
    device = torch.device(device)
    feats = torch.cat([_features(pyramid, images, augment, device, batch) for _ in range(PROBE_DRAWS)])
    targets = torch.from_numpy(np.asarray(labels, dtype=np.int64)).repeat(PROBE_DRAWS)
    mean, std = feats.mean(0), feats.std(0).clamp_min(1e-6)
    return (feats - mean) / std, targets, mean, std


def standardise(feats: Sequence[torch.Tensor], mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """A batch's pyramid in the probe's space: :func:`pooled`, then standardised with the real images'
    statistics (:func:`standardised_features`)."""
    return (pooled(feats) - mean) / std


def fit_class_probe(
    pyramid: Callable[[torch.Tensor], list[torch.Tensor]],
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    augment: Callable[[torch.Tensor], torch.Tensor],
    *,
    device: torch.device | str = "cpu",
    batch: int = 64,
) -> tuple[ClassProbe, float]:
    """Fit the probe to uint8 ``images`` (N, H, W, C) with class indices ``labels``; return it and its
    balanced accuracy on the un-augmented images (a check that the features separate the classes at all).

    ``augment`` maps a batch in [-1, 1] to an augmented one (the run's DiffAugment, with its own seeded
    generator); the probe sees :data:`PROBE_DRAWS` augmented copies of every image. The fit is full-batch
    L-BFGS on the class-balanced cross-entropy plus :data:`PROBE_L2` times the squared weights, which is
    deterministic for a given input.
    """
    device = torch.device(device)
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    z, targets, mean, std = standardised_features(
        pyramid, images, labels, augment, device=device, batch=batch
    )
    counts = torch.bincount(targets, minlength=num_classes).clamp_min(1).double()
    class_weights = (counts.sum() / (num_classes * counts)).float()
    weight = torch.zeros(num_classes, z.shape[1], requires_grad=True)
    bias = torch.zeros(num_classes, requires_grad=True)
    opt = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=200,
        history_size=20,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-6,
        tolerance_change=1e-9,
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(F.linear(z, weight, bias), targets, weight=class_weights)
        loss = loss + PROBE_L2 * weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    probe = ClassProbe(mean, std, weight.detach().clone(), bias.detach().clone()).to(device)
    plain = _features(pyramid, images, lambda t: t, device, batch)
    logits = F.linear((plain - mean) / std, weight.detach(), bias.detach())
    acc = balanced_accuracy(y.numpy(), logits.argmax(dim=1).numpy(), num_classes)
    return probe, acc
