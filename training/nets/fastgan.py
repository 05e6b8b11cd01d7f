"""A class-conditional generator in the style of FastGAN (Liu et al., ICLR 2021), sized for a CPU: nearest
up-sampling and 3x3 convolutions with class-conditional batch norm, and skip-layer excitation (SLE), by which
a 4x4 or 8x8 feature map gates the channels of the 64x64 and 128x128 ones.

Only ops that onnxruntime runs in its fast NCHWc layout are used (nearest Resize, Conv, Relu, Sigmoid, Tanh;
no transposed convolutions), so the exported generator stays in that layout.

With ``bilinear`` the up-sampling is bilinear (half-pixel centres, as ONNX Resize ``linear``). Nearest
up-sampling makes 2x2 blocks of equal values; the 3x3 convolutions after it see where a block ends, so the
generator can paint, and in practice paints, a pattern with a period of two pixels: power at the sampling
limit (0.5, 0.5) about ten times the real images' and single off-colour pixels (docs/training.md). Bilinear
up-sampling equals nearest up-sampling followed by a [1, 2, 1] / 4 smoothing along each axis (away from the
borders): it leaves no block edges.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from medsynth.training.nets.layers import ConditionalBatchNorm2d, level_widths

SLE_FROM = 4  # a level is excited by the level four below it (4x4 gates 64x64, 8x8 gates 128x128)
TWO_CONVS_BELOW = 64  # levels under this resolution have two convolutions, the costly top levels one


class _UpBlock(nn.Module):
    """x2 nearest (or bilinear) up-sampling, then one or two (3x3 convolution, conditional batch norm,
    ReLU)."""

    def __init__(self, cin: int, cout: int, num_classes: int, convs: int, bilinear: bool = False) -> None:
        super().__init__()
        self.mode = "bilinear" if bilinear else "nearest"
        ins = [cin] + [cout] * (convs - 1)
        self.convs = nn.ModuleList(nn.Conv2d(a, cout, 3, padding=1, bias=False) for a in ins)
        self.norms = nn.ModuleList(ConditionalBatchNorm2d(cout, num_classes) for _ in ins)

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(x, scale_factor=2.0, mode=self.mode)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = F.relu(norm(conv(h), label))
        return h


class _SkipExcitation(nn.Module):
    """SLE: channel gates for a high-resolution map from a low-resolution one (pooled to 4x4)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(cin, cout, 4, bias=False)
        self.excite = nn.Conv2d(cout, cout, 1, bias=False)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        if low.shape[-1] != 4:
            low = F.avg_pool2d(low, low.shape[-1] // 4)
        gate = torch.sigmoid(self.excite(F.silu(self.squeeze(low))))
        return high * gate


class FastGANGenerator(nn.Module):
    """z (N, latent_dim), label (N,) -> image (N, C, S, S) in [-1, 1].

    ``width`` is the number of channels at full resolution, doubling per level down to ``max_width``;
    ``bilinear`` selects bilinear up-sampling (module docstring).
    """

    def __init__(
        self,
        num_classes: int,
        latent_dim: int,
        image_size: int,
        channels: int,
        width: int = 16,
        max_width: int = 256,
        bilinear: bool = False,
    ) -> None:
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        widths = level_widths(image_size, width, max_width)
        self.base = widths[0]
        self.fc = nn.Linear(latent_dim, 4 * 4 * widths[0])
        self.fc_norm = ConditionalBatchNorm2d(widths[0], num_classes)
        self.blocks = nn.ModuleList(
            _UpBlock(a, b, num_classes, 2 if 8 * 2**i < TWO_CONVS_BELOW else 1, bilinear)
            for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True))
        )
        # level i (side 4 * 2**i) is gated by level i - SLE_FROM
        self.sle = nn.ModuleDict(
            {str(i): _SkipExcitation(widths[i - SLE_FROM], widths[i]) for i in range(SLE_FROM, len(widths))}
        )
        self.out = nn.Conv2d(widths[-1], channels, 3, padding=1)

    def forward(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.fc_norm(self.fc(z).view(z.shape[0], self.base, 4, 4), label))
        levels = [h]
        for i, block in enumerate(self.blocks, start=1):
            h = block(h, label)
            if str(i) in self.sle:
                h = self.sle[str(i)](levels[i - SLE_FROM], h)
            levels.append(h)
        return torch.tanh(self.out(h))
