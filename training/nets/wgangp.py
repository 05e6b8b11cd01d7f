"""WGAN-GP (Gulrajani et al. 2017): a ResNet generator and a critic without any normalisation, trained with
the Wasserstein loss and the gradient penalty (the training loop applies it).

The generator takes ``[z, embedding(label)]``. Without ``lstm`` a linear layer maps it to the 4x4 seed feature
map; with ``lstm`` (as in the WGAN-GP + LSTM skin-disease work) a 2-layer LSTM reads the latent once per seed
position, so the 16 positions of the 4x4 map are written one after the other, each from the LSTM's state.
torch's ``nn.LSTM`` exports to ONNX as the standard ``LSTM`` operator, batch axis dynamic. Up-sampling uses
SNGAN's residual blocks with class-conditional batch norm. The critic is the projection ResNet without
spectral norm: batch norm would make the penalised gradient of one sample depend on the others.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from medsynth.training.nets.layers import ResBlockUp, level_widths
from medsynth.training.nets.sngan import ProjectionDiscriminator

SEED_POSITIONS = 16  # 4 x 4


class WGANGPGenerator(nn.Module):
    """z (N, latent_dim), label (N,) -> image (N, C, S, S) in [-1, 1].

    Parameters
    ----------
    num_classes, latent_dim, image_size, channels, width, max_width
        As for every generator of :mod:`medsynth.training.nets`.
    lstm
        Write the 4x4 seed map with a 2-layer LSTM over the latent instead of one linear layer.
    """

    def __init__(
        self,
        num_classes: int,
        latent_dim: int,
        image_size: int,
        channels: int,
        width: int = 32,
        max_width: int = 512,
        lstm: bool = False,
    ) -> None:
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        widths = level_widths(image_size, width, max_width)
        self.base = widths[0]
        self.embed = nn.Embedding(num_classes, latent_dim)
        if lstm:
            self.lstm = nn.LSTM(2 * latent_dim, widths[0], num_layers=2, batch_first=True)
        else:
            self.fc = nn.Linear(2 * latent_dim, SEED_POSITIONS * widths[0])
        self.blocks = nn.ModuleList(
            ResBlockUp(a, b, num_classes) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.out_bn = nn.BatchNorm2d(widths[-1])
        self.out = nn.Conv2d(widths[-1], channels, 3, padding=1)

    def seed(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """The 4x4 feature map (N, base, 4, 4) the up-sampling blocks start from."""
        code = torch.cat([z, self.embed(label)], dim=1)
        if hasattr(self, "lstm"):
            steps = code[:, None, :].expand(-1, SEED_POSITIONS, -1)  # (N, 16, 2 * latent_dim)
            out, _ = self.lstm(steps)  # (N, 16, base)
            return out.transpose(1, 2).reshape(z.shape[0], self.base, 4, 4)
        return self.fc(code).view(z.shape[0], self.base, 4, 4)

    def forward(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        h = self.seed(z, label)
        for block in self.blocks:
            h = block(h, label)
        return torch.tanh(self.out(F.relu(self.out_bn(h))))


class WGANGPCritic(ProjectionDiscriminator):
    """image (N, C, S, S), label (N,) -> unbounded score (N,): the projection ResNet, no normalisation."""

    def __init__(
        self, num_classes: int, image_size: int, channels: int, width: int = 32, max_width: int = 512
    ) -> None:
        super().__init__(num_classes, image_size, channels, width, max_width, spectral=False)
