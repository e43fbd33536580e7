"""Tracklet-pair scores from the re-ID model: encode each tracklet once, score pairs of tracklets.

Shared by every associator:

- :func:`encode_tracklets` runs the crops of a batch of tracklets through the model **once**
  (one ``encode`` call) and keeps, per tracklet, the encodings of up to ``crops_per_pair`` crops
  spread over its life and its mean embedding (L2-normalised), for shortlists; with ``pool`` the
  kept crops are averaged into one tracklet-level encoding (``association.crop_pooling: mean``,
  :func:`pool_encoded`);
- :func:`tracklet_pair_score` scores two encoded tracklets with the pair head on up to
  ``crops_per_pair²`` crop pairs, both orders averaged (the head is not symmetric), aggregated
  by :func:`aggregate_pair_scores`; :func:`tracklet_pair_scores` scores many pairs with one
  batched pair-head call (:func:`score_blocks`), same values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pipeline.identities import MatcherLike
    from pipeline.tracklets import Tracklet

__all__ = [
    "EncodedTracklet",
    "aggregate_pair_scores",
    "cross_camera_gap_ok",
    "cross_camera_gaps_ok",
    "encode_tracklets",
    "logodds",
    "pool_encoded",
    "score_blocks",
    "tracklet_pair_score",
    "tracklet_pair_scores",
]

_P_CLIP = 1e-7  # probabilities are float32 from the model: log-odds stay finite (|logit| <= 16.1)


@dataclass(frozen=True, eq=False)
class EncodedTracklet:
    """A tracklet as the re-ID model sees it.

    Attributes:
        encoded: the model's encodings of up to ``crops_per_pair`` of its crops (time-spread).
        embedding: ``(D,)`` float32 L2-normalised mean embedding of all its crops.
    """

    encoded: Any
    embedding: np.ndarray


def logodds(p: float) -> float:
    """``log(p / (1 − p))`` with ``p`` clipped away from 0 and 1 (natural log).

    >>> round(logodds(0.5), 6), round(logodds(0.9), 4)
    (0.0, 2.1972)
    """
    p = min(max(p, _P_CLIP), 1.0 - _P_CLIP)
    return math.log(p) - math.log1p(-p)


def cross_camera_gap_ok(gap_s: float, min_transition_s: float, overlapping_views: bool) -> bool:
    """Whether two tracklets of different cameras ``gap_s`` apart may be one person.

    ``gap_s`` is the time from the end of the earlier to the start of the later (negative: they
    overlap). The gap must reach ``min_transition_s``; a negative ``min_transition_s`` tolerates
    that much overlap (views that touch, clocks not quite synchronised). With
    ``overlapping_views`` any overlap is allowed and ``min_transition_s`` applies to gaps ≥ 0.

    >>> cross_camera_gap_ok(0.0, 0.0, False), cross_camera_gap_ok(-0.3, -0.5, False)
    (False, True)
    >>> cross_camera_gap_ok(-3.0, 0.0, True), cross_camera_gap_ok(1.0, 2.0, True)
    (True, False)
    """
    if overlapping_views:
        return gap_s < 0 or gap_s >= min_transition_s
    if min_transition_s < 0:
        return gap_s >= min_transition_s
    return gap_s > 0 and gap_s >= min_transition_s


def cross_camera_gaps_ok(gaps_s: np.ndarray, min_transition_s: float, overlapping_views: bool) -> np.ndarray:
    """:func:`cross_camera_gap_ok` of every gap of an array (bool array of the same shape).

    >>> cross_camera_gaps_ok(np.array([-1.0, 0.0, 2.0]), 0.0, False).tolist()
    [False, False, True]
    """
    gaps_s = np.asarray(gaps_s, np.float64)
    if overlapping_views:
        return (gaps_s < 0) | (gaps_s >= min_transition_s)
    if min_transition_s < 0:
        return gaps_s >= min_transition_s
    return (gaps_s > 0) & (gaps_s >= min_transition_s)


def aggregate_pair_scores(scores: np.ndarray, top_fraction: float) -> float:
    """Aggregate crop-pair P(same) into one tracklet-pair probability; ``nan`` if empty.

    The mean is taken in log-odds over the best ``top_fraction`` (at least one) of the pairs and
    mapped back to a probability: unlike a plain mean of probabilities it still ranks pairs whose
    crop scores are all close to 1 (a head that is confident on most pairs).

    Example:
        >>> round(aggregate_pair_scores(np.array([[0.9, 0.1], [0.7, 0.3]]), 0.5), 4)
        0.8209
        >>> round(aggregate_pair_scores(np.array([[0.9, 0.9]]), 1.0), 4)
        0.9
    """
    flat = np.sort(np.asarray(scores, np.float64).ravel())[::-1]
    if flat.size == 0:
        return math.nan
    k = max(1, math.ceil(top_fraction * flat.size))
    p = np.clip(flat[:k], _P_CLIP, 1.0 - _P_CLIP)
    mean_logit = float(np.mean(np.log(p) - np.log1p(-p)))
    return 1.0 / (1.0 + math.exp(-mean_logit))


def pool_encoded(matcher: MatcherLike, tracklet: EncodedTracklet) -> EncodedTracklet:
    """``tracklet`` with its crop encodings averaged into one row (the matcher's ``pool``).

    For :class:`reid_core.inference.Matcher` that is :meth:`~reid_core.inference.Encoded.mean`:
    the half-responses of the crops' mean trunk map. Idempotent: a pooled tracklet comes back
    with the same values.

    Raises:
        TypeError: the matcher has no ``pool`` method (use ``association.crop_pooling: pairs``).
    """
    pool = getattr(matcher, "pool", None)
    if not callable(pool):
        raise TypeError(
            f"the re-ID model {type(matcher).__name__} cannot pool crops: set association.crop_pooling: pairs"
        )
    return EncodedTracklet(encoded=pool(tracklet.encoded), embedding=tracklet.embedding)


def encode_tracklets(
    matcher: MatcherLike, tracklets: Sequence[Tracklet], crops_per_pair: int, *, pool: bool = False
) -> list[EncodedTracklet | None]:
    """Encode the crops of ``tracklets`` in one model call; ``None`` for a tracklet without crops.

    Each tracklet keeps the encodings of up to ``crops_per_pair`` crops spread over its life; with
    ``pool`` they are averaged into one (:func:`pool_encoded`). A tracklet whose encoding was
    already attached (``tracklet.encoded``, see :class:`~pipeline.loop.TrackletEncoder`) is not
    encoded again: its attached encoding is returned (pooled with ``pool``; pooling twice changes
    nothing).
    """
    if any(t.encoded for t in tracklets):
        todo = [t for t in tracklets if not t.encoded]
        fresh = iter(encode_tracklets(matcher, todo, crops_per_pair, pool=pool) if todo else [])
        given = [t.encoding if t.encoded else next(fresh) for t in tracklets]
        return [pool_encoded(matcher, e) if pool and e is not None else e for e in given]
    crops: list[np.ndarray] = []
    spans: list[tuple[int, int]] = []
    for tracklet in tracklets:
        images = tracklet.crops_bgr()
        spans.append((len(crops), len(crops) + len(images)))
        crops.extend(images)
    if not crops:
        return [None] * len(tracklets)
    encoded = matcher.encode(crops)
    embeddings = np.asarray(matcher.embed(encoded), np.float32)
    out: list[EncodedTracklet | None] = []
    for start, end in spans:
        if end == start:
            out.append(None)
            continue
        rows = np.arange(start, end)
        mean = embeddings[rows].mean(axis=0)
        spread = np.linspace(0, len(rows) - 1, min(crops_per_pair, len(rows))).round().astype(np.int64)
        enc = EncodedTracklet(
            encoded=encoded[rows[np.unique(spread)]],
            embedding=mean / max(float(np.linalg.norm(mean)), 1e-12),
        )
        out.append(pool_encoded(matcher, enc) if pool else enc)
    return out


def score_blocks(matcher: MatcherLike, blocks: Sequence[tuple[Any, Any]]) -> list[np.ndarray]:
    """``matcher.score(a, b)`` of every ``(a, b)`` block: one (Na, Nb) array each.

    Uses the matcher's ``score_blocks`` (one batched pass through the pair head,
    :meth:`reid_core.inference.Matcher.score_blocks`) when it has one, else one ``score`` call
    per block (matchers that only implement :class:`~pipeline.identities.MatcherLike`).
    """
    batched = getattr(matcher, "score_blocks", None)
    if callable(batched):
        return list(batched(blocks))
    return [matcher.score(a, b) for a, b in blocks]


def tracklet_pair_scores(
    matcher: MatcherLike, pairs: Sequence[tuple[EncodedTracklet, EncodedTracklet]], top_fraction: float
) -> list[float]:
    """:func:`tracklet_pair_score` of every ``(a, b)`` pair, with one batched pair-head call.

    Both orders of every pair go through :func:`score_blocks` together (``2 · len(pairs)``
    blocks of up to ``crops_per_pair²`` crop pairs), so the head runs once for all of them
    instead of twice per pair; the values are those of :func:`tracklet_pair_score`.
    """
    blocks: list[tuple[Any, Any]] = []
    for a, b in pairs:
        blocks += [(a.encoded, b.encoded), (b.encoded, a.encoded)]
    scored = score_blocks(matcher, blocks)
    out = []
    for k in range(len(pairs)):
        ab = np.asarray(scored[2 * k], np.float64)
        ba = np.asarray(scored[2 * k + 1], np.float64)
        out.append(aggregate_pair_scores(0.5 * (ab + ba.T), top_fraction))
    return out


def tracklet_pair_score(
    matcher: MatcherLike, a: EncodedTracklet, b: EncodedTracklet, top_fraction: float
) -> float:
    """P(same person) of two encoded tracklets (symmetric; ``nan`` when either has no crop pair)."""
    ab = np.asarray(matcher.score(a.encoded, b.encoded), np.float64)
    ba = np.asarray(matcher.score(b.encoded, a.encoded), np.float64)
    return aggregate_pair_scores(0.5 * (ab + ba.T), top_fraction)
