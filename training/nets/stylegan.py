"""A class-conditional StyleGAN2-style pair (Karras et al. 2020; conditioning as in StyleGAN2-ADA), small
enough for a CPU and exportable to ONNX from plain ops.

Generator: a mapping network turns the normalised latent and the normalised class embedding into ``w``; a
synthesis network starts from a learned 4x4 constant and applies modulated/demodulated 3x3 convolutions, two
per resolution, with a to-RGB output at every resolution summed up the pyramid ("skip" architecture). There
are no noise inputs: the model contract's only inputs are ``z`` and ``label``, so all variation comes from
``z``.
Style mixing: given a second latent ``z2`` and a crossover layer per sample, layers before the crossover take
``w(z)`` and the rest ``w(z2)``; the training loop draws these (with its own seeded generator), export never
passes them.

Discriminator: StyleGAN2's residual network (equalised learning rate, average-pool down-sampling), a
minibatch-standard-deviation channel at 4x4, and a projection of the class embedding onto the features.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from medsynth.training.nets.layers import level_widths
from medsynth.training.nets.modconv import (
    EqualConv2d,
    EqualLinear,
    ModulatedConv2d,
    lrelu,
    normalize_2nd_moment,
)

MAPPING_LR_MUL = 0.01  # the mapping network learns 100x slower (StyleGAN)


class _StyleLayer(nn.Module):
    def __init__(self, cin: int, cout: int, w_dim: int, *, up: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(cin, cout, 3, w_dim, up=up)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return lrelu(self.conv(x, w))


class _SynthesisBlock(nn.Module):
    """Doubles the resolution: modulated conv (up), modulated conv, and this resolution's to-RGB."""

    def __init__(self, cin: int, cout: int, channels: int, w_dim: int) -> None:
        super().__init__()
        self.conv0 = _StyleLayer(cin, cout, w_dim, up=True)
        self.conv1 = _StyleLayer(cout, cout, w_dim)
        self.to_rgb = ModulatedConv2d(cout, channels, 1, w_dim, demodulate=False)

    def forward(
        self, x: torch.Tensor, image: torch.Tensor, ws: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv1(self.conv0(x, ws[0]), ws[1])
        up = nn.functional.interpolate(image, scale_factor=2.0, mode="bilinear", align_corners=False)
        return x, up + self.to_rgb(x, ws[2])


class StyleGANGenerator(nn.Module):
    """z (N, latent_dim), label (N,) -> image (N, C, S, S) in [-1, 1]; optional style mixing in training.

    Parameters
    ----------
    num_classes, latent_dim, image_size, channels, width, max_width
        As for every generator of :mod:`medsynth.training.nets`; ``w`` has ``latent_dim`` entries.
    mapping_layers
        Fully connected layers of the mapping network (2 as StyleGAN2-ADA uses for small data sets).
    """

    def __init__(
        self,
        num_classes: int,
        latent_dim: int,
        image_size: int,
        channels: int,
        width: int = 32,
        max_width: int = 512,
        mapping_layers: int = 2,
    ) -> None:
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        widths = level_widths(image_size, width, max_width)
        w_dim = latent_dim
        self.embed = nn.Embedding(num_classes, latent_dim)
        nn.init.normal_(self.embed.weight)
        self.mapping = nn.Sequential(
            *(
                EqualLinear(2 * latent_dim if i == 0 else w_dim, w_dim, lr_mul=MAPPING_LR_MUL, activate=True)
                for i in range(mapping_layers)
            )
        )
        self.const = nn.Parameter(torch.randn(1, widths[0], 4, 4))
        self.conv = _StyleLayer(widths[0], widths[0], w_dim)
        self.to_rgb = ModulatedConv2d(widths[0], channels, 1, w_dim, demodulate=False)
        self.blocks = nn.ModuleList(
            _SynthesisBlock(a, b, channels, w_dim) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.num_ws = 2 + 2 * len(self.blocks)  # layer k reads ws[k]; to-RGB shares its w with the next conv

    def map(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """The intermediate latent ``w`` (N, latent_dim) of ``z`` and ``label``."""
        x = torch.cat([normalize_2nd_moment(z), normalize_2nd_moment(self.embed(label))], dim=1)
        return self.mapping(x)

    def synthesis(self, ws: list[torch.Tensor]) -> torch.Tensor:
        """Images from ``num_ws`` per-layer latents, each (N, w_dim)."""
        x = self.const.expand(ws[0].shape[0], -1, -1, -1)
        x = self.conv(x, ws[0])
        image = self.to_rgb(x, ws[1])
        for i, block in enumerate(self.blocks):
            x, image = block(x, image, ws[1 + 2 * i : 4 + 2 * i])
        return torch.tanh(image)

    def forward(
        self,
        z: torch.Tensor,
        label: torch.Tensor,
        z2: torch.Tensor | None = None,
        crossover: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Images of ``z`` and ``label``; with ``z2`` and ``crossover`` (int64 (N,) in 1..num_ws), layer k of
        sample n takes ``w(z2)`` from ``k >= crossover[n]`` (``crossover = num_ws`` means no mixing)."""
        w = self.map(z, label)
        if z2 is None or crossover is None:
            return self.synthesis([w] * self.num_ws)
        w2 = self.map(z2, label)
        ws = [torch.where((crossover > k)[:, None], w, w2) for k in range(self.num_ws)]
        return self.synthesis(ws)


def minibatch_std(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """Append the mean standard deviation over groups of ``group`` samples as one more channel."""
    n, c, h, w = x.shape
    g = math.gcd(n, group)
    y = x.reshape(g, -1, c, h, w)
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (n / g,)
    y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


class _DBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(cin, cin, 3)
        self.conv1 = EqualConv2d(cin, cout, 3, down=True)
        self.skip = EqualConv2d(cin, cout, 1, bias=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.skip(x) + lrelu(self.conv1(lrelu(self.conv0(x))))) * math.sqrt(0.5)


class StyleGANDiscriminator(nn.Module):
    """image (N, C, S, S), label (N,) -> score (N,): residual D, minibatch std, class projection."""

    def __init__(
        self, num_classes: int, image_size: int, channels: int, width: int = 32, max_width: int = 512
    ) -> None:
        super().__init__()
        widths = level_widths(image_size, width, max_width)[::-1]  # full resolution first, down to 4x4
        self.from_rgb = EqualConv2d(channels, widths[0], 1)
        self.blocks = nn.Sequential(*(_DBlock(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)))
        top = widths[-1]
        self.conv = EqualConv2d(top + 1, top, 3)
        self.fc = EqualLinear(top * 16, top, activate=True)
        self.out = EqualLinear(top, 1)
        self.embed = nn.Embedding(num_classes, top)
        nn.init.normal_(self.embed.weight)

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        h = self.blocks(lrelu(self.from_rgb(x)))
        h = lrelu(self.conv(minibatch_std(h)))
        h = self.fc(h.flatten(1))
        projection = (self.embed(label) * h).sum(dim=1) / math.sqrt(h.shape[1])
        return self.out(h).squeeze(1) + projection
