"""Class-conditional generator and discriminator architectures, chosen by name from a registry.

Every generator maps ``(z float (N, latent_dim), label int64 (N,))`` to images ``(N, C, S, S)`` in [-1, 1] and is
built from plain ops that export to ONNX; every discriminator maps ``(image, label)`` to raw scores ``(N,)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from medsynth.errors import DataError


@dataclass(frozen=True)
class Arch:
    name: str
    build_generator: Callable[..., nn.Module]      # (num_classes, latent_dim, image_size, channels, width, max_width, **options)
    build_discriminator: Callable[..., nn.Module]  # (num_classes, image_size, channels, width, max_width)
    default_loss: str
    description: str


def _registry() -> dict[str, Arch]:
    from medsynth.training.nets.dcgan import DCGANDiscriminator, DCGANGenerator
    from medsynth.training.nets.sngan import ProjectionDiscriminator, SNGANGenerator

    archs = [
        Arch("dcgan", DCGANGenerator, DCGANDiscriminator, "nonsaturating",
             "DCGAN: transposed convolutions, batch norm, label embedding concatenated to z"),
        Arch("sngan", SNGANGenerator, ProjectionDiscriminator, "hinge",
             "SNGAN: ResNet G with class-conditional batch norm, spectral-norm ResNet D with projection"),
    ]
    for extra in _optional_archs():
        archs.append(extra)
    table: dict[str, Arch] = {}
    for arch in archs:
        if arch.name in table:
            raise ValueError(f"architecture {arch.name!r} registered twice")
        table[arch.name] = arch
    return table


def _optional_archs() -> list[Arch]:
    return []


def get_arch(name: str) -> Arch:
    """The architecture called ``name``; DataError listing the known ones otherwise."""
    table = _registry()
    if name not in table:
        raise DataError(f"unknown architecture {name!r}; choose from {', '.join(sorted(table))}")
    return table[name]


def arch_names() -> list[str]:
    return sorted(_registry())
