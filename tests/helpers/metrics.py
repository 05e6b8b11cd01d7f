"""Helpers of the metric tests: piq as the oracle (imported beside a torchvision stand-in), and small
deterministic image batches."""

from __future__ import annotations

import sys
import types

import numpy as np


class _EmptyModule(types.ModuleType):
    """A stand-in for torchvision: any attribute is a placeholder class (capitalised) or another empty
    module."""

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        value: object = type(name, (), {}) if name[:1].isupper() else _EmptyModule(f"{self.__name__}.{name}")
        setattr(self, name, value)
        return value


def import_piq():
    """Import piq with the torchvision stand-in registered (see the ``piq`` fixture)."""
    if "torchvision" not in sys.modules:
        root = _EmptyModule("torchvision")
        root.__path__ = []  # a package, so that "from torchvision.models import vgg16" resolves
        for sub in ("models", "transforms"):
            module = _EmptyModule(f"torchvision.{sub}")
            setattr(root, sub, module)
            sys.modules[module.__name__] = module
        sys.modules["torchvision"] = root
    import piq as piq_module

    return piq_module


def piq_score(
    piq_module, fn_name: str, x: np.ndarray, y: np.ndarray, data_range: float, **kwargs
) -> np.ndarray:
    """Run a piq metric on (N, H, W[, C]) numpy batches in float64 and return one value per pair."""
    import torch

    def to_tensor(a: np.ndarray) -> torch.Tensor:
        a = a.astype(np.float64)
        if a.ndim == 3:
            a = a[..., None]
        return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))

    fn = getattr(piq_module, fn_name)
    with torch.no_grad():
        out = fn(to_tensor(x), to_tensor(y), data_range=data_range, reduction="none", **kwargs)
    return out.numpy().astype(np.float64)


def noisy_pairs(
    n: int, h: int, w: int, c: int | None, seed: int, dtype=np.uint8
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random images and noisy copies of them: realistic metric values, not all near 0 or 1."""
    rng = np.random.default_rng(seed)
    shape = (n, h, w) if c is None else (n, h, w, c)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.empty(shape, dtype=np.float64)
    for i in range(n):
        fx, fy, ph = rng.uniform(0.02, 0.2), rng.uniform(0.02, 0.2), rng.uniform(0, 6.28)
        img = 0.5 + 0.35 * np.sin(fx * xx + ph) * np.cos(fy * yy)
        base[i] = img[..., None] if c is not None else img
    if c is not None:
        base *= rng.uniform(0.6, 1.0, size=(n, 1, 1, c))
    noisy = base + rng.normal(
        0, rng.uniform(0.02, 0.15), size=(n,) + (1,) * (len(shape) - 1)
    ) * rng.standard_normal(shape)
    x = np.clip(base, 0, 1)
    y = np.clip(noisy, 0, 1)
    if dtype == np.uint8:
        return np.round(x * 255).astype(np.uint8), np.round(y * 255).astype(np.uint8)
    return x.astype(dtype), y.astype(dtype)
