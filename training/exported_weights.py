"""A generator's torch weights read back from its exported ONNX file (to fine-tune it, or to time it).

The exporter writes the EMA generator in eval mode, and torch's ONNX optimiser folds each BatchNorm's
running statistics into the convolution before it: the file then holds the folded kernel under the
convolution's name and its new bias as ``<conv>.weight_bias``. The projected generator's BatchNorms keep only
a class-conditional affine and its convolutions have no bias, so such a norm becomes the identity on
statistics (mean = -folded bias, var = 1 - eps) and the network computes what the file computes. In training
mode a BatchNorm normalises by the batch's own statistics, which the folding's per-channel scale does not
change, so fine-tuning starts from the same function too. Other architectures' exports fold layers that this
does not undo: :func:`exported_state` then reports the tensors it could not supply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from medsynth.model_card import ModelCard
from medsynth.training.config import TrainConfig

__all__ = ["card_config", "exported_state"]

FOLDED_BIAS = ".weight_bias"


def _plain(value: Any) -> Any:
    """A card's frozen mappings as the plain dicts :class:`TrainConfig` reads."""
    return {k: _plain(v) for k, v in value.items()} if hasattr(value, "items") else value


def card_config(card: ModelCard) -> TrainConfig:
    """The training config a model card records (its provenance), which builds the exported network."""
    return TrainConfig.from_dict(_plain(card.provenance["config"]))


def exported_state(net: nn.Module, path: Path) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The floating-point tensors of ``net``'s state dict that the ONNX file at ``path`` supplies.

    Parameters
    ----------
    net
        The generator as the card's training config builds it.
    path
        The exported ``.onnx`` file.

    Returns
    -------
    tuple
        The tensors by state-dict name (float32, on the CPU), and the names of the floating-point tensors it
        could not supply (empty when the file and the network match).
    """
    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    state = net.state_dict()
    loaded = {
        k: torch.from_numpy(np.array(weights[k], dtype=np.float32))
        for k, v in state.items()
        if k in weights and tuple(weights[k].shape) == tuple(v.shape) and v.is_floating_point()
    }
    folded = [k for k in weights if k.endswith(FOLDED_BIAS)]
    norms = [
        (name, m)
        for name, m in net.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and f"{name}.running_mean" not in weights
    ]
    if len(folded) == len(norms):  # both in module order: the i-th folded convolution feeds the i-th norm
        for bias_name, (name, norm) in zip(folded, norms, strict=True):
            bias = torch.from_numpy(np.array(weights[bias_name], dtype=np.float32))
            if norm.running_mean is None or bias.shape != norm.running_mean.shape:
                break
            loaded[f"{name}.running_mean"] = -bias
            loaded[f"{name}.running_var"] = torch.full_like(bias, 1 - norm.eps)
    missing = [k for k, v in state.items() if v.is_floating_point() and k not in loaded]
    return loaded, missing
