"""The classifier two-sample test: logistic regression and AUC against scikit-learn, Gaussian AUCs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medsynth.errors import DataError
from medsynth.metrics.c2st import c2st, class_matched, roc_auc, stratified_folds
from medsynth.metrics.logistic import fit_logistic

sklearn_linear = pytest.importorskip("sklearn.linear_model", reason="scikit-learn is the oracle ([dev])")
sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


@pytest.mark.parametrize(("n", "d", "C"), [(300, 5, 1.0), (120, 200, 0.05), (400, 30, 10.0)])
def test_logistic_regression_matches_scikit_learn(n, d, C):
    rng = np.random.default_rng(n + d)
    x = rng.normal(size=(n, d))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(size=n) > 0.3).astype(float)
    weight = np.where(y == 1, n / (2 * y.sum()), n / (2 * (n - y.sum())))
    ours = fit_logistic(x, y, C=C, sample_weight=weight)
    ref = sklearn_linear.LogisticRegression(C=C, class_weight="balanced", tol=1e-12, max_iter=10_000)
    ref.fit(x, y)
    assert ours.converged
    np.testing.assert_allclose(ours.coef, ref.coef_[0], atol=1e-5, rtol=1e-4)
    assert ours.intercept == pytest.approx(ref.intercept_[0], abs=1e-5)
    np.testing.assert_allclose(ours.predict_proba(x), ref.predict_proba(x)[:, 1], atol=1e-6)


def test_roc_auc_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 6, 50).astype(float)  # many ties
    b = rng.integers(2, 9, 70).astype(float)
    ref = sklearn_metrics.roc_auc_score(np.r_[np.zeros(50), np.ones(70)], np.r_[a, b])
    assert roc_auc(a, b) == pytest.approx(ref, abs=1e-12)
    assert roc_auc(np.zeros(3), np.zeros(4)) == 0.5


def test_cross_validated_auc_equals_scikit_learn_on_the_same_folds():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(90, 12)), rng.normal(0.4, 1.0, size=(60, 12))
    res = c2st(a, b, n_boot=0, seed=3)
    x, y = np.r_[a, b], np.r_[np.zeros(90), np.ones(60)]
    fold = stratified_folds(y, 5, seed=3)
    scores = np.empty(y.size)
    for k in range(5):
        tr, te = fold != k, fold == k
        mean, std = x[tr].mean(0), x[tr].std(0)
        model = sklearn_linear.LogisticRegression(C=1.0, class_weight="balanced", tol=1e-12, max_iter=10_000)
        model.fit((x[tr] - mean) / std, y[tr])
        scores[te] = model.decision_function((x[te] - mean) / std)
    assert res.auc.value == pytest.approx(sklearn_metrics.roc_auc_score(y, scores), abs=1e-6)


def test_identical_distributions_give_auc_near_one_half():
    rng = np.random.default_rng(4)
    res = c2st(rng.normal(size=(400, 8)), rng.normal(size=(400, 8)), n_boot=200, seed=0)
    assert abs(res.auc.value - 0.5) < 0.06
    assert res.auc.low < 0.5 < res.auc.high


def test_shifted_gaussians_reach_the_optimal_auc():
    # two unit-variance Gaussians with means delta apart: the best linear score has AUC Phi(delta / sqrt(2))
    rng = np.random.default_rng(5)
    delta = 1.0
    shift = np.zeros(4)
    shift[0] = delta
    res = c2st(rng.normal(size=(1500, 4)), rng.normal(size=(1500, 4)) + shift, n_boot=100, seed=0)
    optimal = _phi(delta / math.sqrt(2.0))  # 0.760
    assert res.auc.value == pytest.approx(optimal, abs=0.03)
    assert res.auc.low < optimal < res.auc.high + 0.01
    assert len(res.fold_auc) == 5


def test_stratified_folds_and_class_matching():
    labels = np.r_[np.zeros(23), np.ones(7)]
    fold = stratified_folds(labels, 5, seed=0)
    for k in range(5):
        assert np.sum((fold == k) & (labels == 1)) in (1, 2) and np.sum((fold == k) & (labels == 0)) in (4, 5)
    real = np.array(["nevus"] * 60 + ["melanoma"] * 20 + ["other"] * 5)
    syn = np.array(["nevus"] * 100 + ["melanoma"] * 100)
    ia, ib = class_matched(real, syn, seed=0)
    assert ia.size == 80  # "other" has no synthetic images
    assert np.sum(syn[ib] == "nevus") == 100 and np.sum(syn[ib] == "melanoma") == 33


def test_too_few_rows_is_a_data_error():
    with pytest.raises(DataError, match="at least 5 rows"):
        c2st(np.zeros((4, 2)), np.ones((10, 2)))


def test_evaluation_runs_the_test_when_the_sets_share_no_class_name():
    from medsynth.imageset import ImageSet
    from medsynth.metrics.evaluation import EvaluationConfig, evaluate_sets

    rng = np.random.default_rng(6)
    images = rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    real = ImageSet(images[:20], np.zeros(20, np.int64), ("all",), name="flat folder")
    synthetic = ImageSet(images[20:], np.arange(20) % 2, ("nevus", "melanoma"), name="generated")
    m = evaluate_sets(real, synthetic, config=EvaluationConfig(n_boot=0)).metrics
    entry = m["overall"]["c2st"]["radiomics"]
    assert entry["n_a"] == 20 and entry["n_b"] == 20 and entry["floor"]["against"] == "real halves"
