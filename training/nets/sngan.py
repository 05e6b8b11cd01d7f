"""SNGAN (Miyato & Koyama 2018): ResNet generator with class-conditional batch norm, and a ResNet
discriminator with spectral normalisation and a projection head for the class."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from medsynth.training.nets.layers import ResBlockUp, level_widths, sn


class SNGANGenerator(nn.Module):
    """z (N, latent_dim), label (N,) -> image (N, C, S, S) in [-1, 1]."""

    def __init__(
        self,
        num_classes: int,
        latent_dim: int,
        image_size: int,
        channels: int,
        width: int = 32,
        max_width: int = 512,
    ) -> None:
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        widths = level_widths(image_size, width, max_width)
        self.base = widths[0]
        self.fc = nn.Linear(latent_dim, 4 * 4 * widths[0])
        self.blocks = nn.ModuleList(
            ResBlockUp(a, b, num_classes) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.out_bn = nn.BatchNorm2d(widths[-1])
        self.out = nn.Conv2d(widths[-1], channels, 3, padding=1)

    def forward(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], self.base, 4, 4)
        for block in self.blocks:
            h = block(h, label)
        return torch.tanh(self.out(F.relu(self.out_bn(h))))


class _DBlock(nn.Module):
    def __init__(self, cin: int, cout: int, *, first: bool, spectral: bool) -> None:
        super().__init__()
        self.first = first
        self.conv1 = sn(nn.Conv2d(cin, cout, 3, padding=1), spectral)
        self.conv2 = sn(nn.Conv2d(cout, cout, 3, padding=1), spectral)
        self.skip = sn(nn.Conv2d(cin, cout, 1), spectral)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(h))), 2)
        s = self.skip(F.avg_pool2d(x, 2)) if self.first else F.avg_pool2d(self.skip(x), 2)
        return h + s


class ProjectionDiscriminator(nn.Module):
    """image (N, C, S, S), label (N,) -> score (N,): ResNet features, a linear head plus the class projection.

    With ``spectral=False`` it is the WGAN-GP critic: no normalisation at all (Gulrajani et al. 2017 sec. 4).
    """

    def __init__(
        self,
        num_classes: int,
        image_size: int,
        channels: int,
        width: int = 32,
        max_width: int = 512,
        spectral: bool = True,
    ) -> None:
        super().__init__()
        widths = level_widths(image_size, width, max_width)[::-1][:-1]  # full resolution first, down to 8x8
        ins = [channels] + widths[:-1]
        self.blocks = nn.Sequential(
            *(
                _DBlock(a, b, first=i == 0, spectral=spectral)
                for i, (a, b) in enumerate(zip(ins, widths, strict=True))
            )
        )
        top = widths[-1]
        self.head = sn(nn.Linear(top, 1), spectral)
        self.embed = sn(nn.Embedding(num_classes, top), spectral)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.blocks(x)).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        return self.head(h).squeeze(1) + (self.embed(label) * h).sum(dim=1)
