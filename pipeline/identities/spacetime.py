"""Where and when tracklets start and end: evidence and constraints for links beyond appearance.

:class:`Topology` holds the hard rules both associators apply to a pair of tracklets in two
cameras, from the ``association`` config and its optional ``topology`` section: each camera's
clock offset (applied before any time comparison), and per camera pair whether a person can be
in both, the transition window (seconds) and whether the views overlap.

Every tracklet starts and ends somewhere: at a border of the view (the person entered or left it)
or inside it (the tracker picked them up or lost them: occlusion, missed detections). Two kinds of
evidence follow, both as log-likelihood ratios (natural log) of "same person" against "different
people" for an ordered pair ``a → b`` (``a`` ends before ``b`` starts), added to the appearance
log-odds:

- :func:`motion_logodds` (one camera): a person lost and found again is found near where the
  motion of ``a`` leads, within a distance that grows with the gap at walking pace: a Gaussian
  around ``a``'s last box centre moved by its velocity (for at most ``_PREDICT_S``), of standard
  deviation ``(0.5 + 1.0 · gap_s)`` box heights (people walk about one body height per second),
  against a person anywhere in the view. Only support is counted (the ratio is floored at 0): a
  person who left and came back much later may re-enter anywhere, which is no evidence against.
- :class:`ZoneModel` (between cameras, and re-entry into one camera): which exit zone (the
  border a tracklet ends at, or ``in`` the view) is followed by which entry zone, learned
  without labels from the confident links of the run itself: the zone pairs of the links the
  first clustering made are compared with those of all feasible pairs (the camera link model of
  multi-camera systems, with a Dirichlet prior of ``prior_links`` pseudo-links spread like the
  feasible pairs, so a run with few links gets little zone evidence).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pipeline.identities.scoring import cross_camera_gap_ok, cross_camera_gaps_ok

if TYPE_CHECKING:
    from pipeline.config import AssociationConfig

__all__ = ["Ends", "PairRule", "Topology", "ZoneModel", "border_zone", "motion_logodds", "tracklet_ends"]

_VELOCITY_WINDOW_S = 1.0  # seconds of boxes at each end used for the velocity (least squares)
_PREDICT_S = 1.0  # a lost person is extrapolated along its velocity for at most this long
_SIGMA0_H = 0.5  # box heights: position uncertainty at zero gap
_WALK_H_PER_S = 1.0  # box heights per second: how fast the uncertainty grows with the gap
_BORDER_FRACTION = 0.03  # a box within this fraction of the frame size of a border touches it


@dataclass(frozen=True, slots=True)
class Ends:
    """A tracklet's two ends, in pixels of its camera and seconds.

    Attributes:
        cam_id: the camera.
        t_start_s, t_end_s: first and last box times.
        start_xy, end_xy: first and last box centres ``(x, y)``.
        start_h, end_h: first and last box heights.
        v_start, v_end: ``(vx, vy)`` pixels per second near each end.
        entry_zone, exit_zone: ``left``/``right``/``top``/``bottom`` (the border the first/last
            box touches) or ``in``.
        frame_wh: the camera's frame size ``(width, height)``.
    """

    cam_id: str
    t_start_s: float
    t_end_s: float
    start_xy: tuple[float, float]
    end_xy: tuple[float, float]
    start_h: float
    end_h: float
    v_start: tuple[float, float]
    v_end: tuple[float, float]
    entry_zone: str
    exit_zone: str
    frame_wh: tuple[int, int]


def border_zone(xyxy: Sequence[float], frame_wh: tuple[int, int]) -> str:
    """The border a box touches (the nearest one if several), or ``in``.

    Example:
        >>> border_zone((2, 50, 40, 150), (640, 480)), border_zone((300, 50, 340, 150), (640, 480))
        ('left', 'in')
    """
    w, h = frame_wh
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    gaps = {"left": x1 / w, "right": (w - x2) / w, "top": y1 / h, "bottom": (h - y2) / h}
    side = min(gaps, key=lambda k: gaps[k])
    return side if gaps[side] <= _BORDER_FRACTION else "in"


def _velocity(times: np.ndarray, xy: np.ndarray) -> tuple[float, float]:
    if times.size < 2 or float(times[-1] - times[0]) <= 0:
        return (0.0, 0.0)
    t = times - times.mean()
    denom = float(np.sum(t * t))
    v = (t[:, None] * (xy - xy.mean(axis=0))).sum(axis=0) / denom
    return (float(v[0]), float(v[1]))


def tracklet_ends(
    cam_id: str, times_s: Sequence[float], boxes_xyxy: Sequence[Sequence[float]], frame_wh: tuple[int, int]
) -> Ends:
    """The :class:`Ends` of a tracklet from its box times (seconds) and ``xyxy`` boxes (pixels)."""
    t = np.asarray(times_s, np.float64)
    b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    if t.size == 0:
        raise ValueError("a tracklet without boxes has no ends")
    centre = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], axis=1)
    head = t <= t[0] + _VELOCITY_WINDOW_S
    tail = t >= t[-1] - _VELOCITY_WINDOW_S
    return Ends(
        cam_id,
        float(t[0]),
        float(t[-1]),
        (float(centre[0, 0]), float(centre[0, 1])),
        (float(centre[-1, 0]), float(centre[-1, 1])),
        float(b[0, 3] - b[0, 1]),
        float(b[-1, 3] - b[-1, 1]),
        _velocity(t[head], centre[head]),
        _velocity(t[tail], centre[tail]),
        border_zone(b[0], frame_wh),
        border_zone(b[-1], frame_wh),
        frame_wh,
    )


def motion_logodds(a: Ends, b: Ends) -> float:
    """Support (≥ 0, natural log) that ``b`` continues ``a`` in one camera by motion; 0 otherwise.

    ``a`` must end before ``b`` starts, in the same camera (else 0).

    Example:
        >>> a = Ends("c", 0, 1, (0, 0), (100, 200), 100, 100, (0, 0), (50, 0), "in", "in", (640, 480))
        >>> b = Ends("c", 1.2, 2, (112, 200), (150, 200), 100, 100, (50, 0), (0, 0), "in", "in", (640, 480))
        >>> round(motion_logodds(a, b), 2)  # found where its motion led, 0.2 s later
        2.3
        >>> far = Ends("c", 1.2, 2, (600, 50), (600, 50), 100, 100, (0, 0), (0, 0), "in", "in", (640, 480))
        >>> motion_logodds(a, far)
        0.0
    """
    gap = b.t_start_s - a.t_end_s
    if a.cam_id != b.cam_id or gap <= 0:
        return 0.0
    ahead = min(gap, _PREDICT_S)
    px = a.end_xy[0] + a.v_end[0] * ahead
    py = a.end_xy[1] + a.v_end[1] * ahead
    d2 = (b.start_xy[0] - px) ** 2 + (b.start_xy[1] - py) ** 2
    height = 0.5 * (a.end_h + b.start_h)
    sigma = max(height, 1.0) * (_SIGMA0_H + _WALK_H_PER_S * gap)
    w, h = a.frame_wh
    log_same = -math.log(2 * math.pi * sigma * sigma) - d2 / (2 * sigma * sigma)
    log_other = -math.log(max(w * h, 1))
    return max(0.0, log_same - log_other)


ZoneKey = tuple[str, str, str, str]
_GAP_BINS_S = (1.0, 4.0, 16.0)  # transit-time bins (seconds, log-spaced): < 1, 1–4, 4–16, ≥ 16


def zone_key(a: Ends, b: Ends) -> ZoneKey:
    """``(cam of a, exit zone of a, cam of b, entry zone of b)`` of an ordered pair."""
    return (a.cam_id, a.exit_zone, b.cam_id, b.entry_zone)


def transit_key(a: Ends, b: Ends) -> tuple[str, str, int]:
    """``(cam of a, cam of b, transit-time bin)`` of an ordered pair."""
    gap = b.t_start_s - a.t_end_s
    return (a.cam_id, b.cam_id, sum(gap >= edge for edge in _GAP_BINS_S))


class _Dirichlet:
    """log P(key | links) − log P(key | candidates), links smoothed towards the candidates."""

    def __init__(self, links: Sequence[object], candidates: Sequence[object], prior: float) -> None:
        self.links = Counter(links)
        self.background = Counter(candidates)
        self.num_links = len(links)
        self.num_background = len(candidates)
        self.prior = float(prior)

    def add_candidate(self, key: object) -> None:
        self.background[key] += 1
        self.num_background += 1

    def add_link(self, key: object) -> None:
        self.links[key] += 1
        self.num_links += 1

    def logodds(self, key: object) -> float:
        q = self.background.get(key, 0) / self.num_background if self.num_background else 0.0
        if q <= 0 or self.num_links + self.prior <= 0:
            return 0.0
        p = (self.links.get(key, 0) + self.prior * q) / (self.num_links + self.prior)
        return math.log(max(p, 1e-12)) - math.log(q)


class ZoneModel:
    """Which exit zones lead to which entry zones, and after how long, learned from the run's own links.

    Args:
        links: ordered pairs ``(a, b)`` believed to be one person (``a`` ends before ``b`` starts).
        candidates: every feasible ordered pair (the background the links are compared with).
        prior_links: Dirichlet pseudo-links spread like ``candidates`` (how many links it takes
            before the zones count; 0 = trust the links fully).

    ``logodds(a, b)`` = log P(zone pair | link) − log P(zone pair | feasible pair), plus the same
    for the transit-time bin of the camera pair (the two treated as independent).
    """

    def __init__(
        self, links: Iterable[tuple[Ends, Ends]], candidates: Iterable[tuple[Ends, Ends]], prior_links: float
    ) -> None:
        links, candidates = list(links), list(candidates)
        self.zones = _Dirichlet(
            [zone_key(a, b) for a, b in links], [zone_key(a, b) for a, b in candidates], prior_links
        )
        self.transit = _Dirichlet(
            [transit_key(a, b) for a, b in links], [transit_key(a, b) for a, b in candidates], prior_links
        )

    def add_candidate(self, a: Ends, b: Ends) -> None:
        """Count one more feasible pair ``a → b`` (for a linker that learns as it goes)."""
        self.zones.add_candidate(zone_key(a, b))
        self.transit.add_candidate(transit_key(a, b))

    def add_link(self, a: Ends, b: Ends) -> None:
        """Count one more link ``a → b`` (a pair believed to be one person)."""
        self.zones.add_link(zone_key(a, b))
        self.transit.add_link(transit_key(a, b))

    def logodds(self, a: Ends, b: Ends) -> float:
        """Zone and transit evidence for ``a → b`` (0 when nothing was learned)."""
        return self.zones.logodds(zone_key(a, b)) + self.transit.logodds(transit_key(a, b))


@dataclass(frozen=True, slots=True)
class PairRule:
    """The rules for tracklets of two different cameras.

    Attributes:
        reachable: false = never the same person.
        min_transition_s: seconds; shortest gap from the end of the earlier to the start of the
            later (negative tolerates that much overlap).
        max_transition_s: seconds; longest such gap; ``None`` = no limit.
        overlapping_views: one person may be in both at the same time.
    """

    reachable: bool
    min_transition_s: float
    max_transition_s: float | None
    overlapping_views: bool


class Topology:
    """Camera clocks and per-pair rules (``association`` + ``association.topology``).

    Args:
        default: the rule of every camera pair not in ``pairs`` (and the ``max_transition_s`` of
            re-entries into one camera).
        offsets_s: per camera, seconds added to its times before comparing them with another
            camera's (its start offset); missing = 0.
        pairs: per unordered camera pair, its rule.

    Example:
        >>> never = PairRule(False, 0.0, None, False)
        >>> t = Topology(PairRule(True, 0.0, 60.0, False), {"b": 2.0}, {("a", "c"): never})
        >>> t.clock_s("b", 1.0), t.cross_gap_ok("a", "b", 0.5), t.cross_gap_ok("a", "c", 5.0)
        (3.0, True, False)
    """

    def __init__(
        self,
        default: PairRule,
        offsets_s: Mapping[str, float] | None = None,
        pairs: Mapping[tuple[str, str], PairRule] | None = None,
    ) -> None:
        self.default = default
        self.offsets_s = {c: float(v) for c, v in (offsets_s or {}).items()}
        self.pairs = {frozenset(k): rule for k, rule in (pairs or {}).items()}
        self._pairs_of: dict[str, list[tuple[str, PairRule]]] = {}
        for pair, rule in self.pairs.items():
            if len(pair) == 2:
                a, b = sorted(pair)
                self._pairs_of.setdefault(a, []).append((b, rule))
                self._pairs_of.setdefault(b, []).append((a, rule))
        maxima = [default.max_transition_s, *(r.max_transition_s for r in self.pairs.values())]
        self.largest_max_s: float | None = None if None in maxima else max(m for m in maxima if m is not None)
        self.min_offset_s = min([0.0, *self.offsets_s.values()])  # seconds; the earliest camera clock

    @classmethod
    def from_config(cls, cfg: AssociationConfig) -> Topology:
        """From the ``association`` section (global rules, then its ``topology``)."""
        default = PairRule(True, cfg.min_transition_s, cfg.max_transition_s, cfg.overlapping_views)
        pairs = {}
        for p in cfg.topology.pairs:
            pairs[(p.cameras[0], p.cameras[1])] = PairRule(
                p.reachable,
                default.min_transition_s if p.min_transition_s is None else float(p.min_transition_s),
                default.max_transition_s if p.max_transition_s is None else float(p.max_transition_s),
                default.overlapping_views if p.overlapping_views is None else bool(p.overlapping_views),
            )
        offsets = {c: cam.start_offset_s for c, cam in cfg.topology.cameras.items()}
        return cls(default, offsets, pairs)

    def clock_s(self, cam_id: str, t_s: float) -> float:
        """``t_s`` seconds of ``cam_id``'s own clock on the common clock."""
        return t_s + self.offsets_s.get(cam_id, 0.0)

    def rule(self, cam_a: str, cam_b: str) -> PairRule:
        """The rule of two different cameras (the default when the pair is not configured)."""
        return self.pairs.get(frozenset((cam_a, cam_b)), self.default)

    def max_gap_s(self, cam_a: str, cam_b: str) -> float | None:
        """Longest gap (seconds, ``None`` = no limit) for two tracklets of these cameras (may be one)."""
        return self.default.max_transition_s if cam_a == cam_b else self.rule(cam_a, cam_b).max_transition_s

    def cross_gap_ok(self, cam_a: str, cam_b: str, gap_s: float) -> bool:
        """Whether tracklets of two different cameras ``gap_s`` apart (common clock) may be one person.

        Reachability, ``min_transition_s`` and overlapping views; not ``max_transition_s``
        (:meth:`max_gap_s`: an associator applies it to a pair or to an identity's nearest member).
        """
        rule = self.rule(cam_a, cam_b)
        return rule.reachable and bool(
            cross_camera_gap_ok(gap_s, rule.min_transition_s, rule.overlapping_views)
        )

    def cross_gaps_ok(
        self, cam_id: str, other_cams: Sequence[str], codes: np.ndarray, gaps_s: np.ndarray
    ) -> np.ndarray:
        """:meth:`cross_gap_ok` of ``cam_id`` against rows of other cameras, vectorised.

        ``codes`` are row camera indices into ``other_cams``; rows of ``cam_id`` itself come out true.
        One pass over the rows for the default rule, then one per configured pair of ``cam_id``
        (not one per camera: a site has hundreds).
        """
        codes = np.asarray(codes)
        d = self.default
        out = cross_camera_gaps_ok(gaps_s, d.min_transition_s, d.overlapping_views) & d.reachable
        for other, rule in self._configured_pairs_of(cam_id):
            code = _code_of(other_cams, other)
            if code is not None:
                rows = codes == code
                ok = cross_camera_gaps_ok(gaps_s[rows], rule.min_transition_s, rule.overlapping_views)
                out[rows] = ok & rule.reachable
        own = _code_of(other_cams, cam_id)
        if own is not None:
            out[codes == own] = True
        return out

    def _configured_pairs_of(self, cam_id: str) -> list[tuple[str, PairRule]]:
        """``(other camera, rule)`` of every configured pair of ``cam_id`` with another camera."""
        return self._pairs_of.get(cam_id, [])

    def max_gaps_s(self, cam_id: str, other_cams: Sequence[str], codes: np.ndarray) -> np.ndarray:
        """:meth:`max_gap_s` of ``cam_id`` against each row's camera (``inf`` = no limit)."""
        d = self.default.max_transition_s
        out = np.full(np.shape(codes), math.inf if d is None else d, np.float64)
        codes = np.asarray(codes)
        for other, rule in self._configured_pairs_of(cam_id):
            code = _code_of(other_cams, other)
            if code is not None:
                m = rule.max_transition_s
                out[codes == code] = math.inf if m is None else m
        return out


def _code_of(cams: Sequence[str], cam_id: str) -> int | None:
    """Index of ``cam_id`` in ``cams``; ``None`` when it is not there."""
    try:
        return cams.index(cam_id)
    except ValueError:
        return None
