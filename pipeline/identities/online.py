"""The ``online`` associator: each closed tracklet is linked at once, in arrival order.

When tracklets close, :meth:`OnlineAssociator.add` links each of them to an existing global
identity or starts a new one, at once (so ``--events`` can stream the decision):

1. **Encode once.** The tracklet's crops go through the re-ID network once
   (:func:`~pipeline.identities.scoring.encode_tracklets`); the encodings of ``crops_per_pair``
   crops and the mean embedding are cached for later tracklets, the crop images are freed.
2. **Constraints** (hard; a violating link is never made): two tracklets of one camera that
   overlap in time are different people; with ``overlapping_views=False`` the same holds across
   cameras; tracklets of one identity in two cameras are at least ``min_transition_s`` apart; a
   link needs a tracklet of the identity within ``max_transition_s``; ``allow_reentry=False``
   forbids two tracklets of one identity in one camera.
3. **Shortlist** the ``shortlist_k`` feasible closed tracklets nearest by embedding cosine.
4. **Score** each shortlisted pair with the pair head on up to ``crops_per_pair²`` crop pairs
   (:func:`~pipeline.identities.scoring.tracklet_pair_score`: both orders averaged, the mean
   log-odds of the top ``top_pairs_fraction`` of crop-pair probabilities). An identity's score
   is the best score of its shortlisted tracklets.
5. **Decide globally** for the tracklets closing together: Hungarian assignment
   (``trackers.min_cost_matching``) over the tracklet × identity matrix of ``1 − score``, refusing
   pairs below ``threshold``, and refusing every link of a tracklet whose best identity does not
   beat its second best by ``min_margin_logodds`` (ambiguous: two candidates look alike); a
   tracklet left over then joins the best feasible identity formed meanwhile (e.g. by another
   tracklet of the same batch), under the same two rules, or starts a new identity. Every
   decision is re-checked against the constraints with the identity's current members, so
   identities whose tracklets conflict are never merged.

Times are seconds from the start of each source; cameras are assumed to start together.
Global ids come from a per-instance allocator (1, 2, …): two linkers never share a counter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.identities import Assignment, Identity, MatcherLike, TrackletKey
from pipeline.identities.scoring import (
    EncodedTracklet,
    cross_camera_gap_ok,
    encode_tracklets,
    logodds,
    tracklet_pair_score,
)
from pipeline.tracklets import Tracklet
from trackers import min_cost_matching

if TYPE_CHECKING:
    from pipeline.config import AssociationConfig
    from pipeline.frames import SourceInfo

__all__ = ["Member", "OnlineAssociator"]


@dataclass(eq=False)
class Member:
    """A closed tracklet as the linker keeps it: time span, camera and cached encodings.

    ``encoded``/``embedding`` are ``None`` when the tracklet had no usable crop, or after
    :meth:`OnlineAssociator.evict_before` dropped them (the time span stays, for the constraints).
    """

    cam_id: str
    track_id: int
    t_start_s: float
    t_end_s: float
    global_id: int = 0
    encoded: Any = None
    embedding: np.ndarray | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.cam_id, self.track_id)


@dataclass(eq=False)
class _Identity:
    global_id: int
    members: list[Member] = field(default_factory=list)
    t_start_s: float = math.inf  # hull of the members' spans, for a cheap transition-time pre-check
    t_end_s: float = -math.inf


def _gap_s(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    """Seconds between two intervals; negative when they overlap."""
    return max(a_start - b_end, b_start - a_end)


class OnlineAssociator:
    """Streaming cross-camera association of closed tracklets into global identities.

    Every argument is required: the defaults are written once, in
    :class:`pipeline.config.AssociationConfig` (build from it with :meth:`from_config`).

    Args:
        matcher: the re-ID model (``reid_core.inference.Matcher`` or anything with ``encode``,
            ``embed``, ``score``); may be ``None`` when ``enabled`` is false.
        enabled: false gives every tracklet a new identity.
        threshold: smallest aggregated P(same person) for a link, in [0, 1].
        min_margin_logodds: a link also needs the best identity to beat the second-best scored
            one by this many log-odds (natural log); 0 = off.
        overlapping_views: whether one person can be in two cameras at the same time.
        max_transition_s: longest gap (seconds) to the identity's nearest tracklet; ``None`` = no limit.
        min_transition_s: shortest gap (seconds) between one identity's tracklets in two cameras.
        allow_reentry: whether one identity may hold several tracklets of one camera.
        shortlist_k: closed tracklets scored by the pair head per new tracklet.
        crops_per_pair: crops per tracklet in a tracklet-pair score.
        top_pairs_fraction: fraction of best crop pairs averaged into the tracklet-pair score.
        score_scale, score_bias_logodds: calibration of the tracklet-pair score:
            ``sigmoid(score_scale · logit(s) + score_bias_logodds)`` is the P(same person) compared
            with ``threshold`` (1 and 0 = the head's score as it is).
        on_assign: called with each :class:`Assignment` as it is made (e.g. an events writer).
    """

    def __init__(
        self,
        matcher: MatcherLike | None,
        *,
        enabled: bool,
        threshold: float,
        min_margin_logodds: float,
        overlapping_views: bool,
        max_transition_s: float | None,
        min_transition_s: float,
        allow_reentry: bool,
        shortlist_k: int,
        crops_per_pair: int,
        top_pairs_fraction: float,
        score_scale: float,
        score_bias_logodds: float,
        on_assign: Callable[[Assignment], None] | None,
    ) -> None:
        if enabled and matcher is None:
            raise ValueError("OnlineAssociator needs a matcher when enabled")
        self.matcher = matcher
        self.enabled = bool(enabled)
        self.threshold = float(threshold)
        self.min_margin_logodds = float(min_margin_logodds)
        self.overlapping_views = bool(overlapping_views)
        self.max_transition_s = None if max_transition_s is None else float(max_transition_s)
        self.min_transition_s = float(min_transition_s)
        self.allow_reentry = bool(allow_reentry)
        self.shortlist_k = int(shortlist_k)
        self.crops_per_pair = int(crops_per_pair)
        self.top_pairs_fraction = float(top_pairs_fraction)
        self.score_scale = float(score_scale)
        self.score_bias_logodds = float(score_bias_logodds)
        self.on_assign = on_assign
        self._identities: dict[int, _Identity] = {}
        self._members: dict[TrackletKey, Member] = {}
        self._next_id = 1
        self._pair_cache: dict[tuple[TrackletKey, TrackletKey], float] = {}

    @classmethod
    def from_config(
        cls,
        cfg: AssociationConfig,
        *,
        matcher: MatcherLike | None,
        cameras: Mapping[str, SourceInfo],
        on_assign: Callable[[Assignment], None] | None,
    ) -> OnlineAssociator:
        """Build from the ``association`` config section (``cameras`` is not needed online)."""
        return cls(
            matcher,
            enabled=cfg.enabled and matcher is not None,
            threshold=cfg.threshold,
            min_margin_logodds=cfg.min_margin_logodds,
            overlapping_views=cfg.overlapping_views,
            max_transition_s=cfg.max_transition_s,
            min_transition_s=cfg.min_transition_s,
            allow_reentry=cfg.allow_reentry,
            shortlist_k=cfg.shortlist_k,
            crops_per_pair=cfg.crops_per_pair,
            top_pairs_fraction=cfg.top_pairs_fraction,
            score_scale=cfg.score_scale,
            score_bias_logodds=cfg.score_bias_logodds,
            on_assign=on_assign,
        )

    # ------------------------------------------------------------------ public API

    @property
    def num_identities(self) -> int:
        return len(self._identities)

    def finish(self) -> list[Identity]:
        """The identities in increasing id order, members in time order (decisions are never revised)."""
        return [
            Identity(gid, tuple(m.key for m in sorted(ident.members, key=lambda m: m.t_start_s)))
            for gid, ident in sorted(self._identities.items())
        ]

    def add(self, tracklets: Sequence[Tracklet]) -> list[Assignment]:
        """Link tracklets that closed together (one call per frame step); returns the decisions.

        The tracklets' crop images are freed (their encodings are kept while they may still be
        linked to, see :meth:`evict_before`).
        """
        tracklets = sorted(tracklets, key=lambda t: (t.t_start_s, t.cam_id, t.track_id))
        if not tracklets:
            return []
        members = [Member(t.cam_id, int(t.track_id), t.t_start_s, t.t_end_s) for t in tracklets]
        for member in members:
            if member.key in self._members:
                raise ValueError(f"tracklet {member.key} was already linked")
        if self.enabled:
            self._encode(tracklets, members)
        for tracklet in tracklets:
            tracklet.drop_crops()
        if not self.enabled:
            return [self._assign(m, None, None) for m in members]

        # Global decision against the identities that existed before this batch.
        per_member = [self._unambiguous(self._identity_scores(m, sorted(self._identities))) for m in members]
        columns = sorted({gid for scores in per_member for gid in scores})
        col = {gid: j for j, gid in enumerate(columns)}
        scores = np.full((len(members), len(columns)), -np.inf)
        for i, member_scores in enumerate(per_member):
            for gid, score in member_scores.items():
                scores[i, col[gid]] = score
        cost = np.where(np.isfinite(scores), 1.0 - scores, np.inf)
        matching = min_cost_matching(cost, max_cost=1.0 - self.threshold)
        chosen: dict[int, tuple[int, float]] = {
            int(i): (columns[int(j)], float(scores[i, j])) for i, j in matching.matches.tolist()
        }
        decisions: list[Assignment] = []
        for i, member in enumerate(members):
            if i in chosen and self._feasible(member, self._identities[chosen[i][0]]):
                gid, score = chosen[i]
                decisions.append(self._assign(member, gid, score))
                continue
            # Left over: the best feasible identity as it stands now (incl. this batch's), or a new one.
            best = self._unambiguous(self._identity_scores(member, sorted(self._identities)))
            best = {g: s for g, s in best.items() if s >= self.threshold}
            if best:
                gid = max(best, key=lambda g: (best[g], -g))
                decisions.append(self._assign(member, gid, best[gid]))
            else:
                decisions.append(self._assign(member, None, None))
        self._pair_cache.clear()  # pairs always involve a tracklet of this batch: no later reuse
        return decisions

    def evict_before(self, t_s: float) -> int:
        """Free the cached encodings of tracklets that ended before ``t_s`` − ``max_transition_s``.

        Call it with the start time of the oldest tracklet still open: no tracklet closing later
        can link to those. Returns how many were freed (0 when ``max_transition_s`` is ``None``).
        """
        if self.max_transition_s is None:
            return 0
        limit = t_s - self.max_transition_s
        freed = 0
        for member in self._members.values():
            if member.encoded is not None and member.t_end_s < limit:
                member.encoded = None
                member.embedding = None
                freed += 1
        return freed

    # ------------------------------------------------------------------ internals

    def _encode(self, tracklets: Sequence[Tracklet], members: Sequence[Member]) -> None:
        assert self.matcher is not None
        for member, enc in zip(
            members, encode_tracklets(self.matcher, tracklets, self.crops_per_pair), strict=True
        ):
            if enc is not None:
                member.encoded = enc.encoded
                member.embedding = enc.embedding

    def _feasible(self, member: Member, identity: _Identity) -> bool:
        """Whether ``member`` may join ``identity`` under every constraint."""
        if self.max_transition_s is not None and identity.members:
            hull_gap = _gap_s(member.t_start_s, member.t_end_s, identity.t_start_s, identity.t_end_s)
            if hull_gap > self.max_transition_s:
                return False  # every member is further away than that
        nearest = math.inf
        for other in identity.members:
            gap = _gap_s(member.t_start_s, member.t_end_s, other.t_start_s, other.t_end_s)
            same_cam = other.cam_id == member.cam_id
            if same_cam and (gap <= 0 or not self.allow_reentry):  # one shared frame is overlap too
                return False
            if not same_cam and not cross_camera_gap_ok(gap, self.min_transition_s, self.overlapping_views):
                return False
            nearest = min(nearest, max(gap, 0.0))
        return self.max_transition_s is None or nearest <= self.max_transition_s

    def _identity_scores(self, member: Member, gids: Sequence[int]) -> dict[int, float]:
        """``{global_id: score}`` of the feasible identities among ``gids`` that could be scored."""
        if member.embedding is None or member.encoded is None:
            return {}
        candidates: list[Member] = []
        for gid in gids:
            identity = self._identities[gid]
            if not self._feasible(member, identity):
                continue
            candidates.extend(
                m for m in identity.members if m.encoded is not None and m.embedding is not None
            )
        if not candidates:
            return {}
        cosine = np.array([float(member.embedding @ m.embedding) for m in candidates])
        order = np.argsort(-cosine, kind="stable")[: self.shortlist_k]
        result: dict[int, float] = {}
        for idx in order.tolist():
            other = candidates[idx]
            score = self._pair_score(member, other)
            if math.isnan(score):
                continue
            result[other.global_id] = max(result.get(other.global_id, -math.inf), score)
        return result

    def _unambiguous(self, scores: dict[int, float]) -> dict[int, float]:
        """``scores`` unchanged, or ``{}`` when the best identity does not beat the second best by
        ``min_margin_logodds`` (two candidates that look alike: no link is safer than a coin toss)."""
        if self.min_margin_logodds <= 0 or len(scores) < 2:
            return scores
        first, second = sorted(scores.values(), reverse=True)[:2]
        return scores if logodds(first) - logodds(second) >= self.min_margin_logodds else {}

    def _pair_score(self, a: Member, b: Member) -> float:
        key = (a.key, b.key) if a.key <= b.key else (b.key, a.key)
        cached = self._pair_cache.get(key)
        if cached is not None:
            return cached
        assert self.matcher is not None and a.encoded is not None and b.encoded is not None
        assert a.embedding is not None and b.embedding is not None
        score = tracklet_pair_score(
            self.matcher,
            EncodedTracklet(a.encoded, a.embedding),
            EncodedTracklet(b.encoded, b.embedding),
            self.top_pairs_fraction,
        )
        if not math.isnan(score) and (self.score_scale != 1.0 or self.score_bias_logodds != 0.0):
            w = self.score_scale * logodds(score) + self.score_bias_logodds
            score = 1.0 / (1.0 + math.exp(-w))  # calibrated P(same person)
        self._pair_cache[key] = score
        return score

    def _assign(self, member: Member, gid: int | None, score: float | None) -> Assignment:
        new = gid is None
        if gid is None:
            gid = self._next_id
            self._next_id += 1
            self._identities[gid] = _Identity(gid)
        member.global_id = gid
        identity = self._identities[gid]
        identity.members.append(member)
        identity.t_start_s = min(identity.t_start_s, member.t_start_s)
        identity.t_end_s = max(identity.t_end_s, member.t_end_s)
        self._members[member.key] = member
        assignment = Assignment(
            member.cam_id, member.track_id, gid, new, score, member.t_start_s, member.t_end_s
        )
        if self.on_assign is not None:
            self.on_assign(assignment)
        return assignment
