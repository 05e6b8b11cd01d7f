"""Intra-set diversity against scipy's pdist, a collapsed set against a varied one, and the evaluation's
per-class entries."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from medsynth.errors import DataError
from medsynth.metrics.diversity import diversity, mean_pairwise_distance


def test_the_mean_pairwise_distance_is_scipys_pdist_mean():
    f = np.random.default_rng(0).normal(size=(300, 17)) * 3 + 5
    assert mean_pairwise_distance(f) == pytest.approx(pdist(f).mean(), rel=1e-10)


def test_a_larger_set_is_subsampled_to_a_close_estimate():
    f = np.random.default_rng(1).normal(size=(3000, 8))
    assert mean_pairwise_distance(f, max_rows=1000) == pytest.approx(pdist(f).mean(), rel=0.02)


def test_a_collapsed_set_scores_far_below_one_and_a_like_set_near_one():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(400, 32))
    like = rng.normal(size=(400, 32))
    collapsed = np.repeat(rng.normal(size=(4, 32)), 100, axis=0) + rng.normal(scale=0.01, size=(400, 32))
    assert diversity(real, like).ratio == pytest.approx(1.0, abs=0.03)
    # four distinct points: 3/4 of the pairs are between points sqrt(2) apart as random pairs are, 1/4 are ~0
    assert diversity(real, collapsed).ratio == pytest.approx(0.75, abs=0.1)


def test_too_few_rows_is_a_data_error():
    with pytest.raises(DataError, match=r"\(N >= 2, D\)"):
        mean_pairwise_distance(np.zeros((1, 3)))
