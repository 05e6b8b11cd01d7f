"""Deterministic latents: image ``i`` of class ``c`` under seed ``s`` always gets the same ``z``.

The latent of one image comes from its own random stream, ``numpy.random.SeedSequence(s, spawn_key=(c, i))``,
so it does not depend on the batch size, the thread count, the order of generation, or how the work is split
across processes or machines. Resume and scale-out rely on this.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from medsynth._checks import MAX_INDEX, MAX_SEED, check_int
from medsynth.errors import ArgumentError

__all__ = ["check_seed", "latent", "latents"]


def check_seed(seed: int) -> int:
    """Return ``seed`` if it is an integer from 0 to 2**63 - 1.

    Raises
    ------
    ArgumentError
        ``seed`` is negative, too large or not an integer.
    """
    return check_int("seed", seed, low=0, high=MAX_SEED)


def latent(seed: int, class_index: int, index: int, latent_dim: int) -> np.ndarray:
    """Return the latent vector of one image.

    Parameters
    ----------
    seed
        The run seed (non-negative).
    class_index
        The class label value.
    index
        The image's index within its class (non-negative).
    latent_dim
        Length of the vector.

    Returns
    -------
    numpy.ndarray
        ``float32`` standard normal vector of shape ``(latent_dim,)``.
    """
    sequence = np.random.SeedSequence(seed, spawn_key=(class_index, index))
    return np.random.Generator(np.random.PCG64(sequence)).standard_normal(latent_dim, dtype=np.float32)


def latents(seed: int, class_index: int, indices: Iterable[int], latent_dim: int) -> np.ndarray:
    """Return the latents of several images of one class: row ``k`` is ``latent(..., indices[k], ...)``.

    Parameters
    ----------
    seed, class_index, latent_dim
        As for :func:`latent`.
    indices
        Image indices within the class (non-negative), in the order wanted.

    Returns
    -------
    numpy.ndarray
        ``float32`` array of shape ``(len(indices), latent_dim)``.

    Raises
    ------
    ArgumentError
        A negative seed or index.
    """
    check_seed(seed)
    rows = [int(i) for i in indices]
    if rows and (min(rows) < 0 or max(rows) > MAX_INDEX):
        bad = min(rows) if min(rows) < 0 else max(rows)
        raise ArgumentError(f"image indices must be between 0 and {MAX_INDEX}, got {bad}")
    out = np.empty((len(rows), latent_dim), dtype=np.float32)
    for row, index in enumerate(rows):
        out[row] = latent(seed, class_index, index, latent_dim)
    return out
