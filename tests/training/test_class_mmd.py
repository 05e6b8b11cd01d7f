"""The per-class MMD term: scikit-learn's RBF kernels as the oracle of the estimate, its expectation zero on
two samples of one distribution (where the biased estimate is positive), its gradient spreading a collapsed
set out to the real one's spread, a G-loss term a run logs, and a clear error where the architecture has no
pretrained features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.training import tiny_config, tiny_image_set
from scipy.spatial.distance import pdist
from sklearn.metrics.pairwise import rbf_kernel

from medsynth.errors import ArgumentError
from medsynth.training.class_mmd import ClassFeatureMMD, fit_class_mmd, kernel, mmd2_unbiased
from medsynth.training.class_probe import PROBE_DRAWS
from medsynth.training.loop import Trainer
from medsynth.training.nets.factory import check_config

WIDTHS = torch.tensor([0.5, 2.0, 8.0], dtype=torch.float64)


def _oracle(fake: np.ndarray, real: np.ndarray) -> float:
    """Gretton et al.'s unbiased MMD^2 with scikit-learn's kernels, averaged over the widths."""
    n, m = len(fake), len(real)
    total = 0.0
    for w in WIDTHS.tolist():
        kff, krr, kfr = (rbf_kernel(a, b, gamma=1 / w) for a, b in ((fake, fake), (real, real), (fake, real)))
        total += (kff.sum() - np.trace(kff)) / (n * (n - 1))
        total += (krr.sum() - np.trace(krr)) / (m * (m - 1)) - 2 * kfr.mean()
    return total / len(WIDTHS)


def _real_term(real: torch.Tensor) -> float:
    m = len(real)
    k = np.mean([rbf_kernel(real.numpy(), gamma=1 / w) for w in WIDTHS.tolist()], axis=0)
    return float((k.sum() - np.trace(k)) / (m * (m - 1)))


def test_the_estimate_is_gretton_s_unbiased_mmd_with_scikit_learn_s_kernels():
    rng = np.random.default_rng(0)
    fake, real = rng.normal(0, 1, (6, 5)), rng.normal(0.5, 1.5, (40, 5))
    real_t = torch.from_numpy(real)
    ours = mmd2_unbiased(torch.from_numpy(fake), real_t, WIDTHS, _real_term(real_t))
    assert float(ours) == pytest.approx(_oracle(fake, real), rel=1e-10, abs=1e-12)


def test_its_expectation_is_zero_for_two_samples_of_one_distribution():
    rng = np.random.default_rng(1)
    real = torch.from_numpy(rng.normal(0, 1, (200, 3)))
    term = _real_term(real)
    unbiased, biased = [], []
    for _ in range(400):
        fake = torch.from_numpy(rng.normal(0, 1, (5, 3)))
        unbiased.append(float(mmd2_unbiased(fake, real, WIDTHS, term)))
        kff = kernel(fake, fake, WIDTHS)  # the V-statistic keeps i = j in the fake-fake mean
        biased.append(float(kff.mean() - 2 * kernel(fake, real, WIDTHS).mean() + term))
    sem = np.std(unbiased) / np.sqrt(len(unbiased))
    assert abs(np.mean(unbiased)) < 3 * sem + 2e-3  # the real side's 200 rows leave a small offset
    assert np.mean(biased) > 10 * sem  # five images of one law would score clearly above 0


def test_descending_it_spreads_a_collapsed_set_out_to_the_real_spread():
    rng = np.random.default_rng(2)
    real = torch.from_numpy(rng.normal(0, 1, (400, 2)))
    fake = torch.from_numpy(rng.normal(0, 0.05, (16, 2))).requires_grad_(True)  # collapsed on one mode
    term, widths = _real_term(real), WIDTHS
    opt = torch.optim.SGD([fake], lr=2.0)
    before = float(mmd2_unbiased(fake.detach(), real, widths, term))
    for _ in range(400):
        opt.zero_grad()
        mmd2_unbiased(fake, real, widths, term).backward()
        opt.step()
    after = float(mmd2_unbiased(fake.detach(), real, widths, term))
    spread = fake.detach().std(0).numpy()
    assert after < before / 10
    np.testing.assert_allclose(spread, [1.0, 1.0], rtol=0.35)  # from 0.05 to about the real set's 1


def test_classes_with_fewer_than_two_images_in_the_batch_are_left_out():
    rng = np.random.default_rng(3)
    real = [torch.from_numpy(rng.normal(c, 1, (30, 4))).float() for c in range(3)]
    term = ClassFeatureMMD(torch.zeros(4), torch.ones(4), real, 4.0)
    feats = [torch.from_numpy(rng.normal(0, 1, (6, 4, 1, 1))).float()]  # one 'scale' of 1x1 maps
    y = torch.tensor([0, 0, 0, 1, 1, 2])  # class 2 has one image
    z = feats[0].flatten(1)
    per_class = [mmd2_unbiased(z[y == c], real[c], term.widths, term.real_terms[c]) for c in (0, 1)]
    assert float(term(feats, y)) == pytest.approx(float(torch.stack(per_class).mean()), rel=1e-6)
    assert float(term([feats[0][:3]], torch.tensor([0, 1, 2]))) == 0.0  # no class has two


def test_the_real_side_is_every_training_image_of_each_class_under_the_augment_draws():
    images = tiny_image_set((5, 3), 8).images
    labels = np.repeat([0, 1], [5, 3])

    def pyramid(x: torch.Tensor) -> list[torch.Tensor]:
        return [x, x]  # the pooled view reads the last two 'scales': the channel means, twice

    term = fit_class_mmd(pyramid, images, labels, 2, lambda t: t)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    means = x.mean(dim=(2, 3)).repeat(1, 2)  # what the pyramid's two 'scales' pool to
    rows = means.repeat(PROBE_DRAWS, 1)  # the statistics are over every draw (identical ones here)
    z = (means - rows.mean(0)) / rows.std(0)
    for c in (0, 1):
        want = z[torch.from_numpy(labels) == c].repeat(PROBE_DRAWS, 1)
        torch.testing.assert_close(term.real[c], want, rtol=1e-4, atol=1e-4)
    bank = z.repeat(PROBE_DRAWS, 1).numpy()  # every row of the bank, each class's and the other's
    pairs = np.sort(pdist(bank, "sqeuclidean"))
    lower_median = pairs[(len(pairs) - 1) // 2]  # torch's median is the lower of the two middle values
    assert float(term.widths[1]) == pytest.approx(lower_median, rel=1e-4)


def test_a_projected_run_with_the_class_mmd_logs_it(tmp_path):
    logged: list[str] = []
    trainer = Trainer(
        tiny_config("projected", image_size=32, batch_size=6, class_mmd_weight=5.0),
        tiny_image_set((6, 6), 32),
        tmp_path,
        log=logged.append,
    )
    trainer.fit()
    assert any(line.startswith("class MMD: kernel width") for line in logged)
    assert np.isfinite(trainer.history[-1]["class_mmd"])


def test_the_class_mmd_needs_the_projected_architecture():
    with pytest.raises(ArgumentError, match="class_mmd_weight needs the pretrained features of --arch"):
        check_config(tiny_config("sngan", class_mmd_weight=1.0))
