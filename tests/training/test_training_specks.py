"""Speck regularisation: the torch isolation equals the evaluation's numpy one, the threshold is the
evaluation's, the loss counts only pixels beyond it (analytically, for one planted speck), and a gradient step
on the loss makes a speck less isolated while leaving an edge alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medsynth.errors import ArgumentError
from medsynth.metrics.isolated_pixels import isolated_pixel_comparison, pixel_isolation
from medsynth.training.config import TrainConfig
from medsynth.training.specks import batch_isolation, speck_loss, speck_threshold


def _tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float64 (N, C, H, W) on [-1, 1]."""
    return torch.from_numpy(images.transpose(0, 3, 1, 2).astype(np.float64) / 127.5 - 1)


@pytest.mark.parametrize("channels", [1, 3])
def test_batch_isolation_matches_the_evaluations_pixel_isolation(channels):
    images = np.random.default_rng(0).integers(0, 256, (5, 9, 11, channels), dtype=np.uint8)
    ours = batch_isolation(_tensor(images)).numpy()
    np.testing.assert_allclose(ours, pixel_isolation(images), rtol=1e-5, atol=1e-3)


def test_threshold_is_the_one_the_evaluation_counts_specks_above():
    rng = np.random.default_rng(1)
    real = np.clip(128 + rng.normal(0, 12, (40, 16, 16, 3)), 0, 255).astype(np.uint8)
    assert speck_threshold(real) == pytest.approx(isolated_pixel_comparison(real, real).threshold)


def _flat_with_speck(side: int = 12) -> np.ndarray:
    image = np.full((1, side, side, 3), (180, 120, 100), dtype=np.uint8)  # skin-coloured, flat
    image[0, 5, 6] = (150, 60, 170)  # one purple pixel
    return image


def test_loss_is_the_linear_hinge_of_a_planted_speck():
    image = _flat_with_speck()
    r, g, b = 150 - 180, 60 - 120, 170 - 100  # the speck's colour minus the skin's
    chroma = np.hypot(r - g, (r + g) / 2 - b)  # its distance to every neighbour
    threshold = 20.0
    expected = chroma / threshold - 1  # every other pixel has a neighbour of its own colour
    assert speck_loss(_tensor(image), threshold).item() == pytest.approx(expected, rel=1e-6)
    assert speck_loss(_tensor(image), chroma + 1).item() == 0.0  # a pixel below the threshold costs nothing


def test_a_gradient_step_pulls_the_speck_towards_its_neighbours_and_leaves_an_edge_alone():
    image = _flat_with_speck()
    image[0, :, 9:] = (60, 40, 40)  # a dark lesion edge: each pixel has neighbours of its own colour
    x = _tensor(image).requires_grad_(True)
    speck_loss(x, 20.0).backward()
    grad = x.grad[0].abs().sum(dim=0)
    assert grad[5, 6] == pytest.approx(8 * grad[4, 5].item())  # the 8 equally near neighbours share the rest
    grad[4:7, 5:8] = 0
    assert grad.max() == 0  # the rest of the skin and the edge are left alone
    stepped = (x - 0.01 * x.grad).detach()
    assert batch_isolation(stepped)[0, 4, 5] < batch_isolation(x.detach())[0, 4, 5]


def test_negative_weights_are_refused():
    for name in ("speck_weight", "spectral_peak_weight"):
        with pytest.raises(ArgumentError, match=name):
            TrainConfig(data="d", **{name: -0.1})
