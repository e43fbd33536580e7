"""Minimum-cost bipartite matching with a cost threshold (the Hungarian step of SORT)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["Matching", "min_cost_matching"]

_GATED_COST = 1e6  # stands in for "not allowed" so the solver never prefers a gated pair


@dataclass(frozen=True, slots=True, eq=False)
class Matching:
    """The result of :func:`min_cost_matching`; always the same types, even for empty inputs.

    Attributes:
        matches: ``(K, 2)`` int64, rows of ``[row, col]`` pairs, sorted by row.
        unmatched_rows: ``(R,)`` int64 row indices without a partner, ascending.
        unmatched_cols: ``(C,)`` int64 column indices without a partner, ascending.
    """

    matches: np.ndarray
    unmatched_rows: np.ndarray
    unmatched_cols: np.ndarray


def min_cost_matching(cost: np.ndarray, max_cost: float) -> Matching:
    """Match rows to columns minimising the total cost; pairs costing more than ``max_cost`` are refused.

    Pairs above ``max_cost`` (and NaN/inf entries) are gated *before* solving, so a refused pair
    never displaces an allowed one.

    Args:
        cost: ``(R, C)`` cost matrix, e.g. ``1 - IoU`` of tracks (rows) and detections (columns).
        max_cost: largest cost a match may have (``1 - iou_threshold`` for IoU costs).

    Returns:
        A :class:`Matching` with ``matches`` ``(K, 2)``, ``unmatched_rows`` and ``unmatched_cols``.

    Example:
        >>> m = min_cost_matching(np.array([[0.1, 0.9], [0.2, 0.3]]), max_cost=0.5)
        >>> m.matches.tolist(), m.unmatched_rows.tolist(), m.unmatched_cols.tolist()
        ([[0, 0], [1, 1]], [], [])
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost must be a 2-D (rows, cols) matrix, got shape {cost.shape}")
    n_rows, n_cols = cost.shape
    allowed = np.isfinite(cost) & (cost <= max_cost)
    if n_rows == 0 or n_cols == 0 or not allowed.any():
        return Matching(
            np.zeros((0, 2), np.int64), np.arange(n_rows, dtype=np.int64), np.arange(n_cols, dtype=np.int64)
        )
    gated = np.where(allowed, cost, _GATED_COST)
    rows, cols = linear_sum_assignment(gated)
    keep = allowed[rows, cols]
    matches = np.stack([rows[keep], cols[keep]], axis=1).astype(np.int64)
    row_free = np.ones(n_rows, bool)
    row_free[matches[:, 0]] = False
    col_free = np.ones(n_cols, bool)
    col_free[matches[:, 1]] = False
    return Matching(
        matches, np.flatnonzero(row_free).astype(np.int64), np.flatnonzero(col_free).astype(np.int64)
    )
