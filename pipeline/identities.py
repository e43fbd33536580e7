"""⑤ Closed tracklets → global identities, streaming, across cameras.

When tracklets close, :meth:`IdentityLinker.add` links each of them to an existing global
identity or starts a new one, at once (so ``--events`` can stream the decision):

1. **Encode once.** The tracklet's crops go through the re-ID network once
   (:meth:`Matcher.encode`); the :class:`Encoded` rows of ``crops_per_pair`` crops and the mean
   embedding are cached for later tracklets, the crop images are freed.
2. **Constraints** (hard; a violating link is never made): two tracklets of one camera that
   overlap in time are different people; with ``overlapping_views=False`` the same holds across
   cameras; tracklets of one identity in two cameras are at least ``min_transition_s`` apart; a
   link needs a tracklet of the identity within ``max_transition_s``; ``allow_reentry=False``
   forbids two tracklets of one identity in one camera.
3. **Shortlist** the ``shortlist_k`` feasible closed tracklets nearest by embedding cosine.
4. **Score** each shortlisted pair with the pair head on up to ``crops_per_pair²`` crop pairs
   (both orders averaged, the head is not symmetric) and aggregate: the mean log-odds of the top
   ``top_pairs_fraction`` of crop-pair probabilities, mapped back to a probability (it still
   ranks pairs whose crop scores are all near 1). An identity's score is the best score of its
   shortlisted tracklets.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from pipeline.tracklets import Tracklet
from trackers import min_cost_matching

__all__ = ["Assignment", "IdentityLinker", "MatcherLike", "Member", "aggregate_pair_scores"]


class MatcherLike(Protocol):
    """What the linker needs of ``reid_core.inference.Matcher`` (a fake one in tests)."""

    def encode(self, crops_bgr: Sequence[np.ndarray]) -> Any: ...

    def embed(self, enc: Any) -> np.ndarray: ...

    def score(self, enc_a: Any, enc_b: Any) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class Assignment:
    """One linking decision.

    Attributes:
        cam_id, track_id: the tracklet.
        global_id: the identity it joined.
        new_identity: whether the identity was started by this tracklet.
        score: aggregated P(same person) of the link, ``None`` for a new identity.
        t_start_s, t_end_s: the tracklet's time span in seconds.
    """

    cam_id: str
    track_id: int
    global_id: int
    new_identity: bool
    score: float | None
    t_start_s: float
    t_end_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": "assign",
            "cam_id": self.cam_id,
            "track_id": int(self.track_id),
            "global_id": int(self.global_id),
            "new_identity": bool(self.new_identity),
            "score": None if self.score is None else float(self.score),
            "t_start_s": float(self.t_start_s),
            "t_end_s": float(self.t_end_s),
        }


@dataclass(eq=False)
class Member:
    """A closed tracklet as the linker keeps it: time span, camera and cached encodings.

    ``encoded``/``embedding`` are ``None`` when the tracklet had no usable crop, or after
    :meth:`IdentityLinker.evict_before` dropped them (the time span stays, for the constraints).
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


_P_CLIP = 1e-7  # probabilities are float32 from the model: log-odds stay finite (|logit| <= 16.1)


def aggregate_pair_scores(scores: np.ndarray, top_fraction: float = 0.5) -> float:
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


def _logodds(p: float) -> float:
    p = min(max(p, _P_CLIP), 1.0 - _P_CLIP)
    return math.log(p) - math.log1p(-p)


def _gap_s(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    """Seconds between two intervals; negative when they overlap."""
    return max(a_start - b_end, b_start - a_end)


class IdentityLinker:
    """Streaming cross-camera association of closed tracklets into global identities.

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
        on_assign: called with each :class:`Assignment` as it is made (e.g. an events writer).
    """

    def __init__(
        self,
        matcher: MatcherLike | None,
        *,
        enabled: bool = True,
        threshold: float = 0.5,
        min_margin_logodds: float = 1.0,
        overlapping_views: bool = False,
        max_transition_s: float | None = 60.0,
        min_transition_s: float = 0.0,
        allow_reentry: bool = True,
        shortlist_k: int = 10,
        crops_per_pair: int = 4,
        top_pairs_fraction: float = 0.5,
        on_assign: Callable[[Assignment], None] | None = None,
    ) -> None:
        if enabled and matcher is None:
            raise ValueError("IdentityLinker needs a matcher when enabled")
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
        self.on_assign = on_assign
        self._identities: dict[int, _Identity] = {}
        self._members: dict[tuple[str, int], Member] = {}
        self._next_id = 1
        self._pair_cache: dict[tuple[tuple[str, int], tuple[str, int]], float] = {}
        self.pairs_scored = 0

    # ------------------------------------------------------------------ public API

    @property
    def num_identities(self) -> int:
        return len(self._identities)

    def global_id_of(self, cam_id: str, track_id: int) -> int | None:
        """The global id given to tracklet ``(cam_id, track_id)``, ``None`` if not linked (yet)."""
        member = self._members.get((cam_id, int(track_id)))
        return None if member is None else member.global_id

    def identities(self) -> dict[int, list[tuple[str, int]]]:
        """``{global_id: [(cam_id, track_id), …]}`` in increasing id order, members in time order."""
        return {
            gid: [m.key for m in sorted(ident.members, key=lambda m: m.t_start_s)]
            for gid, ident in sorted(self._identities.items())
        }

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
        crops: list[np.ndarray] = []
        spans: list[tuple[int, int]] = []
        for tracklet in tracklets:
            images = tracklet.crops_bgr()
            spans.append((len(crops), len(crops) + len(images)))
            crops.extend(images)
        if not crops:
            return
        encoded = self.matcher.encode(crops)
        embeddings = np.asarray(self.matcher.embed(encoded), np.float32)
        for member, (start, end) in zip(members, spans, strict=True):
            if end == start:
                continue
            rows = np.arange(start, end)
            mean = embeddings[rows].mean(axis=0)
            member.embedding = mean / max(float(np.linalg.norm(mean)), 1e-12)
            pick = rows[
                np.unique(
                    np.linspace(0, len(rows) - 1, min(self.crops_per_pair, len(rows)))
                    .round()
                    .astype(np.int64)
                )
            ]
            member.encoded = encoded[pick]

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
            if gap < 0 and (same_cam or not self.overlapping_views):
                return False
            if same_cam and not self.allow_reentry:
                return False
            if not same_cam and gap >= 0 and gap < self.min_transition_s:
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
        return scores if _logodds(first) - _logodds(second) >= self.min_margin_logodds else {}

    def _pair_score(self, a: Member, b: Member) -> float:
        key = (a.key, b.key) if a.key <= b.key else (b.key, a.key)
        cached = self._pair_cache.get(key)
        if cached is not None:
            return cached
        assert self.matcher is not None
        ab = np.asarray(self.matcher.score(a.encoded, b.encoded), np.float64)
        ba = np.asarray(self.matcher.score(b.encoded, a.encoded), np.float64)
        score = aggregate_pair_scores(0.5 * (ab + ba.T), self.top_pairs_fraction)
        self.pairs_scored += 1
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
