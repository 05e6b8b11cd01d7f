"""Spectral regularisation: the torch spectrum equals the evaluation's numpy one, the loss is zero on the real
set and grows with a lattice, and fine-tuning from a checkpoint continues it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.training import tiny_config, tiny_image_set

from medsynth.errors import ArgumentError
from medsynth.metrics.spectrum import mean_power_spectrum
from medsynth.training.checkpoint import load_checkpoint
from medsynth.training.loop import Trainer
from medsynth.training.spectral import (
    PEAK_BINS,
    SpectralTarget,
    batch_power_spectrum,
    log_power_ratio,
    spectral_loss,
    spectral_peak_loss,
    spectral_target,
)


def _images(n: int = 12, side: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def _real_batch(n: int = 32) -> tuple[torch.Tensor, SpectralTarget]:
    """A float32 batch on [-1, 1] and the target measured on the same images (one class, no flips)."""
    images = _images(n)
    target = spectral_target(images, np.zeros(n, dtype=np.int64), 1, "none")
    return torch.from_numpy(images.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1), target


def test_batch_spectrum_matches_the_evaluation_spectrum():
    images = _images()
    target = spectral_target(images, np.zeros(len(images), dtype=np.int64), 1, "none")
    x = torch.from_numpy(images.transpose(0, 3, 1, 2).astype(np.float64) / 127.5 - 1)
    ours = batch_power_spectrum(x, target.window.double()).numpy()
    np.testing.assert_allclose(ours, mean_power_spectrum(images) / 127.5**2, rtol=1e-6)


def test_loss_is_zero_on_the_real_set_and_grows_with_a_lattice():
    x, target = _real_batch()
    assert spectral_loss(log_power_ratio(x, target)).item() == pytest.approx(0.0, abs=1e-8)
    i = torch.arange(16, dtype=torch.float32)
    lattice = 0.3 * torch.cos(np.pi / 2 * (i[:, None] + i[None, :]))  # period 4 along both axes
    assert spectral_loss(log_power_ratio(x + lattice, target)).item() > 0.01


def test_dihedral_target_is_the_mean_over_the_eight_views():
    images, labels = _images(6, seed=1), np.array([0, 0, 0, 1, 1, 1])
    target = spectral_target(images, labels, 2, "dihedral")
    views = [np.rot90(im, k, axes=(1, 2)) for im in (images, images[:, :, ::-1]) for k in range(4)]
    per_class = [np.mean([mean_power_spectrum(v[labels == c]) for v in views], axis=0) for c in (0, 1)]
    expected = np.log(np.mean(per_class, axis=0) / 127.5**2 + target.floor)
    np.testing.assert_allclose(target.log_power.numpy(), expected, rtol=1e-5)


def test_fine_tuning_continues_a_checkpoint_and_refuses_other_networks(tmp_path: Path):
    data = tiny_image_set((8, 8))
    Trainer(tiny_config("sngan-cnn", max_iterations=2), data, tmp_path / "base", log=lambda _: None).fit()
    base = load_checkpoint(tmp_path / "base")
    config = tiny_config("sngan-cnn", spectral_weight=0.5, lr_g=1e-5, init_from=str(tmp_path / "base"))
    tuned = Trainer(config, data, tmp_path / "tuned", log=lambda _: None)
    assert tuned.iteration == 2
    for name, value in tuned.G.state_dict().items():
        torch.testing.assert_close(value, base.tensors[f"G.{name}"])
    assert {g["lr"] for g in tuned.opt_g.param_groups} == {1e-5}
    stats = tuned._step()
    assert stats["spectral"] > 0
    with pytest.raises(ArgumentError, match=r"networks differ in \['g_width'\]"):
        Trainer(
            tiny_config("sngan-cnn", g_width=8, init_from=str(tmp_path / "base")),
            data,
            tmp_path / "x",
            log=lambda _: None,
        )


def test_peak_term_is_zero_on_the_real_set_and_reads_a_lattice_the_mean_term_dilutes():
    x, target = _real_batch()
    assert spectral_peak_loss(log_power_ratio(x, target)).item() == pytest.approx(0.0, abs=1e-8)
    i = torch.arange(16, dtype=torch.float32)
    checkerboard = 0.2 * torch.cos(np.pi * (i[:, None] + i[None, :]))  # all its power in the (0.5, 0.5) bin
    lattice = x + checkerboard
    excess = torch.log(batch_power_spectrum(lattice, target.window) + target.floor) - target.log_power
    top = torch.relu(excess[target.keep]).sort(descending=True).values[:PEAK_BINS]
    assert spectral_peak_loss(log_power_ratio(lattice, target)).item() == pytest.approx(
        top.square().mean().item()
    )
    assert (
        spectral_peak_loss(log_power_ratio(lattice, target)).item()
        > 10 * spectral_loss(log_power_ratio(lattice, target)).item()
    )
