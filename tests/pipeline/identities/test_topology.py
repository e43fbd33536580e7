"""association.topology: camera clocks and per-pair rules, applied alike by both associators."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from coded_tracklets import PoolsCodes

from infra.errors import ConfigError
from infra.yaml_config import parse_dataclass
from pipeline.config import AssociationConfig, PipelineConfig, TopologyConfig, check_topology_cameras
from pipeline.identities import ASSOCIATORS, Assignment
from pipeline.identities.spacetime import PairRule, Topology
from pipeline.tracklets import Crop, Tracklet


def tracklet(cam: str, track_id: int, t0: float, t1: float, code: int) -> Tracklet:
    """A closed tracklet over ``[t0, t1]`` s (own clock), 10 fps, mid-view, crops of colour ``code``."""
    times = [float(v) for v in np.round(np.arange(t0, t1 + 1e-9, 0.1), 6)]
    t = Tracklet(cam, track_id)
    t.frames = [round(v * 10) for v in times]
    t.times_s = times
    t.boxes_xyxy = [(100.0, 200.0, 140.0, 300.0)] * len(times)
    t.scores = [0.9] * len(times)
    t.crops = [
        Crop(t.frames[i], times[i], 0.9, np.full((1, 1, 3), code, np.uint8)) for i in (0, len(times) - 1)
    ]
    return t


class TableMatcher(PoolsCodes):
    """P(same) = 0.95 for crops of one colour code, else 0.05."""

    def encode(self, crops_bgr: list[np.ndarray]) -> np.ndarray:
        return np.array([int(c[0, 0, 0]) for c in crops_bgr])

    def embed(self, enc: np.ndarray) -> np.ndarray:
        out = np.zeros((len(enc), 8), np.float32)
        out[np.arange(len(enc)), enc % 8] = 1.0
        return out

    def score(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(a[:, None] == b[None, :], 0.95, 0.05).astype(np.float32)


def _config(topology: dict[str, Any], **kwargs: Any) -> AssociationConfig:
    """Raw scores (no calibration), threshold 0.5, a 10 s window, no margin; ``topology`` as in YAML."""
    return dataclasses.replace(
        AssociationConfig(),
        threshold=0.5,
        score_scale=1.0,
        score_bias_logodds=0.0,
        min_margin_logodds=0.0,
        max_transition_s=10.0,
        topology=parse_dataclass(TopologyConfig, topology),
        **kwargs,
    )


def _link(
    method: str, cfg: AssociationConfig, b_span: tuple[float, float], b_cam: str = "b"
) -> list[Assignment]:
    """Person 1 in cam a over [0, 2] s (own clock), then in ``b_cam`` over ``b_span``: the decisions."""
    events: list[Assignment] = []
    assoc = ASSOCIATORS.get(method).from_config(
        cfg, matcher=TableMatcher(), cameras={}, on_assign=events.append
    )
    assoc.add([tracklet("a", 1, 0.0, 2.0, 1)])
    assoc.add([tracklet(b_cam, 1, *b_span, 1)])
    assoc.finish()
    return events


def pair(cameras: tuple[str, str] = ("a", "b"), **rules: Any) -> dict[str, Any]:
    """A topology section with one pair's rules."""
    return {"pairs": [{"cameras": list(cameras), **rules}]}


def clock(cam: str, offset_s: float) -> dict[str, Any]:
    """A topology section with one camera's start offset."""
    return {"cameras": {cam: {"start_offset_s": offset_s}}}


# (case, topology section, other association settings, span of the second tracklet (own clock), linked)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], tuple[float, float], bool]] = [
    ("no topology", {}, {}, (3.0, 5.0), True),
    ("unreachable pair", pair(reachable=False), {}, (3.0, 5.0), False),
    ("unreachable, order of the pair", pair(("b", "a"), reachable=False), {}, (3.0, 5.0), False),
    ("another pair unreachable", pair(("a", "c"), reachable=False), {}, (3.0, 5.0), True),
    ("pair window shorter", pair(max_transition_s=0.5), {}, (3.0, 5.0), False),
    ("pair window longer than global", pair(max_transition_s=30), {}, (22.0, 23.0), True),
    ("global window without the pair", {}, {}, (22.0, 23.0), False),
    ("pair minimum transition", pair(min_transition_s=2.0), {}, (3.0, 5.0), False),
    ("views do not overlap", {}, {}, (1.0, 3.0), False),
    ("pair views overlap", pair(overlapping_views=True), {}, (1.0, 3.0), True),
    (
        "pair overlap off, global on",
        pair(overlapping_views=False),
        {"overlapping_views": True},
        (1.0, 3.0),
        False,
    ),
    ("b started 2 s late: its [1, 3] is [3, 5]", clock("b", 2.0), {}, (1.0, 3.0), True),
    ("b started 2 s early: its [3, 5] is [1, 3]", clock("b", -2.0), {}, (3.0, 5.0), False),
    ("a started 2 s early: same as b late", clock("a", -2.0), {}, (1.0, 3.0), True),
    ("offset beyond the window", clock("b", 20.0), {}, (1.0, 2.0), False),
]


@pytest.mark.parametrize("method", ["online", "offline"])
@pytest.mark.parametrize(
    ("case", "topology", "settings", "b_span", "linked"), CASES, ids=[c[0] for c in CASES]
)
def test_rules_both_associators_apply(
    method: str, case: str, topology: dict, settings: dict, b_span: tuple[float, float], linked: bool
) -> None:
    events = _link(method, _config(topology, **settings), b_span)
    gid = {e.cam_id: e.global_id for e in events}
    assert (gid["a"] == gid["b"]) is linked


@pytest.mark.parametrize("method", ["online", "offline"])
def test_decisions_keep_each_source_clock(method: str) -> None:
    events = _link(method, _config({"cameras": {"b": {"start_offset_s": 2.0}}}), (1.0, 3.0))
    b = next(e for e in events if e.cam_id == "b")
    assert (b.t_start_s, b.t_end_s) == pytest.approx((1.0, 3.0))


def test_online_eviction_keeps_what_an_earlier_camera_clock_still_needs() -> None:
    """Camera b's clock runs 5 s behind: the oldest open start on its clock is 5 s earlier in common time."""
    cfg = _config({"cameras": {"b": {"start_offset_s": -5.0}}})
    assoc = ASSOCIATORS.get("online").from_config(cfg, matcher=TableMatcher(), cameras={}, on_assign=None)
    assoc.add([tracklet("a", 1, 0.0, 2.0, 1)])
    assert (
        assoc.evict_before(13.0) == 0
    )  # 13 s on b's clock is 8 s: a's tracklet (ends at 2 s) is within 10 s
    assert assoc.evict_before(18.0) == 1


def test_topology_arrays_match_the_scalar_rules() -> None:
    never = PairRule(False, 0.0, None, False)
    topo = Topology(
        PairRule(True, 0.5, 10.0, False), {}, {("a", "c"): never, ("a", "d"): PairRule(True, -1, 3, True)}
    )
    cams = ["a", "b", "c", "d"]
    codes = np.array([0, 1, 1, 2, 3, 3, 3])
    gaps = np.array([-1.0, 0.2, 0.7, 5.0, -0.5, 2.0, 4.0])
    scalar = [c == 0 or topo.cross_gap_ok("a", cams[c], g) for c, g in zip(codes, gaps, strict=True)]
    assert (
        topo.cross_gaps_ok("a", cams, codes, gaps).tolist()
        == scalar
        == [True, False, True, False, True, True, True]
    )
    assert topo.max_gaps_s("a", cams, codes).tolist() == [10.0, 10.0, 10.0, np.inf, 3.0, 3.0, 3.0]
    assert topo.largest_max_s is None  # the unreachable pair has no window, so eviction must not use one


@pytest.mark.parametrize("cam_id", ["a", "b", "c", "d", "z"])  # z: not among the rows' cameras
def test_topology_arrays_match_the_scalar_rules_from_every_camera(cam_id: str) -> None:
    rng = np.random.default_rng(sum(map(ord, cam_id)))
    topo = Topology(
        PairRule(True, 0.5, 10.0, False),
        {},
        {
            ("a", "c"): PairRule(False, 0.0, None, False),
            ("d", "a"): PairRule(True, -1.0, 3.0, True),
            ("b", "d"): PairRule(True, 2.0, 30.0, False),
            ("c", "q"): PairRule(True, 1.0, 5.0, False),  # q never appears
        },
    )
    cams = ["a", "b", "c", "d", "e"]
    codes = rng.integers(0, len(cams), 200)
    gaps = rng.uniform(-3.0, 6.0, 200).round(1)
    scalar = [
        cams[c] == cam_id or topo.cross_gap_ok(cam_id, cams[c], g) for c, g in zip(codes, gaps, strict=True)
    ]
    assert topo.cross_gaps_ok(cam_id, cams, codes, gaps).tolist() == scalar
    maxima = [topo.max_gap_s(cam_id, cams[c]) for c in codes]
    assert topo.max_gaps_s(cam_id, cams, codes).tolist() == [np.inf if m is None else m for m in maxima]


# (case, topology section, error fragment)
BAD = [
    ("one camera", {"pairs": [{"cameras": ["a"]}]}, "two different camera ids"),
    ("a camera with itself", {"pairs": [{"cameras": ["a", "a"]}]}, "two different camera ids"),
    ("a pair twice", {"pairs": [{"cameras": ["a", "b"]}, {"cameras": ["b", "a"]}]}, "given twice"),
    ("window inverted", pair(min_transition_s=5, max_transition_s=1), "min_transition_s must be <= max"),
    ("negative window", pair(max_transition_s=-1), "max_transition_s must be >= 0"),
    ("unknown pair key", pair(reachble=False), "reachble"),
    ("unknown camera key", {"cameras": {"a": {"offset_s": 1.0}}}, "offset_s"),
    ("offset not a number", {"cameras": {"a": {"start_offset_s": "late"}}}, "start_offset_s"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "topology", "needle"), BAD, ids=[c[0] for c in BAD])
def test_bad_topology_names_the_file_and_the_problem(case: str, topology: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_dataclass(PipelineConfig, {"association": {"topology": topology}}, source="my.yaml")
    assert str(info.value).startswith("my.yaml: ") and needle in str(info.value)


@pytest.mark.parametrize(
    ("topology", "key"),
    [
        ({"cameras": {"hall": {"start_offset_s": 1.0}}}, "association.topology.cameras.hall: 'hall'"),
        ({"pairs": [{"cameras": ["cam_a", "hall"]}]}, "association.topology.pairs[0].cameras: 'hall'"),
    ],
)
def test_a_camera_not_in_the_run_is_a_config_error(topology: dict, key: str) -> None:
    cfg = parse_dataclass(PipelineConfig, {"association": {"topology": topology}}, source="my.yaml")
    cfg = dataclasses.replace(cfg, source="my.yaml")
    with pytest.raises(ConfigError, match="not a camera of this run") as info:
        check_topology_cameras(cfg, ["cam_a", "cam_b"])
    assert str(info.value).startswith(f"my.yaml: {key}") and "cameras: cam_a, cam_b" in str(info.value)
    check_topology_cameras(cfg, ["cam_a", "cam_b", "hall"])  # no error once it is one
