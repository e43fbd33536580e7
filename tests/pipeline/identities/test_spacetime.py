import math

import numpy as np
import pytest

from pipeline.identities.calibration import fit_platt
from pipeline.identities.spacetime import Ends, ZoneModel, border_zone, motion_logodds, tracklet_ends

WH = (640, 480)


def ends(cam: str, t0: float, t1: float, x0: float, x1: float, entry: str = "in", exit_: str = "in") -> Ends:
    return Ends(cam, t0, t1, (x0, 250), (x1, 250), 100, 100, (0, 0), (0, 0), entry, exit_, WH)


@pytest.mark.parametrize(
    ("box", "zone"),
    [
        ((0, 100, 40, 200), "left"),
        ((600, 100, 639, 200), "right"),
        ((300, 0, 340, 100), "top"),
        ((300, 380, 340, 479), "bottom"),
        ((300, 100, 340, 200), "in"),
        ((1, 1, 40, 200), "left"),  # two borders: the nearest (left 1/640 < top 1/480)
    ],
)
def test_border_zone(box: tuple, zone: str) -> None:
    assert border_zone(box, WH) == zone


def test_tracklet_ends_velocity_and_zones() -> None:
    times = np.arange(0, 2.01, 0.1)
    boxes = [(100 + 50 * t, 200, 140 + 50 * t, 300) for t in times]
    e = tracklet_ends("a", times, boxes, WH)
    assert e.v_end == pytest.approx((50.0, 0.0)) and e.v_start == pytest.approx((50.0, 0.0))
    assert (e.entry_zone, e.exit_zone, e.start_h) == ("in", "in", 100.0)
    with pytest.raises(ValueError, match="without boxes"):
        tracklet_ends("a", [], [], WH)


@pytest.mark.parametrize(
    ("a", "b", "positive"),
    [
        (ends("a", 0, 1, 0, 300), ends("a", 1.2, 2, 305, 400), True),  # found where it was lost
        (ends("a", 0, 1, 0, 300), ends("a", 1.2, 2, 600, 600), False),  # far away, soon after
        (ends("a", 0, 1, 0, 300), ends("b", 1.2, 2, 305, 400), False),  # another camera: no motion evidence
        (ends("a", 0, 1, 0, 300), ends("a", 0.5, 2, 305, 400), False),  # overlapping: not a continuation
    ],
)
def test_motion_logodds(a: Ends, b: Ends, positive: bool) -> None:
    value = motion_logodds(a, b)
    assert value >= 0 and (value > 0) == positive


def test_motion_support_fades_with_the_gap() -> None:
    a = ends("a", 0, 1, 0, 300)
    near = [motion_logodds(a, ends("a", 1 + gap, 3 + gap, 310, 400)) for gap in (0.2, 0.8, 30.0)]
    assert near[0] > near[1] > near[2] == 0.0


def test_zone_model_learns_which_exit_leads_where() -> None:
    hand_over = (ends("a", 0, 1, 0, 630, exit_="right"), ends("b", 1.5, 3, 5, 300, entry="left"))
    other = (ends("a", 0, 1, 0, 300, exit_="in"), ends("b", 1.5, 3, 5, 300, entry="top"))
    candidates = [hand_over] * 10 + [other] * 10
    model = ZoneModel([hand_over] * 20, candidates, prior_links=5)
    assert model.logodds(*hand_over) > 0 > model.logodds(*other)
    nothing_learned = ZoneModel([], candidates, prior_links=5)
    assert nothing_learned.logodds(*hand_over) == pytest.approx(0.0)
    assert nothing_learned.logodds(*other) == pytest.approx(0.0)


def test_zone_model_learnt_as_it_goes_equals_one_learnt_at_once() -> None:
    """``add_candidate`` / ``add_link`` one pair at a time (the online linker) = the batch model."""
    hand_over = (ends("a", 0, 1, 0, 630, exit_="right"), ends("b", 1.5, 3, 5, 300, entry="left"))
    other = (ends("a", 0, 1, 0, 300, exit_="in"), ends("b", 9.5, 11, 5, 300, entry="top"))
    candidates = [hand_over] * 7 + [other] * 4
    links = [hand_over] * 5 + [other]
    batch = ZoneModel(links, candidates, prior_links=5)
    growing = ZoneModel([], [], prior_links=5)
    assert growing.logodds(*hand_over) == 0.0  # nothing seen yet
    for pair in candidates:
        growing.add_candidate(*pair)
    for pair in links:
        growing.add_link(*pair)
    for pair in (hand_over, other):
        assert growing.logodds(*pair) == pytest.approx(batch.logodds(*pair), abs=1e-12)


def test_platt_recovers_a_known_map() -> None:
    rng = np.random.default_rng(0)
    w_true = rng.normal(-2.0, 2.0, 4000)  # log-odds of P(same)
    labels = rng.random(4000) < 1 / (1 + np.exp(-w_true))
    raw = 1 / (1 + np.exp(-(w_true + 2.0) / 0.5))  # the head: logit(s) = (w + 2) / 0.5
    scale, bias = fit_platt(raw, labels)
    assert scale == pytest.approx(0.5, abs=0.08) and bias == pytest.approx(-2.0, abs=0.25)


@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [
        ([0.1, 0.2], [True], "differ in length"),
        ([0.1, 0.2], [True, True], "both"),
        ([0.1, 0.2], [False, False], "both"),
    ],
)
def test_platt_errors(scores: list, labels: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_platt(np.array(scores), np.array(labels, bool))


def test_platt_is_finite_when_classes_separate() -> None:
    scale, bias = fit_platt(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1], bool))
    assert math.isfinite(scale) and math.isfinite(bias) and scale > 0
