"""Tracklet-pair measures: how well a pair score separates same-person pairs from the others.

Association decides on pairs of tracklets, and a few look-alike negatives among many pairs decide
its errors, so MTMC IDF1 alone hides where a scorer fails. These measures take one score per pair
(higher = more likely the same person) and a boolean label per pair:

- :func:`roc_auc`: the probability that a random same-person pair outscores a random other pair;
- :func:`precision_at_recall`: the precision of the links made by the threshold that keeps the
  given fraction of the same-person pairs (what a linker gets for that recall).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["precision_at_recall", "roc_auc"]


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC by the Mann–Whitney statistic (ties count half); ``nan`` without both classes.

    Args:
        scores: ``(N,)`` pair scores, higher = more likely the same person.
        labels: ``(N,)`` bool, true for same-person pairs.

    Example:
        >>> roc_auc(np.array([0.9, 0.8, 0.3, 0.1]), np.array([True, False, True, False]))
        0.75
    """
    from scipy.stats import rankdata

    scores, pos = _check(scores, labels)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def precision_at_recall(scores: np.ndarray, labels: np.ndarray, recall: float) -> float:
    """Precision of the pairs scoring at least the score that reaches ``recall`` of the positives.

    Pairs tied with that score are all counted (a threshold cannot split ties); ``nan`` without
    positives.

    Args:
        scores: ``(N,)`` pair scores, higher = more likely the same person.
        labels: ``(N,)`` bool, true for same-person pairs.
        recall: the fraction of positives to reach, in (0, 1].

    Example:
        >>> s = np.array([0.9, 0.8, 0.7, 0.6]); y = np.array([True, False, True, False])
        >>> precision_at_recall(s, y, 0.5), round(precision_at_recall(s, y, 1.0), 4)
        (1.0, 0.6667)
    """
    if not 0.0 < recall <= 1.0:
        raise ValueError(f"recall must be in (0, 1], got {recall}")
    scores, pos = _check(scores, labels)
    n_pos = int(pos.sum())
    if n_pos == 0:
        return math.nan
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(pos[order].astype(np.int64))
    k = int(np.searchsorted(hits, math.ceil(recall * n_pos - 1e-9)))
    threshold = scores[order][k]
    kept = scores >= threshold
    return float((kept & pos).sum() / kept.sum())


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, np.float64).ravel()
    y = np.asarray(labels, bool).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length: {s.size} and {y.size}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    return s, y
