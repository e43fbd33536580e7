"""Cross-camera association with a fake matcher: P(same) = 0.95 for equal colour codes, else 0.05."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from coded_tracklets import PoolsCodes

from pipeline.config import AssociationConfig
from pipeline.frames import SourceInfo
from pipeline.identities.online import OnlineAssociator
from pipeline.identities.scoring import EncodedTracklet, aggregate_pair_scores, logodds, tracklet_pair_score
from pipeline.identities.spacetime import motion_logodds
from pipeline.tracklets import Crop, Tracklet


def code_crop(code: int) -> np.ndarray:
    """A 1×1 'crop' carrying a colour code directly (read back by the fake matcher)."""
    return np.full((1, 1, 3), code, np.uint8)


def tracklet(cam: str, track_id: int, t0: float, t1: float, code: int | None, n_crops: int = 3) -> Tracklet:
    """A closed tracklet over ``[t0, t1]`` s at 10 fps whose crops all carry colour ``code``."""
    times = list(np.round(np.arange(t0, t1 + 1e-9, 0.1), 6))
    t = Tracklet(cam, track_id)
    t.frames = [round(x * 10) for x in times]
    t.times_s = [float(x) for x in times]
    t.boxes_xyxy = [(0.0, 0.0, 10.0, 30.0)] * len(times)
    t.scores = [0.9] * len(times)
    if code is not None:
        picks = np.linspace(0, len(times) - 1, n_crops).round().astype(int)
        t.crops = [Crop(t.frames[i], t.times_s[i], 0.9, code_crop(code)) for i in picks]
    return t


def linker(matcher, on_assign=None, cameras=None, **kwargs) -> OnlineAssociator:
    """A linker for rule tests: the config defaults, with a 0.5 threshold, a 10 s window and no
    look-alike margin, no calibration, no learned zones and crop pairs scored one by one (the
    tests read P off mixed crops) unless a test says otherwise; ``cameras``: ids of 1000 × 500 px
    views (frame sizes for motion and zones)."""
    cfg = dataclasses.replace(
        AssociationConfig(),
        **{
            "threshold": 0.5,
            "max_transition_s": 10.0,
            "min_margin_logodds": 0.0,
            "score_scale": 1.0,  # the fake matcher's P as it is (no calibration of the shipped head)
            "score_bias_logodds": 0.0,
            "same_camera_score_scale": 1.0,
            "same_camera_score_bias_logodds": 0.0,
            "zone_prior_links": None,  # no learned zones: each test sets its own evidence
            "crop_pooling": "pairs",
            **kwargs,
        },
    )
    views = {c: SourceInfo(c, f"{c}.mp4", "video", 10.0, 1000, 500, None) for c in cameras or ()}
    return OnlineAssociator.from_config(cfg, matcher=matcher, cameras=views, on_assign=on_assign)


def identities(link: OnlineAssociator) -> dict[int, list[tuple[str, int]]]:
    return {i.global_id: list(i.members) for i in link.finish()}


def test_same_person_across_cameras_is_linked(fake_matcher) -> None:
    link = linker(fake_matcher)
    [a] = link.add([tracklet("a", 1, 0.0, 2.0, code=1)])
    [b] = link.add([tracklet("b", 1, 3.0, 5.0, code=1)])
    assert a.new_identity and not b.new_identity
    assert b.global_id == a.global_id and b.score == pytest.approx(0.95)
    assert identities(link) == {1: [("a", 1), ("b", 1)]}


def test_scores_are_calibrated(fake_matcher) -> None:
    """P = sigmoid(scale · logit(0.95) + bias) is what the threshold sees and the event reports."""
    link = linker(fake_matcher, score_scale=0.5, score_bias_logodds=-1.0, threshold=0.6)
    link.add([tracklet("a", 1, 0.0, 2.0, code=1)])
    [b] = link.add([tracklet("b", 1, 3.0, 5.0, code=1)])
    expected = 1 / (1 + math.exp(-(0.5 * math.log(0.95 / 0.05) - 1.0)))  # 0.6233
    assert not b.new_identity and b.score == pytest.approx(expected, abs=1e-6)
    strict = linker(fake_matcher, score_scale=0.5, score_bias_logodds=-1.0, threshold=0.65)
    strict.add([tracklet("a", 1, 0.0, 2.0, code=1)])
    assert strict.add([tracklet("b", 1, 3.0, 5.0, code=1)])[0].new_identity


@pytest.mark.parametrize(
    ("cams", "same_cam_bias", "linked"),
    [
        (("a", "a"), 0.0, True),  # one camera, raw: 0.95 > 0.5
        (("a", "a"), -3.5, False),  # one camera, its own calibration: logit(0.95) - 3.5 < 0
        (("a", "b"), -3.5, True),  # two cameras: the one-camera calibration does not apply
    ],
)
def test_one_camera_pairs_use_their_own_calibration(
    fake_matcher, cams: tuple[str, str], same_cam_bias: float, linked: bool
) -> None:
    link = linker(fake_matcher, same_camera_score_bias_logodds=same_cam_bias)
    link.add([tracklet(cams[0], 1, 0.0, 2.0, code=1)])
    [b] = link.add([tracklet(cams[1], 2, 3.0, 5.0, code=1)])
    assert b.new_identity is not linked


def walker(track_id: int, t0: float, t1: float, x0: float, speed_px_s: float, y0: float = 200.0) -> Tracklet:
    """A tracklet of camera ``a`` (1000 × 500 px) walking right at ``speed_px_s``, boxes 100 px tall."""
    t = tracklet("a", track_id, t0, t1, code=1)
    t.boxes_xyxy = [
        (x0 + speed_px_s * (s - t0), y0, x0 + speed_px_s * (s - t0) + 40.0, y0 + 100.0) for s in t.times_s
    ]
    return t


@pytest.mark.parametrize(
    ("motion", "x0_after", "y0_after", "linked"),
    [
        (True, 350.0, 200.0, True),  # starts where the walk led, 0.5 s later: motion tips the weak look
        (False, 350.0, 200.0, False),  # the same without motion: appearance alone is below threshold
        (True, 900.0, 10.0, False),  # starts far from where it led: no support (never a penalty)
        (False, 900.0, 10.0, False),
    ],
)
def test_motion_supports_one_camera_continuations(
    fake_matcher, motion: bool, x0_after: float, y0_after: float, linked: bool
) -> None:
    """Appearance P = sigmoid(logit(0.95) − 3.5) = 0.36 < 0.5; found where its motion led (σ = 1 box
    height at a 0.5 s gap), the motion support of ~2 log-odds makes it 0.82."""
    link = linker(fake_matcher, cameras=["a"], same_camera_score_bias_logodds=-3.5, motion=motion)
    link.add([walker(1, 0.0, 2.0, 100.0, 100.0)])
    [b] = link.add([walker(2, 2.5, 4.0, x0_after, 100.0, y0=y0_after)])
    assert b.new_identity is not linked
    if linked:
        appearance = -3.5 + math.log(0.95 / 0.05)
        assert logodds(b.score) > appearance + 1.5  # the motion support was added


def crossing(
    cam: str, track_id: int, t0: float, t1: float, codes: list[int], start: str, end: str
) -> Tracklet:
    """A tracklet of a 1000 × 500 px view from the ``start`` border to the ``end`` border (``left``,
    ``right``, ``bottom``, ``in``: the middle), boxes 100 px tall, crops carrying ``codes``."""
    points = {"left": (2.0, 200.0), "right": (958.0, 200.0), "bottom": (480.0, 398.0), "in": (480.0, 200.0)}
    t = tracklet(cam, track_id, t0, t1, code=codes[0], n_crops=len(codes))
    (x0, y0), (x1, y1) = points[start], points[end]
    n = len(t.times_s)
    t.boxes_xyxy = [(x0 + (x1 - x0) * k / (n - 1), y0 + (y1 - y0) * k / (n - 1), 0.0, 0.0) for k in range(n)]
    t.boxes_xyxy = [(x, y, x + 40.0, y + 100.0) for x, y, _, _ in t.boxes_xyxy]
    t.crops = [
        dataclasses.replace(c, image_bgr=code_crop(code)) for c, code in zip(t.crops, codes, strict=True)
    ]
    return t


@pytest.mark.parametrize(
    ("zone_prior_links", "entry", "linked"),
    [
        (5.0, "left", True),  # enters cam b where every earlier link entered: the zones tip the even look
        (None, "left", False),  # the same without zones: P = 0.5 < 0.6
        (5.0, "bottom", False),  # enters where people were never linked from cam a: no help
    ],
)
def test_learned_zones_weigh_later_links(
    fake_matcher, zone_prior_links: float | None, entry: str, linked: bool
) -> None:
    """Six people leave cam a at its right border and enter cam b at its left border 2 s later
    (links at P 0.95); six others enter cam b from the bottom at the same moments (candidates, never
    linked). A seventh pair looks even (half its crop pairs match: P = 0.5 with every crop pair
    averaged)."""
    link = linker(
        fake_matcher,
        cameras=["a", "b"],
        threshold=0.6,
        top_pairs_fraction=1.0,
        motion=False,
        zone_prior_links=zone_prior_links,
    )
    for k in range(6):
        t0 = 10.0 * k
        link.add([crossing("a", 1 + k, t0, t0 + 3.0, [10 + k] * 4, "in", "right")])
        other = crossing("b", 100 + k, t0 + 5.0, t0 + 8.0, [30 + k] * 4, "bottom", "in")
        decisions = link.add([other, crossing("b", 1 + k, t0 + 5.0, t0 + 8.0, [10 + k] * 4, "left", "in")])
        [b] = [d for d in decisions if d.track_id == 1 + k]
        assert not b.new_identity  # the confident links the zones learn from
    link.add([crossing("a", 50, 70.0, 73.0, [50] * 4, "in", "right")])
    [b] = link.add([crossing("b", 50, 75.0, 78.0, [50, 50, 51, 51], entry, "in")])
    assert b.new_identity is not linked
    if zone_prior_links is None:
        assert b.new_identity  # appearance alone: exactly even


def test_different_people_get_different_identities(fake_matcher) -> None:
    link = linker(fake_matcher)
    link.add([tracklet("a", 1, 0.0, 2.0, code=1)])
    [b] = link.add([tracklet("b", 1, 3.0, 5.0, code=2)])
    assert b.new_identity and b.global_id == 2


def test_overlap_in_time_in_one_camera_is_never_linked(fake_matcher) -> None:
    """Same look, same camera, overlapping times: two people (e.g. twins), whatever the score."""
    link = linker(fake_matcher)
    link.add([tracklet("a", 1, 0.0, 2.0, code=1)])
    [b] = link.add([tracklet("a", 2, 1.5, 3.0, code=1)])
    assert b.new_identity


def test_one_shared_frame_in_one_camera_is_overlap(fake_matcher) -> None:
    """Two tracklets of one camera both boxed in one frame are two people (one id per frame)."""
    link = linker(fake_matcher)
    link.add([tracklet("a", 1, 0.0, 2.0, code=1)])
    [b] = link.add([tracklet("a", 2, 2.0, 3.0, code=1)])
    assert b.new_identity


def test_overlap_across_cameras_depends_on_overlapping_views(fake_matcher) -> None:
    disjoint = linker(fake_matcher, overlapping_views=False)
    disjoint.add([tracklet("a", 1, 0.0, 2.0, code=1)])
    assert disjoint.add([tracklet("b", 1, 1.0, 3.0, code=1)])[0].new_identity

    overlapping = linker(type(fake_matcher)(), overlapping_views=True)
    overlapping.add([tracklet("a", 1, 0.0, 2.0, code=1)])
    assert not overlapping.add([tracklet("b", 1, 1.0, 3.0, code=1)])[0].new_identity


def test_max_transition_time(fake_matcher) -> None:
    link = linker(fake_matcher, max_transition_s=5.0)
    link.add([tracklet("a", 1, 0.0, 2.0, code=1)])
    assert link.add([tracklet("b", 1, 7.5, 9.0, code=1)])[0].new_identity  # 5.5 s gap
    assert not link.add([tracklet("b", 2, 6.0, 7.0, code=1)])[0].new_identity  # 4 s gap


def test_min_transition_time_between_cameras(fake_matcher) -> None:
    link = linker(fake_matcher, min_transition_s=1.0)
    link.add([tracklet("a", 1, 0.0, 2.0, code=1)])
    assert link.add([tracklet("b", 1, 2.5, 4.0, code=1)])[0].new_identity  # 0.5 s: too fast
    assert not link.add([tracklet("c", 1, 3.5, 4.0, code=1)])[0].new_identity  # 1.5 s


def test_reentry_into_the_same_camera(fake_matcher) -> None:
    allowed = linker(fake_matcher, allow_reentry=True)
    allowed.add([tracklet("a", 1, 0.0, 2.0, code=1)])
    assert not allowed.add([tracklet("a", 2, 3.0, 4.0, code=1)])[0].new_identity  # fragment repaired

    forbidden = linker(type(fake_matcher)(), allow_reentry=False)
    forbidden.add([tracklet("a", 1, 0.0, 2.0, code=1)])
    assert forbidden.add([tracklet("a", 2, 3.0, 4.0, code=1)])[0].new_identity


def test_conflicting_members_never_merge_through_a_third(fake_matcher) -> None:
    """a1 and a2 overlap in camera a (two people); b1 looks like both but may join only one."""
    link = linker(fake_matcher)
    first = link.add([tracklet("a", 1, 0.0, 2.0, code=1), tracklet("a", 2, 0.5, 2.5, code=1)])
    assert {x.global_id for x in first} == {1, 2}
    [b] = link.add([tracklet("b", 1, 3.0, 4.0, code=1)])
    assert not b.new_identity
    ids = identities(link)
    for members in ids.values():
        cams = [m for m in members if m[0] == "a"]
        assert len(cams) <= 1, ids


def test_batch_is_decided_globally(fake_matcher) -> None:
    """Two tracklets closing together, two identities: each goes to its own look (Hungarian)."""
    link = linker(fake_matcher)
    link.add([tracklet("a", 1, 0.0, 2.0, code=1), tracklet("a", 2, 0.0, 2.0, code=2)])
    out = link.add([tracklet("b", 1, 3.0, 4.0, code=2), tracklet("b", 2, 3.0, 4.0, code=1)])
    by_track = {x.track_id: x.global_id for x in out}
    assert by_track == {1: 2, 2: 1}


def test_non_conflicting_tracklets_of_one_batch_can_share_a_new_identity(fake_matcher) -> None:
    link = linker(fake_matcher)
    out = link.add([tracklet("a", 1, 0.0, 1.0, code=3), tracklet("b", 1, 2.0, 3.0, code=3)])
    assert out[0].new_identity and not out[1].new_identity and out[0].global_id == out[1].global_id


def test_tracklet_without_crops_gets_its_own_identity(fake_matcher) -> None:
    link = linker(fake_matcher)
    link.add([tracklet("a", 1, 0.0, 2.0, code=1)])
    [b] = link.add([tracklet("b", 1, 3.0, 4.0, code=None)])
    assert b.new_identity and b.score is None


def test_disabled_gives_every_tracklet_a_new_identity() -> None:
    link = OnlineAssociator.from_config(AssociationConfig(), matcher=None, cameras={}, on_assign=None)
    out = link.add([tracklet("a", 1, 0.0, 2.0, code=1), tracklet("b", 1, 3.0, 4.0, code=1)])
    assert [x.global_id for x in out] == [1, 2]


def test_crops_are_encoded_once_and_freed(fake_matcher) -> None:
    link = linker(fake_matcher)
    t = tracklet("a", 1, 0.0, 2.0, code=1, n_crops=5)
    link.add([t])
    assert fake_matcher.encoded_crops == 5 and t.crops == []
    link.add([tracklet("b", 1, 3.0, 4.0, code=1, n_crops=5)])
    assert fake_matcher.encoded_crops == 10  # the first tracklet was not encoded again


def test_crop_pairs_are_limited(fake_matcher) -> None:
    link = linker(fake_matcher, crops_per_pair=2)
    link.add([tracklet("a", 1, 0.0, 2.0, code=1, n_crops=6)])
    link.add([tracklet("b", 1, 3.0, 4.0, code=1, n_crops=6)])
    assert fake_matcher.scored_pairs == 2 * (2 * 2)  # both orders of a 2 x 2 crop-pair matrix


def test_shortlist_limits_pair_head_calls(fake_matcher) -> None:
    link = linker(fake_matcher, shortlist_k=1, max_transition_s=100.0)
    link.add([tracklet("a", i, 3.0 * i, 3.0 * i + 1.0, code=1 + i % 2) for i in range(4)])
    before = fake_matcher.scored_pairs
    link.add([tracklet("b", 1, 20.0, 21.0, code=2)])
    assert fake_matcher.scored_pairs - before == 2 * 9  # one shortlisted tracklet, 3 x 3 crops, two orders


def test_eviction_frees_old_encodings(fake_matcher) -> None:
    link = linker(fake_matcher, max_transition_s=5.0)
    link.add([tracklet("a", 1, 0.0, 2.0, code=1)])
    assert link.evict_before(6.0) == 0
    assert link.evict_before(8.0) == 1
    [b] = link.add([tracklet("b", 1, 8.0, 9.0, code=1)])
    assert b.new_identity  # too late anyway, and its encodings are gone


def test_global_ids_are_per_instance(fake_matcher) -> None:
    one, two = linker(fake_matcher), linker(type(fake_matcher)())
    one.add([tracklet("a", 1, 0.0, 1.0, code=1), tracklet("a", 2, 0.0, 1.0, code=2)])
    assert two.add([tracklet("a", 1, 0.0, 1.0, code=1)])[0].global_id == 1


def test_on_assign_streams_each_decision(fake_matcher) -> None:
    seen = []
    link = linker(fake_matcher, on_assign=seen.append)
    link.add([tracklet("a", 1, 0.0, 2.0, code=1)])
    link.add([tracklet("b", 1, 3.0, 4.0, code=1)])
    assert [(s.cam_id, s.global_id, s.new_identity) for s in seen] == [("a", 1, True), ("b", 1, False)]
    assert seen[1].to_dict()["score"] == pytest.approx(0.95)


def test_a_tracklet_is_linked_only_once(fake_matcher) -> None:
    link = linker(fake_matcher)
    link.add([tracklet("a", 1, 0.0, 2.0, code=1)])
    with pytest.raises(ValueError, match="already linked"):
        link.add([tracklet("a", 1, 0.0, 2.0, code=1)])


@pytest.mark.parametrize(
    ("scores", "fraction", "expected"),
    [
        ([[0.9, 0.1], [0.7, 0.3]], 0.5, 0.820871),  # sigmoid of the mean log-odds of 0.9 and 0.7
        ([[0.9, 0.1], [0.7, 0.3]], 1.0, 0.5),
        ([[0.2]], 0.1, 0.2),
        ([[0.99999, 0.9999]], 1.0, 0.999968),  # saturated scores still rank
        ([[1.0, 0.0]], 1.0, 0.5),  # clipped, finite
    ],
)
def test_aggregate_pair_scores(scores, fraction: float, expected: float) -> None:
    assert aggregate_pair_scores(np.array(scores), fraction) == pytest.approx(expected, abs=1e-6)


def test_aggregate_of_nothing_is_nan() -> None:
    assert np.isnan(aggregate_pair_scores(np.zeros((0, 3)), 0.5))


def test_long_streams_stay_cheap(fake_matcher) -> None:
    """1,000 tracklets over ~45 minutes: old identities are skipped by the transition-time check,
    and old encodings are freed, so each link costs about the same as the first ones."""
    import time

    link = linker(fake_matcher, max_transition_s=10.0)
    start = time.perf_counter()
    for i in range(1000):
        t0 = 2.7 * i
        link.add([tracklet("a" if i % 2 else "b", i, t0, t0 + 1.0, code=1 + i % 5)])
        link.evict_before(t0)
    assert time.perf_counter() - start < 15.0
    assert sum(m.encoded is not None for m in link._members.values()) <= 6


def test_ambiguous_look_alikes_are_not_linked(fake_matcher) -> None:
    """Two earlier people look the same as the new tracklet: with a margin, no coin toss."""
    strict = linker(fake_matcher, min_margin_logodds=1.0)
    strict.add([tracklet("a", 1, 0.0, 1.0, code=1), tracklet("a", 2, 0.0, 1.0, code=1)])
    assert strict.add([tracklet("b", 1, 2.0, 3.0, code=1)])[0].new_identity

    lenient = linker(type(fake_matcher)(), min_margin_logodds=0.0)
    lenient.add([tracklet("a", 1, 0.0, 1.0, code=1), tracklet("a", 2, 0.0, 1.0, code=1)])
    assert not lenient.add([tracklet("b", 1, 2.0, 3.0, code=1)])[0].new_identity


def test_a_clear_winner_passes_the_margin(fake_matcher) -> None:
    link = linker(fake_matcher, min_margin_logodds=1.0)  # 0.95 vs 0.05: 5.9 log-odds apart
    link.add([tracklet("a", 1, 0.0, 1.0, code=1), tracklet("a", 2, 0.0, 1.0, code=2)])
    [b] = link.add([tracklet("b", 1, 2.0, 3.0, code=1)])
    assert not b.new_identity and b.global_id == 1


# -- the vectorised shortlist and batched scores decide exactly as the obvious loops ----------


class TableMatcher(PoolsCodes):
    """Crops carry a code (0..39); P(same) from a fixed random, asymmetric table; embeddings of
    codes that share ``code % 5`` are identical (exact cosine ties) plus a little per-code noise
    for the others."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.table = rng.random((40, 40)).astype(np.float32)
        base = rng.normal(size=(5, 6))
        noise = rng.normal(scale=0.3, size=(40, 6)) * (np.arange(40) >= 20)[:, None]
        emb = base[np.arange(40) % 5] + noise
        self.emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)

    def encode(self, crops):
        return np.array([int(c[0, 0, 0]) for c in crops], np.int64)

    def embed(self, enc):
        return self.emb[enc]

    def score(self, enc_a, enc_b):
        return self.table[np.ix_(enc_a, enc_b)]


class ObviousLinker(OnlineAssociator):
    """The same decisions computed the slow, obvious way: every identity and member in a Python
    loop, one cosine and one pair-head score per pair, eviction by a scan of all members."""

    def _shortlist(self, member):
        if member.embedding is None or member.encoded is None:
            return []
        candidates = []
        for gid in sorted(self._identities):
            if self._feasible(member, self._identities[gid]):
                candidates += [m for m in self._identities[gid].members if m.encoded is not None]
        cosine = np.array([float(member.embedding @ m.embedding) for m in candidates])
        return [candidates[i] for i in np.argsort(-cosine, kind="stable")[: self.shortlist_k]]

    def _score_pairs(self, pairs):
        for a, b in pairs:
            key = (a.key, b.key) if a.key <= b.key else (b.key, a.key)
            if key not in self._pair_cache:
                ea, eb = EncodedTracklet(a.encoded, a.embedding), EncodedTracklet(b.encoded, b.embedding)
                s = tracklet_pair_score(self.matcher, ea, eb, self.top_pairs_fraction)
                scale, bias = self.score_scale, self.score_bias_logodds
                if a.cam_id == b.cam_id and self.same_camera_calibration is not None:
                    scale, bias = self.same_camera_calibration
                if not math.isnan(s) and (scale != 1.0 or bias != 0.0 or self.motion):
                    w = scale * logodds(s) + bias
                    if a.cam_id == b.cam_id and self.motion:  # one camera: support by motion
                        first, second = sorted((a, b), key=lambda m: m.t_start_s)
                        w += motion_logodds(first.ends, second.ends)
                    s = 1.0 / (1.0 + math.exp(-w))
                self._pair_cache[key] = s

    def evict_before(self, t_s):
        if self.max_transition_s is None:
            return 0
        freed = 0
        for m in self._members.values():
            if m.encoded is not None and m.t_end_s < t_s - self.max_transition_s:
                m.encoded, m.embedding, freed = None, None, freed + 1
        return freed


def _random_stream(seed: int, n: int = 160) -> list[list[Tracklet]]:
    """Tracklets of 4 cameras grouped by close time (as the consumer calls ``add``), some without crops."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        t0 = round(float(rng.uniform(0, 120)), 1)
        t1 = round(t0 + float(rng.uniform(0.3, 8.0)), 1)
        t = tracklet(f"c{rng.integers(4)}", k, t0, t1, code=None)
        if rng.random() > 0.05:
            codes = rng.integers(0, 40, rng.integers(1, 6))
            t.crops = [Crop(t.frames[0], t0, 0.9, code_crop(int(c))) for c in codes]
        out.append(t)
    by_close: dict[float, list[Tracklet]] = {}
    for t in out:
        by_close.setdefault(round(t.t_end_s), []).append(t)
    return [by_close[k] for k in sorted(by_close)]


@pytest.mark.parametrize(
    "settings",
    [
        {},  # the test defaults (10 s window, threshold 0.5, no margin, no calibration)
        {
            "threshold": 0.3,
            "min_margin_logodds": 0.3,
            "shortlist_k": 3,
            "score_scale": 0.6,
            "score_bias_logodds": 0.4,
            "same_camera_score_scale": 0.7,
            "same_camera_score_bias_logodds": -0.5,
        },
        {"shortlist_k": 1, "max_transition_s": 30.0, "threshold": 0.2},
        {"allow_reentry": False, "threshold": 0.2, "shortlist_k": 4},
        {"overlapping_views": True, "min_transition_s": 1.0, "threshold": 0.25},
        {"overlapping_views": False, "min_transition_s": -0.5, "threshold": 0.25, "shortlist_k": 2},
        {"max_transition_s": None, "threshold": 0.3, "shortlist_k": 5},
        {"crops_per_pair": 2, "top_pairs_fraction": 1.0, "threshold": 0.35},
        {"crop_pooling": "mean", "threshold": 0.3, "shortlist_k": 4},  # the default: one row per tracklet
    ],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_decisions_equal_the_obvious_loops(settings: dict, seed: int) -> None:
    """Random streams with exact cosine ties and evictions: the same assignments, scores and ids."""
    fast = linker(TableMatcher(seed), **settings)
    slow = linker(TableMatcher(seed), **settings)
    slow.__class__ = ObviousLinker
    stream = _random_stream(seed)
    for i, group in enumerate(stream):
        later = [t.t_start_s for g in stream[i + 1 :] for t in g]
        copies = [dataclasses.replace(t, crops=list(t.crops)) for t in group]
        assert fast.add(group) == slow.add(copies)
        oldest = min(later, default=math.inf)
        if math.isfinite(oldest):
            assert fast.evict_before(oldest) == slow.evict_before(oldest)
    assert fast.finish() == slow.finish()
