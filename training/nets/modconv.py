"""StyleGAN2 layers from plain ops (Karras et al. 2020): equalised learning rate and modulated convolution.

The modulated convolution is the "non-fused" form of StyleGAN2: scale the input channels by the style,
convolve with the shared weight, then scale the output channels by the demodulation coefficients. It is
exactly the per-sample weight ``w'_ijk = s_i w_ijk / sqrt(sum_ik (s_i w_ijk)^2 + eps)`` but needs neither a
grouped convolution whose group count is the batch size (which ONNX cannot keep dynamic) nor custom kernels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_GAIN = math.sqrt(2.0)  # keeps the activations' second moment through leaky ReLU (slope 0.2)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU (0.2) scaled by sqrt(2), StyleGAN's activation."""
    return F.leaky_relu(x, 0.2) * LRELU_GAIN


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row of ``x`` (N, F) to unit mean square ("pixel norm" of the latent)."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


class EqualLinear(nn.Module):
    """Fully connected layer with equalised learning rate: weights stored N(0, 1), scaled at run time.

    ``lr_mul`` slows the layer down (0.01 in the mapping network); ``activate`` applies :func:`lrelu`.
    """

    def __init__(
        self, cin: int, cout: int, *, bias_init: float = 0.0, lr_mul: float = 1.0, activate: bool = False
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_mul)
        self.bias = nn.Parameter(torch.full((cout,), float(bias_init) / lr_mul))
        self.scale, self.lr_mul, self.activate = lr_mul / math.sqrt(cin), lr_mul, activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return lrelu(out) if self.activate else out


class EqualConv2d(nn.Module):
    """Convolution with equalised learning rate, 'same' padding, optional 2x average-pool down-sampling."""

    def __init__(self, cin: int, cout: int, kernel: int, *, bias: bool = True, down: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.scale, self.down = 1.0 / math.sqrt(cin * kernel * kernel), down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight * self.scale, self.bias, padding=self.weight.shape[-1] // 2)
        return F.avg_pool2d(x, 2) if self.down else x


class ModulatedConv2d(nn.Module):
    """Convolution whose input channels are scaled per sample by a style from ``w`` (N, w_dim).

    ``demodulate`` normalises each output channel to unit expected scale (off for the to-RGB layers);
    ``up`` first doubles the resolution (bilinear), before the convolution.
    """

    def __init__(
        self, cin: int, cout: int, kernel: int, w_dim: int, *, demodulate: bool = True, up: bool = False
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.affine = EqualLinear(w_dim, cin, bias_init=1.0)  # styles start at 1: unmodulated at first
        self.scale = 1.0 / math.sqrt(cin * kernel * kernel)
        self.demodulate, self.up = demodulate, up

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)  # (N, Cin)
        weight = self.weight * self.scale
        if self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = F.conv2d(x * styles[:, :, None, None], weight, padding=weight.shape[-1] // 2)
        if self.demodulate:
            # sum over (i, k) of (s_i w_oik)^2 = (s^2) @ (sum_k w^2)^T: one (N, Cin) x (Cin, Cout) product
            coeff = torch.rsqrt(styles.square() @ weight.square().sum(dim=(2, 3)).t() + 1e-8)
            x = x * coeff[:, :, None, None]
        return x + self.bias[None, :, None, None]
