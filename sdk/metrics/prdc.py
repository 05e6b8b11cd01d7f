"""Precision, recall, density and coverage of a synthetic feature set (Naeem et al. 2020)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medsynth.errors import DataError
from medsynth.metrics._refined_neighbours import ball_counts, centred_pair, kth_neighbour_sq

__all__ = ["PRDCResult", "prdc"]


@dataclass(frozen=True)
class PRDCResult:
    """The four k-nearest-neighbour manifold metrics."""

    precision: float  # share of synthetic samples inside some real sample's k-NN ball (fidelity)
    recall: float  # share of real samples inside some synthetic sample's k-NN ball (diversity)
    density: float  # mean number of real k-NN balls holding a synthetic sample, divided by k (can exceed 1)
    coverage: float  # share of real samples whose k-NN ball holds at least one synthetic sample
    k: int  # the neighbourhood size


def prdc(real: np.ndarray, synthetic: np.ndarray, k: int = 5) -> PRDCResult:
    """Precision, recall, density and coverage with k-nearest-neighbour balls in Euclidean feature space.

    Parameters
    ----------
    real, synthetic : numpy.ndarray
        Feature arrays (N1, D) and (N2, D), each with more than k rows.
    k : int
        Neighbourhood size (5 as recommended by Naeem et al.).

    Returns
    -------
    PRDCResult
        The four metrics, with the definitions of the authors' ``prdc`` package (``compute_prdc``): a point is
        inside a ball when its distance is strictly below the radius. The distances come from float32 Gram
        blocks and every comparison they cannot settle is redone in float64
        (``medsynth.metrics._refined_neighbours``), so the answer is the float64 one at float32 speed.

    Raises
    ------
    DataError
        If a set has k rows or fewer, or the dimensions differ.
    """
    real = np.asarray(real, dtype=np.float64)
    synthetic = np.asarray(synthetic, dtype=np.float64)
    if real.ndim != 2 or synthetic.ndim != 2 or real.shape[1] != synthetic.shape[1]:
        raise DataError(
            f"prdc: expected two feature arrays with the same D, got {real.shape}, {synthetic.shape}"
        )
    if k < 1 or min(real.shape[0], synthetic.shape[0]) <= k:
        raise DataError(
            f"prdc: each set needs more than k={k} rows, got {real.shape[0]} and {synthetic.shape[0]}"
        )
    real_set, fake_set = centred_pair(real, synthetic)
    inside_count, covered, recalled = ball_counts(
        real_set, fake_set, kth_neighbour_sq(real_set, k), kth_neighbour_sq(fake_set, k)
    )
    return PRDCResult(
        precision=float((inside_count > 0).mean()),
        recall=float(recalled.mean()),
        density=float(inside_count.sum() / (k * synthetic.shape[0])),
        coverage=float(covered.mean()),
        k=k,
    )
