"""Building blocks shared by the networks: conditional batch norm, the up-sampling residual block,
spectral-norm wrappers, the anti-aliasing blur, level widths."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations


def level_widths(image_size: int, width: int, max_width: int) -> list[int]:
    """Channels at 4x4, 8x8, ... image_size: ``width`` at full resolution, doubling per level down, capped."""
    levels = image_size.bit_length() - 3  # 4x4 is level 0; image_size = 4 * 2**levels
    return [min(max_width, width * 2 ** (levels - i)) for i in range(levels + 1)]


def sn(module: nn.Module, enabled: bool = True) -> nn.Module:
    """``module`` with spectral normalisation on its weight (Miyato et al. 2018) when ``enabled``."""
    return parametrizations.spectral_norm(module) if enabled else module


def binomial_blur(x: torch.Tensor) -> torch.Tensor:
    """Low-pass ``x`` (N, C, H, W) with the separable [1, 2, 1] / 4 filter in each direction, same size out.

    Put before a stride-2 layer it removes what would alias (its response is cos^2(pi f): 0 at the Nyquist
    frequency), as in Zhang (2019), "Making convolutional networks shift-invariant again", and StyleGAN2's
    down-sampling. Two 2x2 box averages with stride 1 compose to the binomial filter; reflect padding keeps
    the borders' mean.
    """
    x = F.pad(x, (1, 1, 1, 1), mode="reflect")
    return F.avg_pool2d(F.avg_pool2d(x, 2, stride=1), 2, stride=1)


class Blur(nn.Module):
    """:func:`binomial_blur` as a layer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return binomial_blur(x)


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose per-channel gain and bias are looked up by class (de Vries et al. 2017; SNGAN).

    Exports to ONNX as BatchNormalization (eval mode) followed by two Gathers and an affine map.
    """

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(num_classes, channels)
        self.bias = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        h = self.bn(x)
        return h * self.gain(label)[:, :, None, None] + self.bias(label)[:, :, None, None]


class ResBlockUp(nn.Module):
    """Residual block that doubles the resolution, with class-conditional batch norm (SNGAN and WGAN-GP G)."""

    def __init__(self, cin: int, cout: int, num_classes: int) -> None:
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(cin, num_classes)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.bn2 = ConditionalBatchNorm2d(cout, num_classes)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, label)), scale_factor=2.0, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), label)))
        return h + self.skip(F.interpolate(x, scale_factor=2.0, mode="nearest"))


@torch.no_grad()
def recompute_batchnorm_stats(
    generator: nn.Module,
    num_classes: int,
    latent_dim: int,
    *,
    batches: int = 16,
    batch_size: int = 64,
    seed: int = 0,
) -> None:
    """Replace running BN statistics with exact means over ``batches`` random batches (standing statistics).

    The EMA generator's running statistics are copied from the training generator and do not match the EMA
    weights; this measures them for the weights as they are, with its own seeded RNG so the training RNG is
    untouched.
    """
    bns = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    was_training = generator.training
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: exact mean over the batches
    generator.train()
    rng = torch.Generator().manual_seed(seed)
    device = next(generator.parameters()).device
    for _ in range(batches):
        z = torch.randn(batch_size, latent_dim, generator=rng).to(device)
        y = torch.randint(0, num_classes, (batch_size,), generator=rng).to(device)
        generator(z, y)
    for m, momentum in zip(bns, momenta, strict=True):
        m.momentum = momentum
    generator.train(was_training)
