"""The report's data: identity cards, link margins and badges, transitions, unlinked and short tracklets."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pipeline.config import PipelineConfig, ReportConfig
from pipeline.export.report.data import link_margin_logodds, report_data, transitions
from pipeline.records import BoxRecord, CameraRecord, IdentityRecord, TrackletRecord, TracksFile

CAMS = (CameraRecord("a", "a.mp4", 10.0, 64, 48, 100), CameraRecord("b", "b.mp4", 10.0, 64, 48, 200))


def _t(cam: str, tid: int, t0: float, t1: float) -> TrackletRecord:
    boxes = (BoxRecord(round(t0 * 10), t0, (1.0, 1.0, 9.0, 20.0), 0.9),)
    return TrackletRecord(cam, tid, round(t0 * 10), round(t1 * 10), t0, t1, boxes)


def _tracks() -> TracksFile:
    return TracksFile(
        CAMS,
        (
            IdentityRecord(1, (_t("a", 1, 0.0, 3.0), _t("b", 1, 5.0, 9.0), _t("a", 2, 12.0, 14.0))),
            IdentityRecord(2, (_t("a", 3, 1.0, 1.5),)),
            IdentityRecord(3, (_t("a", 4, 2.0, 4.0), _t("b", 2, 8.0, 10.0))),
        ),
    )


@dataclasses.dataclass(frozen=True)
class _LinkedTracklet:
    """A record from a future schema that carries a ``link`` field (other engineers may add one)."""

    cam_id: str
    track_id: int
    start_frame: int
    end_frame: int
    t_start_s: float
    t_end_s: float
    boxes: tuple = ()
    link: Any = None


def test_cards_tracklets_and_lists() -> None:
    data = report_data(_tracks(), config=PipelineConfig())
    cards = {c["gid"]: c for c in data["identities"]}
    assert cards[1]["cams"] == ["a", "b"] and cards[2]["cams"] == ["a"]
    assert [(p["cam_id"], p["t_first_s"], p["t_last_s"]) for p in cards[1]["per_camera"]] == [
        ("a", 0.0, 14.0),
        ("b", 5.0, 9.0),
    ]
    rows = data["tracklets"]
    assert [rows[i]["track_id"] for i in cards[1]["tracklets"]] == [1, 1, 2]  # time order
    assert [rows[i]["gid"] for i in data["unlinked"]] == [2]
    assert [(rows[i]["cam_id"], rows[i]["track_id"]) for i in data["short"]] == [("a", 3)]  # 0.5 s < 1 s
    assert data["settings"]["duration_s"] == 20.0  # the longest camera (200 frames at 10 fps)
    assert [c["duration_s"] for c in data["cameras"]] == [10.0, 20.0]
    assert data["summary"] is None and data["config"] is None


def test_transitions_count_moves_and_median_transit() -> None:
    assert transitions(_tracks()) == [
        {"from": "a", "to": "b", "count": 2, "median_transit_s": 3.0},  # 5-3=2 and 8-4=4
        {"from": "b", "to": "a", "count": 1, "median_transit_s": 3.0},
    ]


@pytest.mark.parametrize(
    ("score", "threshold", "low"),
    [
        (0.99, 0.9, False),  # margin +2.4 log-odds
        (0.92, 0.9, True),  # margin +0.24 < 1.0
        (0.5, 0.5, True),  # margin 0
    ],
)
def test_low_margin_badge_from_run_links(score: float, threshold: float, low: bool) -> None:
    cfg = PipelineConfig()
    cfg = cfg.replace(association=dataclasses.replace(cfg.association, threshold=threshold))
    data = report_data(_tracks(), config=cfg, links={("b", 1): score, ("a", 1): None})
    rows = {(r["cam_id"], r["track_id"]): r for r in data["tracklets"]}
    assert rows[("a", 1)]["link"] is None  # started its identity
    link = rows[("b", 1)]["link"]
    assert link["score"] == score and link["low"] is low
    assert link["margin_logodds"] == pytest.approx(link_margin_logodds(score, threshold), abs=1e-3)
    assert data["identities"][0]["low_margin"] is low
    assert rows[("a", 2)]["link"] is None  # no score known: no badge, no crash


@pytest.mark.parametrize(
    ("link", "expected"),
    [(0.95, 0.95), ({"score": 0.97, "margin": 0.1}, 0.97), (None, None), ("junk", None), (True, None)],
)
def test_a_link_field_on_the_record_is_read_when_present(link: Any, expected: float | None) -> None:
    t = _LinkedTracklet("a", 9, 0, 10, 0.0, 1.0, (), link)
    data = report_data(TracksFile(CAMS, (IdentityRecord(5, (t,)),)), config=PipelineConfig())  # type: ignore[arg-type]
    got = data["tracklets"][0]["link"]
    assert (None if got is None else got["score"]) == expected


def test_report_settings_change_what_counts_as_short() -> None:
    cfg = PipelineConfig().replace(report=ReportConfig(short_tracklet_s=2.5))
    data = report_data(_tracks(), config=cfg)
    assert sorted(
        (data["tracklets"][i]["cam_id"], data["tracklets"][i]["track_id"]) for i in data["short"]
    ) == [
        ("a", 2),
        ("a", 3),
        ("a", 4),
        ("b", 2),
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("crops_per_camera", 0, "crops_per_camera"),
        ("jpeg_quality", 101, "jpeg_quality"),
        ("short_tracklet_s", -1.0, "short_tracklet_s"),
        ("cards_per_page", 0, "cards_per_page"),
        ("crop_height_px", 8, "crop_height_px"),
        ("low_margin_logodds", -0.5, "low_margin_logodds"),
    ],
)
def test_report_config_refuses_bad_values(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReportConfig(**{field: value})
