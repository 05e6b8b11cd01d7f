"""Classification metrics on the validation set, in numpy: balanced accuracy, per-class recall, macro
one-vs-rest AUROC, and stratified bootstrap resamples of the validation images.

They match scikit-learn's ``balanced_accuracy_score``, ``recall_score(average=None)`` and
``roc_auc_score(multi_class="ovr", average="macro")`` (the tests check this); they are written here so that
the bootstrap can score thousands of resamples without a dependency on scikit-learn.
"""

from __future__ import annotations

import numpy as np

from medsynth.errors import ArgumentError

__all__ = ["per_class_recall", "balanced_accuracy", "auroc_ovr", "macro_auroc", "stratified_resamples"]


def _check(y_true: np.ndarray, n_classes: int) -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ArgumentError(f"labels must be a 1-D integer array, got {y.dtype} {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise ArgumentError(f"labels must lie in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    return y


def per_class_recall(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Recall (sensitivity) of every class.

    Parameters
    ----------
    y_true, y_pred
        Integer class indices, shape (N,).
    n_classes
        Number of classes K.

    Returns
    -------
    numpy.ndarray
        float64 (K,): the fraction of the images of class k predicted as k; NaN for a class with no image.

    Raises
    ------
    ArgumentError
        Labels not 1-D integers in 0..K-1, or ``y_true`` and ``y_pred`` of different lengths.
    """
    y, p = _check(y_true, n_classes), _check(y_pred, n_classes)
    if len(y) != len(p):
        raise ArgumentError(f"y_true has {len(y)} labels and y_pred {len(p)}")
    support = np.bincount(y, minlength=n_classes).astype(np.float64)
    hits = np.bincount(y[y == p], minlength=n_classes).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, hits / np.maximum(support, 1), np.nan)


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Mean recall over the classes present in ``y_true`` (scikit-learn's ``balanced_accuracy_score``).

    Parameters
    ----------
    y_true, y_pred, n_classes
        As for :func:`per_class_recall`.

    Returns
    -------
    float
        Balanced accuracy in [0, 1]; NaN for empty input.
    """
    recall = per_class_recall(y_true, y_pred, n_classes)
    present = ~np.isnan(recall)
    return float(recall[present].mean()) if present.any() else float("nan")


def _average_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks of ``scores`` along the last axis, ties given their mean rank."""
    order = np.argsort(scores, axis=-1, kind="stable")
    sorted_scores = np.take_along_axis(scores, order, axis=-1)
    n = scores.shape[-1]
    ranks_sorted = np.empty(scores.shape, dtype=np.float64)
    flat_scores = sorted_scores.reshape(-1, n)
    flat_ranks = ranks_sorted.reshape(-1, n)
    for row in range(flat_scores.shape[0]):
        s = flat_scores[row]
        # Start of each run of equal values, and its end (exclusive).
        new_run = np.empty(n, dtype=bool)
        new_run[0] = True
        new_run[1:] = s[1:] != s[:-1]
        starts = np.flatnonzero(new_run)
        ends = np.append(starts[1:], n)
        mean_rank = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
        flat_ranks[row] = np.repeat(mean_rank, ends - starts)
    ranks = np.empty_like(ranks_sorted)
    np.put_along_axis(ranks, order, ranks_sorted, axis=-1)
    return ranks


def auroc_ovr(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """One-vs-rest AUROC of every class by the rank (Mann-Whitney U) formula, ties counted as one half.

    Parameters
    ----------
    y_true
        Integer class indices, shape (N,).
    scores
        Scores or probabilities, shape (N, K); column k scores "class k".

    Returns
    -------
    numpy.ndarray
        float64 (K,): P(score of a class-k image > score of another image) + P(tie) / 2; NaN for a class
        with no image or no other image.

    Raises
    ------
    ArgumentError
        ``scores`` not (N, K) for the N labels.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != len(np.asarray(y_true)):
        raise ArgumentError(f"scores must be (N, K) for the {len(np.asarray(y_true))} labels, got {s.shape}")
    n_classes = s.shape[1]
    y = _check(y_true, n_classes)
    ranks = _average_ranks(s.T)  # (K, N)
    out = np.full(n_classes, np.nan)
    for k in range(n_classes):
        positive = y == k
        n_pos, n_neg = int(positive.sum()), int((~positive).sum())
        if n_pos and n_neg:
            u = ranks[k, positive].sum() - n_pos * (n_pos + 1) / 2.0
            out[k] = u / (n_pos * n_neg)
    return out


def sensitivity_at_specificity(
    y_true: np.ndarray, scores: np.ndarray, specificity: float = 0.8
) -> np.ndarray:
    """One-vs-rest sensitivity of every class at the lowest threshold that keeps ``specificity``: how a
    screening test is judged (e.g. melanomas caught when at most 20% of other lesions are flagged).

    Parameters
    ----------
    y_true
        Integer class indices, shape (N,).
    scores
        Scores or probabilities, shape (N, K).
    specificity
        The specificity to keep, in (0, 1).

    Returns
    -------
    numpy.ndarray
        float64 (K,): the largest true-positive rate over thresholds whose false-positive rate is at most
        ``1 - specificity`` (an image is called class k when its score is above the threshold); NaN for a
        class with no image or no other image. The same number as the highest ``tpr`` with
        ``fpr <= 1 - specificity`` on scikit-learn's ``roc_curve``.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != len(np.asarray(y_true)):
        raise ArgumentError(f"scores must be (N, K) for the {len(np.asarray(y_true))} labels, got {s.shape}")
    if not 0.0 < specificity < 1.0:
        raise ArgumentError(f"specificity must be in (0, 1), got {specificity}")
    y = _check(y_true, s.shape[1])
    out = np.full(s.shape[1], np.nan)
    for k in range(s.shape[1]):
        pos, neg = s[y == k, k], np.sort(s[y != k, k])
        if len(pos) and len(neg):
            allowed = int(np.floor((1.0 - specificity) * len(neg) + 1e-9))  # negatives that may be flagged
            threshold = neg[len(neg) - allowed - 1]  # the lowest threshold flagging at most that many
            out[k] = float((pos > threshold).mean())
    return out


def macro_auroc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Unweighted mean of :func:`auroc_ovr` over the classes where it is defined (NaN if none is)."""
    per_class = auroc_ovr(y_true, scores)
    defined = ~np.isnan(per_class)
    return float(per_class[defined].mean()) if defined.any() else float("nan")


def stratified_resamples(y_true: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap resamples of the validation images, drawn with replacement within each class.

    Every resample keeps each class's number of images, so every class is present in every resample and
    the per-class recalls and AUROCs are always defined.

    Parameters
    ----------
    y_true
        Integer class indices, shape (N,).
    n_boot
        Number of resamples.
    seed
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    numpy.ndarray
        int64 (n_boot, N): indices into the validation set; row b is resample b.
    """
    y = np.asarray(y_true)
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, len(y)), dtype=np.int64)
    column = 0
    for k in np.unique(y):
        members = np.flatnonzero(y == k)
        out[:, column : column + len(members)] = rng.choice(
            members, size=(n_boot, len(members)), replace=True
        )
        column += len(members)
    return out
