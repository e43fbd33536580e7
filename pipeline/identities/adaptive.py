"""Per-run calibration from the run's own known negatives (``association.adaptive_calibration``).

The Platt calibration (:mod:`pipeline.identities.calibration`) is fitted once, on the benchmark's
tuning footage. On footage the head has never seen its scores shift (two different people may
score P 0.76 on average), and a fixed map cannot know by how much. Every run holds pairs that
**cannot be one person**, whatever the footage, and that need no label:

- two tracklets of one camera that share a moment;
- two tracklets of different cameras that overlap in time, when their views do not overlap
  (``overlapping_views`` false, the default; :func:`is_known_negative`).

The associators score a capped sample of such pairs with the same head and aggregation as
candidate links, and :class:`AdaptiveCalibration` maps the head's log-odds ``x`` of every pair
to ``offset + gain · x`` before the Platt map, so that the run's known negatives land where the
fitting data's did: their median and spread (90th percentile − median, :data:`QUANTILES`) onto
the reference values (``association.negative_q50_logodds`` / ``negative_q90_logodds``, and
``same_camera_*`` for two tracklets of one camera, whose negatives lie much higher). Each moves
only by how far it lies beyond ``adaptive_min_standard_errors`` standard errors of its estimate
(from ``n`` negatives, or the distinct tracklets in them when fewer: pairs sharing a tracklet are
not independent), so a run with few negatives, or one like the fitting footage, keeps the fixed
calibration (``offset`` 0, ``gain`` 1). It is monotone within one
kind of pair (it never reorders two cross-camera pairs), but moves cross-camera and one-camera
pairs separately.

The reference values are those of the same sample on the tuning footage (``python
benchmarks/association_accuracy.py --role tuning --fit-calibration`` prints them next to the
Platt fit); refit both with new weights.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pipeline.config import AssociationConfig
    from pipeline.identities.spacetime import Topology

__all__ = [
    "QUANTILES",
    "AdaptiveCalibration",
    "NegativeReference",
    "evenly_spaced",
    "is_known_negative",
    "known_negative_pairs",
    "negative_map",
]

log = logging.getLogger("pipeline")

QUANTILES = (0.5, 0.9)
"""The two quantiles of the known negatives' head log-odds that the map matches."""

GAIN_LIMITS = (0.5, 2.0)
"""The map's ``gain`` is clipped to this range (a handful of negatives can give any spread)."""


@dataclass(frozen=True, slots=True)
class NegativeReference:
    """Where known negatives lie on the fitting data: quantiles of the head's pair log-odds.

    Attributes:
        q50_logodds, q90_logodds: median and 90th percentile of ``logit(score)`` of the head's
            tracklet-pair score (natural log) of known-negative pairs; ``q90 > q50``.
    """

    q50_logodds: float
    q90_logodds: float

    def __post_init__(self) -> None:
        if not self.q90_logodds > self.q50_logodds:
            raise ValueError(
                f"the 90th percentile of negatives ({self.q90_logodds}) must be above "
                f"the median ({self.q50_logodds})"
            )


def is_known_negative(
    same_camera: bool, gap_s: float, overlapping_views: bool, min_transition_s: float
) -> bool:
    """Whether two tracklets ``gap_s`` apart can never be one person, whatever they look like.

    ``gap_s``: seconds from the end of the earlier to the start of the later (negative: they
    overlap). One camera: a shared moment (``gap_s <= 0``). Two cameras: only when their views do
    not overlap, and they overlap by more than a negative ``min_transition_s`` tolerates.

    >>> is_known_negative(True, 0.0, False, 0.0), is_known_negative(True, 0.5, False, 0.0)
    (True, False)
    >>> is_known_negative(False, -1.0, False, 0.0), is_known_negative(False, -1.0, True, 0.0)
    (True, False)
    >>> is_known_negative(False, -0.3, False, -0.5), is_known_negative(False, 0.0, False, 0.0)
    (False, False)
    """
    if same_camera:
        return gap_s <= 0.0
    return not overlapping_views and gap_s < min(0.0, min_transition_s)


def evenly_spaced(n: int, k: int) -> np.ndarray:
    """Up to ``k`` indices of ``range(n)`` spread evenly, first and last included (a sample that
    does not depend on what the pairs look like).

    >>> evenly_spaced(10, 3).tolist(), evenly_spaced(2, 5).tolist(), evenly_spaced(4, 0).tolist()
    ([0, 4, 9], [0, 1], [])
    """
    if n <= 0 or k <= 0:
        return np.zeros(0, np.int64)
    if n <= k:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


def known_negative_pairs(
    cams: Sequence[str],
    starts_s: Sequence[float],
    ends_s: Sequence[float],
    rules: Topology,
    max_pairs: int | None,
) -> dict[bool, list[tuple[int, int]]]:
    """Known-negative pairs ``(i < j)`` of tracklets given by camera and time span (common clock),
    per kind (``True``: one camera), each kind cut to ``max_pairs`` spread evenly over the
    pairs in index order (``None``: all).

    >>> from pipeline.identities.spacetime import PairRule, Topology
    >>> rules = Topology(PairRule(True, 0.0, 60.0, False))
    >>> known_negative_pairs(["a", "a", "b", "a"], [0, 1, 1.5, 9], [2, 3, 4, 10], rules, None)
    {False: [(0, 2), (1, 2)], True: [(0, 1)]}
    """
    out: dict[bool, list[tuple[int, int]]] = {False: [], True: []}
    start = np.asarray(starts_s, np.float64)
    end = np.asarray(ends_s, np.float64)
    for i in range(len(cams)):
        gaps = np.maximum(start[i] - end[i + 1 :], start[i + 1 :] - end[i])
        for k in np.flatnonzero(gaps <= 0.0).tolist():  # every known negative overlaps in time
            j = i + 1 + k
            same = cams[i] == cams[j]
            rule = rules.rule(cams[i], cams[j])
            if is_known_negative(same, float(gaps[k]), rule.overlapping_views, rule.min_transition_s):
                out[same].append((i, j))
    if max_pairs is not None:
        for same, pairs in out.items():
            out[same] = [pairs[k] for k in evenly_spaced(len(pairs), max_pairs).tolist()]
    return out


def _quantile_standard_errors(reference: NegativeReference, n: int) -> tuple[float, float]:
    """Standard errors of the median and 90th percentile of ``n`` negatives distributed like the
    reference (taken as normal with the reference's spread: ``sqrt(p(1 − p) / n) / density``)."""
    unit = NormalDist()
    sd = (reference.q90_logodds - reference.q50_logodds) / unit.inv_cdf(QUANTILES[1])
    return tuple(  # type: ignore[return-value]
        sd * math.sqrt(p * (1.0 - p) / n) / unit.pdf(unit.inv_cdf(p)) for p in QUANTILES
    )


def _soft(value: float, limit: float) -> float:
    """``value`` moved toward 0 by ``limit`` (0 when within it)."""
    return math.copysign(max(abs(value) - limit, 0.0), value)


def negative_map(
    raw_logodds: Iterable[float],
    reference: NegativeReference,
    min_standard_errors: float,
    effective_n: float | None = None,
) -> tuple[float, float]:
    """``(offset, gain)`` of the map ``x → offset + gain · x`` that moves these negatives' median
    and spread (90th percentile − median) toward ``reference``'s.

    Each moves only by how much its distance to the reference exceeds ``min_standard_errors``
    standard errors of its estimate from ``len(raw_logodds)`` negatives (the spread's: both
    quantiles' errors added in quadrature), so a run like the fitting footage keeps ``(0, 1)``
    (no change) and a run far from it moves nearly all the way. Without a spread (one negative,
    or all alike) only the median moves; ``gain`` is clipped to :data:`GAIN_LIMITS`.
    ``effective_n`` (fewer than the pairs): how many independent values they are worth — pairs
    that share tracklets are not independent (:class:`AdaptiveCalibration` passes the number of
    distinct tracklets).

    Example:
        >>> ref = NegativeReference(-3.0, -1.4)
        >>> negative_map([], ref, 2.0)
        (0.0, 1.0)
        >>> [round(v, 3) for v in negative_map([-1.0, 0.0, 1.0, 2.0, 3.0], ref, 0.0)]  # up by 4: back
        [-4.0, 1.0]
        >>> [round(v, 3) for v in negative_map([-3.2, -2.8, -3.0, -1.4, -1.5], ref, 2.0)]  # noise
        [0.0, 1.0]
    """
    x = np.asarray([v for v in raw_logodds if math.isfinite(v)], np.float64)
    n = x.size
    if n == 0:
        return 0.0, 1.0
    r50, r90 = (float(v) for v in np.quantile(x, QUANTILES))
    se50, se90 = _quantile_standard_errors(reference, max(1, round(min(n, effective_n or n))))
    median = r50 + _soft(reference.q50_logodds - r50, min_standard_errors * se50)
    gain = 1.0
    spread = r90 - r50
    if spread > 1e-6:
        wanted = reference.q90_logodds - reference.q50_logodds
        target = spread + _soft(wanted - spread, min_standard_errors * math.hypot(se50, se90))
        gain = min(max(target / spread, GAIN_LIMITS[0]), GAIN_LIMITS[1])
    return median - gain * r50, gain


class AdaptiveCalibration:
    """The run's two maps (cross-camera and one-camera pairs), updated as known negatives arrive.

    Args:
        cross_camera, same_camera: the reference quantiles of each kind of pair.
        min_standard_errors: how far a quantile must be off the reference, in standard errors,
            before the map moves it (:func:`negative_map`).
        max_pairs: known negatives kept per kind (the pair-head cost is bounded by it); later
            ones are not asked for (:meth:`room` is 0).

    Example:
        >>> cal = AdaptiveCalibration(NegativeReference(-3.0, -1.4), NegativeReference(-1.0, 2.0), 0.0, 100)
        >>> cal.adjust(2.0, same_camera=False)  # no negatives yet: no change
        2.0
        >>> cal.add(False, [-1.0, 0.0, 1.0, 2.0, 3.0])  # this run's negatives lie 4 log-odds higher
        >>> round(cal.adjust(2.0, same_camera=False), 3), cal.adjust(2.0, same_camera=True)
        (-2.0, 2.0)
    """

    def __init__(
        self,
        cross_camera: NegativeReference,
        same_camera: NegativeReference,
        min_standard_errors: float,
        max_pairs: int,
    ) -> None:
        if min_standard_errors < 0:
            raise ValueError(f"min_standard_errors must be >= 0, got {min_standard_errors}")
        if max_pairs < 0:
            raise ValueError(f"max_pairs must be >= 0, got {max_pairs}")
        self.references = {False: cross_camera, True: same_camera}
        self.min_standard_errors = float(min_standard_errors)
        self.max_pairs = int(max_pairs)
        self.negatives: dict[bool, list[float]] = {False: [], True: []}
        self.tracklets: dict[bool, set[Hashable]] = {False: set(), True: set()}
        self.maps: dict[bool, tuple[float, float]] = {False: (0.0, 1.0), True: (0.0, 1.0)}

    @classmethod
    def from_config(cls, cfg: AssociationConfig) -> AdaptiveCalibration | None:
        """From the ``association`` section; ``None`` when ``adaptive_calibration`` is off."""
        if not cfg.adaptive_calibration:
            return None
        return cls(
            NegativeReference(cfg.negative_q50_logodds, cfg.negative_q90_logodds),
            NegativeReference(cfg.same_camera_negative_q50_logodds, cfg.same_camera_negative_q90_logodds),
            cfg.adaptive_min_standard_errors,
            cfg.adaptive_max_pairs,
        )

    def room(self, same_camera: bool) -> int:
        """How many more known negatives of this kind are wanted."""
        return max(0, self.max_pairs - len(self.negatives[same_camera]))

    def add(
        self,
        same_camera: bool,
        raw_logodds: Sequence[float],
        pairs: Sequence[tuple[Hashable, Hashable]] | None = None,
    ) -> None:
        """Take head log-odds of known negatives of one kind (beyond :meth:`room`: ignored); refit.

        ``pairs``: the two tracklets of each value (any hashable ids), so that the noise allowance
        counts distinct tracklets, not pairs (:func:`negative_map`'s ``effective_n``); ``None``
        = every pair independent.
        """
        if pairs is not None and len(pairs) != len(raw_logodds):
            raise ValueError(f"{len(raw_logodds)} values but {len(pairs)} pairs")
        kept = [k for k, v in enumerate(raw_logodds) if math.isfinite(v)][: self.room(same_camera)]
        if not kept:
            return
        self.negatives[same_camera].extend(float(raw_logodds[k]) for k in kept)
        if pairs is not None:
            for k in kept:
                self.tracklets[same_camera].update(pairs[k])
        self.maps[same_camera] = negative_map(
            self.negatives[same_camera],
            self.references[same_camera],
            self.min_standard_errors,
            len(self.tracklets[same_camera]) or None,
        )

    def adjust(self, raw_logodds: float, same_camera: bool) -> float:
        """The head's log-odds of a pair as the fitting footage would have scored it."""
        offset, gain = self.maps[same_camera]
        return offset + gain * raw_logodds

    def log_maps(self) -> None:
        """Log :meth:`describe` (an associator does so when its input ends)."""
        log.info("adaptive calibration from known negatives: %s", self.describe())

    def describe(self) -> str:
        """One line: per kind, how many negatives and the map (for logs and benchmarks)."""
        parts = []
        for same, name in ((False, "cross-camera"), (True, "one-camera")):
            offset, gain = self.maps[same]
            parts.append(
                f"{name} {len(self.negatives[same])} negatives of {len(self.tracklets[same])} tracklets: "
                f"x -> {offset:+.2f} + {gain:.2f}·x"
            )
        return "; ".join(parts)
