"""The networks a :class:`~medsynth.training.config.TrainConfig` names: checked, then built.

The trainer builds its networks here, and export rebuilds a checkpoint's generator here, so export depends on
the networks and not on the training loop.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from medsynth.errors import ArgumentError
from medsynth.training.augment import parse_policy
from medsynth.training.config import TrainConfig
from medsynth.training.nets import Arch, arch_names, get_arch

__all__ = ["build_networks", "check_config"]


def check_config(config: TrainConfig) -> Arch:
    """Check what ``config`` names before any data is read: the architecture, its options, the DiffAugment
    policy; return the architecture.

    Raises
    ------
    ArgumentError
        An unknown architecture or DiffAugment policy, or an option (``lstm``, ``bilinear``,
        ``class_weight``, ``class_mmd_weight``, ``pixel_head``) the architecture does not have.
    MissingExtraError
        What the architecture needs beyond torch (the projected discriminator's pretrained weights) is not
        installed.
    """
    arch = get_arch(config.arch)
    arch.check_requirements()
    for kind, field in (("generator", "options"), ("discriminator", "d_options")):
        for name in sorted({n for a in arch_names() for n in getattr(get_arch(a), field)}):
            if getattr(config, name) and name not in getattr(arch, field):
                owner = next(a for a in arch_names() if name in getattr(get_arch(a), field))
                raise ArgumentError(
                    f"{name} is not an option of the {arch.name} architecture's {kind}; it is one of "
                    f"{owner}'s: set it to false or use --arch {owner}"
                )
    for name in ("class_weight", "class_mmd_weight"):
        if getattr(config, name) > 0 and arch.name != "projected":
            raise ArgumentError(
                f"{name} needs the pretrained features of --arch projected, not "
                f"{arch.name}; set it to 0 or use --arch projected"
            )
    parse_policy(config.diffaugment)
    return arch


def build_networks(config: TrainConfig, num_classes: int, channels: int) -> tuple[nn.Module, nn.Module]:
    """The generator and discriminator ``config`` names, freshly initialised from the current torch seed.

    Raises
    ------
    ArgumentError, MissingExtraError
        As :func:`check_config`.
    """
    arch = check_config(config)
    options: dict[str, Any] = {name: True for name in arch.options if getattr(config, name)}
    g = arch.build_generator(
        num_classes,
        config.latent_dim,
        config.image_size,
        channels,
        config.g_width,
        config.max_width,
        **options,
    )
    d_options: dict[str, Any] = {name: True for name in arch.d_options if getattr(config, name)}
    d = arch.build_discriminator(
        num_classes, config.image_size, channels, config.d_width, config.max_width, **d_options
    )
    return g, d
