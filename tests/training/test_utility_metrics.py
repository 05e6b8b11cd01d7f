"""The utility benchmark's numpy metrics against scikit-learn on the same predictions."""

from __future__ import annotations

import numpy as np
import pytest

from medsynth.errors import ArgumentError
from medsynth.training.downstream.metrics import (
    auroc_ovr,
    balanced_accuracy,
    macro_auroc,
    per_class_recall,
    sensitivity_at_specificity,
    stratified_resamples,
)

metrics = pytest.importorskip(
    "sklearn.metrics", reason="scikit-learn is the oracle (pip install 'medsynth[dev]')"
)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, y_true, probabilities (N, K)) covering random scores, ties, a never-predicted class, and
    perfect / inverse / constant scores."""
    rng = np.random.default_rng(0)
    cases = []
    for k, n in ((2, 40), (3, 150), (5, 77)):
        y = rng.integers(0, k, n)
        y[:k] = np.arange(k)  # every class present
        cases.append((f"random-{k}", y, _softmax(rng.standard_normal((n, k)))))
    y = np.repeat(np.arange(3), 20)
    coarse = _softmax(rng.integers(0, 3, (60, 3)).astype(float))  # three score levels: many ties
    cases.append(("ties", y, coarse))
    never = _softmax(rng.standard_normal((60, 3)))
    never[:, 2] = 0.0
    never /= never.sum(axis=1, keepdims=True)  # class 2 is never the argmax
    cases.append(("never-predicted", y, never))
    perfect = np.eye(3)[y] * 0.9 + 0.1 / 3
    cases.append(("perfect", y, perfect))
    cases.append(("inverse", y, (1.0 - perfect) / 2.0))
    cases.append(("constant", y, np.full((60, 3), 1 / 3)))
    imbalanced = np.array([0] * 50 + [1] * 7 + [2] * 3)
    logits = rng.standard_normal((60, 3)) + 2 * np.eye(3)[imbalanced]
    cases.append(("imbalanced", imbalanced, _softmax(logits)))
    return cases


@pytest.mark.parametrize("name,y,proba", _cases(), ids=[c[0] for c in _cases()])
def test_metrics_match_scikit_learn(name, y, proba):
    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    assert balanced_accuracy(y, pred, k) == pytest.approx(metrics.balanced_accuracy_score(y, pred), abs=1e-12)
    want_recall = metrics.recall_score(y, pred, labels=list(range(k)), average=None, zero_division=0)
    np.testing.assert_allclose(per_class_recall(y, pred, k), want_recall, atol=1e-12)
    want_auc = (
        metrics.roc_auc_score(y, proba[:, 1])
        if k == 2
        else metrics.roc_auc_score(y, proba, multi_class="ovr", average="macro")
    )
    if k == 2:  # sklearn's binary AUROC is class 1's; both one-vs-rest AUROCs of two classes are equal to it
        np.testing.assert_allclose(auroc_ovr(y, proba), want_auc, atol=1e-12)
    assert macro_auroc(y, proba) == pytest.approx(want_auc, abs=1e-12)
    per_class = [metrics.roc_auc_score(y == c, proba[:, c]) for c in range(k)]
    np.testing.assert_allclose(auroc_ovr(y, proba), per_class, atol=1e-12)
    for spec in (0.8, 0.5, 0.95):  # the best TPR on sklearn's ROC curve with FPR <= 1 - specificity
        want = []
        for c in range(k):
            fpr, tpr, _ = metrics.roc_curve(y == c, proba[:, c], drop_intermediate=False)
            want.append(tpr[fpr <= 1.0 - spec + 1e-12].max())
        np.testing.assert_allclose(sensitivity_at_specificity(y, proba, spec), want, atol=1e-12)


def test_analytic_answers():
    y = np.array([0, 0, 1, 1, 2, 2])
    perfect = np.eye(3)[y]
    np.testing.assert_allclose(auroc_ovr(y, perfect), 1.0)
    np.testing.assert_allclose(auroc_ovr(y, 1 - perfect), 0.0)
    np.testing.assert_allclose(auroc_ovr(y, np.ones((6, 3))), 0.5)  # all tied
    assert balanced_accuracy(y, np.zeros(6, dtype=np.int64), 3) == pytest.approx(1 / 3)
    recall = per_class_recall(np.array([0, 0, 1]), np.array([0, 1, 1]), 3)
    np.testing.assert_allclose(recall[:2], [0.5, 1.0])
    assert np.isnan(recall[2])  # class 2 has no image: undefined, and left out of the balanced accuracy
    assert balanced_accuracy(np.array([0, 0, 1]), np.array([0, 1, 1]), 3) == pytest.approx(0.75)
    assert np.isnan(auroc_ovr(np.array([0, 0, 1]), np.ones((3, 3)))[2])


def test_bad_inputs_are_data_errors():
    with pytest.raises(ArgumentError, match="0..2"):
        per_class_recall(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ArgumentError, match="same|labels"):
        per_class_recall(np.array([0, 1]), np.array([0]), 3)
    with pytest.raises(ArgumentError, match=r"\(N, K\)"):
        auroc_ovr(np.array([0, 1]), np.ones(2))


def test_stratified_resamples_keep_class_counts_and_are_seeded():
    y = np.array([0] * 10 + [1] * 4 + [2] * 2)
    rows = stratified_resamples(y, 200, seed=3)
    assert rows.shape == (200, 16)
    for r in rows:
        np.testing.assert_array_equal(np.bincount(y[r], minlength=3), [10, 4, 2])
    np.testing.assert_array_equal(rows, stratified_resamples(y, 200, seed=3))
    assert not np.array_equal(rows, stratified_resamples(y, 200, seed=4))
    assert len(np.unique(rows[:, :10])) == 10  # every nevus-like image gets drawn somewhere
