"""Per-run calibration from known negatives: the map, the sample, both associators, bad configs."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from coded_tracklets import PoolsCodes, coded_tracklet

from infra.errors import ConfigError
from pipeline.config import AssociationConfig, load_config
from pipeline.identities.adaptive import (
    AdaptiveCalibration,
    NegativeReference,
    is_known_negative,
    known_negative_pairs,
    negative_map,
)
from pipeline.identities.offline import OfflineAssociator
from pipeline.identities.online import OnlineAssociator
from pipeline.identities.spacetime import PairRule, Topology
from pipeline.tracklets import Tracklet

REF = NegativeReference(-3.0, 0.8)
RNG_SAMPLE = np.random.default_rng(0).normal(size=400)  # one fixed draw, rescaled per case


def _quantiles(x: np.ndarray) -> tuple[float, float]:
    q50, q90 = np.quantile(x, (0.5, 0.9))
    return float(q50), float(q90)


def _reference_like(shift: float = 0.0, stretch: float = 1.0) -> np.ndarray:
    """Negatives whose median and 90th percentile are REF's, then shifted and stretched."""
    q50, q90 = _quantiles(RNG_SAMPLE)
    x = REF.q50_logodds + (RNG_SAMPLE - q50) * (REF.q90_logodds - REF.q50_logodds) / (q90 - q50)
    return REF.q50_logodds + stretch * (x - REF.q50_logodds) + shift


@pytest.mark.parametrize(
    ("negatives", "min_standard_errors", "expected"),
    [
        # no negatives, or only non-finite ones: the identity map
        ([], 0.0, (0.0, 1.0)),
        ([float("nan"), float("inf")], 0.0, (0.0, 1.0)),
        # the reference itself: nothing to move
        (_reference_like(), 0.0, (0.0, 1.0)),
        # one negative: its value goes to the reference median (no spread to match)
        ([1.0], 0.0, (-4.0, 1.0)),
        # all alike: only the median moves
        ([2.0, 2.0, 2.0], 0.0, (-5.0, 1.0)),
        # one negative, 4 log-odds off, 1 standard error (1.2533 × sd 2.965 = 3.716) allowed: 0.284 moves
        ([1.0], 1.0, (-0.2837, 1.0)),
        # ... and 2 standard errors: nothing moves
        ([1.0], 2.0, (0.0, 1.0)),
    ],
)
def test_negative_map(
    negatives: Sequence[float], min_standard_errors: float, expected: tuple[float, float]
) -> None:
    assert negative_map(negatives, REF, min_standard_errors) == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize(
    ("shift", "stretch"),
    [(2.5, 1.0), (-1.0, 1.0), (1.5, 1.4), (0.0, 0.8), (3.0, 1.9)],
)
def test_a_shifted_negative_distribution_is_moved_back(shift: float, stretch: float) -> None:
    run = _reference_like(shift, stretch)
    offset, gain = negative_map(run, REF, 0.0)
    assert _quantiles(offset + gain * run) == pytest.approx((REF.q50_logodds, REF.q90_logodds), abs=1e-6)


@pytest.mark.parametrize(
    ("stretch", "gain"),
    [(10.0, 0.5), (0.1, 2.0)],  # an absurd spread is clipped to GAIN_LIMITS
)
def test_gain_is_clipped(stretch: float, gain: float) -> None:
    assert negative_map(_reference_like(0.0, stretch), REF, 0.0)[1] == pytest.approx(gain)


@pytest.mark.parametrize("n", [5, 20, 50, 200, 400])
def test_negatives_like_the_reference_mostly_leave_the_map_unchanged(n: int) -> None:
    """Draws from the reference's own distribution differ from it by sampling noise only: at 2
    standard errors most runs keep the identity map, and none moves the reference's quantiles far."""
    maps = [
        negative_map(np.random.default_rng(seed).normal(-3.0, 2.965, size=n), REF, 2.0)  # REF's normal
        for seed in range(40)
    ]
    unchanged = sum(m == pytest.approx((0.0, 1.0)) for m in maps)
    assert unchanged >= 30
    moves = [abs(offset + (gain - 1.0) * q) for offset, gain in maps for q in (-3.0, 0.8)]  # at REF's
    assert max(moves) < 1.0


@pytest.mark.parametrize(("n", "shift"), [(20, 6.0), (50, 6.0), (200, 3.0), (400, 1.5)])
def test_a_clear_shift_is_moved_back_nearly_all_the_way(n: int, shift: float) -> None:
    run = np.random.default_rng(0).normal(-3.0 + shift, 2.96, size=n)
    offset, gain = negative_map(run, REF, 2.0)
    q50 = float(np.median(offset + gain * run))
    assert REF.q50_logodds < q50 < REF.q50_logodds + shift / 2


def test_pairs_sharing_tracklets_count_as_fewer_negatives() -> None:
    """20 negatives 4 log-odds above the reference: the fewer distinct tracklets behind them, the
    wider the noise allowance and the smaller the move; as many tracklets as pairs = independent."""
    values = (_reference_like(4.0)[::20]).tolist()
    cases = {
        "independent": None,
        "40 tracklets": [(k, k + 100) for k in range(20)],
        "9 tracklets": [(k % 4, 4 + k % 5) for k in range(20)],
        "2 tracklets": [(0, 1)] * 20,
    }
    moved = {}
    for name, pairs in cases.items():
        cal = AdaptiveCalibration(REF, REF, 2.0, 100)
        cal.add(False, values, pairs)
        moved[name] = -cal.adjust(0.0, same_camera=False)
    assert moved["independent"] == pytest.approx(moved["40 tracklets"])
    assert moved["40 tracklets"] > moved["9 tracklets"] > moved["2 tracklets"] >= 0.0
    assert moved["independent"] < 4.0


def test_pairs_and_values_must_have_one_length() -> None:
    with pytest.raises(ValueError, match="2 values but 1 pairs"):
        AdaptiveCalibration(REF, REF, 2.0, 10).add(False, [1.0, 2.0], [(0, 1)])


@pytest.mark.parametrize(
    ("same_camera", "gap_s", "overlapping_views", "min_transition_s", "expected"),
    [
        (True, -1.0, False, 0.0, True),
        (True, 0.0, False, 0.0, True),  # one shared frame
        (True, 0.1, False, 0.0, False),  # a re-entry may be one person
        (True, -1.0, True, 0.0, True),  # overlapping views do not matter within one camera
        (False, -1.0, False, 0.0, True),
        (False, 0.0, False, 0.0, False),  # touching, not overlapping
        (False, 2.0, False, 0.0, False),
        (False, -1.0, True, 0.0, False),  # overlapping views: both may see one person
        (False, -0.3, False, -0.5, False),  # an overlap the config tolerates
        (False, -0.8, False, -0.5, True),
    ],
)
def test_is_known_negative(
    same_camera: bool, gap_s: float, overlapping_views: bool, min_transition_s: float, expected: bool
) -> None:
    assert is_known_negative(same_camera, gap_s, overlapping_views, min_transition_s) is expected


@pytest.mark.parametrize(
    ("rule", "max_pairs", "expected"),
    [
        (PairRule(True, 0.0, 60.0, False), None, {False: [(0, 2), (1, 2)], True: [(0, 1)]}),
        (PairRule(True, 0.0, 60.0, True), None, {False: [], True: [(0, 1)]}),
        (PairRule(True, 0.0, 60.0, False), 1, {False: [(0, 2)], True: [(0, 1)]}),
        (PairRule(True, 0.0, 60.0, False), 0, {False: [], True: []}),
    ],
)
def test_known_negative_pairs(rule: PairRule, max_pairs: int | None, expected: dict) -> None:
    cams, starts, ends = ["a", "a", "b", "a"], [0.0, 1.0, 1.5, 9.0], [2.0, 3.0, 4.0, 10.0]
    assert known_negative_pairs(cams, starts, ends, Topology(rule), max_pairs) == expected


def test_calibration_keeps_at_most_max_pairs_per_kind() -> None:
    cal = AdaptiveCalibration(REF, NegativeReference(0.0, 3.0), 0.0, 5)
    cal.add(False, [1.0] * 3)
    assert cal.room(False) == 2 and cal.room(True) == 5
    cal.add(False, [1.0] * 10 + [float("nan")])
    assert len(cal.negatives[False]) == 5 and cal.room(False) == 0
    assert cal.maps[True] == (0.0, 1.0) and cal.maps[False][0] < 0
    assert "cross-camera 5 negatives" in cal.describe()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"min_standard_errors": -1.0}, "min_standard_errors"), ({"max_pairs": -1}, "max_pairs")],
)
def test_calibration_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    args = {"cross_camera": REF, "same_camera": REF, "min_standard_errors": 1.0, "max_pairs": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        AdaptiveCalibration(**args)


def test_reference_needs_its_90th_percentile_above_its_median() -> None:
    with pytest.raises(ValueError, match="must be above the median"):
        NegativeReference(1.0, 1.0)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("association:\n  negative_q90_logodds: -5.0\n", "association.negative_q90_logodds must be above"),
        (
            "association:\n  same_camera_negative_q50_logodds: 5.0\n",
            "association.same_camera_negative_q90_logodds must be above",
        ),
        (
            "association:\n  adaptive_min_standard_errors: -1\n",
            "association.adaptive_min_standard_errors must be >= 0",
        ),
        ("association:\n  adaptive_max_pairs: -5\n", "association.adaptive_max_pairs must be >= 0"),
        ("association:\n  adaptive_calibration: maybe\n", "association.adaptive_calibration"),
    ],
)
def test_bad_adaptive_config_is_a_one_line_error(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and needle in message and "\n" not in message


def test_config_builds_the_calibration_only_when_asked() -> None:
    assert AdaptiveCalibration.from_config(AssociationConfig()) is None
    cfg = dataclasses.replace(AssociationConfig(), negative_q50_logodds=-3.0, negative_q90_logodds=0.8)
    cal = AdaptiveCalibration.from_config(dataclasses.replace(cfg, adaptive_calibration=True))
    assert cal is not None and cal.references[False] == NegativeReference(-3.0, 0.8)
    assert cal.references[True] == NegativeReference(
        cfg.same_camera_negative_q50_logodds, cfg.same_camera_negative_q90_logodds
    )


# ---------------------------------------------------------------- both associators, end to end


class CodeMatcher(PoolsCodes):
    """Crops carry a person code; P(same) from a table of code pairs (0.97 for one code).

    Over-confident the way unseen footage makes the head: different people score 0.92
    (log-odds 2.4), one person 0.9999 (9.2); the look-alikes ``{1, 4}`` 0.95 (2.9)."""

    def __init__(self, other: float = 0.92, same: float = 0.9999, lookalike: float = 0.95) -> None:
        self.other, self.same, self.lookalike = other, same, lookalike

    def encode(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        return np.array([int(c[0, 0, 0]) for c in crops_bgr])

    def embed(self, enc: np.ndarray) -> np.ndarray:
        out = np.ones((len(enc), 4), np.float32)
        return out / 2.0

    def score(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.full((len(a), len(b)), self.other, np.float32)
        for i, ca in enumerate(a.tolist()):
            for j, cb in enumerate(b.tolist()):
                if ca == cb:
                    out[i, j] = self.same
                elif {ca, cb} == {1, 4}:
                    out[i, j] = self.lookalike
        return out


def _scene() -> list[Tracklet]:
    """Camera a sees people 1, 2, 3 at once (0–4 s); camera b sees 2, 3 at once (0–4 s: known
    negatives against a's) and later person 1 (6–8 s) and the look-alike 4 (6–8 s)."""
    return [
        coded_tracklet("a", 1, 0, 4, 1),
        coded_tracklet("a", 2, 0, 4, 2),
        coded_tracklet("a", 3, 0, 4, 3),
        coded_tracklet("b", 1, 0, 4, 5),
        coded_tracklet("b", 2, 0, 4, 6),
        coded_tracklet("b", 3, 6, 8, 1),
        coded_tracklet("b", 4, 6, 8, 4),
    ]


def _config(adaptive: bool) -> AssociationConfig:
    """A crop-pair calibration (configs/pair-crops.yaml); the references say: on the fitting data
    negatives lay near −3."""
    return dataclasses.replace(
        AssociationConfig(),
        score_scale=0.61,
        score_bias_logodds=-2.48,
        negative_q50_logodds=-3.0,
        negative_q90_logodds=0.8,
        adaptive_calibration=adaptive,
        adaptive_min_standard_errors=0.0,
        min_margin_logodds=0.0,
        threshold=0.24,
        offline_threshold=0.24,
        zone_prior_links=None,
    )


def _links(method: str, adaptive: bool) -> set[frozenset[tuple[str, int]]]:
    cls = OnlineAssociator if method == "online" else OfflineAssociator
    assoc = cls.from_config(_config(adaptive), matcher=CodeMatcher(), cameras={}, on_assign=None)
    if isinstance(assoc, OfflineAssociator):
        assoc.motion = False
    tracklets = _scene()
    for batch in (tracklets[:5], tracklets[5:]):  # closing order: the first five, then the rest
        assoc.add([dataclasses.replace(t, crops=list(t.crops)) for t in batch])
    return {frozenset(i.members) for i in assoc.finish() if len(i.members) > 1}


@pytest.mark.parametrize(
    ("method", "adaptive", "expected"),
    [
        # fixed calibration: every pair looks like a link (P 0.92 on the head ≈ 0.27 calibrated)
        ("offline", False, None),
        ("online", False, None),
        # adaptive: the run's negatives (2.4 on the head) are moved down to −3: only person 1 links
        ("offline", True, {frozenset({("a", 1), ("b", 3)})}),
        ("online", True, {frozenset({("a", 1), ("b", 3)})}),
    ],
)
def test_known_negatives_move_the_decisions(method: str, adaptive: bool, expected: set | None) -> None:
    links = _links(method, adaptive)
    if expected is None:  # over-merged: person 1's tracklet in b is not alone with a's
        assert links and links != {frozenset({("a", 1), ("b", 3)})}
    else:
        assert links == expected


@pytest.mark.parametrize("method", ["online", "offline"])
def test_without_known_negatives_nothing_changes(method: str) -> None:
    """One tracklet at a time: no pair overlaps, so the adaptive run decides as the fixed one."""
    cls = OnlineAssociator if method == "online" else OfflineAssociator
    found = []
    for adaptive in (False, True):
        assoc = cls.from_config(_config(adaptive), matcher=CodeMatcher(), cameras={}, on_assign=None)
        for k, code in enumerate([1, 2, 1, 3]):
            assoc.add([coded_tracklet("ab"[k % 2], k, 3 * k, 3 * k + 2, code)])
        found.append([i.members for i in assoc.finish()])
        if adaptive:
            assert assoc.adaptive is not None and assoc.adaptive.maps == {False: (0.0, 1.0), True: (0.0, 1.0)}
    assert found[0] == found[1]


@pytest.mark.parametrize("method", ["online", "offline"])
def test_the_maps_are_logged_when_the_input_ends(method: str, caplog: pytest.LogCaptureFixture) -> None:
    cls = OnlineAssociator if method == "online" else OfflineAssociator
    assoc = cls.from_config(_config(True), matcher=CodeMatcher(), cameras={}, on_assign=None)
    assoc.add([dataclasses.replace(t, crops=list(t.crops)) for t in _scene()])
    with caplog.at_level("INFO", logger="pipeline"):
        assoc.finish()
    assert "adaptive calibration from known negatives: cross-camera 6 negatives" in caplog.text
