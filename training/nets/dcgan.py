"""Conditional DCGAN (Radford et al. 2016), the baseline of the source projects: transposed-convolution
generator with batch norm, strided-convolution discriminator. The class enters G as a learned embedding
concatenated to z, and D through a projection head (Miyato & Koyama 2018)."""

from __future__ import annotations

import torch
from torch import nn

from medsynth.training.nets.layers import Blur, level_widths, sn


class DCGANGenerator(nn.Module):
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
        self.embed = nn.Embedding(num_classes, latent_dim)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(2 * latent_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        layers += [nn.Conv2d(widths[-1], channels, 3, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, self.embed(label)], dim=1)
        return self.net(h[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """image (N, C, S, S), label (N,) -> score (N,). Spectral norm is optional (off in the classic DCGAN).

    With ``antialias`` every stride-2 convolution is preceded by a binomial blur: a bare strided
    convolution aliases, so some periodic patterns fold onto others and the generator can paint a lattice
    the discriminator does not tell from skin (the first bundled model's defect).
    """

    def __init__(
        self,
        num_classes: int,
        image_size: int,
        channels: int,
        width: int = 32,
        max_width: int = 512,
        spectral: bool = False,
        antialias: bool = False,
    ) -> None:
        super().__init__()
        widths = level_widths(image_size, width, max_width)[::-1]  # full resolution first, down to 4x4
        layers: list[nn.Module] = []
        cin = channels
        for i, cout in enumerate(widths[1:]):
            if antialias:
                layers.append(Blur())
            layers.append(sn(nn.Conv2d(cin, cout, 4, 2, 1, bias=spectral or i == 0), spectral))
            if i > 0 and not spectral:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(0.2, True))
            cin = cout
        self.net = nn.Sequential(*layers)
        self.head = sn(nn.Linear(cin, 1), spectral)
        self.embed = sn(nn.Embedding(num_classes, cin), spectral)

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        h = self.net(x).sum(dim=(2, 3))
        return self.head(h).squeeze(1) + (self.embed(label) * h).sum(dim=1)
