"""Keep an adapted pair head on its start weights' score scale, without labels.

Self-supervised adaptation changes *which* pairs the head ranks high, and also *how high*: the
adapted head's log-odds drift (its training pairs are all within one camera or labelled stills), so
a calibration fitted for the start weights (``association.score_scale`` / ``score_bias_logodds``
in the pipeline) no longer says P(same person), and a threshold may then link nothing at all.

:func:`fit_score_alignment` compares both heads on the same pairs — pairs of crops of two
tracklets that a linker could join (not a cannot-link) — and fits the monotone linear map
``l_start ≈ scale · l_adapted + shift`` of log-odds that matches the upper quantiles of the two
score distributions (quantile matching: the adapted head keeps its own ranking; its log-odds are
re-expressed on the start head's scale, where the calibration holds). :func:`fold_into_head`
writes the map into the head's last layer, so the adapted weights need no extra setting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from reid_core.inference import Matcher

__all__ = ["ScoreAlignment", "fit_score_alignment", "fold_into_head", "linkable_crop_pairs"]

# Quantiles matched: the upper half of the candidate pairs' scores, where decisions are made.
QUANTILES = np.linspace(0.5, 0.99, 50)
_EPS = 1e-6


@dataclass(frozen=True)
class ScoreAlignment:
    """``l_start ≈ scale · l_adapted + shift`` (log-odds), fitted on ``pairs`` crop pairs."""

    scale: float
    shift: float
    pairs: int

    def to_dict(self) -> dict[str, Any]:
        return {"scale": round(self.scale, 6), "shift": round(self.shift, 6), "pairs": self.pairs}


def linkable_crop_pairs(
    crop_tracklet: np.ndarray, cannot_link: np.ndarray, max_pairs: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Random crop pairs ``(i, j)`` of two different tracklets that are not a cannot-link.

    Args:
        crop_tracklet: (N,) int tracklet index of each crop.
        cannot_link: (T, T) bool, two tracklets that cannot be one person.
        max_pairs: pairs drawn at most (fewer if fewer exist among the draws).
        seed: random seed.

    Returns:
        ``(idx_a, idx_b)``: (P,) int64 crop indices, ``P <= max_pairs``.
    """
    rng = np.random.default_rng(seed)
    n = len(crop_tracklet)
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    a = rng.integers(0, n, 4 * max_pairs)
    b = rng.integers(0, n, 4 * max_pairs)
    ta, tb = crop_tracklet[a], crop_tracklet[b]
    keep = (ta != tb) & ~cannot_link[ta, tb]
    return a[keep][:max_pairs].astype(np.int64), b[keep][:max_pairs].astype(np.int64)


def _logodds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p.astype(np.float64), _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


def fit_score_alignment(
    start: Matcher,
    adapted: Matcher,
    crops_bgr: Sequence[np.ndarray] | np.ndarray,
    crop_tracklet: np.ndarray,
    cannot_link: np.ndarray,
    *,
    max_pairs: int = 4000,
    seed: int = 0,
    min_pairs: int = 50,
    crop_cameras: np.ndarray | None = None,
) -> ScoreAlignment | None:
    """Fit the log-odds map from the adapted head to the start head (module docstring).

    Args:
        start, adapted: the two networks as :class:`~reid_core.inference.Matcher`.
        crops_bgr: (N, H, W, 3) uint8 BGR crops of the tracklets.
        crop_tracklet: (N,) int tracklet index of each crop.
        cannot_link: (T, T) bool cannot-link table of the tracklets.
        max_pairs: crop pairs scored by each head (more = steadier fit, slower).
        seed: random seed of the pair draw.
        min_pairs: fewer linkable pairs than this: no fit (``None``).
        crop_cameras: (N,) int camera of each crop: each camera's crops are encoded by both
            networks with their trunk's BatchNorm moments measured on that camera's crops (camera
            normalisation, as the pipeline encodes); ``None`` = the trained moments.

    Returns:
        The map, or ``None`` when there are too few pairs, a head gives one score to every pair,
        the two heads' log-odds are not positively correlated, or the fit is not increasing.
    """
    idx_a, idx_b = linkable_crop_pairs(
        np.asarray(crop_tracklet), np.asarray(cannot_link, bool), max_pairs, seed
    )
    if len(idx_a) < min_pairs:
        return None
    enc_start = _encode(start, crops_bgr, crop_cameras)
    enc_adapted = _encode(adapted, crops_bgr, crop_cameras)
    l_start = _logodds(start.score_pairs(enc_start, idx_a, enc_start, idx_b))
    l_adapted = _logodds(adapted.score_pairs(enc_adapted, idx_a, enc_adapted, idx_b))
    q_start, q_adapted = np.quantile(l_start, QUANTILES), np.quantile(l_adapted, QUANTILES)
    if np.ptp(q_adapted) < 1e-9 or np.ptp(l_start) < 1e-9:
        return None
    if np.corrcoef(l_start, l_adapted)[0, 1] <= 0:  # quantiles alone cannot tell a reversed head
        return None
    scale, shift = np.polyfit(q_adapted, q_start, 1)
    if not (math.isfinite(scale) and math.isfinite(shift) and scale > 0):
        return None
    return ScoreAlignment(float(scale), float(shift), len(idx_a))


def _encode(
    matcher: Matcher, crops_bgr: Sequence[np.ndarray] | np.ndarray, cameras: np.ndarray | None
) -> Any:
    """``matcher.encode`` of all crops; with ``cameras``, each camera's by its renormalised matcher."""
    crops = list(crops_bgr)
    if cameras is None:
        return matcher.encode(crops)
    from reid_core.camera_norm import per_camera

    def encode(_: int, rows: np.ndarray) -> Any:
        own = [crops[i] for i in rows]
        return matcher.renormalised(own).encode(own)

    return per_camera(cameras, encode)


def fold_into_head(head_last: torch.nn.Linear, alignment: ScoreAlignment) -> None:
    """Make the 2-logit layer's log-odds ``z1 - z0`` become ``scale · (z1 - z0) + shift``, in place.

    Args:
        head_last: the head's last layer, ``Linear(·, 2)`` (index 1 = "same person"), with a bias.
    """
    import torch

    if head_last.out_features != 2 or head_last.bias is None:
        raise ValueError("the head's last layer must be Linear(·, 2) with a bias")
    with torch.no_grad():
        head_last.weight.mul_(alignment.scale)
        head_last.bias.mul_(alignment.scale)
        head_last.bias[1] += alignment.shift
