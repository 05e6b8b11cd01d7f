"""Inception Score from a classifier's logits (Salimans et al. 2016)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medsynth.errors import DataError

__all__ = ["ISResult", "inception_score"]


@dataclass(frozen=True)
class ISResult:
    """Inception Score over splits."""

    mean: float  # mean over splits of exp(E_x KL(p(y|x) || p(y)))
    std: float  # standard deviation over splits (ddof=1, as piq; 0 for one split)
    n_splits: int  # number of splits


def inception_score(logits: np.ndarray, n_splits: int = 10) -> ISResult:
    """Inception Score of a set of classifier logits.

    Parameters
    ----------
    logits : numpy.ndarray
        Array (N, K) of unnormalised class scores (softmax is applied here), e.g. the output of an ONNX
        classifier (see :class:`medsynth.metrics.features.OnnxFeatureExtractor`).
    n_splits : int
        Consecutive equal splits, as in the paper (10); the last ``N % n_splits`` rows are left out, as in
        piq.

    Returns
    -------
    ISResult
        Mean and standard deviation over the splits; between 1 and K.

    Raises
    ------
    DataError
        If the logits are not 2-D, non-finite, or fewer than ``n_splits`` rows.
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or not np.all(np.isfinite(z)):
        raise DataError(f"inception_score: expected finite logits of shape (N, K), got {z.shape}")
    if n_splits < 1 or z.shape[0] < n_splits:
        raise DataError(f"inception_score: need at least n_splits={n_splits} rows, got {z.shape[0]}")
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    size = z.shape[0] // n_splits
    scores = np.empty(n_splits)
    for s in range(n_splits):
        part_p = p[s * size : (s + 1) * size]
        part_log_p = log_p[s * size : (s + 1) * size]
        log_py = np.log(part_p.mean(axis=0))
        kl = (part_p * (part_log_p - log_py)).sum(axis=1)
        scores[s] = np.exp(kl.mean())
    std = float(scores.std(ddof=1)) if n_splits > 1 else 0.0
    return ISResult(float(scores.mean()), std, n_splits)
