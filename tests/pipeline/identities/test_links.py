"""The camera link model: place on the border and transit time learned from a run's own links."""

from __future__ import annotations

import pytest

from pipeline.identities.links import CameraLinkModel, border_offset_bin
from pipeline.identities.spacetime import Ends

WH = (640, 480)


def ends(cam: str, t0: float, t1: float, start: tuple[float, float], end: tuple[float, float],
         entry: str, exit_: str) -> Ends:  # fmt: skip
    return Ends(cam, t0, t1, start, end, 100, 100, (0, 0), (0, 0), entry, exit_, WH)


@pytest.mark.parametrize(
    ("a_end", "a_exit", "b_start", "b_entry", "expected"),
    [
        ((2, 240), "left", (3, 250), "left", 0),  # back where it left: 10 / 480
        ((2, 240), "left", (3, 340), "left", 3),  # 100 / 480 = 0.21 along the border: [0.2, 0.4)
        ((2, 100), "left", (3, 460), "left", 4),  # the other end of the border: >= 0.4
        ((638, 240), "right", (320, 2), "top", 0),  # right (y / h = 0.5) to top (x / w = 0.5)
        ((300, 240), "in", (3, 250), "left", -1),  # lost mid-view: no border evidence
        ((2, 240), "left", (300, 250), "in", -1),
    ],
)
def test_border_offset_bin(a_end: tuple, a_exit: str, b_start: tuple, b_entry: str, expected: int) -> None:
    a = ends("c", 0, 1, (300, 240), a_end, "in", a_exit)
    b = ends("c", 5, 6, b_start, (300, 240), b_entry, "in")
    assert border_offset_bin(a, b) == expected


def _pair(y_back: float, gap_s: float) -> tuple[Ends, Ends]:
    a = ends("c", 0, 1, (300, 240), (2, 240), "in", "left")
    return a, ends("c", 1 + gap_s, 3 + gap_s, (3, y_back), (300, 240), "left", "in")


def test_links_back_where_and_when_people_return_score_above_others() -> None:
    links = [_pair(245, 3.0)] * 20  # people come back by the left border where they left, ~3 s later
    candidates = links + [_pair(y, g) for y in (20, 150, 400, 470) for g in (0.3, 3.0, 20.0, 50.0)] * 5
    model = CameraLinkModel(links, candidates, prior_links=5.0)
    like = model.logodds(*_pair(250, 3.5))
    far = model.logodds(*_pair(460, 3.5))  # wrong place on the border
    late = model.logodds(*_pair(250, 40.0))  # wrong transit time
    assert like > 0 > far and like > late


@pytest.mark.parametrize("prior", [0.0, 5.0, 1e9])
def test_no_links_no_evidence(prior: float) -> None:
    candidates = [_pair(y, 3.0) for y in (20, 245, 400)]
    model = CameraLinkModel([], candidates, prior_links=prior)
    assert model.logodds(*_pair(245, 3.0)) == pytest.approx(0.0)


def test_a_strong_prior_keeps_the_evidence_small() -> None:
    links = [_pair(245, 3.0)] * 3
    candidates = links + [_pair(y, 20.0) for y in (20, 400)] * 10
    weak, strong = (CameraLinkModel(links, candidates, p).logodds(*_pair(245, 3.0)) for p in (1.0, 100.0))
    assert weak > strong > 0
