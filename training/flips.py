"""Flips and quarter turns of the real images (numpy), for sets without an up or a left such as dermoscopy.

``flips`` modes: ``"none"``; ``"x"``, the identity and the mirror; ``"dihedral"``, the eight symmetries of the
square (four turns, each with and without the mirror). Transform ``t`` of a mode works on one ``(H, W, C)``
image or a ``(N, H, W, C)`` batch alike.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TRANSFORMS", "flip"]

TRANSFORMS = {"none": 1, "x": 2, "dihedral": 8}  # how many transforms each mode draws from


def flip(image: np.ndarray, t: int, mode: str) -> np.ndarray:
    """Transform ``t`` (0 = identity, < ``TRANSFORMS[mode]``) of ``image``; a view, not a copy."""
    if mode == "x":
        return image[..., ::-1, :] if t else image
    turned = np.rot90(image, t % 4, axes=(-3, -2))
    return turned[..., ::-1, :] if t >= 4 else turned
