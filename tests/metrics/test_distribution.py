"""Distribution metrics against analytic answers, scipy, piq and the authors' prdc package."""

from __future__ import annotations

import numpy as np
import pytest

from medsynth.errors import DataError
from medsynth.metrics.bootstrap import bootstrap_interval
from medsynth.metrics.frechet import (
    feature_statistics,
    frechet_distance,
    frechet_distance_from_statistics,
    relative_frechet_distance,
)
from medsynth.metrics.inception_score import inception_score
from medsynth.metrics.kid import kid, mmd2_unbiased
from medsynth.metrics.prdc import prdc


def _random_cov(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_fd_of_identical_sets_is_zero():
    f = np.random.default_rng(0).standard_normal((300, 16))
    assert frechet_distance(f, f) == pytest.approx(0.0, abs=1e-9)


def test_fd_of_known_gaussians_is_the_closed_form():
    """Diagonal covariances: FD = |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2."""
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    expected = 1 + 0 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 1) ** 2
    assert frechet_distance_from_statistics(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(
        expected, rel=1e-12
    )


def test_fd_of_samples_approaches_the_population_value():
    rng = np.random.default_rng(1)
    cov1, cov2 = _random_cov(rng, 4), _random_cov(rng, 4)
    mu1, mu2 = np.zeros(4), np.full(4, 0.5)
    x = rng.multivariate_normal(mu1, cov1, size=200_000)
    y = rng.multivariate_normal(mu2, cov2, size=200_000)
    assert frechet_distance(x, y) == pytest.approx(
        frechet_distance_from_statistics(mu1, cov1, mu2, cov2), rel=0.02
    )


@pytest.mark.parametrize("d", [3, 64, 300])
def test_fd_matches_scipy_sqrtm(d):
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(d)
    x = rng.standard_normal((400, d)) @ rng.standard_normal((d, d))
    y = rng.standard_normal((500, d)) * 1.3 + 0.2
    mu1, s1 = feature_statistics(x)
    mu2, s2 = feature_statistics(y)
    covmean = scipy_linalg.sqrtm(s1 @ s2).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert frechet_distance(x, y) == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(s1, np.cov(x, rowvar=False), rtol=1e-10)


def test_the_cholesky_and_the_eigen_factor_give_the_same_trace():
    from medsynth.metrics.frechet import _psd_sqrt, _trace_sqrt_product

    rng = np.random.default_rng(5)
    _, s1 = feature_statistics(rng.standard_normal((300, 40)) @ rng.standard_normal((40, 40)))
    _, s2 = feature_statistics(rng.standard_normal((300, 40)))
    via_eigen = np.linalg.eigvalsh(_psd_sqrt(s1) @ s2 @ _psd_sqrt(s1))
    expected = np.sqrt(np.clip(via_eigen, 0, None)).sum()
    assert _trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-10)
    singular = s1.copy()
    singular[:, 0] = singular[0, :] = 0.0  # not positive definite: Cholesky fails, the eigen factor is used
    via_eigen = np.linalg.eigvalsh(_psd_sqrt(singular) @ s2 @ _psd_sqrt(singular))
    expected = np.sqrt(np.clip(via_eigen, 0, None)).sum()
    assert _trace_sqrt_product(singular, s2) == pytest.approx(expected, rel=1e-10)
    # tr((AB)^(1/2)) = tr((BA)^(1/2)): a singular second argument takes the eigen path as well
    assert _trace_sqrt_product(s2, singular) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("rank", [5, 20])
def test_fd_of_rank_deficient_statistics_matches_scipy_sqrtm(rank):
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(rank)
    basis = rng.standard_normal((rank, 30))
    s1 = basis.T @ basis / rank  # PSD of rank `rank` < 30: Cholesky fails
    mu1, (mu2, s2) = np.zeros(30), feature_statistics(rng.standard_normal((200, 30)))
    covmean = scipy_linalg.sqrtm(s1 @ s2).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert frechet_distance_from_statistics(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)


def test_fd_handles_singular_covariances():
    """Fewer samples than dimensions: the covariances are singular; sqrtm-free FD stays finite and >= 0."""
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((10, 50)), rng.standard_normal((12, 50))
    value = frechet_distance(x, y)
    assert np.isfinite(value) and value > 0


def test_relative_fd_is_near_one_for_a_fresh_sample_of_the_same_distribution():
    rng = np.random.default_rng(3)
    real, same, shifted = (
        rng.standard_normal((2000, 8)),
        rng.standard_normal((2000, 8)),
        rng.standard_normal((2000, 8)) + 1.0,
    )
    ratio_same, _, baseline = relative_frechet_distance(real, same)
    ratio_shifted, fd, _ = relative_frechet_distance(real, shifted)
    assert baseline > 0 and ratio_same < 2.5
    assert ratio_shifted > 20 and fd == pytest.approx(frechet_distance(real, shifted))


def test_fd_refuses_mismatched_features():
    with pytest.raises(DataError, match="dimensions differ"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(DataError, match="N >= 2"):
        frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))


def test_kid_matches_piq(piq):
    import torch
    from piq.kid import _mmd2_and_variance, _polynomial_kernel

    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((120, 32)), rng.standard_normal((120, 32)) + 0.3
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    expected = _mmd2_and_variance(
        _polynomial_kernel(tx, tx), _polynomial_kernel(tx, ty), _polynomial_kernel(ty, ty)
    )
    assert mmd2_unbiased(x, y) == pytest.approx(float(expected), rel=1e-10)
    # One subset holding every row once is the same estimate (kid's Gram matrices are float32).
    result = kid(x, y, subset_size=120, n_subsets=1)
    assert result.mean == pytest.approx(float(expected), abs=1e-6) and result.subset_size == 120


def test_kid_in_float32_is_the_float64_estimate_well_inside_its_sampling_noise():
    """The same subsets (the seed's draws, repeated here) scored by the float64 estimator."""
    rng = np.random.default_rng(11)
    mixing = rng.standard_normal((256, 256)) / 16
    real = np.abs(rng.standard_normal((1500, 256)) @ mixing)  # non-negative and correlated, like CNN features
    fake = np.abs((rng.standard_normal((1500, 256)) + 0.05) @ mixing)
    result = kid(real, fake, subset_size=500, n_subsets=6, seed=2)
    draws = np.random.default_rng(2)
    exact = []
    for _ in range(6):
        xi, yi = draws.choice(1500, 500, replace=False), draws.choice(1500, 500, replace=False)
        exact.append(mmd2_unbiased(real[xi], fake[yi]))
    assert result.std > 0
    assert abs(result.mean - np.mean(exact)) < 1e-3 * result.std
    assert result.std == pytest.approx(float(np.std(exact)), rel=1e-3)


def test_kid_refuses_bad_shapes_and_degree():
    with pytest.raises(DataError, match="same D"):
        kid(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(DataError, match="at least 2 rows"):
        kid(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(DataError, match="positive integer"):
        mmd2_unbiased(np.zeros((3, 2)), np.ones((3, 2)), degree=0)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(5)
    real = rng.standard_normal((600, 16))
    same = kid(real, rng.standard_normal((600, 16)), subset_size=200, n_subsets=20)
    far = kid(real, rng.standard_normal((600, 16)) + 0.5, subset_size=200, n_subsets=20)
    assert abs(same.mean) < 3 * same.std + 1e-3
    assert far.mean > 10 * abs(same.mean) and far.n_subsets == 20


def test_inception_score_matches_piq(piq):
    import torch

    logits = np.random.default_rng(6).standard_normal((200, 10)) * 3
    with pytest.warns(UserWarning):  # piq calls softmax without dim
        mean, std = piq.inception_score(torch.from_numpy(logits), num_splits=10)
    result = inception_score(logits, n_splits=10)
    assert result.mean == pytest.approx(float(mean), rel=1e-6)
    assert result.std == pytest.approx(float(std), rel=1e-6)


def test_inception_score_bounds():
    confident_diverse = np.eye(10)[np.arange(100) % 10] * 50
    one_class = np.tile(np.eye(10)[0] * 50, (100, 1))
    assert inception_score(confident_diverse, n_splits=1).mean == pytest.approx(10.0, rel=1e-6)
    assert inception_score(one_class, n_splits=1).mean == pytest.approx(1.0, rel=1e-6)


def test_prdc_matches_the_authors_package():
    reference = pytest.importorskip("prdc")
    rng = np.random.default_rng(7)
    real, fake = rng.standard_normal((300, 12)), rng.standard_normal((250, 12)) * 1.2 + 0.2
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        expected = reference.compute_prdc(real_features=real, fake_features=fake, nearest_k=5)
    ours = prdc(real, fake, k=5)
    for name in ("precision", "recall", "density", "coverage"):
        assert getattr(ours, name) == pytest.approx(float(expected[name]), abs=1e-12), name


def _authors_prdc(real: np.ndarray, fake: np.ndarray, k: int) -> dict:
    reference = pytest.importorskip("prdc")
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return dict(reference.compute_prdc(real_features=real, fake_features=fake, nearest_k=k))


def test_prdc_is_exact_where_float32_distances_tie_or_cancel():
    """Integer features give exact ties with the radii (strictly inside only), and a large common offset
    would make the Gram form cancel without centring; both must come out as exact arithmetic has them."""
    rng = np.random.default_rng(12)
    real = rng.integers(0, 3, size=(400, 6)).astype(np.float64)
    fake = rng.integers(0, 3, size=(300, 6)).astype(np.float64)
    expected = _authors_prdc(real, fake, 4)  # small integers: its float64 distances are exact
    ours = prdc(real, fake, k=4)
    for name in ("precision", "recall", "density", "coverage"):
        assert getattr(ours, name) == pytest.approx(float(expected[name]), abs=1e-12), name
    spread_real = rng.standard_normal((300, 64))
    spread_fake = rng.standard_normal((280, 64)) * 1.1
    expected = _authors_prdc(spread_real, spread_fake, 5)
    offset = prdc(spread_real + 3e4, spread_fake + 3e4, k=5)  # float32 holds 3e4 only to 2e-3: centring
    for name in ("precision", "recall", "density", "coverage"):
        assert getattr(offset, name) == pytest.approx(float(expected[name]), abs=1e-12), name


def test_prdc_of_identical_sets_is_perfect():
    f = np.random.default_rng(8).standard_normal((100, 4))
    r = prdc(f, f, k=3)
    assert r.precision == 1.0 and r.recall == 1.0 and r.coverage == 1.0 and r.density >= 1.0


def test_bootstrap_interval_brackets_the_mean_of_a_known_distribution():
    sample = np.random.default_rng(9).normal(3.0, 1.0, size=400)
    iv = bootstrap_interval(np.mean, sample, n_boot=300, seed=1)
    assert iv.low < iv.value < iv.high
    assert iv.low < 3.0 < iv.high
    # The 95 % interval of a mean is about +-1.96 sigma / sqrt(n).
    assert iv.high - iv.low == pytest.approx(2 * 1.96 / 20, rel=0.25)
    assert abs(iv.bias) < 0.01
    assert bootstrap_interval(np.mean, sample, n_boot=0).low == iv.value


def test_bootstrap_interval_of_a_biased_statistic_contains_the_estimate():
    """Resampling inflates FD; the bias-shifted interval still brackets the estimate."""
    rng = np.random.default_rng(10)
    a, b = rng.standard_normal((60, 6)), rng.standard_normal((60, 6)) + 0.3
    iv = bootstrap_interval(frechet_distance, a, b, n_boot=100)
    assert iv.bias > 0 and iv.low < iv.value < iv.high
    with pytest.raises(DataError):
        bootstrap_interval(np.mean, a, level=1.5)


@pytest.mark.parametrize(("n1", "n2", "d"), [(30, 50, 80), (60, 20, 64), (3, 3, 10)])
def test_fd_with_fewer_rows_than_dimensions_equals_the_covariance_form(n1, n2, d):
    rng = np.random.default_rng(n1 + n2 + d)
    mix = rng.normal(size=(d, d))  # correlated features, as a CNN's are
    f1, f2 = rng.normal(size=(n1, d)) @ mix, rng.normal(0.3, 1.2, size=(n2, d)) @ mix
    expected = frechet_distance_from_statistics(*feature_statistics(f1), *feature_statistics(f2))
    # the covariance form carries round-off from the d - n zero eigenvalues (sqrt(eps * largest) each)
    assert frechet_distance(f1, f2) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(f1, f1) == pytest.approx(0.0, abs=1e-8 * expected)
