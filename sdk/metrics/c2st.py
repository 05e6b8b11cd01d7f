"""Classifier two-sample test (C2ST; Lopez-Paz & Oquab, ICLR 2017): how well a logistic regression tells two
feature sets apart, as a cross-validated ROC AUC. 0.5 means indistinguishable, 1 means perfectly separable.

Every row gets a score from the model of the one fold that did not train on it (stratified k-fold); the AUC
of those out-of-fold scores is the statistic. Features are standardised with the training rows' mean and
standard deviation in each fold, and the two sets weigh the same in the fit (scikit-learn's
``class_weight="balanced"``), so the AUC does not depend on which set is larger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from medsynth.errors import DataError
from medsynth.metrics.bootstrap import Interval, bootstrap_interval
from medsynth.metrics.logistic import fit_logistic

__all__ = ["C2STResult", "c2st", "roc_auc", "stratified_folds", "class_matched"]

C2ST_FOLDS = 5  # cross-validation folds
C2ST_C = 1.0  # inverse L2 strength of the logistic regression (scikit-learn's default C)


@dataclass(frozen=True)
class C2STResult:
    """What :func:`c2st` measured."""

    auc: Interval  # AUC of the pooled out-of-fold scores; interval: stratified bootstrap of those scores
    fold_auc: tuple[float, ...]  # AUC within each fold's held-out rows
    n_a: int  # rows of the first set (the negatives, e.g. real)
    n_b: int  # rows of the second set (the positives, e.g. synthetic)
    folds: int  # cross-validation folds
    C: float  # inverse regularisation strength

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "auc": self.auc.as_dict(),
            "fold_auc": list(self.fold_auc),
            "n_a": self.n_a,
            "n_b": self.n_b,
            "folds": self.folds,
            "C": self.C,
        }


def roc_auc(scores_a: np.ndarray, scores_b: np.ndarray) -> float:
    """ROC AUC of telling ``b`` (positives) from ``a`` (negatives) by score: the probability that a random row
    of ``b`` scores higher than a random row of ``a``, ties counting one half (Mann-Whitney U / (n_a n_b)).

    Raises
    ------
    DataError
        If either set is empty.
    """
    a = np.asarray(scores_a, dtype=np.float64).ravel()
    b = np.asarray(scores_b, dtype=np.float64).ravel()
    if a.size == 0 or b.size == 0:
        raise DataError("roc_auc: both score sets need at least one value")
    both = np.concatenate([a, b])
    _, inverse, counts = np.unique(both, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    midranks = ends - (counts - 1) / 2.0  # 1-based mid-rank of each distinct value
    rank_sum_b = float(midranks[inverse[a.size :]].sum())
    return (rank_sum_b - b.size * (b.size + 1) / 2.0) / (a.size * b.size)


def stratified_folds(labels: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """Fold index (0..folds-1) of each row: every label's rows shuffled and dealt round-robin to the folds, so
    each fold holds each label in proportion (sizes differ by at most one)."""
    labels = np.asarray(labels)
    out = np.empty(labels.shape[0], dtype=np.int64)
    rng = np.random.default_rng(seed)
    for value in np.unique(labels):
        rows = np.flatnonzero(labels == value)
        out[rng.permutation(rows)] = np.arange(rows.size) % folds
    return out


def class_matched(
    classes_a: np.ndarray, classes_b: np.ndarray, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of two labelled sets with the same class proportions: all rows of ``a`` in classes that ``b`` also
    has, and the largest random subset of ``b`` with ``a``'s proportions of those classes.

    Without it a two-sample test over all classes would score the difference in class mix (e.g. a synthetic
    set balanced by design against an imbalanced real one) rather than the images.

    Returns
    -------
    tuple of numpy.ndarray
        Row indices into ``a`` and into ``b``.
    """
    classes_a, classes_b = np.asarray(classes_a), np.asarray(classes_b)
    shared = [c for c in np.unique(classes_a) if np.any(classes_b == c)]
    keep_a = np.flatnonzero(np.isin(classes_a, shared))
    if not shared:
        return keep_a, np.zeros(0, dtype=np.int64)
    share = {c: np.sum(classes_a == c) / keep_a.size for c in shared}
    total = min(np.sum(classes_b == c) / share[c] for c in shared)
    rng = np.random.default_rng(seed)
    picked = [
        rng.permutation(np.flatnonzero(classes_b == c))[: int(np.floor(total * share[c] + 1e-9))]
        for c in shared
    ]
    return keep_a, np.sort(np.concatenate(picked))


def c2st(
    a: np.ndarray,
    b: np.ndarray,
    *,
    folds: int = C2ST_FOLDS,
    C: float = C2ST_C,
    n_boot: int = 100,
    level: float = 0.95,
    seed: int = 0,
) -> C2STResult:
    """Cross-validated AUC of a logistic regression that separates feature set ``b`` from ``a``.

    Parameters
    ----------
    a, b : numpy.ndarray
        Feature sets (N_a, D) and (N_b, D), e.g. real and synthetic; each needs at least ``folds`` rows.
    folds : int
        Stratified cross-validation folds (at least 2).
    C : float
        Inverse L2 regularisation strength of the logistic regression.
    n_boot : int
        Bootstrap resamples of the out-of-fold scores (each set resampled on its own) for the interval; 0 for
        the point estimate alone. The interval holds the fitted models fixed, so it leaves out the variation
        from refitting; ``fold_auc`` shows that spread.
    level : float
        Confidence level of the interval.
    seed : int
        Seed of the folds and the resamples.

    Returns
    -------
    C2STResult
        The AUC with its interval and the per-fold AUCs.

    Raises
    ------
    DataError
        If the sets' dimensions differ, a set has fewer rows than folds, or a value is not finite.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise DataError(f"c2st: expected feature sets (N, D) of one D, got {a.shape} and {b.shape}")
    if folds < 2 or min(a.shape[0], b.shape[0]) < folds:
        raise DataError(
            f"c2st: {folds}-fold cross-validation needs at least {max(folds, 2)} rows in each "
            f"set, got {a.shape[0]} and {b.shape[0]}"
        )
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise DataError("c2st: features contain NaN or infinity")
    x = np.concatenate([a, b])
    y = np.concatenate([np.zeros(a.shape[0]), np.ones(b.shape[0])])
    fold = stratified_folds(y, folds, seed)
    scores = np.empty(y.size)
    fold_auc = []
    for k in range(folds):
        train, test = fold != k, fold == k
        mean = x[train].mean(axis=0)
        std = x[train].std(axis=0)
        std[std == 0] = 1.0
        yt = y[train]
        n1 = yt.sum()
        weight = np.where(yt == 1, yt.size / (2.0 * n1), yt.size / (2.0 * (yt.size - n1)))
        model = fit_logistic((x[train] - mean) / std, yt, C=C, sample_weight=weight)
        scores[test] = model.decision_function((x[test] - mean) / std)
        fold_auc.append(roc_auc(scores[test][y[test] == 0], scores[test][y[test] == 1]))
    auc = bootstrap_interval(roc_auc, scores[y == 0], scores[y == 1], n_boot=n_boot, level=level, seed=seed)
    return C2STResult(auc, tuple(fold_auc), a.shape[0], b.shape[0], folds, C)
