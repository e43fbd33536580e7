"""benchmarks/association_simulation.py's SimMatcher (tracklet looks, known negatives) and
benchmarks/tracklet_looks.py's variance share."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import association_simulation as sim  # noqa: E402
import tracklet_looks as looks  # noqa: E402

PEOPLE = np.arange(300)  # one tracklet per person: every pair is two people


def _logit(matcher: sim.SimMatcher) -> np.ndarray:
    p = np.clip(matcher.prob, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


@pytest.mark.parametrize("share", [0.0, 0.2, 0.5])
def test_the_look_share_is_drawn_as_asked_and_measured_back(share: float) -> None:
    matcher = sim.SimMatcher(PEOPLE, np.random.default_rng(0), (2.0, 2.0), (-3.0, 2.0), tracklet_share=share)
    x = _logit(matcher)
    np.fill_diagonal(x, np.nan)
    measured, pairs = looks.look_share([x])
    assert pairs == 300 * 299 // 2
    assert measured == pytest.approx(share, abs=0.05)


def test_without_a_look_share_the_earlier_draws_come_back() -> None:
    """The look is drawn last: the other draws and the embedding are those of earlier versions."""
    a = sim.SimMatcher(PEOPLE[:20], np.random.default_rng(1), (2.0, 2.0), (-3.0, 2.0), tracklet_share=0.0)
    b = sim.SimMatcher(PEOPLE[:20], np.random.default_rng(1), (2.0, 2.0), (-3.0, 2.0), tracklet_share=0.3)
    assert np.array_equal(a.embedding, b.embedding) and not np.array_equal(a.prob, b.prob)


@pytest.mark.parametrize("share", [-0.1, 0.8])
def test_a_look_share_beyond_the_variance_left_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="tracklet_share"):
        sim.SimMatcher(PEOPLE[:5], np.random.default_rng(0), (2.0, 2.0), (-3.0, 2.0), tracklet_share=share)


def test_known_negatives_draw_from_their_own_distribution() -> None:
    """Two tracklets of different people sharing a moment: one camera from the one-camera known
    negatives, two cameras from the two-camera ones; apart in time: the ordinary negatives."""
    n = 400
    cams = ["a" if k % 2 else "b" for k in range(n)]
    spans = [(0.0, 1.0) if k < n // 2 else (5.0 + k, 5.5 + k) for k in range(n)]
    matcher = sim.SimMatcher(
        np.arange(n), np.random.default_rng(0), (2.0, 1.0), (-3.0, 1.0),
        cams=cams, pos_same_cam=None, neg_same_cam=None, tracklet_share=0.0,
        spans_s=spans, neg_concurrent=(-8.0, 1.0), neg_concurrent_same_cam=(6.0, 1.0),
    )  # fmt: skip
    x = _logit(matcher)
    c = np.asarray(cams)
    early = np.arange(n) < n // 2
    together = early[:, None] & early[None, :] & ~np.eye(n, dtype=bool)
    one_cam = c[:, None] == c[None, :]
    assert np.mean(x[together & one_cam]) == pytest.approx(6.0, abs=0.2)
    assert np.mean(x[together & ~one_cam]) == pytest.approx(-8.0, abs=0.2)
    apart = ~early[:, None] & ~early[None, :] & ~np.eye(n, dtype=bool)
    assert np.mean(x[apart]) == pytest.approx(-3.0, abs=0.2)


def test_look_share_of_pure_noise_is_near_zero_and_of_nothing_nan() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 200))
    x = (x + x.T) / 2
    np.fill_diagonal(x, np.nan)
    assert abs(looks.look_share([x])[0]) < 0.05
    assert np.isnan(looks.look_share([np.full((3, 3), np.nan)])[0])
