"""Class-conditional generator and discriminator architectures, chosen by name from a registry.

Every generator maps ``(z float (N, latent_dim), label int64 (N,))`` to images ``(N, C, S, S)`` in [-1, 1]
and is built from plain ops that export to ONNX with a dynamic batch axis; every discriminator maps
``(image, label)`` to raw scores ``(N,)``, or ``(N, K)`` when it has K heads that the loss judges one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import Any

from torch import nn

from medsynth.errors import ArgumentError


@dataclass(frozen=True)
class Arch:
    name: str
    # (num_classes, latent_dim, image_size, channels, width, max_width, **options) -> generator
    build_generator: Callable[..., nn.Module]
    # (num_classes, image_size, channels, width, max_width, **d_options) -> discriminator
    build_discriminator: Callable[..., nn.Module]
    default_loss: str
    description: str
    # generator options a TrainConfig may switch on (passed as keyword arguments), e.g. ("lstm",)
    options: tuple[str, ...] = ()
    # discriminator options a TrainConfig may switch on (passed as keyword arguments), e.g. ("pixel_head",)
    d_options: tuple[str, ...] = ()
    # the generator takes (z, label, z2, crossover) for style mixing (see nets/stylegan.py)
    style_mixing: bool = False
    # TrainConfig values the architecture's paper trains with; `medsynth train` starts from them
    presets: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # checks what the networks need beyond torch (e.g. pretrained weights) before any data is read; raises
    # MissingExtraError naming what to install
    check_requirements: Callable[[], object] = lambda: None


def _registry() -> dict[str, Arch]:
    from medsynth.training.nets.dcgan import DCGANDiscriminator, DCGANGenerator
    from medsynth.training.nets.efficientnet_lite import weights_path
    from medsynth.training.nets.fastgan import FastGANGenerator
    from medsynth.training.nets.projected import ProjectedDiscriminator as PretrainedFeatureDiscriminator
    from medsynth.training.nets.sngan import ProjectionDiscriminator, SNGANGenerator
    from medsynth.training.nets.stylegan import StyleGANDiscriminator, StyleGANGenerator
    from medsynth.training.nets.wgangp import WGANGPCritic, WGANGPGenerator

    archs = [
        Arch(
            "dcgan",
            DCGANGenerator,
            DCGANDiscriminator,
            "nonsaturating",
            "DCGAN: transposed convolutions, batch norm, label embedding concatenated to z",
        ),
        Arch(
            "sngan",
            SNGANGenerator,
            ProjectionDiscriminator,
            "hinge",
            "SNGAN: ResNet G with class-conditional batch norm, spectral-norm ResNet D with projection",
            presets=MappingProxyType({"beta1": 0.0, "beta2": 0.99, "lr_d": 4e-4}),
        ),
        Arch(
            "sngan-cnn",
            SNGANGenerator,
            partial(DCGANDiscriminator, spectral=True),
            "hinge",
            "SNGAN with the 'standard CNN' discriminator of Miyato et al.: ResNet G with class-conditional "
            "batch norm, strided spectral-norm convolutions with projection in D (about 4x cheaper than the "
            "ResNet D at the same width; the bundled model's architecture)",
            presets=MappingProxyType({"beta1": 0.0, "beta2": 0.99, "lr_d": 4e-4}),
        ),
        Arch(
            "sngan-aa",
            SNGANGenerator,
            partial(DCGANDiscriminator, spectral=True, antialias=True),
            "hinge",
            "sngan-cnn with an anti-aliased discriminator: a binomial blur before every stride-2 "
            "convolution, so periodic artefacts cannot hide in what a strided D aliases (measured worse "
            "than sngan-cnn on ISIC 2017 at 64 px, see docs/training.md)",
            presets=MappingProxyType({"beta1": 0.0, "beta2": 0.99, "lr_d": 4e-4}),
        ),
        Arch(
            "projected",
            FastGANGenerator,
            PretrainedFeatureDiscriminator,
            "hinge",
            "Projected GAN: FastGAN-style G (nearest up-sampling, class-conditional batch norm, skip-layer "
            "excitation); D on a frozen ImageNet EfficientNet-Lite0 feature pyramid (strides 4-32) with "
            "fixed random channel and scale mixing and a class-projection head per scale",
            presets=MappingProxyType(
                {
                    "beta1": 0.0,
                    "beta2": 0.99,
                    "lr_g": 2e-4,
                    "lr_d": 2e-4,
                    "diffaugment": "color,translation,cutout",
                }
            ),
            options=("bilinear",),
            d_options=("pixel_head",),
            check_requirements=weights_path,
        ),
        Arch(
            "wgan-gp",
            WGANGPGenerator,
            WGANGPCritic,
            "wasserstein",
            "WGAN-GP: ResNet G (optional 2-layer LSTM over the latent), critic without normalisation, "
            "gradient penalty",
            options=("lstm",),
            presets=MappingProxyType({"n_critic": 5, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9}),
        ),
        Arch(
            "stylegan",
            StyleGANGenerator,
            StyleGANDiscriminator,
            "nonsaturating",
            "StyleGAN2-style: mapping network, modulated convolutions, style mixing; residual D with "
            "minibatch std and projection, R1",
            style_mixing=True,
            presets=MappingProxyType(
                {"r1_gamma": 0.1, "lr_g": 2e-3, "lr_d": 2e-3, "beta1": 0.0, "beta2": 0.99}
            ),
        ),
    ]
    table: dict[str, Arch] = {}
    for arch in archs:
        if arch.name in table:
            raise ValueError(f"architecture {arch.name!r} registered twice")
        table[arch.name] = arch
    return table


def get_arch(name: str) -> Arch:
    """The architecture called ``name``; ArgumentError listing the known ones otherwise."""
    table = _registry()
    if name not in table:
        raise ArgumentError(f"unknown architecture {name!r}; choose from {', '.join(sorted(table))}")
    return table[name]


def arch_names() -> list[str]:
    return sorted(_registry())
