"""Spectral-artefact metric: analytic answers for white noise and for a cosine lattice under a Hann window."""

from __future__ import annotations

import numpy as np
import pytest

from medsynth.errors import DataError
from medsynth.metrics.spectrum import mean_power_spectrum, spectral_comparison


def _noise(n: int, side: int, sigma: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(128.0, sigma, (n, side, side))


def test_a_set_against_itself_has_ratio_one_everywhere():
    images = _noise(20, 16, 10.0, 0)
    result = spectral_comparison(images, images)
    assert result.peak_ratio == pytest.approx(1.0)
    assert result.log_spectral_distance_db == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(result.ratio, 1.0)


def test_white_noise_of_twice_the_amplitude_has_four_times_the_power():
    result = spectral_comparison(_noise(400, 32, 10.0, 1), _noise(400, 32, 20.0, 2))
    inner = result.ratio[3:-3, 3:-3]
    assert np.median(inner) == pytest.approx(4.0, rel=0.03)
    assert result.log_spectral_distance_db == pytest.approx(10 * np.log10(4.0), abs=0.1)


def test_a_cosine_lattice_is_found_with_its_analytic_windowed_power():
    side, amplitude, sigma = 64, 6.0, 8.0
    y, x = np.mgrid[0:side, 0:side]
    lattice = amplitude * np.cos(2 * np.pi * (16 * y + 16 * x) / side)  # period 4 px along both axes
    real, noise = _noise(300, side, sigma, 3), _noise(300, side, sigma, 4)
    result = spectral_comparison(real, noise + lattice)
    assert result.peak_frequency == (0.25, 0.25)
    # E|DFT|^2 at (16, 16): the noise's sigma^2 * sum(w^2) plus the cosine's (A/2 * sum(w_y) * sum(w_x))^2
    w = np.hanning(side)
    noise_power = sigma**2 * (w**2).sum() ** 2
    expected = (noise_power + (amplitude / 2 * w.sum() ** 2) ** 2) / noise_power
    assert result.peak_ratio == pytest.approx(expected, rel=0.15)
    assert result.peak_ratio > 100


def test_colour_images_are_compared_in_luma():
    rgb = np.random.default_rng(5).integers(0, 256, (8, 16, 16, 3)).astype(np.uint8)
    np.testing.assert_allclose(mean_power_spectrum(rgb), mean_power_spectrum(rgb.mean(axis=3)))


@pytest.mark.parametrize(
    "real,synthetic,match",
    [
        (np.zeros((2, 16, 16)), np.zeros((2, 32, 32)), "16x16 and synthetic ones 32x32"),
        (np.zeros((0, 16, 16)), np.zeros((2, 16, 16)), "non-empty"),
        (np.zeros((16, 16)), np.zeros((2, 16, 16)), "non-empty"),
    ],
)
def test_bad_sets_are_refused(real, synthetic, match):
    with pytest.raises(DataError, match=match):
        spectral_comparison(real, synthetic)
