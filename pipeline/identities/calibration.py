"""Calibration of pair scores: raw head output → log-odds of P(same person) (Platt scaling).

The pair head's probability is not calibrated for tracklet pairs of a run (its scores crowd near
1, and the aggregation over crop pairs shifts them), so a threshold on it means nothing fixed.
:func:`fit_platt` fits ``w = scale · logit(s) + bias`` by maximum likelihood (logistic regression
on one feature) to labelled pairs, so that ``sigmoid(w)`` estimates P(same person) among pairs
like the fitting ones; the two numbers go into ``association.score_scale`` and
``association.score_bias_logodds``. Two parameters cannot over-fit a few hundred pairs, and the
map is monotone, so it never changes the ranking of pairs (only what a threshold means).

The bias carries the fraction of same-person pairs of the fitting data (the prior); a scene with
many more people per tracklet than the fitting scenes makes each pair less likely the same person,
which the clustering's cannot-links and averaging absorb better than a shifted threshold would.
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.identities.scoring import logodds

__all__ = ["fit_platt"]


def fit_platt(scores: np.ndarray, labels: np.ndarray, l2: float = 1e-3) -> tuple[float, float]:
    """Fit ``P(same) = sigmoid(scale · logit(s) + bias)`` to labelled pairs.

    Args:
        scores: ``(N,)`` raw pair probabilities in [0, 1] (clipped away from 0 and 1).
        labels: ``(N,)`` bool, true for same-person pairs; both classes needed.
        l2: a small ridge on ``scale`` and ``bias`` (keeps the fit finite when the classes separate).

    Returns:
        ``(scale, bias)``; ``bias`` in natural-log odds.

    Raises:
        ValueError: lengths differ, or a class is missing.

    Example:
        >>> s = np.array([0.2, 0.4, 0.6, 0.8, 0.9, 0.95]); y = np.array([0, 0, 1, 0, 1, 1], bool)
        >>> scale, bias = fit_platt(s, y)
        >>> scale > 0
        True
    """
    from scipy.optimize import minimize

    s = np.asarray(scores, np.float64).ravel()
    y = np.asarray(labels, bool).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length: {s.size} and {y.size}")
    if y.all() or not y.any():
        raise ValueError("calibration needs both same-person and different-person pairs")
    x = np.array([logodds(float(v)) for v in s])
    t = y.astype(np.float64)

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = params
        z = a * x + b
        # log(1 + e^z) − t·z, stably; gradient (σ(z) − t)·[x, 1]
        nll = np.logaddexp(0.0, z) - t * z
        p = 0.5 * (1.0 + np.tanh(0.5 * z))
        grad = np.array([np.sum((p - t) * x), np.sum(p - t)]) + 2 * l2 * params
        return float(nll.sum() + l2 * (a * a + b * b)), grad

    res = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    scale, bias = (float(v) for v in res.x)
    if not (math.isfinite(scale) and math.isfinite(bias)):
        raise ValueError("calibration fit did not converge")
    return scale, bias
