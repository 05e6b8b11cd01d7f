"""The generator a checkpoint holds, ready for export: EMA weights, standing BN statistics, eval mode."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from medsynth.errors import ArgumentError, DataError
from medsynth.training.checkpoint import Checkpoint
from medsynth.training.config import TrainConfig
from medsynth.training.nets.factory import build_networks
from medsynth.training.nets.layers import recompute_batchnorm_stats

WEIGHTS = ("auto", "ema", "raw")


@dataclass(frozen=True)
class LoadedGenerator:
    """The generator to export and what it is."""

    net: torch.nn.Module  # in eval mode, BN statistics measured for these weights
    config: TrainConfig  # the training config of the checkpoint
    classes: tuple[str, ...]  # ordered class names
    channels: int  # 1 or 3
    weights: str  # "G_ema" or "G": which tensors of the checkpoint were used


def load_generator(ckpt: Checkpoint, *, weights: str = "auto") -> LoadedGenerator:
    """Build the generator of ``ckpt`` and load its weights.

    Parameters
    ----------
    ckpt
        A checkpoint read with :func:`medsynth.training.checkpoint.load_checkpoint`.
    weights
        ``"auto"`` (the EMA generator when the checkpoint has one, else the training generator), ``"ema"`` or
        ``"raw"``.

    Returns
    -------
    LoadedGenerator
        The network in eval mode. Its batch-norm running statistics are recomputed from the weights
        (:func:`recompute_batchnorm_stats`, seeded with the run's seed): the EMA generator's stored statistics
        belong to the training generator, and eval-mode outputs are wrong without this.

    Raises
    ------
    ArgumentError
        ``weights`` is not one of :data:`WEIGHTS`, or the config names an unknown architecture.
    DataError
        The asked-for weights are not in the checkpoint, or the tensors do not fit the network the config
        describes.
    """
    if weights not in WEIGHTS:
        raise ArgumentError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    config, classes, channels = ckpt.meta.config, ckpt.meta.classes, ckpt.meta.channels  # checked on load

    has_ema = any(k.startswith("G_ema.") for k in ckpt.tensors)
    if weights == "ema" and not has_ema:
        raise DataError(f"{ckpt.path} has no EMA generator (G_ema); export with weights 'raw' or 'auto'")
    prefix = "G_ema" if (weights == "ema" or (weights == "auto" and has_ema)) else "G"
    state = ckpt.state(prefix)
    if not state:
        raise DataError(f"{ckpt.path} holds no generator tensors ({prefix}.*); is it a medsynth checkpoint?")

    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG alone; every tensor is overwritten below
        torch.manual_seed(config.seed)
        net, _ = build_networks(config, len(classes), channels)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise DataError(
            f"{ckpt.path}: the {prefix} tensors do not fit the {config.arch!r} generator its "
            f"config describes ({first})"
        ) from exc
    net.float()
    recompute_batchnorm_stats(net, len(classes), config.latent_dim, seed=config.seed)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return LoadedGenerator(net=net, config=config, classes=classes, channels=channels, weights=prefix)
