"""The ``offline`` associator: every tracklet of a finite input clustered at once, when it ends.

Deciding tracklet by tracklet as they close (``online``) commits to a link before the better
candidate has been seen, and a greedy decision cannot weigh what a link implies for the other
members of an identity. With a finite input (files, frame folders) every tracklet is known at the
end, so :meth:`OfflineAssociator.finish` solves one global problem:

1. **Encode once** (as online): each tracklet's crops go through the re-ID network once when it
   closes; up to ``crops_per_pair`` crop encodings and the mean embedding are kept, crops freed.
2. **Hard constraints** (a *cannot-link*, never violated, not even through a third tracklet):
   two tracklets of one camera sharing a moment (one frame is enough); with
   ``overlapping_views=False`` two tracklets of different cameras sharing a moment; a gap longer
   than ``max_transition_s`` between tracklets of different cameras or of one camera (re-entry);
   a gap shorter than ``min_transition_s`` between cameras; two tracklets of one camera when
   ``allow_reentry`` is false.
3. **Pair evidence.** Each tracklet's ``shortlist_k`` nearest feasible tracklets by embedding
   cosine (both directions, so a pair is scored when either end shortlists it) are scored by the
   pair head (:func:`~pipeline.identities.scoring.tracklet_pair_score`), and the score is made a
   calibrated log-odds ``w = score_scale · logit(s) + score_bias_logodds``, so that
   ``sigmoid(w)`` estimates P(same person) (:mod:`pipeline.identities.calibration`).
4. **Clustering**: average-linkage agglomeration under the cannot-links. Start from singletons;
   repeatedly merge the two clusters with the highest mean ``w`` over their scored cross pairs,
   as long as that mean exceeds ``logit(threshold)`` and no cross pair is a cannot-link. A
   look-alike that scores high against one member but low against the others of an identity is
   outvoted by them, and two tracklets that cannot be one person are never merged through a
   third: the failure modes of arrival-order linking.
5. **Report**: global ids by first appearance; each tracklet's link: ``score`` = P(same) of
   the tracklet with the rest of its identity (mean log-odds over its scored pairs, mapped
   back), ``margin_logodds`` = that mean minus the best mean to any other identity it could have
   joined (large = a clear decision; small = a look-alike stood close). ``None`` for a tracklet
   alone in its identity.

Memory: per tracklet the time span and ``crops_per_pair`` encodings (crops are freed when
encoded), so it grows with the number of tracklets of the input, like the output does. The pair
head runs on at most ``shortlist_k`` pairs per tracklet.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pipeline.identities import Assignment, Identity, LinkScore, MatcherLike, TrackletKey
from pipeline.identities.adaptive import AdaptiveCalibration, known_negative_pairs
from pipeline.identities.contrast import NegativeContrast
from pipeline.identities.links import CameraLinkModel
from pipeline.identities.scoring import (
    EncodedTracklet,
    encode_tracklets,
    logodds,
    tracklet_pair_score,
    tracklet_pair_scores,
)
from pipeline.identities.spacetime import (
    Ends,
    PairRule,
    Topology,
    ZoneModel,
    motion_logodds,
    tracklet_ends,
)
from pipeline.tracklets import Tracklet

log = logging.getLogger("pipeline")

if TYPE_CHECKING:
    from pipeline.config import AssociationConfig
    from pipeline.frames import SourceInfo

__all__ = ["OfflineAssociator", "average_linkage"]

ZONE_PRIOR_LINKS = 5.0  # pseudo-links of the zone prior when zones are on: a run needs more links than this


@dataclass(eq=False)
class _Item:
    key: TrackletKey
    t_start_s: float
    t_end_s: float
    enc: EncodedTracklet | None
    ends: Ends


def _best_clear_pair(mean: np.ndarray, min_mean: float, min_margin: float) -> tuple[int, int] | None:
    """The highest pair above ``min_mean`` whose mean beats each side's next-best partner by
    ``min_margin`` (``None`` if no pair does)."""
    upper = np.triu(mean > min_mean, k=1)
    if not upper.any():
        return None
    rows, cols = np.nonzero(upper)
    for k in np.argsort(-mean[rows, cols], kind="stable").tolist():
        i, j = int(rows[k]), int(cols[k])
        if min_margin > 0:
            row_i, row_j = mean[i].copy(), mean[j].copy()
            row_i[j] = row_j[i] = -np.inf
            if mean[i, j] - max(row_i.max(), row_j.max()) < min_margin:
                continue  # a look-alike stands as close: not now (maybe after other merges)
        return i, j
    return None


def average_linkage(
    weights: np.ndarray, cannot: np.ndarray, min_mean: float, min_margin: float = 0.0
) -> tuple[list[list[int]], np.ndarray]:
    """Average-linkage agglomeration of ``N`` items under cannot-link constraints.

    Args:
        weights: ``(N, N)`` symmetric pair log-odds; ``nan`` where a pair was not scored (no
            evidence either way: it does not enter the means).
        cannot: ``(N, N)`` symmetric bool, true where two items may never share a cluster.
        min_mean: two clusters merge only while the mean of their scored cross weights exceeds this.
        min_margin: and only when that mean beats the next-best mean of either cluster with any
            other by this much (0 = off): of two look-alike candidates, neither is taken until
            other merges make one of them clear.

    Returns:
        ``(clusters, labels)``: lists of item indices (each sorted, clusters ordered by their
        first item) and the ``(N,)`` cluster index of each item.

    Example:
        >>> w = np.array([[np.nan, 3.0, -2.0], [3.0, np.nan, 1.0], [-2.0, 1.0, np.nan]])
        >>> average_linkage(w, np.zeros((3, 3), bool), 0.0)[0]  # 2 joins {0, 1}: mean (-2 + 1) / 2 < 0
        [[0, 1], [2]]
        >>> average_linkage(w, np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], bool), 0.0)[0]
        [[0], [1, 2]]
    """
    n = weights.shape[0]
    scored = np.isfinite(weights)
    total = np.where(scored, weights, 0.0).astype(np.float64)
    count = scored.astype(np.float64)
    block = np.asarray(cannot, bool).copy()
    np.fill_diagonal(total, 0.0)
    np.fill_diagonal(count, 0.0)
    alive = np.ones(n, bool)
    members: list[list[int]] = [[i] for i in range(n)]
    while True:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / np.maximum(count, 1.0), -np.inf)
        mean[block] = -np.inf
        mean[~alive, :] = -np.inf
        mean[:, ~alive] = -np.inf
        np.fill_diagonal(mean, -np.inf)
        if n == 0:
            break
        pair = _best_clear_pair(mean, min_mean, min_margin)
        if pair is None:
            break
        i, j = pair
        members[i].extend(members[j])
        members[j] = []
        total[i, :] += total[j, :]
        total[:, i] = total[i, :]
        count[i, :] += count[j, :]
        count[:, i] = count[i, :]
        block[i, :] |= block[j, :]
        block[:, i] = block[i, :]
        total[i, i] = count[i, i] = 0.0
        alive[j] = False
    clusters = sorted((sorted(m) for m in members if m), key=lambda m: m[0])
    labels = np.empty(n, np.int64)
    for c, m in enumerate(clusters):
        labels[m] = c
    return clusters, labels


def chain_linking(
    weights: np.ndarray, cannot: np.ndarray, order: np.ndarray, min_weight: float
) -> tuple[list[list[int]], np.ndarray]:
    """Identities as chains: each item gets at most one successor and one predecessor, globally.

    When one person cannot be in two places at once, an identity's tracklets follow each other in
    time, so linking is a one-to-one matching of "ends" to later "starts" (the network-flow view
    of tracklet association): one Hungarian assignment maximises the summed weight of the links,
    each above ``min_weight``. A look-alike competing for the same successor loses to the better
    candidate instead of taking it first. A chain whose members conflict (a cannot-link between
    non-consecutive members) is cut at its weakest link until none does.

    Args:
        weights: ``(N, N)`` symmetric link log-odds, ``nan`` where unscored (never linked).
        cannot: ``(N, N)`` symmetric bool cannot-links.
        order: ``(N,)`` time rank of each item (start time); a successor comes later.
        min_weight: the smallest weight a link may have.

    Returns:
        ``(clusters, labels)`` as :func:`average_linkage`.

    Example:
        >>> w = np.array([[np.nan, 2.0, 1.5], [2.0, np.nan, 3.0], [1.5, 3.0, np.nan]])
        >>> chain_linking(w, np.zeros((3, 3), bool), np.arange(3), 0.0)[0]  # 0→1→2 beats 0→2
        [[0, 1, 2]]
    """
    from trackers import min_cost_matching

    n = weights.shape[0]
    later = order[None, :] > order[:, None]
    allowed = later & ~np.asarray(cannot, bool) & np.isfinite(weights)
    cost = np.where(allowed, -np.where(np.isfinite(weights), weights, 0.0), np.inf)
    nxt = np.full(n, -1)
    prev = np.full(n, -1)
    if n > 1:
        for i, j in min_cost_matching(cost, max_cost=-min_weight).matches.tolist():
            nxt[i], prev[j] = j, i
    chains: list[list[int]] = []
    for head in np.flatnonzero(prev < 0).tolist():
        chain = [head]
        while nxt[chain[-1]] >= 0:
            chain.append(int(nxt[chain[-1]]))
        chains.append(chain)
    clusters: list[list[int]] = []
    while chains:
        chain = chains.pop()
        sub = np.asarray(chain)
        if not cannot[np.ix_(sub, sub)].any():
            clusters.append(sorted(chain))
            continue
        link_w = [weights[a, b] for a, b in itertools.pairwise(chain)]
        cut = int(np.argmin(link_w)) + 1
        chains.extend([chain[:cut], chain[cut:]])
    clusters.sort(key=lambda m: m[0])
    labels = np.empty(n, np.int64)
    for c, m in enumerate(clusters):
        labels[m] = c
    return clusters, labels


class OfflineAssociator:
    """Global association of every tracklet of a finite input (see the module docstring).

    Every argument is required: the defaults are written once, in
    :class:`pipeline.config.AssociationConfig` (build from it with :meth:`from_config`).

    Args:
        matcher: the re-ID model; may be ``None`` when ``enabled`` is false.
        enabled: false gives every tracklet its own identity.
        threshold: clusters merge while their mean calibrated P(same person) exceeds this, in (0, 1).
        score_scale, score_bias_logodds: calibration of the head's log-odds
            (``w = scale · logit(s) + bias``).
        same_camera_score_scale, same_camera_score_bias_logodds: the calibration of two
            tracklets of one camera (a re-entry; ``association.same_camera_*``).
        overlapping_views, max_transition_s, min_transition_s, allow_reentry: constraints (the
            module docstring).
        shortlist_k: nearest feasible tracklets (embedding cosine) scored per tracklet.
        crops_per_pair, top_pairs_fraction, crop_pooling: the tracklet-pair score
            (:func:`~pipeline.identities.scoring.tracklet_pair_score`; ``association.crop_pooling``).
        on_assign: receives each final :class:`Assignment` when :meth:`finish` decides.
        cameras: each camera's source info (frame size for the border zones); a camera missing
            from it gets the extent of its boxes.
        linkage: ``average`` (average-linkage agglomeration, :func:`average_linkage`) or
            ``chain`` (one successor per tracklet, :func:`chain_linking`; only meaningful when
            views do not overlap).
        motion: add the one-camera motion evidence (:func:`~pipeline.identities.spacetime.motion_logodds`).
        zone_prior_links: pseudo-links of the learned zone/transit model's prior
            (:class:`~pipeline.identities.spacetime.ZoneModel`); ``None`` = no zone evidence
            (``association.zone_prior_links``).
        camera_rules: camera clocks and per-pair rules (``association.topology``,
            :class:`~pipeline.identities.spacetime.Topology`); ``None`` = one clock, and every
            camera pair under ``overlapping_views``/``min_transition_s``/``max_transition_s``.
            Times (constraints, motion, zones) are compared on the common clock.
        min_margin_logodds: merge only when the pair's mean log-odds beats either cluster's
            next-best candidate by this much (natural log); 0 (default) = off. Not read from
            ``association.min_margin_logodds`` (online's knob): between cluster means the margins are
            small, and on the tuning data any margin cost far more recall than it gained precision.
        adaptive: the per-run calibration from known negatives
            (``association.adaptive_calibration``, :mod:`pipeline.identities.adaptive`): at
            :meth:`finish`, a capped, evenly spread sample of the pairs that cannot be one person
            (one camera at one moment; two cameras at one time without overlapping views) is
            scored first and moves every pair's head log-odds before the Platt map; ``None`` =
            the fixed calibration.
        negative_contrast: the per-tracklet contrast with known negatives (``association.contrast``,
            :mod:`pipeline.identities.contrast`): at :meth:`finish`, each tracklet's known
            negatives are scored first and every candidate pair's head log-odds are contrasted
            with them before the Platt map; ``None`` = off.
    """

    def __init__(
        self,
        matcher: MatcherLike | None,
        *,
        enabled: bool,
        threshold: float,
        score_scale: float,
        score_bias_logodds: float,
        same_camera_score_scale: float,
        same_camera_score_bias_logodds: float,
        zone_prior_links: float | None,
        overlapping_views: bool,
        max_transition_s: float | None,
        min_transition_s: float,
        allow_reentry: bool,
        shortlist_k: int,
        crops_per_pair: int,
        top_pairs_fraction: float,
        crop_pooling: str,
        on_assign: Callable[[Assignment], None] | None,
        cameras: Mapping[str, SourceInfo] | None = None,
        linkage: str = "average",
        motion: bool = True,
        min_margin_logodds: float = 0.0,
        camera_rules: Topology | None = None,
        adaptive: AdaptiveCalibration | None = None,
        negative_contrast: NegativeContrast | None = None,
    ) -> None:
        if enabled and matcher is None:
            raise ValueError("OfflineAssociator needs a matcher when enabled")
        self.adaptive = adaptive
        self.negative_contrast = negative_contrast
        self.matcher = matcher
        self.enabled = bool(enabled)
        self.threshold = float(threshold)
        self.min_margin_logodds = float(min_margin_logodds)
        self.score_scale = float(score_scale)
        self.score_bias_logodds = float(score_bias_logodds)
        self.same_camera_calibration = (float(same_camera_score_scale), float(same_camera_score_bias_logodds))
        self.overlapping_views = bool(overlapping_views)
        self.max_transition_s = None if max_transition_s is None else float(max_transition_s)
        self.min_transition_s = float(min_transition_s)
        self.allow_reentry = bool(allow_reentry)
        self.shortlist_k = int(shortlist_k)
        self.crops_per_pair = int(crops_per_pair)
        self.top_pairs_fraction = float(top_pairs_fraction)
        self.crop_pooling = str(crop_pooling)
        self.on_assign = on_assign
        if linkage not in ("average", "chain"):
            raise ValueError(f"linkage must be average or chain, got {linkage!r}")
        self.linkage = linkage
        self.motion = bool(motion)
        self.zone_prior_links = zone_prior_links
        self.link_model = "zones"  # or "links": pipeline.identities.links.CameraLinkModel
        self.zone_passes = 1
        self.frame_wh = {c: (int(i.width), int(i.height)) for c, i in (cameras or {}).items()}
        self.camera_rules = camera_rules or Topology(
            PairRule(True, self.min_transition_s, self.max_transition_s, self.overlapping_views)
        )
        self._items: dict[TrackletKey, _Item] = {}
        self._weights: dict[tuple[TrackletKey, TrackletKey], float] = {}
        self._cannot: set[tuple[TrackletKey, TrackletKey]] = set()
        self._num_identities = 0

    @classmethod
    def from_config(
        cls,
        cfg: AssociationConfig,
        *,
        matcher: MatcherLike | None,
        cameras: Mapping[str, SourceInfo],
        on_assign: Callable[[Assignment], None] | None,
    ) -> OfflineAssociator:
        """Build from the ``association`` config section."""
        return cls(
            matcher,
            enabled=cfg.enabled and matcher is not None,
            threshold=cfg.offline_threshold,
            score_scale=cfg.score_scale,
            score_bias_logodds=cfg.score_bias_logodds,
            zone_prior_links=cfg.zone_prior_links,
            same_camera_score_scale=cfg.same_camera_score_scale,
            same_camera_score_bias_logodds=cfg.same_camera_score_bias_logodds,
            overlapping_views=cfg.overlapping_views,
            max_transition_s=cfg.max_transition_s,
            min_transition_s=cfg.min_transition_s,
            allow_reentry=cfg.allow_reentry,
            shortlist_k=cfg.shortlist_k,
            crops_per_pair=cfg.crops_per_pair,
            top_pairs_fraction=cfg.top_pairs_fraction,
            crop_pooling=cfg.crop_pooling,
            on_assign=on_assign,
            cameras=cameras,
            camera_rules=Topology.from_config(cfg),
            adaptive=AdaptiveCalibration.from_config(cfg),
            negative_contrast=NegativeContrast.from_config(cfg),
            motion=cfg.motion,
        )

    # ------------------------------------------------------------------ public API

    @property
    def num_identities(self) -> int:
        """Tracklets so far until :meth:`finish` (no identity is decided before), then identities."""
        return self._num_identities or len(self._items)

    def add(self, tracklets: Sequence[Tracklet]) -> list[Assignment]:
        """Keep closed tracklets (encoded at once, crops freed); nothing is decided before :meth:`finish`."""
        tracklets = list(tracklets)
        for t in tracklets:
            if t.key in self._items:
                raise ValueError(f"tracklet {t.key} was already added")
        encodings: list[EncodedTracklet | None] = [None] * len(tracklets)
        if self.enabled and tracklets:
            assert self.matcher is not None
            pool = self.crop_pooling == "mean"
            encodings = encode_tracklets(self.matcher, tracklets, self.crops_per_pair, pool=pool)
        for t, enc in zip(tracklets, encodings, strict=True):
            wh = self.frame_wh.get(t.cam_id)
            if wh is None:  # camera size unknown (tests): the boxes' extent
                wh = (int(max(b[2] for b in t.boxes_xyxy)) + 1, int(max(b[3] for b in t.boxes_xyxy)) + 1)
            clock = self.camera_rules.clock_s  # items keep common-clock times
            times = [clock(t.cam_id, v) for v in t.times_s]
            ends = tracklet_ends(t.cam_id, times, t.boxes_xyxy, wh)
            self._items[t.key] = _Item((t.cam_id, int(t.track_id)), times[0], times[-1], enc, ends)
            t.drop_crops()
        return []

    def evict_before(self, t_s: float) -> None:
        """Nothing to free: every tracklet may still be linked until the input ends."""

    def finish(self) -> list[Identity]:
        """Cluster every tracklet; the identities by first appearance, members in time order."""
        items = sorted(self._items.values(), key=lambda it: (it.t_start_s, it.key))
        n = len(items)
        cannot = np.zeros((n, n), bool)
        for i in range(n):
            for j in range(i + 1, n):
                cannot[i, j] = cannot[j, i] = not self._feasible(items[i], items[j])
        weights = self._weights_of(items, cannot) if self.enabled and n > 1 else np.full((n, n), np.nan)
        self._weights = {
            (items[i].key, items[j].key): float(weights[i, j])
            for i in range(n)
            for j in range(n)
            if i != j and math.isfinite(weights[i, j])
        }
        self._cannot = {(items[i].key, items[j].key) for i, j in zip(*np.nonzero(cannot), strict=True)}
        clusters, labels = (
            self._cluster(weights, cannot) if self.enabled else ([[i] for i in range(n)], np.arange(n))
        )
        links = _link_scores(weights, cannot, labels, len(clusters))
        identities = [
            Identity(gid, tuple(items[i].key for i in members), tuple(links[i] for i in members))
            for gid, members in enumerate(clusters, start=1)
        ]
        if self.on_assign is not None:
            for identity, members in zip(identities, clusters, strict=True):
                self._report(identity.global_id, [items[i] for i in members], [links[i] for i in members])
        self._num_identities = len(identities)
        if self.enabled and self.adaptive is not None:
            self.adaptive.log_maps()
        if self.enabled and self.negative_contrast is not None:
            log.info("contrast with known negatives: %s", self.negative_contrast.describe())
        return identities

    def _weights_of(self, items: Sequence[_Item], cannot: np.ndarray) -> np.ndarray:
        """(n, n) pair log-odds of ``items`` (``nan`` = not scored): appearance of the shortlisted
        pairs, plus motion support, plus the zone evidence learned from the clustering's own links."""
        n = len(items)
        if self.adaptive is not None:
            self._learn_negatives(items)
        if self.negative_contrast is not None:
            self._learn_contrast(items)
        appearance = np.full((n, n), np.nan)
        for i, j in self._shortlist(items, cannot):
            appearance[i, j] = appearance[j, i] = self._pair_logodds(items[i], items[j])
        motion = np.zeros((n, n))
        if self.motion:
            for i in range(n):
                for j in range(i + 1, n):
                    a, b = _ordered(items[i], items[j])
                    motion[i, j] = motion[j, i] = motion_logodds(a.ends, b.ends)
        # Pass 1: appearance and motion; its links teach the zones; pass 2 adds them.
        weights = appearance + motion
        if self.zone_prior_links is not None:
            base = weights
            for _ in range(self.zone_passes):  # each pass learns from the previous pass's links
                _, labels = self._cluster(weights, cannot)
                weights = base + self._zone_logodds(items, cannot, labels)
        return weights

    def _report(self, gid: int, members: Sequence[_Item], links: Sequence[LinkScore | None]) -> None:
        """One :class:`Assignment` per member of identity ``gid`` to ``on_assign`` (source clocks)."""
        assert self.on_assign is not None
        for rank, (item, link) in enumerate(zip(members, links, strict=True)):
            offset = self.camera_rules.clock_s(item.key[0], 0.0)
            self.on_assign(
                Assignment(
                    item.key[0],
                    item.key[1],
                    gid,
                    rank == 0,
                    None if link is None else link.score,
                    item.t_start_s - offset,
                    item.t_end_s - offset,
                )
            )

    def pair_probability(self, a: TrackletKey, b: TrackletKey) -> float:
        """Calibrated P(same person) of a scored pair after :meth:`finish`; 0 for a cannot-link,
        ``nan`` for a pair that was not scored."""
        if (a, b) in self._cannot:
            return 0.0
        w = self._weights.get((a, b))
        return math.nan if w is None else 1.0 / (1.0 + math.exp(-w))

    # ------------------------------------------------------------------ internals

    def _feasible(self, a: _Item, b: _Item) -> bool:
        gap = max(a.t_start_s - b.t_end_s, b.t_start_s - a.t_end_s)  # seconds; <= 0: a shared moment
        if a.key[0] == b.key[0]:
            if gap <= 0 or not self.allow_reentry:
                return False
        elif not self.camera_rules.cross_gap_ok(a.key[0], b.key[0], gap):
            return False
        limit = self.camera_rules.max_gap_s(a.key[0], b.key[0])
        return limit is None or gap <= limit

    def _cluster(self, weights: np.ndarray, cannot: np.ndarray) -> tuple[list[list[int]], np.ndarray]:
        if self.linkage == "chain":
            return chain_linking(weights, cannot, np.arange(len(weights)), logodds(self.threshold))
        return average_linkage(weights, cannot, logodds(self.threshold), self.min_margin_logodds)

    def _zone_logodds(self, items: Sequence[_Item], cannot: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Zone evidence of every pair, learned from the consecutive members of each cluster."""
        n = len(items)
        links: list[tuple[Ends, Ends]] = []
        for c in np.unique(labels).tolist():
            members = sorted(np.flatnonzero(labels == c).tolist(), key=lambda i: items[i].t_start_s)
            links.extend((items[i].ends, items[j].ends) for i, j in itertools.pairwise(members))
        candidates = [
            (a.ends, b.ends)
            for i in range(n)
            for j in range(i + 1, n)
            if not cannot[i, j]
            for a, b in [_ordered(items[i], items[j])]
        ]
        prior = float(self.zone_prior_links or 0.0)
        model = (
            CameraLinkModel(links, candidates, prior)
            if self.link_model == "links"
            else ZoneModel(links, candidates, prior)
        )
        out = np.zeros((n, n))
        for i in range(n):
            for j in range(i + 1, n):
                if not cannot[i, j]:
                    a, b = _ordered(items[i], items[j])
                    out[i, j] = out[j, i] = model.logodds(a.ends, b.ends)
        return out

    def _shortlist(self, items: Sequence[_Item], cannot: np.ndarray) -> list[tuple[int, int]]:
        """Pairs ``(i < j)`` to score: each tracklet's ``shortlist_k`` nearest feasible ones."""
        n = len(items)
        has = np.array([it.enc is not None for it in items])
        if has.sum() < 2:
            return []
        dim = next(it.enc.embedding.shape[0] for it in items if it.enc is not None)
        emb = np.zeros((n, dim), np.float32)
        for i, it in enumerate(items):
            if it.enc is not None:
                emb[i] = it.enc.embedding
        cosine = emb @ emb.T
        cosine[cannot | ~has[:, None] | ~has[None, :]] = -np.inf
        np.fill_diagonal(cosine, -np.inf)
        pairs: set[tuple[int, int]] = set()
        k = min(self.shortlist_k, n - 1)
        for i in range(n):
            for j in np.argsort(-cosine[i], kind="stable")[:k].tolist():
                if np.isfinite(cosine[i, j]):
                    pairs.add((min(i, j), max(i, j)))
        return sorted(pairs)

    def _head_logodds(self, items: Sequence[_Item], pairs: Sequence[tuple[int, int]]) -> list[float]:
        """The head's tracklet-pair log-odds of encoded ``items`` by index, one batched call."""
        assert self.matcher is not None
        encoded = [(items[i].enc, items[j].enc) for i, j in pairs]
        scores = tracklet_pair_scores(self.matcher, encoded, self.top_pairs_fraction)  # type: ignore[arg-type]
        return [logodds(v) if not math.isnan(v) else math.nan for v in scores]

    def _learn_negatives(self, items: Sequence[_Item]) -> None:
        """Score the sample of known negatives and fit the run's maps (``self.adaptive``)."""
        assert self.adaptive is not None
        has = [it for it in items if it.enc is not None]
        pairs = known_negative_pairs(
            [it.key[0] for it in has],
            [it.t_start_s for it in has],
            [it.t_end_s for it in has],
            self.camera_rules,
            self.adaptive.max_pairs,
        )
        for same, found in pairs.items():
            if found:
                keys = [(has[i].key, has[j].key) for i, j in found]
                self.adaptive.add(same, self._head_logodds(has, found), keys)

    def _learn_contrast(self, items: Sequence[_Item]) -> None:
        """Score each tracklet's known negatives for the contrast (``self.negative_contrast``)."""
        assert self.negative_contrast is not None
        has = [it for it in items if it.enc is not None]
        self.negative_contrast.score(
            [it.key for it in has],
            [it.key[0] for it in has],
            [it.t_start_s for it in has],
            [it.t_end_s for it in has],
            self.camera_rules,
            lambda pairs: self._head_logodds(has, pairs),
        )

    def _pair_logodds(self, a: _Item, b: _Item) -> float:
        assert self.matcher is not None and a.enc is not None and b.enc is not None
        s = tracklet_pair_score(self.matcher, a.enc, b.enc, self.top_pairs_fraction)
        if math.isnan(s):
            return math.nan
        same = a.key[0] == b.key[0]
        x = logodds(s) if self.adaptive is None else self.adaptive.adjust(logodds(s), same)
        if self.negative_contrast is not None:
            x = self.negative_contrast.adjust(x, a.key, a.key[0], b.key, b.key[0])
        if same:
            scale, bias = self.same_camera_calibration
            return scale * x + bias
        return self.score_scale * x + self.score_bias_logodds


def _ordered(a: _Item, b: _Item) -> tuple[_Item, _Item]:
    """The pair in time order (by end time: the one that ends first leads)."""
    return (a, b) if (a.t_end_s, a.t_start_s) <= (b.t_end_s, b.t_start_s) else (b, a)


def _link_scores(
    weights: np.ndarray, cannot: np.ndarray, labels: np.ndarray, num_clusters: int
) -> list[LinkScore | None]:
    """Per item: mean log-odds to the rest of its cluster, and its margin over the best other cluster."""
    n = len(labels)
    out: list[LinkScore | None] = []
    for i in range(n):
        means: dict[int, float] = {}
        blocked: set[int] = set()
        for c in range(num_clusters):
            rows = np.flatnonzero((labels == c) & (np.arange(n) != i))
            if rows.size == 0:
                continue
            if cannot[i, rows].any() and c != labels[i]:
                blocked.add(c)
                continue
            w = weights[i, rows]
            w = w[np.isfinite(w)]
            if w.size:
                means[c] = float(w.mean())
        own = means.get(int(labels[i]))
        if own is None:
            out.append(None)
            continue
        others = [v for c, v in means.items() if c != labels[i] and c not in blocked]
        margin = own - max(others) if others else None
        out.append(LinkScore(1.0 / (1.0 + math.exp(-own)), margin))
    return out
