"""L2-regularised binary logistic regression in numpy (Newton-CG), for the classifier two-sample test.

The objective is scikit-learn's ``LogisticRegression(C=C)`` with an unpenalised intercept and optional
sample weights::

    0.5 * |w|^2 + C * sum_i s_i * (log(1 + exp(z_i)) - y_i * z_i),   z = X w + b

It is strictly convex, so Newton's method converges to the one minimum; each Newton step is solved by
conjugate gradients with Hessian-vector products (two matrix-vector products with X), so the cost per step
is O(n d) and a 1,280-d feature set needs no d x d matrix. Tested against scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from medsynth.errors import DataError

__all__ = ["LogisticModel", "fit_logistic"]


@dataclass(frozen=True)
class LogisticModel:
    """A fitted logistic regression."""

    coef: np.ndarray  # (D,) weights
    intercept: float  # unpenalised bias
    n_iter: int  # Newton steps taken
    converged: bool  # gradient norm reached the tolerance

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """Log-odds ``x @ coef + intercept`` of rows ``x`` (N, D)."""
        logits: np.ndarray = np.asarray(x, dtype=np.float64) @ self.coef + self.intercept
        return logits

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probability of class 1 for rows ``x`` (N, D)."""
        return _sigmoid(self.decision_function(x))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for any z


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    C: float = 1.0,
    sample_weight: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> LogisticModel:
    """Fit an L2-regularised logistic regression by Newton-CG.

    Parameters
    ----------
    x : numpy.ndarray
        Features (N, D).
    y : numpy.ndarray
        Labels (N,) in {0, 1}.
    C : float
        Inverse regularisation strength, as scikit-learn's ``C``.
    sample_weight : numpy.ndarray, optional
        Non-negative weight of each row (e.g. scikit-learn's ``class_weight="balanced"``); default 1.
    tol : float
        Stop when the gradient's norm is below ``tol`` times its norm at the start.
    max_iter : int
        Most Newton steps.

    Returns
    -------
    LogisticModel
        Weights, intercept and convergence.

    Raises
    ------
    DataError
        If the shapes disagree, the labels are not 0/1, ``C`` is not positive or a value is not finite.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise DataError(f"fit_logistic: expected x (N, D) and y (N,), got {x.shape} and {y.shape}")
    if not np.all((y == 0) | (y == 1)):
        raise DataError("fit_logistic: labels must be 0 or 1")
    if not C > 0 or not np.all(np.isfinite(x)):
        raise DataError(f"fit_logistic: C must be positive (got {C}) and x finite")
    s = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if s.shape != y.shape or np.any(s < 0):
        raise DataError("fit_logistic: sample_weight must be (N,) and non-negative")
    cs = C * s
    d = x.shape[1]
    theta = np.zeros(d + 1)  # weights, then intercept

    def objective(t: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        z = x @ t[:d] + t[d]
        loss = 0.5 * float(t[:d] @ t[:d]) + float(cs @ (np.logaddexp(0.0, z) - y * z))
        p = _sigmoid(z)
        r = cs * (p - y)
        grad = np.concatenate([t[:d] + x.T @ r, [r.sum()]])
        return loss, grad, cs * p * (1.0 - p)

    loss, grad, h = objective(theta)
    g0 = float(np.linalg.norm(grad)) or 1.0
    converged, it = False, 0
    for it in range(1, max_iter + 1):
        gnorm = float(np.linalg.norm(grad))
        if gnorm <= tol * g0:
            converged, it = True, it - 1
            break

        def hess(v: np.ndarray, h: np.ndarray = h) -> np.ndarray:
            u = h * (x @ v[:d] + v[d])
            return np.concatenate([v[:d] + x.T @ u, [u.sum()]])

        step = _conjugate_gradient(hess, -grad, min(0.5, np.sqrt(gnorm / g0)) * gnorm, 10 * (d + 1))
        slope = float(grad @ step)
        t = 1.0
        while True:  # backtracking (Armijo); a Newton step of a convex objective is a descent direction
            new_loss, new_grad, new_h = objective(theta + t * step)
            if new_loss <= loss + 1e-4 * t * slope or t < 1e-10:
                break
            t *= 0.5
        theta, loss, grad, h = theta + t * step, new_loss, new_grad, new_h
    else:
        converged = float(np.linalg.norm(grad)) <= tol * g0
    return LogisticModel(theta[:d].copy(), float(theta[d]), it, converged)


def _conjugate_gradient(
    matvec: Callable[[np.ndarray], np.ndarray], b: np.ndarray, atol: float, max_iter: int
) -> np.ndarray:
    """Solve ``A x = b`` for a symmetric positive definite ``A`` given as ``matvec``, to ``|r| <= atol``."""
    x = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rr = float(r @ r)
    for _ in range(max_iter):
        if np.sqrt(rr) <= atol:
            break
        ap = matvec(p)
        alpha = rr / float(p @ ap)
        x += alpha * p
        r -= alpha * ap
        rr_new = float(r @ r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x
