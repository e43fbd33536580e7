"""Per-tracklet contrast with known negatives (``association.contrast``, opt-in).

The pair head's score of two tracklets carries, besides "same person or not", how much each
tracklet looks like *anybody*: a dark, blurred or small tracklet scores high with everyone of the
other camera (a hub), and on footage far from the training data everybody does. A fixed threshold
then links the hubs to look-alikes. Every run holds, for almost every tracklet, people it
**cannot** be, with no label: the tracklets of its own camera that share a moment with it, and
(views not overlapping) those of another camera at the same time
(:func:`~pipeline.identities.adaptive.is_known_negative`). How high the head scores a tracklet
with them says how much of its score with a candidate is its own look rather than evidence. On
the benchmark's real crops the two tracklets' own looks make up 34–35 % of the variance of a
different-person pair's log-odds on the tuning cuts and 52–61 % on the test cuts.

:class:`NegativeContrast` scores, per tracklet and camera, up to ``max_per_camera`` of those known
negatives (the ones sharing most time with it) and moves the head's log-odds ``x`` of a candidate
pair ``(a, b)`` of cameras ``A`` and ``B`` **down only**::

    x - max(0, (r(a, B) + r(b, A)) / 2 - reference)

``r(a, B)``: the mean head log-odds of ``a`` with its known negatives in camera ``B`` (the
candidate's camera: the same light and viewpoint), else with those in any other camera (a
cross-camera pair), shrunk towards the run's mean of that kind of pair by ``prior_negatives``
pseudo-negatives (a tracklet with one known negative says little about its look), and the run's
mean itself for a tracklet without any; ``reference``: where known negatives lie on the footage the
calibration was fitted on (``association.negative_q50_logodds``, or
``same_camera_negative_q50_logodds`` for two tracklets of one camera). A pair of tracklets that
look like everybody moves down; a pair of distinctive ones is not moved up (lifting them made
wrong re-entry links on the tuning cuts: a few known negatives say how alike a tracklet looks to
others, not to its own person). Like hubness corrections of nearest-neighbour retrieval (CSLS),
with the neighbourhood restricted to pairs known to be different people.

Pair-head cost: at most ``max_per_camera`` pairs per tracklet and camera, each scored once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from pipeline.identities.adaptive import is_known_negative

if TYPE_CHECKING:
    from pipeline.config import AssociationConfig
    from pipeline.identities.spacetime import Topology

__all__ = ["NegativeContrast", "contrast_pairs", "negatives_of"]


def negatives_of(
    cam: str,
    start_s: float,
    end_s: float,
    cams: Sequence[str],
    starts_s: Sequence[float] | np.ndarray,
    ends_s: Sequence[float] | np.ndarray,
    rules: Topology,
    max_per_camera: int,
    skip: int | None = None,
) -> list[int]:
    """Indices of the (up to) ``max_per_camera`` known negatives per camera of a tracklet of
    camera ``cam`` spanning ``[start_s, end_s]`` among the given ones, those sharing the most time
    with it first (times in seconds on the common clock; ``skip``: the tracklet's own index when
    it is listed).

    >>> from pipeline.identities.spacetime import PairRule, Topology
    >>> rules = Topology(PairRule(True, 0.0, 60.0, False))
    >>> negatives_of("a", 0, 2, ["a", "b", "b", "a"], [1, 1.5, 0, 9], [3, 4, 2, 10], rules, 1)
    [0, 2]
    """
    start = np.asarray(starts_s, np.float64)
    end = np.asarray(ends_s, np.float64)
    shared = np.minimum(end_s, end) - np.maximum(start_s, start)  # seconds together; < 0: a gap
    if skip is not None:
        shared[skip] = -np.inf
    by_cam: dict[str, list[int]] = {}
    for j in np.flatnonzero(shared >= 0.0).tolist():
        if _known(cam, cams[j], -float(shared[j]), rules):
            by_cam.setdefault(cams[j], []).append(j)
    chosen: list[int] = []
    for rows in by_cam.values():
        rows.sort(key=lambda j: (-shared[j], j))
        chosen += rows[:max_per_camera]
    return sorted(chosen)


def contrast_pairs(
    cams: Sequence[str],
    starts_s: Sequence[float],
    ends_s: Sequence[float],
    rules: Topology,
    max_per_camera: int,
) -> list[tuple[int, int]]:
    """Known-negative pairs ``(i < j)`` to score: for each tracklet and each camera, the (up to)
    ``max_per_camera`` known negatives in that camera sharing the most time with it
    (:func:`negatives_of`).

    >>> from pipeline.identities.spacetime import PairRule, Topology
    >>> rules = Topology(PairRule(True, 0.0, 60.0, False))
    >>> contrast_pairs(["a", "a", "b", "a"], [0, 1, 1.5, 9], [2, 3, 4, 10], rules, 1)
    [(0, 1), (0, 2), (1, 2)]
    """
    start = np.asarray(starts_s, np.float64)
    end = np.asarray(ends_s, np.float64)
    chosen: set[tuple[int, int]] = set()
    for i in range(len(cams)):
        found = negatives_of(cams[i], start[i], end[i], cams, start, end, rules, max_per_camera, skip=i)
        chosen.update((min(i, j), max(i, j)) for j in found)
    return sorted(chosen)


def _known(cam_a: str, cam_b: str, gap_s: float, rules: Topology) -> bool:
    rule = rules.rule(cam_a, cam_b)
    return is_known_negative(cam_a == cam_b, gap_s, rule.overlapping_views, rule.min_transition_s)


class NegativeContrast:
    """Each tracklet's mean head log-odds with its known negatives, per camera; moves pair log-odds.

    Args:
        cross_camera_reference_logodds: where known two-camera negatives lie on the fitting
            footage (head log-odds, natural log; ``association.negative_q50_logodds``).
        same_camera_reference_logodds: the same for two tracklets of one camera.
        max_per_camera: known negatives scored per tracklet and camera (more: a steadier
            reference, more pair-head calls).
        prior_negatives: pseudo-negatives at the run's mean of the kind that each tracklet's
            mean is shrunk with (0: a tracklet's own negatives alone; more: closer to one shift
            for the whole run).

    >>> c = NegativeContrast(-3.0, 0.0, 4, prior_negatives=0.0)
    >>> c.add([("a", 1, "cam_a", "cam_b", 1.0), ("b", 1, "cam_b", "cam_a", -1.0)])
    >>> c.add([("a", 2, "cam_a", "cam_b", -3.0)])
    >>> c.adjust(2.0, "a", "cam_a", "b", "cam_b")  # refs -1 and -1: 2 - max(0, -1 - -3)
    0.0
    >>> c.adjust(2.0, "a", "cam_a", "z", "cam_b")  # z: the run's mean, -1
    0.0
    >>> NegativeContrast(-3.0, 0.0, 4, 3.0).adjust(2.0, "x", "cam_a", "y", "cam_a")  # nothing known: as is
    2.0
    """

    def __init__(
        self,
        cross_camera_reference_logodds: float,
        same_camera_reference_logodds: float,
        max_per_camera: int,
        prior_negatives: float,
    ) -> None:
        if max_per_camera < 1:
            raise ValueError(f"max_per_camera must be >= 1, got {max_per_camera}")
        if not prior_negatives >= 0:
            raise ValueError(f"prior_negatives must be >= 0, got {prior_negatives}")
        self.references = {
            False: float(cross_camera_reference_logodds),
            True: float(same_camera_reference_logodds),
        }
        self.max_per_camera = int(max_per_camera)
        self.prior_negatives = float(prior_negatives)
        self._values: dict[Hashable, dict[str, list[float]]] = {}  # tracklet -> camera of the negative -> x
        self._kind_sums: dict[bool, list[float]] = {False: [0.0, 0.0], True: [0.0, 0.0]}  # sum, count

    @classmethod
    def from_config(cls, cfg: AssociationConfig) -> NegativeContrast | None:
        """From the ``association`` section; ``None`` when ``contrast`` is off."""
        if not cfg.contrast:
            return None
        return cls(
            cfg.negative_q50_logodds,
            cfg.same_camera_negative_q50_logodds,
            cfg.contrast_max_negatives,
            cfg.contrast_prior_negatives,
        )

    def forget(self, key: Hashable) -> None:
        """Drop what is known of tracklet ``key`` (it can no longer be linked; bounds memory)."""
        self._values.pop(key, None)

    def add(self, scored: Sequence[tuple[Hashable, Hashable, str, str, float]]) -> None:
        """Take ``(a, b, camera of a, camera of b, head log-odds)`` of known-negative pairs
        (``nan`` values are ignored); each counts for both tracklets."""
        for a, b, cam_a, cam_b, x in scored:
            if not math.isfinite(x):
                continue
            self._values.setdefault(a, {}).setdefault(cam_b, []).append(float(x))
            self._values.setdefault(b, {}).setdefault(cam_a, []).append(float(x))
            kind = self._kind_sums[cam_a == cam_b]
            kind[0] += float(x)
            kind[1] += 1.0

    def reference_of(self, key: Hashable, cam: str, other_cam: str) -> float:
        """``r(key, other_cam)``: mean log-odds of the tracklet ``key`` (of camera ``cam``) with
        its known negatives in ``other_cam`` (fallbacks in the module docstring)."""
        same = cam == other_cam
        by_cam = self._values.get(key, {})
        total, count = self._kind_sums[same]
        base = total / count if count else self.references[same]
        own = by_cam.get(other_cam)
        if not own and not same:
            own = [v for c, vals in by_cam.items() if c != cam for v in vals]
        if own:
            return (float(np.sum(own)) + self.prior_negatives * base) / (len(own) + self.prior_negatives)
        return base

    def adjust(self, raw_logodds: float, key_a: Hashable, cam_a: str, key_b: Hashable, cam_b: str) -> float:
        """The pair's head log-odds, lowered by how far both tracklets' known negatives lie above
        the reference (never raised)."""
        same = cam_a == cam_b
        r = 0.5 * (self.reference_of(key_a, cam_a, cam_b) + self.reference_of(key_b, cam_b, cam_a))
        return raw_logodds - max(0.0, r - self.references[same])

    def score(
        self,
        keys: Sequence[Hashable],
        cams: Sequence[str],
        starts_s: Sequence[float],
        ends_s: Sequence[float],
        rules: Topology,
        head_logodds: Callable[[list[tuple[int, int]]], Sequence[float]],
    ) -> int:
        """Find, score (``head_logodds`` of index pairs, one call) and :meth:`add` the known
        negatives of the given tracklets; returns how many pairs were scored."""
        pairs = contrast_pairs(cams, starts_s, ends_s, rules, self.max_per_camera)
        if not pairs:
            return 0
        values = head_logodds(pairs)
        self.add([(keys[i], keys[j], cams[i], cams[j], v) for (i, j), v in zip(pairs, values, strict=True)])
        return len(pairs)

    def describe(self) -> str:
        """One line for logs and benchmarks: how many negatives and their means, per kind."""
        parts = []
        for same, name in ((False, "cross-camera"), (True, "one-camera")):
            total, count = self._kind_sums[same]
            mean = f"{total / count:+.2f}" if count else "-"
            ref = self.references[same]
            parts.append(f"{name} {count:.0f} negatives, mean {mean} (reference {ref:+.2f})")
        return "; ".join(parts)
