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
   is the best score of its shortlisted tracklets. The pairs of all the tracklets of one call
   go through the pair head together (one batched call, same values as one call per pair).
   With ``motion`` (the default), two tracklets of one camera gain the motion support of
   :func:`~pipeline.identities.spacetime.motion_logodds` (the later one starts where the
   earlier one's motion led), added to the calibrated log-odds as offline adds it. With
   ``zone_prior_links`` (the default), every pair also gains the evidence of the camera link
   model learned from the links made so far (which exit border leads to which entry border,
   of which camera, after how long; :class:`~pipeline.identities.spacetime.ZoneModel`).
5. **Decide globally** for the tracklets closing together: Hungarian assignment
   (``trackers.min_cost_matching``) over the tracklet × identity matrix of ``1 − score``, refusing
   pairs below ``threshold``, and refusing every link of a tracklet whose best identity does not
   beat its second best by ``min_margin_logodds`` (ambiguous: two candidates look alike); a
   tracklet left over then joins the best feasible identity formed meanwhile (e.g. by another
   tracklet of the same batch), under the same two rules, or starts a new identity. Every
   decision is re-checked against the constraints with the identity's current members, so
   identities whose tracklets conflict are never merged.

Times are seconds from the start of each source, shifted by each camera's
``association.topology`` start offset before any comparison (none configured: the cameras are
assumed to start together); per camera pair the topology may also forbid links or set its own
transition window and view overlap (:class:`~pipeline.identities.spacetime.Topology`).
Global ids come from a per-instance allocator (1, 2, …): two linkers never share a counter.

**Cost.** The constraints and the shortlist are computed with numpy over a table of the members
of the identities that may still be linked to (:class:`_MemberTable`; identities that ended
more than ``max_transition_s`` before the oldest open tracklet leave it in :meth:`evict_before`),
so a call costs O(tracklets in the transition window), not O(tracklets so far). The shortlist is
exactly the one of per-pair ``float32`` cosines in (identity, member) order: the vectorised
cosines only preselect, within a proven rounding bound, the few rows whose cosine is recomputed
per pair and sorted.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.identities import Assignment, Identity, MatcherLike, TrackletKey
from pipeline.identities.adaptive import AdaptiveCalibration, evenly_spaced, is_known_negative
from pipeline.identities.contrast import NegativeContrast, negatives_of
from pipeline.identities.scoring import (
    EncodedTracklet,
    encode_tracklets,
    logodds,
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
from trackers import min_cost_matching

if TYPE_CHECKING:
    from pipeline.config import AssociationConfig
    from pipeline.frames import SourceInfo

log = logging.getLogger("pipeline")

__all__ = ["Member", "OnlineAssociator"]

NEGATIVES_PER_TRACKLET = 4
"""Known negatives of each kind scored per closing tracklet (until ``adaptive_max_pairs``)."""


@dataclass(eq=False)
class Member:
    """A closed tracklet as the linker keeps it: time span, camera and cached encodings.

    ``encoded``/``embedding`` are ``None`` when the tracklet had no usable crop, or after
    :meth:`OnlineAssociator.evict_before` dropped them (the time span stays, for the constraints).
    ``ends`` (where and how it entered and left, common clock) is kept with ``motion`` or zones on.
    """

    cam_id: str
    track_id: int
    t_start_s: float
    t_end_s: float
    global_id: int = 0
    encoded: Any = None
    embedding: np.ndarray | None = None
    ends: Ends | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.cam_id, self.track_id)


@dataclass(eq=False)
class _Identity:
    global_id: int
    members: list[Member] = field(default_factory=list)
    t_start_s: float = math.inf  # hull of the members' spans, for a cheap transition-time pre-check
    t_end_s: float = -math.inf


def _pair_key(a: Member, b: Member) -> tuple[TrackletKey, TrackletKey]:
    return (a.key, b.key) if a.key <= b.key else (b.key, a.key)


def _gap_s(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    """Seconds between two intervals; negative when they overlap."""
    return max(a_start - b_end, b_start - a_end)


_U32 = 2.0**-24  # unit roundoff of float32
_DROP_AT_LEAST = 64  # expired identities gathered before the member table is compacted


class _MemberTable:
    """Column arrays of the members of the identities that may still be linked to.

    Row ``i`` is ``members[i]``; ``slot[i]`` is the dense index of its identity (``slot_gid``).
    Rows are appended as tracklets join (capacity doubles) and dropped by identity
    (:meth:`drop`), which renumbers rows and slots. ``has_enc[i]`` is false once the member's
    encodings are gone (no crop, or evicted); ``emb`` rows are its float32 embedding (zeros
    without one) and ``norm`` their float64 L2 norms, for the cosine rounding bound.
    """

    def __init__(self) -> None:
        self.members: list[Member] = []
        self.cams: dict[str, int] = {}
        self.slot_of: dict[int, int] = {}
        self.slot_gid: list[int] = []
        self._cap = 0
        self.start = np.empty(0)
        self.end = np.empty(0)
        self.cam = np.empty(0, np.int64)
        self.slot = np.empty(0, np.int64)
        self.gid = np.empty(0, np.int64)
        self.pos = np.empty(0, np.int64)
        self.has_enc = np.empty(0, bool)
        self.norm = np.empty(0)
        self.emb: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.members)

    def cam_code(self, cam_id: str) -> int:
        return self.cams.setdefault(cam_id, len(self.cams))

    def append(self, member: Member, pos: int) -> None:
        n = len(self.members)
        if n == self._cap:
            self._grow(max(64, 2 * self._cap))
        slot = self.slot_of.get(member.global_id)
        if slot is None:
            slot = self.slot_of[member.global_id] = len(self.slot_gid)
            self.slot_gid.append(member.global_id)
        self.members.append(member)
        self.start[n], self.end[n] = member.t_start_s, member.t_end_s
        self.cam[n], self.slot[n] = self.cam_code(member.cam_id), slot
        self.gid[n], self.pos[n] = member.global_id, pos
        has = member.encoded is not None and member.embedding is not None
        self.has_enc[n] = has
        if has:
            assert member.embedding is not None
            emb = np.asarray(member.embedding, np.float32)
            if self.emb is None or self.emb.shape[1] != emb.shape[0]:
                if self.emb is not None and n:
                    raise ValueError(f"embedding size changed: {self.emb.shape[1]} then {emb.shape[0]}")
                self.emb = np.zeros((self._cap, emb.shape[0]), np.float32)
            self.emb[n] = emb
            self.norm[n] = float(np.linalg.norm(emb.astype(np.float64)))
        else:
            self.norm[n] = 0.0
            if self.emb is not None:
                self.emb[n] = 0.0

    def _grow(self, cap: int) -> None:
        n = len(self.members)

        def grown(a: np.ndarray) -> np.ndarray:
            out = np.zeros((cap, *a.shape[1:]), a.dtype)
            out[:n] = a[:n]
            return out

        self.start, self.end, self.cam, self.slot = map(grown, (self.start, self.end, self.cam, self.slot))
        self.gid, self.pos, self.has_enc, self.norm = map(
            grown, (self.gid, self.pos, self.has_enc, self.norm)
        )
        if self.emb is not None:
            self.emb = grown(self.emb)
        self._cap = cap

    def forget_encodings_before(self, limit: float) -> None:
        """Rows of members that ended before ``limit`` are no longer candidates."""
        n = len(self.members)
        self.has_enc[:n] &= self.end[:n] >= limit

    def drop(self, gids: set[int]) -> None:
        """Remove every member of the identities ``gids`` (rows and slots renumbered)."""
        n = len(self.members)
        keep = ~np.isin(self.gid[:n], np.fromiter(gids, np.int64, len(gids)))
        rows = np.flatnonzero(keep)
        self.members = [self.members[i] for i in rows.tolist()]
        kept = [k for k, g in enumerate(self.slot_gid) if g not in gids]
        renumber = np.full(len(self.slot_gid), -1, np.int64)
        renumber[kept] = np.arange(len(kept))
        self.slot_gid = [self.slot_gid[k] for k in kept]
        self.slot_of = {g: k for k, g in enumerate(self.slot_gid)}
        m = len(rows)
        self.slot[:m] = renumber[self.slot[rows]]
        for name in ("start", "end", "cam", "gid", "pos", "has_enc", "norm"):
            col = getattr(self, name)
            col[:m] = col[rows]
        if self.emb is not None:
            self.emb[:m] = self.emb[rows]


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
        crop_pooling: ``mean`` scores tracklet-level mean maps instead of crop pairs
            (``association.crop_pooling``).
        score_scale, score_bias_logodds: calibration of the tracklet-pair score:
            ``sigmoid(score_scale · logit(s) + score_bias_logodds)`` is the P(same person) compared
            with ``threshold`` (1 and 0 = the head's score as it is).
        same_camera_score_scale, same_camera_score_bias_logodds: the same for two tracklets of one
            camera (a re-entry or a lost track; ``association.same_camera_*``).
        on_assign: called with each :class:`Assignment` as it is made (e.g. an events writer).
        camera_rules: camera clocks and per-pair rules (``association.topology``,
            :class:`~pipeline.identities.spacetime.Topology`); ``None`` = every camera on one
            clock and every pair under the three rules above. Times are compared on the common
            clock; decisions report each source's own.
        adaptive: the per-run calibration from known negatives
            (``association.adaptive_calibration``, :mod:`pipeline.identities.adaptive`): each
            closing tracklet's known negatives among the closed ones (one camera at one moment;
            two cameras at one time without overlapping views), up to
            :data:`NEGATIVES_PER_TRACKLET` of each kind, are scored before its candidates, and the
            map moves with them (no change at the start); ``None`` = the fixed calibration.
        negative_contrast: the per-tracklet contrast with known negatives (``association.contrast``,
            :mod:`pipeline.identities.contrast`): each closing tracklet's known negatives among
            the closed ones still held (and its batch) are scored, for both tracklets, and every
            candidate pair's head log-odds are contrasted with what each tracklet has so far;
            ``None`` = off.
        motion: add the one-camera motion support
            (:func:`~pipeline.identities.spacetime.motion_logodds`, ≥ 0) to the calibrated
            log-odds of two tracklets of one camera (``association.motion``).
        zone_prior_links: the camera link model learned as the run goes
            (``association.zone_prior_links``, :class:`~pipeline.identities.spacetime.ZoneModel`):
            every scored pair counts as a candidate (earlier tracklet's exit border and camera →
            later one's entry border and camera, and the transit-time bin), every link made as a
            link; each scored pair gains the log-ratio of the two, smoothed toward the candidates
            by this many pseudo-links; ``None`` = no zone evidence.
        frame_wh: each camera's frame ``(width, height)`` in pixels, for the tracklets' ends
            (a camera missing: its boxes' extent).
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
        crop_pooling: str,
        score_scale: float,
        score_bias_logodds: float,
        same_camera_score_scale: float,
        same_camera_score_bias_logodds: float,
        on_assign: Callable[[Assignment], None] | None,
        camera_rules: Topology | None = None,
        adaptive: AdaptiveCalibration | None = None,
        negative_contrast: NegativeContrast | None = None,
        motion: bool,
        zone_prior_links: float | None,
        frame_wh: Mapping[str, tuple[int, int]] | None = None,
    ) -> None:
        if enabled and matcher is None:
            raise ValueError("OnlineAssociator needs a matcher when enabled")
        self.adaptive = adaptive
        self.negative_contrast = negative_contrast
        self.motion = bool(motion)
        self.frame_wh = dict(frame_wh or {})
        self.zone_prior_links = None if zone_prior_links is None else float(zone_prior_links)
        self._zones: ZoneModel | None = None
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
        self.crop_pooling = str(crop_pooling)
        self.score_scale = float(score_scale)
        # (scale, bias) of one-camera pairs; None = as any pair
        self.same_camera_calibration: tuple[float, float] | None = (
            float(same_camera_score_scale),
            float(same_camera_score_bias_logodds),
        )
        self.score_bias_logodds = float(score_bias_logodds)
        self.on_assign = on_assign
        self.camera_rules = camera_rules or Topology(
            PairRule(True, self.min_transition_s, self.max_transition_s, self.overlapping_views)
        )
        self._identities: dict[int, _Identity] = {}
        self._members: dict[TrackletKey, Member] = {}
        self._next_id = 1
        self._pair_cache: dict[tuple[TrackletKey, TrackletKey], float] = {}
        self._table = _MemberTable()  # members of the identities that may still be linked to
        self._ends: list[tuple[float, int]] = []  # heap of (identity end, gid), lazily re-checked
        self._encoded: list[tuple[float, int, Member]] = []  # heap of (end, order, member with encodings)
        self._expired: set[int] = set()  # identities past linking, rows still in the table (dropped in bulk)

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
            crop_pooling=cfg.crop_pooling,
            score_scale=cfg.score_scale,
            score_bias_logodds=cfg.score_bias_logodds,
            same_camera_score_scale=cfg.same_camera_score_scale,
            same_camera_score_bias_logodds=cfg.same_camera_score_bias_logodds,
            on_assign=on_assign,
            camera_rules=Topology.from_config(cfg),
            adaptive=AdaptiveCalibration.from_config(cfg),
            negative_contrast=NegativeContrast.from_config(cfg),
            motion=cfg.motion,
            zone_prior_links=cfg.zone_prior_links,
            frame_wh={c: i.frame_wh for c, i in cameras.items()},
        )

    # ------------------------------------------------------------------ public API

    @property
    def num_identities(self) -> int:
        return len(self._identities)

    def finish(self) -> list[Identity]:
        """The identities in increasing id order, members in time order (decisions are never revised)."""
        if self.enabled and self.adaptive is not None:
            self.adaptive.log_maps()
        if self.enabled and self.negative_contrast is not None:
            log.info("contrast with known negatives: %s", self.negative_contrast.describe())
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
        members = self._members_of(tracklets)
        if not self.enabled:
            return [self._assign(m, None, None) for m in members]
        if self.adaptive is not None:
            self._learn_negatives(members)
        if self.negative_contrast is not None:
            self._learn_contrast(members)
        per_member = self._candidates(members)
        chosen = self._joint_choice(per_member)
        decisions: list[Assignment] = []
        for i, member in enumerate(members):
            if i in chosen and self._feasible(member, self._identities[chosen[i][0]]):
                decisions.append(self._assign(member, *chosen[i]))
                continue
            # Left over: the best feasible identity as it stands now (incl. this batch's), or a new one.
            best = self._candidates([member])[0] if decisions else per_member[i]  # else: nothing changed
            best = {g: s for g, s in best.items() if s >= self.threshold}
            gid = max(best, key=lambda g: (best[g], -g)) if best else None
            decisions.append(self._assign(member, gid, best[gid] if gid is not None else None))
        self._pair_cache.clear()  # pairs always involve a tracklet of this batch: no later reuse
        return decisions

    def _members_of(self, tracklets: Sequence[Tracklet]) -> list[Member]:
        """New members (common-clock times) for ``tracklets``, with their ends and encodings when
        linking is on; the tracklets' crops are freed.

        Raises:
            ValueError: a tracklet that was linked before.
        """
        clock = self.camera_rules.clock_s
        members = [
            Member(t.cam_id, int(t.track_id), clock(t.cam_id, t.t_start_s), clock(t.cam_id, t.t_end_s))
            for t in tracklets
        ]
        for member in members:
            if member.key in self._members:
                raise ValueError(f"tracklet {member.key} was already linked")
        if self.enabled and (self.motion or self.zone_prior_links is not None):
            for member, tracklet in zip(members, tracklets, strict=True):
                member.ends = self._ends_of(tracklet)
        if self.enabled:
            self._encode(tracklets, members)
        for tracklet in tracklets:
            tracklet.drop_crops()
        return members

    def _candidates(self, members: Sequence[Member]) -> list[dict[int, float]]:
        """Per member, ``{global_id: calibrated score}`` of its shortlisted identities as they stand
        (``{}`` when the best does not beat the second by the margin); every shortlisted pair goes
        through the pair head in one batched call."""
        shortlists = [self._shortlist(m) for m in members]
        self._score_pairs(
            [(m, other) for m, shortlist in zip(members, shortlists, strict=True) for other in shortlist]
        )
        return [self._unambiguous(self._scores_of(m, sl)) for m, sl in zip(members, shortlists, strict=True)]

    def _joint_choice(self, per_member: Sequence[dict[int, float]]) -> dict[int, tuple[int, float]]:
        """``{member index: (global_id, score)}``: one identity per member and member per identity,
        the assignment of highest total score among pairs scoring at least ``threshold`` (Hungarian)."""
        columns = sorted({gid for scores in per_member for gid in scores})
        col = {gid: j for j, gid in enumerate(columns)}
        scores = np.full((len(per_member), len(columns)), -np.inf)
        for i, member_scores in enumerate(per_member):
            for gid, score in member_scores.items():
                scores[i, col[gid]] = score
        cost = np.where(np.isfinite(scores), 1.0 - scores, np.inf)
        matching = min_cost_matching(cost, max_cost=1.0 - self.threshold)
        return {int(i): (columns[int(j)], float(scores[i, j])) for i, j in matching.matches.tolist()}

    def evict_before(self, t_s: float) -> int:
        """Free the cached encodings of tracklets that ended before ``t_s`` − ``max_transition_s``.

        Call it with the start time of the oldest tracklet still open: no tracklet closing later
        can link to those. Returns how many were freed (0 when ``max_transition_s`` is ``None``).
        With a topology: the longest window of any camera pair, and ``t_s`` taken on the
        earliest camera clock.
        """
        largest = self.camera_rules.largest_max_s
        if largest is None:
            return 0
        limit = t_s + self.camera_rules.min_offset_s - largest
        freed = 0
        while self._encoded and self._encoded[0][0] < limit:
            member = heapq.heappop(self._encoded)[2]
            if member.encoded is not None:
                member.encoded = None
                member.embedding = None
                freed += 1
                if self.negative_contrast is not None:
                    self.negative_contrast.forget(member.key)
        self._table.forget_encodings_before(limit)
        expired: set[int] = set()
        while self._ends and self._ends[0][0] < limit:
            gid = heapq.heappop(self._ends)[1]
            # an identity that grew since has a later entry; one that ended before ``limit``
            # can no longer be linked to (its members are too old and their encodings are gone)
            if self._identities[gid].t_end_s < limit and gid in self._table.slot_of:
                expired.add(gid)
        self._expired |= expired
        # An expired identity's rows are no candidates already (``forget_encodings_before``: every
        # member ended before ``limit``) and constrain only their own identity, so they are
        # dropped in bulk, once they are a quarter of the table: a drop rewrites every row.
        if len(self._expired) >= max(_DROP_AT_LEAST, len(self._table.slot_gid) // 4):
            self._table.drop(self._expired)
            self._expired = set()
        return freed

    # ------------------------------------------------------------------ internals

    def _encode(self, tracklets: Sequence[Tracklet], members: Sequence[Member]) -> None:
        assert self.matcher is not None
        pool = self.crop_pooling == "mean"
        for member, enc in zip(
            members, encode_tracklets(self.matcher, tracklets, self.crops_per_pair, pool=pool), strict=True
        ):
            if enc is not None:
                member.encoded = enc.encoded
                member.embedding = enc.embedding

    def _ends_of(self, tracklet: Tracklet) -> Ends:
        """Where ``tracklet`` entered and left its view (common clock), for the motion and zone evidence."""
        wh = self.frame_wh.get(tracklet.cam_id)
        if wh is None:  # camera size unknown (tests): the boxes' extent
            boxes = tracklet.boxes_xyxy
            wh = (int(max(b[2] for b in boxes)) + 1, int(max(b[3] for b in boxes)) + 1)
        clock = self.camera_rules.clock_s
        times = [clock(tracklet.cam_id, v) for v in tracklet.times_s]
        return tracklet_ends(tracklet.cam_id, times, tracklet.boxes_xyxy, wh)

    def _motion_logodds(self, a: Member, b: Member) -> float:
        """Motion support (≥ 0) that the later of two one-camera tracklets continues the earlier."""
        if not self.motion or a.cam_id != b.cam_id:
            return 0.0
        first, second = (a.ends, b.ends) if a.t_end_s <= b.t_start_s else (b.ends, a.ends)
        return 0.0 if first is None or second is None else motion_logodds(first, second)

    def _zone_logodds(self, a: Member, b: Member) -> float:
        """Zone evidence for a scored pair, learned from the links so far (the pair counts as a candidate)."""
        zones = self._zone_model()
        if zones is None:
            return 0.0
        order = (a.t_end_s, a.t_start_s) <= (b.t_end_s, b.t_start_s)
        first, second = (a.ends, b.ends) if order else (b.ends, a.ends)
        if first is None or second is None:
            return 0.0
        zones.add_candidate(first, second)
        return zones.logodds(first, second)

    def _learn_zone_link(self, member: Member, identity: _Identity) -> None:
        """Count ``member``'s link to the member of ``identity`` just before it in time."""
        zones = self._zone_model()
        if zones is None or member.ends is None:
            return
        before = [m for m in identity.members if m.ends is not None and m.t_end_s <= member.t_start_s]
        if before:
            prev = max(before, key=lambda m: (m.t_end_s, m.t_start_s)).ends
            assert prev is not None
            zones.add_link(prev, member.ends)

    def _zone_model(self) -> ZoneModel | None:
        """The zone model learned so far (made at first use), ``None`` with zones off."""
        if self.zone_prior_links is None:
            return None
        if self._zones is None:
            self._zones = ZoneModel([], [], self.zone_prior_links)
        return self._zones

    def _concurrent(self, members: Sequence[Member], idx: int) -> list[Member]:
        """The encoded tracklets that share a moment with ``members[idx]`` (the only ones that can
        be its known negatives): closed ones still held, and the batch's members before it."""
        member, table = members[idx], self._table
        n = len(table)
        others: list[Member] = []
        if n:
            gap = np.maximum(member.t_start_s - table.end[:n], table.start[:n] - member.t_end_s)
            others = [table.members[r] for r in np.flatnonzero(table.has_enc[:n] & (gap <= 0)).tolist()]
        return others + [o for o in members[:idx] if o.encoded is not None and o.embedding is not None]

    def _head_logodds(self, pairs: Sequence[tuple[Member, Member]]) -> list[float]:
        """The head's tracklet-pair log-odds of encoded pairs, one batched call (``nan`` without crops)."""
        assert self.matcher is not None
        encoded = []
        for a, b in pairs:
            assert a.embedding is not None and b.embedding is not None
            encoded.append((EncodedTracklet(a.encoded, a.embedding), EncodedTracklet(b.encoded, b.embedding)))
        scores = tracklet_pair_scores(self.matcher, encoded, self.top_pairs_fraction)
        return [logodds(v) if not math.isnan(v) else math.nan for v in scores]

    def _learn_negatives(self, members: Sequence[Member]) -> None:
        """Score the new tracklets' known negatives among the closed ones (and each other) and
        update the run's calibration maps (``self.adaptive``)."""
        assert self.adaptive is not None
        found: dict[bool, list[tuple[Member, Member]]] = {False: [], True: []}
        for idx, member in enumerate(members):
            if member.encoded is None or member.embedding is None:
                continue
            kinds: dict[bool, list[Member]] = {False: [], True: []}
            for other in self._concurrent(members, idx):
                same = other.cam_id == member.cam_id
                gap_s = _gap_s(member.t_start_s, member.t_end_s, other.t_start_s, other.t_end_s)
                rule = self.camera_rules.rule(member.cam_id, other.cam_id)
                if is_known_negative(same, gap_s, rule.overlapping_views, rule.min_transition_s):
                    kinds[same].append(other)
            for same, candidates in kinds.items():
                room = self.adaptive.room(same) - len(found[same])
                picks = evenly_spaced(len(candidates), min(NEGATIVES_PER_TRACKLET, room)).tolist()
                found[same] += [(member, candidates[k]) for k in picks]
        for same, pairs in found.items():
            if pairs:
                self.adaptive.add(same, self._head_logodds(pairs), [(a.key, b.key) for a, b in pairs])

    def _learn_contrast(self, members: Sequence[Member]) -> None:
        """Score the new tracklets' known negatives among the closed ones still held (and each
        other), up to ``contrast.max_per_camera`` per camera, for the contrast of both sides."""
        assert self.negative_contrast is not None
        pairs: list[tuple[Member, Member]] = []
        for idx, member in enumerate(members):
            if member.encoded is None or member.embedding is None:
                continue
            others = self._concurrent(members, idx)
            found = negatives_of(
                member.cam_id,
                member.t_start_s,
                member.t_end_s,
                [o.cam_id for o in others],
                [o.t_start_s for o in others],
                [o.t_end_s for o in others],
                self.camera_rules,
                self.negative_contrast.max_per_camera,
            )
            pairs += [(member, others[k]) for k in found]
        if pairs:
            values = self._head_logodds(pairs)
            self.negative_contrast.add(
                [(a.key, b.key, a.cam_id, b.cam_id, v) for (a, b), v in zip(pairs, values, strict=True)]
            )

    def _feasible(self, member: Member, identity: _Identity) -> bool:
        """Whether ``member`` may join ``identity`` under every constraint."""
        rules = self.camera_rules
        if rules.largest_max_s is not None and identity.members:
            hull_gap = _gap_s(member.t_start_s, member.t_end_s, identity.t_start_s, identity.t_end_s)
            if hull_gap > rules.largest_max_s:
                return False  # every member is further away than that
        near = not identity.members and rules.largest_max_s is None
        for other in identity.members:
            gap = _gap_s(member.t_start_s, member.t_end_s, other.t_start_s, other.t_end_s)
            same_cam = other.cam_id == member.cam_id
            if same_cam and (gap <= 0 or not self.allow_reentry):  # one shared frame is overlap too
                return False
            if not same_cam and not rules.cross_gap_ok(member.cam_id, other.cam_id, gap):
                return False
            limit = rules.max_gap_s(member.cam_id, other.cam_id)
            near = near or limit is None or max(gap, 0.0) <= limit
        return near

    def _shortlist(self, member: Member) -> list[Member]:
        """The ``shortlist_k`` closed tracklets of feasible identities nearest ``member`` by cosine.

        Exactly the tracklets a per-pair loop picks (``float32`` cosine of the two embeddings,
        ties broken by identity id, then by when they joined it), found with numpy over the
        table: the constraints of every member of every identity at once, then a ``float32``
        matrix-vector product preselects the rows that can be among the ``shortlist_k`` best
        (within a bound on how much the two ways of rounding can differ), whose cosines are
        then computed per pair and sorted.
        """
        table = self._table
        n = len(table)
        if member.embedding is None or member.encoded is None or n == 0:
            return []
        gap = np.maximum(member.t_start_s - table.end[:n], table.start[:n] - member.t_end_s)
        same = table.cam[:n] == table.cams.get(member.cam_id, -1)
        bad = same & (gap <= 0) if self.allow_reentry else same.copy()  # one shared frame is overlap too
        cams = list(table.cams)  # camera ids in code order
        bad |= ~same & ~self.camera_rules.cross_gaps_ok(member.cam_id, cams, table.cam[:n], gap)
        slot = table.slot[:n]
        infeasible = np.bincount(slot, weights=bad, minlength=len(table.slot_gid)) > 0
        maxima = self.camera_rules.max_gaps_s(member.cam_id, cams, table.cam[:n])
        if np.isfinite(maxima).any():
            near = np.maximum(gap, 0.0) <= maxima
            infeasible |= np.bincount(slot, weights=near, minlength=len(table.slot_gid)) == 0
        rows = np.flatnonzero(table.has_enc[:n] & ~infeasible[slot])
        if rows.size == 0:
            return []
        k = self.shortlist_k
        if rows.size > k:
            assert table.emb is not None
            e = np.asarray(member.embedding, np.float32)
            approx = (table.emb[:n] @ e)[rows].astype(np.float64)  # no copy of the rows
            kth = np.partition(approx, rows.size - k)[rows.size - k]  # the k-th largest
            # float32 dot products of length D by any summation order are within
            # D·u/(1 − D·u)·Σ|x_i·y_i| <= (D + 2)·u·|x|·|y| of the real value; twice that
            # between two of them, doubled again as a margin
            slack = 4.0 * (e.shape[0] + 2) * _U32 * float(np.linalg.norm(e.astype(np.float64)))
            rows = rows[approx >= kth - 2.0 * slack * float(table.norm[rows].max()) - 1e-30]
        cosine = np.array([float(member.embedding @ table.members[i].embedding) for i in rows.tolist()])
        order = np.lexsort((table.pos[rows], table.gid[rows], -cosine))[:k]
        return [table.members[i] for i in rows[order].tolist()]

    def _scores_of(self, member: Member, shortlist: Sequence[Member]) -> dict[int, float]:
        """``{global_id: score}``: each shortlisted identity's best cached pair score (``nan`` skipped)."""
        result: dict[int, float] = {}
        for other in shortlist:
            score = self._pair_cache[_pair_key(member, other)]
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

    def _score_pairs(self, pairs: Sequence[tuple[Member, Member]]) -> None:
        """Score the pairs not scored yet in this call with one batched pair-head call (cached)."""
        todo: dict[tuple[TrackletKey, TrackletKey], tuple[Member, Member]] = {}
        for a, b in pairs:
            key = _pair_key(a, b)
            if key not in self._pair_cache and key not in todo:
                todo[key] = (a, b)
        if not todo:
            return
        assert self.matcher is not None
        encoded = []
        for a, b in todo.values():
            assert a.encoded is not None and b.encoded is not None
            assert a.embedding is not None and b.embedding is not None
            encoded.append((EncodedTracklet(a.encoded, a.embedding), EncodedTracklet(b.encoded, b.embedding)))
        scores = tracklet_pair_scores(self.matcher, encoded, self.top_pairs_fraction)
        for key, score in zip(todo, scores, strict=True):
            scale, bias = self.score_scale, self.score_bias_logodds
            same = key[0][0] == key[1][0]
            if self.same_camera_calibration is not None and same:
                scale, bias = self.same_camera_calibration
            changed = (
                self.adaptive is not None
                or self.negative_contrast is not None
                or self.motion
                or self.zone_prior_links is not None
            )
            if not math.isnan(score) and (scale != 1.0 or bias != 0.0 or changed):
                (a, b) = todo[key]
                x = logodds(score) if self.adaptive is None else self.adaptive.adjust(logodds(score), same)
                if self.negative_contrast is not None:
                    x = self.negative_contrast.adjust(x, a.key, a.cam_id, b.key, b.cam_id)
                w = scale * x + bias + self._motion_logodds(a, b) + self._zone_logodds(a, b)
                score = 1.0 / (1.0 + math.exp(-w))  # calibrated P(same person)
            self._pair_cache[key] = score

    def _assign(self, member: Member, gid: int | None, score: float | None) -> Assignment:
        new = gid is None
        if gid is None:
            gid = self._next_id
            self._next_id += 1
            self._identities[gid] = _Identity(gid)
        member.global_id = gid
        identity = self._identities[gid]
        if not new:
            self._learn_zone_link(member, identity)
        identity.members.append(member)
        identity.t_start_s = min(identity.t_start_s, member.t_start_s)
        identity.t_end_s = max(identity.t_end_s, member.t_end_s)
        self._members[member.key] = member
        if self.enabled:
            self._table.append(member, len(identity.members) - 1)
            heapq.heappush(self._ends, (identity.t_end_s, gid))
            if member.encoded is not None:
                heapq.heappush(self._encoded, (member.t_end_s, len(self._members), member))
        offset = self.camera_rules.clock_s(member.cam_id, 0.0)  # back to the source's own clock
        assignment = Assignment(
            member.cam_id,
            member.track_id,
            gid,
            new,
            score,
            member.t_start_s - offset,
            member.t_end_s - offset,
        )
        if self.on_assign is not None:
            self.on_assign(assignment)
        return assignment
