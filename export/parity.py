"""Parity check: onnxruntime on the exported file against torch on the same fresh random inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from medsynth._session import create_session
from medsynth.errors import ModelError

FP32_TOLERANCE = 1e-4  # max abs error allowed for a float32 export (outputs lie in [-1, 1])
# float16 weights: each weight is rounded to 11 significant bits (relative error <= 2**-11 = 4.9e-4); through
# the ~10-20 layers of our generators the image moves by up to a few 1e-3 (measured 1e-3 .. 4e-3, see docs).
FP16_TOLERANCE = 2e-2
BATCH_SIZES = (1, 7, 64)  # batch 1 and sizes that are neither the tracing batch (2) nor a power of two only


@dataclass(frozen=True)
class ParityResult:
    """Max abs error between onnxruntime and torch, per batch size."""

    errors: tuple[tuple[int, float], ...]  # (batch size, max abs error), in the order checked
    tolerance: float  # the bound each error had to stay under
    seed: int  # seed of the random inputs, to reproduce the check

    @property
    def max_error(self) -> float:
        return max(err for _, err in self.errors)


def check_parity(
    net: torch.nn.Module,
    path: Path,
    *,
    latent_dim: int,
    num_classes: int,
    tolerance: float,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
    seed: int | None = None,
) -> ParityResult:
    """Run ``path`` with onnxruntime (through medsynth's session factory) and ``net`` with torch, compare.

    Parameters
    ----------
    net
        The torch generator that was exported, in eval mode.
    path
        The exported ONNX file.
    latent_dim, num_classes
        Shape of ``z`` and range of ``label``.
    tolerance
        Largest allowed max abs error.
    batch_sizes
        Batch sizes to check; each gets fresh ``z`` ~ N(0, 1) and labels covering every class where the batch
        is large enough.
    seed
        Seed of the inputs; ``None`` draws a fresh one from the OS (it is returned, to reproduce a failure).

    Returns
    -------
    ParityResult
        The error per batch size.

    Raises
    ------
    ModelError
        onnxruntime cannot load or run the file, returns a wrong shape or non-finite values, or an error is
        above ``tolerance`` (the message gives every error measured so far and the seed).
    """
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    session = create_session(path, device="cpu").session
    rng = np.random.default_rng(seed)
    errors: list[tuple[int, float]] = []
    for n in batch_sizes:
        z = rng.standard_normal((n, latent_dim)).astype(np.float32)
        label = rng.permutation(np.arange(n, dtype=np.int64) % num_classes)
        with torch.no_grad():
            want = net(torch.from_numpy(z), torch.from_numpy(label)).numpy()
        try:
            (got,) = session.run(["image"], {"z": z, "label": label})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            message = str(exc).strip()[:300]
            raise ModelError(f"{path}: onnxruntime failed on a batch of {n}: {message}") from exc
        if got.shape != want.shape:
            raise ModelError(
                f"{path}: onnxruntime returned shape {got.shape} for a batch of {n}, torch {want.shape}"
            )
        if not np.isfinite(got).all():
            raise ModelError(f"{path}: onnxruntime returned NaN or infinite values for a batch of {n}")
        errors.append((n, float(np.abs(got.astype(np.float64) - want).max())))
        if errors[-1][1] > tolerance:
            measured = ", ".join(f"batch {b}: {e:.3g}" for b, e in errors)
            raise ModelError(
                f"parity check failed: onnxruntime differs from torch by more than "
                f"{tolerance:g} ({measured}; input seed {seed}); the ONNX file was not written"
            )
    return ParityResult(errors=tuple(errors), tolerance=tolerance, seed=seed)
