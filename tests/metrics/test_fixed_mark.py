"""Fixed marks (medsynth.metrics.fixed_mark): the high-pass against scipy.ndimage's uniform filter, a mark
planted at one place in every image found there at its analytic strength, one in the border left out, the
same mark at random places averaging away, and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from medsynth.errors import DataError
from medsynth.metrics.fixed_mark import fixed_mark_comparison, mean_high_pass


def test_high_pass_matches_scipy_uniform_filter():
    ndimage = pytest.importorskip("scipy.ndimage", reason="scipy is the oracle")
    x = np.random.default_rng(0).random((5, 21, 17, 3)) * 255
    luma = x.mean(axis=3)
    for box in (1, 3, 9):
        want = (luma - ndimage.uniform_filter(luma, size=(1, box, box), mode="reflect")).mean(axis=0)
        np.testing.assert_allclose(mean_high_pass(x, box), want, atol=1e-9)
    np.testing.assert_allclose(mean_high_pass(x, 1), np.zeros((21, 17)), atol=1e-9)  # 1x1 removes all


def _noise(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(128.0, 20.0, (n, 48, 48))


def test_a_mark_at_one_place_is_found_there_at_its_strength():
    mark = -60.0  # one dark pixel at (20, 30) in every image
    marked = _noise(200, 1)
    marked[:, 20, 30] += mark
    result = fixed_mark_comparison(_noise(200, 2), marked)
    assert result.where == (20, 30)
    # the pixel minus its 9x9 mean, which holds the pixel itself once: mark * (1 - 1/81), plus noise of
    # 20 / sqrt(200) = 1.4 grey levels
    assert result.synthetic_peak == pytest.approx(abs(mark) * (1 - 1 / 81), abs=6.0)
    assert result.real_peak < 8.0 and result.ratio > 5.0
    assert set(result.as_dict()) == {"real_peak", "synthetic_peak", "ratio", "where"}


def test_a_mark_in_the_border_is_left_out_unless_asked():
    framed = _noise(200, 6)
    framed[:, 2, 24] -= 60.0  # row 2 of 48: inside the outer eighth (6 rows)
    assert fixed_mark_comparison(_noise(200, 7), framed).ratio < 1.5
    whole = fixed_mark_comparison(_noise(200, 7), framed, border=0.0)
    assert whole.where == (2, 24) and whole.ratio > 5.0


def test_the_same_mark_at_random_places_averages_away():
    rng = np.random.default_rng(3)
    scattered = _noise(200, 4)
    rows, cols = rng.integers(0, 48, 200), rng.integers(0, 48, 200)
    scattered[np.arange(200), rows, cols] -= 60.0
    result = fixed_mark_comparison(_noise(200, 5), scattered)
    assert result.ratio < 1.5, result.as_dict()  # two sets of noise: about 1


def test_errors_name_what_is_wrong():
    with pytest.raises(DataError, match="non-empty"):
        mean_high_pass(np.zeros((0, 8, 8)))
    with pytest.raises(DataError, match="odd number"):
        mean_high_pass(np.zeros((2, 8, 8)), box=4)
    with pytest.raises(DataError, match="odd number"):
        mean_high_pass(np.zeros((2, 8, 8)), box=9)
    with pytest.raises(DataError, match="border must be"):
        fixed_mark_comparison(np.zeros((2, 16, 16)), np.zeros((2, 16, 16)), border=0.5)
    with pytest.raises(DataError, match="one size"):
        fixed_mark_comparison(np.zeros((2, 16, 16)), np.zeros((2, 12, 12)))
