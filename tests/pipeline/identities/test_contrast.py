"""Contrast with each tracklet's known negatives: the pairs, the references, both associators, bad configs."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from coded_tracklets import PoolsCodes, coded_tracklet

from infra.errors import ConfigError
from pipeline.config import AssociationConfig, load_config
from pipeline.identities.contrast import NegativeContrast, contrast_pairs, negatives_of
from pipeline.identities.offline import OfflineAssociator
from pipeline.identities.online import OnlineAssociator
from pipeline.identities.spacetime import PairRule, Topology
from pipeline.tracklets import Tracklet

APART = Topology(PairRule(True, 0.0, 60.0, False))  # views do not overlap
OVERLAPPING = Topology(PairRule(True, 0.0, 60.0, True))


@pytest.mark.parametrize(
    ("rules", "k", "skip", "expected"),
    [
        # camera a at 0-2 s; listed: a 1-3 (1 s together), b 1.5-4 (0.5 s), b 0-2 (2 s), a 9-10 (apart)
        (APART, 1, None, [0, 2]),  # the one sharing most time per camera
        (APART, 2, None, [0, 1, 2]),
        (OVERLAPPING, 2, None, [0]),  # overlapping views: another camera may see the same person
        (APART, 2, 2, [0, 1]),  # the tracklet's own row is skipped
    ],
)
def test_negatives_of(rules: Topology, k: int, skip: int | None, expected: list[int]) -> None:
    cams, starts, ends = ["a", "b", "b", "a"], [1.0, 1.5, 0.0, 9.0], [3.0, 4.0, 2.0, 10.0]
    assert negatives_of("a", 0.0, 2.0, cams, starts, ends, rules, k, skip=skip) == expected


@pytest.mark.parametrize(
    ("rules", "k", "expected"),
    [
        (APART, 1, [(0, 1), (0, 2), (1, 2)]),
        (APART, 5, [(0, 1), (0, 2), (1, 2)]),
        (OVERLAPPING, 5, [(0, 1)]),
    ],
)
def test_contrast_pairs(rules: Topology, k: int, expected: list[tuple[int, int]]) -> None:
    assert contrast_pairs(["a", "a", "b", "a"], [0, 1, 1.5, 9], [2, 3, 4, 10], rules, k) == expected


def _contrast(prior: float = 0.0) -> NegativeContrast:
    """Tracklet ``h`` (camera a) scores 3 with both its negatives in b, ``s`` (camera a) −5;
    ``t`` (camera c) has negatives in a only; the run's cross-camera mean is −1."""
    c = NegativeContrast(-3.0, 0.0, 8, prior)
    c.add([("h", "x", "a", "b", 3.0), ("h", "y", "a", "b", 3.0)])
    c.add([("s", "x", "a", "b", -5.0), ("s", "y", "a", "b", -5.0)])
    c.add([("t", "w", "c", "a", -1.0), ("x", "y", "b", "b", float("nan"))])
    return c


@pytest.mark.parametrize(
    ("prior", "key", "cam", "other", "expected"),
    [
        (0.0, "h", "a", "b", 3.0),  # its own negatives in the candidate's camera
        (0.0, "s", "a", "b", -5.0),
        (2.0, "h", "a", "b", (6.0 + 2 * -1.0) / 4),  # shrunk towards the run's mean (-1)
        (0.0, "t", "c", "b", -1.0),  # none in b: those of any other camera
        (0.0, "u", "a", "b", -1.0),  # nothing of its own: the run's mean of the kind
        (0.0, "u", "a", "a", 0.0),  # no one-camera negative in the run: the reference
    ],
)
def test_reference_of(prior: float, key: str, cam: str, other: str, expected: float) -> None:
    assert _contrast(prior).reference_of(key, cam, other) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (("h", "a"), ("v", "b"), 2.0 - (0.5 * (3.0 - 1.0) + 3.0)),  # a hub: lowered
        (("s", "a"), ("v", "b"), 2.0),  # a distinctive one: never raised
        (("s", "a"), ("h", "a"), 2.0),  # one camera, no one-camera negative: the reference, as is
    ],
)
def test_adjust_only_lowers(a: tuple[str, str], b: tuple[str, str], expected: float) -> None:
    assert _contrast().adjust(2.0, a[0], a[1], b[0], b[1]) == pytest.approx(expected)


def test_forget_and_describe() -> None:
    c = _contrast()
    assert "cross-camera 5 negatives, mean -1.00 (reference -3.00)" in c.describe()
    c.forget("h")
    assert c.reference_of("h", "a", "b") == pytest.approx(-1.0)  # the run's mean stays


def test_score_finds_scores_and_adds_the_pairs() -> None:
    c = NegativeContrast(-3.0, 0.0, 8, 0.0)
    calls: list[list[tuple[int, int]]] = []

    def head(pairs: list[tuple[int, int]]) -> list[float]:
        calls.append(pairs)
        return [float(i + j) for i, j in pairs]

    n = c.score(["p", "q", "r"], ["a", "a", "b"], [0.0, 1.0, 9.0], [2.0, 3.0, 10.0], APART, head)
    assert n == 1 and calls == [[(0, 1)]]
    assert c.reference_of("p", "a", "a") == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"max_per_camera": 0}, "max_per_camera"), ({"prior_negatives": -1.0}, "prior_negatives")],
)
def test_contrast_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    args = {
        "cross_camera_reference_logodds": -3.0,
        "same_camera_reference_logodds": 0.0,
        "max_per_camera": 4,
        "prior_negatives": 3.0,
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        NegativeContrast(**args)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("association:\n  contrast_max_negatives: 0\n", "association.contrast_max_negatives must be >= 1"),
        (
            "association:\n  contrast_prior_negatives: -1\n",
            "association.contrast_prior_negatives must be >= 0",
        ),
        (
            "association:\n  contrast: true\n  adaptive_calibration: true\n",
            "association.contrast and association.adaptive_calibration",
        ),
        ("association:\n  contrast: sometimes\n", "association.contrast"),
    ],
)
def test_bad_contrast_config_is_a_one_line_error(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "my.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and needle in message and "\n" not in message


def test_config_builds_the_contrast_only_when_asked() -> None:
    assert NegativeContrast.from_config(AssociationConfig()) is None
    cfg = dataclasses.replace(AssociationConfig(), contrast=True)
    c = NegativeContrast.from_config(cfg)
    assert c is not None and c.prior_negatives == cfg.contrast_prior_negatives
    assert c.references == {False: cfg.negative_q50_logodds, True: cfg.same_camera_negative_q50_logodds}


# ---------------------------------------------------------------- both associators, end to end

HUB = 9


class HubMatcher(PoolsCodes):
    """Crops carry a person code. One code: P 0.9999; the hub (code 9, a dark, blurred tracklet)
    with anybody: 0.95; any other two people: 0.05."""

    def encode(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        return np.array([int(c[0, 0, 0]) for c in crops_bgr])

    def embed(self, enc: np.ndarray) -> np.ndarray:
        return np.full((len(enc), 4), 0.5, np.float32)

    def score(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.full((len(a), len(b)), 0.05, np.float32)
        for i, ca in enumerate(a.tolist()):
            for j, cb in enumerate(b.tolist()):
                if ca == cb:
                    out[i, j] = 0.9999
                elif HUB in (ca, cb):
                    out[i, j] = 0.95
        return out


def _scene() -> list[Tracklet]:
    """Camera a: person 1 and the hub at 0–4 s; camera b: people 5 and 6 at 0–4 s (known
    negatives of both), then person 1 and a stranger, 7, at 6–8 s."""
    return [
        coded_tracklet("a", 1, 0, 4, 1),
        coded_tracklet("a", 2, 0, 4, HUB),
        coded_tracklet("b", 1, 0, 4, 5),
        coded_tracklet("b", 2, 0, 4, 6),
        coded_tracklet("b", 3, 6, 8, 1),
        coded_tracklet("b", 4, 6, 8, 7),
    ]


def _links(method: str, contrast: bool) -> set[frozenset[tuple[str, int]]]:
    cfg = dataclasses.replace(
        AssociationConfig(),
        contrast=contrast,
        min_margin_logodds=0.0,
        offline_threshold=0.24,
        zone_prior_links=None,
        score_scale=0.62,  # a calibration and threshold under which the hub's 0.95 passes
        score_bias_logodds=-2.92,
        threshold=0.2,
    )
    cls = OnlineAssociator if method == "online" else OfflineAssociator
    assoc = cls.from_config(cfg, matcher=HubMatcher(), cameras={}, on_assign=None)
    if isinstance(assoc, OfflineAssociator):
        assoc.motion = False
    tracklets = _scene()
    for batch in (tracklets[:4], tracklets[4:]):  # closing order
        assoc.add([dataclasses.replace(t, crops=list(t.crops)) for t in batch])
    return {frozenset(i.members) for i in assoc.finish() if len(i.members) > 1}


@pytest.mark.parametrize(
    ("method", "contrast", "expected"),
    [
        # the hub's 0.95 with the stranger passes the calibrated threshold: a wrong link
        ("online", False, {frozenset({("a", 1), ("b", 3)}), frozenset({("a", 2), ("b", 4)})}),
        ("offline", False, {frozenset({("a", 1), ("b", 3)}), frozenset({("a", 2), ("b", 4)})}),
        # contrasted with its known negatives (it scores 0.95 with b's 5 and 6 too): only person 1
        ("online", True, {frozenset({("a", 1), ("b", 3)})}),
        ("offline", True, {frozenset({("a", 1), ("b", 3)})}),
    ],
)
def test_a_hub_does_not_link_to_a_stranger(method: str, contrast: bool, expected: set) -> None:
    assert _links(method, contrast) == expected


@pytest.mark.parametrize("method", ["online", "offline"])
def test_the_contrast_is_logged_when_the_input_ends(method: str, caplog: pytest.LogCaptureFixture) -> None:
    cfg = dataclasses.replace(AssociationConfig(), contrast=True)
    cls = OnlineAssociator if method == "online" else OfflineAssociator
    assoc = cls.from_config(cfg, matcher=HubMatcher(), cameras={}, on_assign=None)
    assoc.add([dataclasses.replace(t, crops=list(t.crops)) for t in _scene()])
    with caplog.at_level("INFO", logger="pipeline"):
        assoc.finish()
    assert "contrast with known negatives: cross-camera 4 negatives" in caplog.text
