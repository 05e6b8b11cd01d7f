"""Exponential moving average of the generator's weights (Karras et al. 2018): the network exported."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps ``shadow``, a copy of ``model`` whose parameters follow ``decay * shadow + (1 - decay) * model``.

    Before ``start`` updates the shadow simply copies the model (early weights are not worth averaging).
    Buffers (batch-norm statistics) are copied; :func:`recompute_batchnorm_stats` measures them for the
    shadow.
    """

    def __init__(self, model: nn.Module, decay: float, start: int = 0) -> None:
        self.decay, self.start = decay, start
        self.shadow = copy.deepcopy(model).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        decay = self.decay if step >= self.start else 0.0
        for shadow_param, param in zip(self.shadow.parameters(), model.parameters(), strict=True):
            shadow_param.lerp_(param.detach(), 1.0 - decay)
        for shadow_buffer, buffer in zip(self.shadow.buffers(), model.buffers(), strict=True):
            shadow_buffer.copy_(buffer)
