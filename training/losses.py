"""GAN losses: hinge, non-saturating (logistic) and Wasserstein, plus R1 and the WGAN-GP gradient penalty."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

LOSSES = ("hinge", "nonsaturating", "wasserstein")


def d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Discriminator loss from its scores on real and fake images."""
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if kind == "nonsaturating":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "wasserstein":
        return fake.mean() - real.mean()
    raise ValueError(f"unknown loss {kind!r}; choose from {', '.join(LOSSES)}")


def g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """Generator loss from the discriminator's scores on fake images."""
    if kind == "nonsaturating":
        return F.softplus(-fake).mean()
    if kind in ("hinge", "wasserstein"):
        return -fake.mean()
    raise ValueError(f"unknown loss {kind!r}; choose from {', '.join(LOSSES)}")


def r1_penalty(score_fn: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor) -> torch.Tensor:
    """Mean squared gradient norm of D at real images (Mescheder et al. 2018); multiply by gamma / 2."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(score_fn(real).sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def gradient_penalty(
    score_fn: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator,
    alpha: torch.Tensor | None = None,
) -> torch.Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017): (||grad D(x_hat)|| - 1)^2 on random interpolates.

    ``alpha`` (N, 1, 1, 1) are the interpolation weights; by default drawn from ``generator``.
    """
    if alpha is None:
        alpha = torch.rand(real.shape[0], 1, 1, 1, generator=generator)
    alpha = alpha.to(real.device, real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(score_fn(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()
