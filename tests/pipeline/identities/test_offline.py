"""Offline association with fake matchers: rules, global decisions, link scores."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pytest
from coded_tracklets import PoolsCodes

from pipeline.config import AssociationConfig
from pipeline.identities import ASSOCIATORS, Assignment
from pipeline.identities.offline import OfflineAssociator, average_linkage, chain_linking
from pipeline.tracklets import Crop, Tracklet


def code_crop(code: int) -> np.ndarray:
    return np.full((1, 1, 3), code, np.uint8)


def tracklet(
    cam: str, track_id: int, t0: float, t1: float, code: int | None, x: float = 100.0, vx: float = 0.0
) -> Tracklet:
    """A closed tracklet over ``[t0, t1]`` s at 10 fps, boxes 40×100 px starting at ``x``, moving
    ``vx`` px/s, crops carrying colour ``code``."""
    times = list(np.round(np.arange(t0, t1 + 1e-9, 0.1), 6))
    t = Tracklet(cam, track_id)
    t.frames = [round(v * 10) for v in times]
    t.times_s = [float(v) for v in times]
    t.boxes_xyxy = [(x + vx * (v - t0), 200.0, x + vx * (v - t0) + 40.0, 300.0) for v in times]
    t.scores = [0.9] * len(times)
    if code is not None:
        picks = np.linspace(0, len(times) - 1, 3).round().astype(int)
        t.crops = [Crop(t.frames[i], t.times_s[i], 0.9, code_crop(code)) for i in picks]
    return t


class TableMatcher(PoolsCodes):
    """P(same) = 0.95 for equal codes, ``table[{a, b}]`` for listed pairs, else 0.05."""

    def __init__(self, table: dict[frozenset[int], float] | None = None) -> None:
        self.table = table or {}

    def encode(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        return np.array([int(c[0, 0, 0]) for c in crops_bgr])

    def embed(self, enc: np.ndarray) -> np.ndarray:
        out = np.zeros((len(enc), 8), np.float32)
        out[np.arange(len(enc)), enc % 8] = 1.0
        return out

    def score(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.empty((len(a), len(b)), np.float32)
        for i, ca in enumerate(a.tolist()):
            for j, cb in enumerate(b.tolist()):
                out[i, j] = 0.95 if ca == cb else self.table.get(frozenset((ca, cb)), 0.05)
        return out


def associator(matcher=None, on_assign=None, evidence: str = "all", **kwargs) -> OfflineAssociator:  # type: ignore[no-untyped-def]
    """The config defaults with raw scores (no calibration), threshold 0.5, a 10 s window;
    ``evidence="appearance"`` leaves out motion and zones."""
    if "threshold" in kwargs:
        kwargs["offline_threshold"] = kwargs.pop("threshold")
    cfg = dataclasses.replace(
        AssociationConfig(),
        **{
            "offline_threshold": 0.5,
            "score_scale": 1.0,
            "score_bias_logodds": 0.0,
            "same_camera_score_scale": 1.0,
            "same_camera_score_bias_logodds": 0.0,
            "max_transition_s": 10.0,
            **kwargs,
        },
    )
    assoc = OfflineAssociator.from_config(
        cfg, matcher=matcher or TableMatcher(), cameras={}, on_assign=on_assign
    )
    if evidence == "appearance":
        assoc.motion, assoc.zone_prior_links = False, None
    return assoc


def run(assoc: OfflineAssociator, tracklets: list[Tracklet]) -> list[set[tuple[str, int]]]:
    for t in tracklets:
        assoc.add([t])
    return sorted((set(i.members) for i in assoc.finish()), key=lambda s: min(s))


def test_registered_under_offline() -> None:
    assert ASSOCIATORS.get("offline") is OfflineAssociator


@pytest.mark.parametrize(
    ("tracklets", "kwargs", "expected"),
    [
        # same look in two cameras, one after the other: one person
        ([("a", 1, 0, 2, 1), ("b", 1, 3, 5, 1)], {}, [{("a", 1), ("b", 1)}]),
        # different looks: two people
        ([("a", 1, 0, 2, 1), ("b", 1, 3, 5, 2)], {}, [{("a", 1)}, {("b", 1)}]),
        # one camera, overlapping in time (even by one frame): two people whatever the look
        ([("a", 1, 0, 2, 1), ("a", 2, 2, 3, 1)], {}, [{("a", 1)}, {("a", 2)}]),
        # two cameras at the same time: two people, unless views overlap
        ([("a", 1, 0, 2, 1), ("b", 1, 1, 3, 1)], {}, [{("a", 1)}, {("b", 1)}]),
        ([("a", 1, 0, 2, 1), ("b", 1, 1, 3, 1)], {"overlapping_views": True}, [{("a", 1), ("b", 1)}]),
        # a brief overlap is tolerated with a negative min_transition_s
        ([("a", 1, 0, 2, 1), ("b", 1, 1.8, 3, 1)], {"min_transition_s": -0.5}, [{("a", 1), ("b", 1)}]),
        # beyond max_transition_s
        ([("a", 1, 0, 2, 1), ("b", 1, 13, 15, 1)], {}, [{("a", 1)}, {("b", 1)}]),
        # under min_transition_s
        ([("a", 1, 0, 2, 1), ("b", 1, 2.5, 4, 1)], {"min_transition_s": 1.0}, [{("a", 1)}, {("b", 1)}]),
        # re-entry into one camera, and forbidding it
        ([("a", 1, 0, 2, 1), ("a", 2, 4, 5, 1)], {}, [{("a", 1), ("a", 2)}]),
        ([("a", 1, 0, 2, 1), ("a", 2, 4, 5, 1)], {"allow_reentry": False}, [{("a", 1)}, {("a", 2)}]),
        # linking off
        ([("a", 1, 0, 2, 1), ("b", 1, 3, 5, 1)], {"enabled": False}, [{("a", 1)}, {("b", 1)}]),
    ],
)
def test_rules(tracklets: list[tuple], kwargs: dict, expected: list[set]) -> None:
    got = run(associator(None, **kwargs), [tracklet(*t) for t in tracklets])
    assert got == expected


def test_two_people_are_never_merged_through_a_third() -> None:
    """A and B overlap in camera a (two people); C looks like both: it joins one of them only."""
    got = run(associator(), [tracklet("a", 1, 0, 2, 1), tracklet("a", 2, 1, 3, 1), tracklet("b", 1, 4, 5, 1)])
    assert len(got) == 2 and {("a", 1), ("a", 2)} not in [g & {("a", 1), ("a", 2)} for g in got]


def test_a_look_alike_is_outvoted_by_the_other_members() -> None:
    """Person P seen in three cameras (codes 1, 3, 4: views that the head knows match); a
    look-alike (code 2) scores 0.9 with one view of P, 0.05 with the two others."""
    table = {frozenset(p): v for p, v in [((1, 3), 0.95), ((1, 4), 0.95), ((3, 4), 0.95), ((1, 2), 0.9)]}
    tracks = [
        tracklet("a", 1, 0, 2, 1),
        tracklet("b", 1, 3, 5, 3),
        tracklet("c", 1, 6, 8, 4),
        tracklet("d", 1, 9, 10, 2),
    ]
    got = run(associator(TableMatcher(table), evidence="appearance"), tracks)
    assert got == [{("a", 1), ("b", 1), ("c", 1)}, {("d", 1)}]


def test_link_scores_and_margins_are_reported() -> None:
    events: list[Assignment] = []
    matcher = TableMatcher({frozenset((1, 2)): 0.6})
    assoc = associator(matcher, on_assign=events.append, evidence="appearance", threshold=0.7)
    for t in [tracklet("a", 1, 0, 2, 1), tracklet("b", 1, 3, 5, 1), tracklet("b", 2, 6, 7, 2)]:
        assoc.add([t])
    identities = assoc.finish()
    assert [i.members for i in identities] == [(("a", 1), ("b", 1)), (("b", 2),)]
    first = identities[0].links
    assert first[0] is not None and first[0].score == pytest.approx(0.95)
    # b/1 could also have joined b/2's identity (0.6): margin logit(.95) − logit(.6)
    assert first[1] is not None and first[1].margin_logodds == pytest.approx(2.944 - 0.405, abs=1e-3)
    assert identities[1].links == (None,)
    assert [(e.cam_id, e.track_id, e.global_id, e.new_identity) for e in events] == [
        ("a", 1, 1, True),
        ("b", 1, 1, False),
        ("b", 2, 2, True),
    ]


def test_pair_probability_after_finish() -> None:
    assoc = associator()
    run(assoc, [tracklet("a", 1, 0, 2, 1), tracklet("a", 2, 1, 3, 1), tracklet("b", 1, 4, 5, 2)])
    assert assoc.pair_probability(("a", 1), ("a", 2)) == 0.0  # cannot-link
    assert assoc.pair_probability(("a", 1), ("b", 1)) == pytest.approx(0.05, abs=1e-6)


def test_crops_are_freed_and_nothing_is_decided_before_finish() -> None:
    assoc = associator()
    t = tracklet("a", 1, 0, 2, 1)
    assert assoc.add([t]) == [] and t.crops == []
    with pytest.raises(ValueError, match="already added"):
        assoc.add([tracklet("a", 1, 0, 2, 1)])


def test_motion_joins_a_track_lost_mid_view() -> None:
    """Two looks that the head calls uncertain (0.5), but the second starts where the first was heading."""
    matcher = TableMatcher({frozenset((1, 2)): 0.5})
    lost = [tracklet("a", 1, 0, 2, 1, x=100, vx=50), tracklet("a", 2, 2.3, 4, 2, x=215, vx=50)]
    assert run(associator(matcher, threshold=0.6), lost) == [{("a", 1), ("a", 2)}]
    far = [tracklet("a", 1, 0, 2, 1, x=100, vx=50), tracklet("a", 2, 2.3, 4, 2, x=500, vx=50)]
    assert run(associator(matcher, threshold=0.6), far) == [{("a", 1)}, {("a", 2)}]


@pytest.mark.parametrize(
    ("weights", "cannot", "expected"),
    [
        ([[np.nan, 2.0], [2.0, np.nan]], [[0, 0], [0, 0]], [[0, 1]]),
        ([[np.nan, 2.0], [2.0, np.nan]], [[0, 1], [1, 0]], [[0], [1]]),
        ([[np.nan, -1.0], [-1.0, np.nan]], [[0, 0], [0, 0]], [[0], [1]]),
        ([[np.nan, np.nan], [np.nan, np.nan]], [[0, 0], [0, 0]], [[0], [1]]),  # no evidence: no link
    ],
)
def test_linkages_small_cases(weights: list, cannot: list, expected: list) -> None:
    w, c = np.array(weights, float), np.array(cannot, bool)
    assert average_linkage(w, c, 0.0)[0] == expected
    assert chain_linking(w, c, np.arange(len(w)), 0.0)[0] == expected


def test_chain_linking_cuts_a_chain_whose_ends_conflict() -> None:
    w = np.array([[np.nan, 3.0, np.nan], [3.0, np.nan, 1.0], [np.nan, 1.0, np.nan]])
    cannot = np.array([[0, 0, 1], [0, 0, 0], [1, 0, 0]], bool)
    assert chain_linking(w, cannot, np.arange(3), 0.0)[0] == [[0, 1], [2]]


def test_unknown_linkage_is_an_error() -> None:
    with pytest.raises(ValueError, match="linkage"):
        OfflineAssociator(
            TableMatcher(), enabled=True, threshold=0.5, score_scale=1.0, score_bias_logodds=0.0,
            same_camera_score_scale=1.0, same_camera_score_bias_logodds=0.0, overlapping_views=False,
            max_transition_s=None, min_transition_s=0.0, allow_reentry=True, zone_prior_links=None,
            shortlist_k=10, crops_per_pair=4, top_pairs_fraction=0.5, crop_pooling="pairs", on_assign=None,
            linkage="single",
        )  # fmt: skip


@pytest.mark.parametrize(
    ("cams", "same_cam_bias", "linked"),
    [
        (("a", "a"), 0.0, True),  # one camera, raw scores: 0.8 > 0.5
        (("a", "a"), -3.0, False),  # one camera, its own calibration: logit(0.8) - 3 < 0
        (("a", "b"), -3.0, True),  # two cameras: the one-camera calibration does not apply
    ],
)
def test_one_camera_pairs_use_their_own_calibration(
    cams: tuple[str, str], same_cam_bias: float, linked: bool
) -> None:
    matcher = TableMatcher({frozenset((1, 2)): 0.8})
    first, second = tracklet(cams[0], 1, 0.0, 1.0, 1), tracklet(cams[1], 2, 3.0, 4.0, 2, x=400.0)
    assoc = associator(matcher, evidence="appearance", same_camera_score_bias_logodds=same_cam_bias)
    groups = run(assoc, [first, second])
    assert (len(groups) == 1) is linked


@pytest.mark.parametrize(
    ("method", "live", "expected"),
    [
        ("auto", [False, False], "offline"),  # files / frame folders: all tracklets known at the end
        ("auto", [False, True], "online"),  # one stream: decisions as tracklets close
        ("auto", [], "offline"),
        ("online", [False], "online"),  # an explicit choice stands
        ("offline", [True], "offline"),
        ("magic", [False], "magic"),  # unknown names reach the registry, which names the valid ones
    ],
)
def test_resolve_method(method: str, live: list[bool], expected: str) -> None:
    from pipeline.identities import resolve_method

    assert resolve_method(method, live) == expected


@pytest.mark.parametrize(
    ("key", "value"), [("offline_threshold", 0.0), ("offline_threshold", 1.0), ("zone_prior_links", -1.0)]
)
def test_offline_knobs_out_of_range_are_config_errors(key: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"association.{key}"):
        AssociationConfig(**{key: value})
