"""The class-guidance probe: the same fit as scikit-learn's logistic regression on the same objective, a
deterministic refit, a G-loss term a run logs, and a clear error where the architecture has no pretrained
features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.training import tiny_config, tiny_image_set
from sklearn.linear_model import LogisticRegression

from medsynth.errors import ArgumentError
from medsynth.training.class_probe import PROBE_L2, fit_class_probe, pooled
from medsynth.training.loop import Trainer
from medsynth.training.nets.factory import check_config


def _rows(x: torch.Tensor) -> list[torch.Tensor]:
    """A stand-in pyramid of two 'scales': the top and the bottom row of each image."""
    return [x[:, :, :1], x[:, :, 1:]]


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


def _images(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), [40, 15, 9])  # imbalanced, as real sets are
    centres = rng.integers(60, 200, (3, 2, 2, 3))
    images = np.clip(centres[labels] + rng.normal(0, 40, (len(labels), 2, 2, 3)), 0, 255).astype(np.uint8)
    return images, labels


def test_the_probe_is_the_class_balanced_ridge_logistic_regression_sklearn_fits():
    images, labels = _images()
    probe, accuracy = fit_class_probe(_rows, images, labels, 3, _identity)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    feats = pooled(_rows(x))
    z = ((feats - probe.mean) / probe.std).numpy().astype(np.float64)
    # ours: mean class-weighted cross-entropy + l2 |W|^2; sklearn: C * sum(weighted CE) + |W|^2 / 2
    oracle = LogisticRegression(
        C=1 / (2 * PROBE_L2 * len(labels)), class_weight="balanced", tol=1e-10, max_iter=10_000
    ).fit(z, labels)
    ours = torch.softmax(probe(_rows(x)), dim=1).numpy()
    np.testing.assert_allclose(ours, oracle.predict_proba(z), atol=2e-3)
    recall = [(oracle.predict(z)[labels == c] == c).mean() for c in range(3)]
    assert accuracy == pytest.approx(np.mean(recall), abs=1e-6)


def test_refitting_gives_the_same_probe():
    images, labels = _images(1)
    a, _ = fit_class_probe(_rows, images, labels, 3, _identity)
    b, _ = fit_class_probe(_rows, images, labels, 3, _identity)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key


def test_a_projected_run_with_class_guidance_logs_the_probe_loss(tmp_path):
    logged: list[str] = []
    trainer = Trainer(
        tiny_config("projected", image_size=32, class_weight=1.0),
        tiny_image_set((4, 4), 32),
        tmp_path,
        log=logged.append,
    )
    trainer.fit()
    assert any(line.startswith("class probe: balanced accuracy") for line in logged)
    assert np.isfinite(trainer.history[-1]["class_ce"]) and trainer.history[-1]["class_ce"] > 0


def test_class_guidance_needs_the_projected_architecture():
    with pytest.raises(ArgumentError, match="class_weight needs the pretrained features of --arch projected"):
        check_config(tiny_config("sngan", class_weight=1.0))
