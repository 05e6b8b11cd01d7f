"""DiffAugment (Zhao et al. 2020): differentiable colour, translation and cutout applied to every image the
discriminator sees, real and fake alike, so that D cannot memorise a small training set.

All randomness comes from the ``generator`` passed in, so a run is reproducible and resumable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from medsynth.errors import ArgumentError

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"color,translation"`` -> ("color", "translation"); ArgumentError naming an unknown part."""
    parts = tuple(p.strip() for p in policy.split(",") if p.strip())
    for p in parts:
        if p not in POLICIES:
            raise ArgumentError(f"unknown DiffAugment policy {p!r}; choose from {', '.join(POLICIES)}")
    return parts


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], generator: torch.Generator) -> torch.Tensor:
    """Augment a batch (N, C, H, W) in [-1, 1]; gradients flow to ``x`` through every operation."""
    for part in policy:
        x = _OPS[part](x, generator)
    return x.contiguous()


def _rand(n: int, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, 1, 1, 1, generator=generator).to(x.device, x.dtype)


def _color(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    x = x + (_rand(n, x, g) - 0.5)  # brightness
    if x.shape[1] == 3:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (_rand(n, x, g) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(n, x, g) + 0.5) + mean  # contrast


def _translation(x: torch.Tensor, g: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    tx = torch.randint(-sh, sh + 1, (n, 1, 1), generator=g).to(x.device)
    ty = torch.randint(-sw, sw + 1, (n, 1, 1), generator=g).to(x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = torch.clamp(gy[None] + tx + 1, 0, h + 1)
    gx = torch.clamp(gx[None] + ty + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])  # zeros beyond the border, as in the reference implementation
    idx = (gy * (w + 2) + gx).view(n, 1, h * w).expand(-1, x.shape[1], -1)
    return padded.flatten(2).gather(2, idx).view_as(x)


def _cutout(x: torch.Tensor, g: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=g).to(x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=g).to(x.device)
    gy = torch.arange(h, device=x.device).view(1, h, 1)
    gx = torch.arange(w, device=x.device).view(1, 1, w)
    y0, x0 = oy - ch // 2, ox - cw // 2
    keep = ~((gy >= y0) & (gy < y0 + ch) & (gx >= x0) & (gx < x0 + cw))
    return x * keep.unsqueeze(1).to(x.dtype)


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}
