"""pipeline.export.interpolation: which gaps are filled, how, and what the records say about it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.export.interpolation import count_interpolated, interpolate_tracks
from pipeline.export.tracks_json import read_tracks_json, write_tracks_json
from pipeline.records import BoxRecord, CameraRecord, IdentityRecord, TrackletRecord, TracksFile, to_mot_rows

FPS = 10.0
W, H = 640, 480
MID = (300.0, 200.0, 340.0, 300.0)  # a box well inside the 640x480 view
LEFT = (0.0, 200.0, 40.0, 300.0)  # touching the left border
RIGHT = (600.0, 200.0, 640.0, 300.0)  # touching the right border


def _box(frame: int, xyxy=MID, score: float | None = 0.9) -> BoxRecord:
    return BoxRecord(frame, frame / FPS, tuple(float(v) for v in xyxy), score)  # type: ignore[arg-type]


def _tracklet(track_id: int, boxes: list[BoxRecord], cam: str = "a") -> TrackletRecord:
    return TrackletRecord(
        cam, track_id, boxes[0].frame, boxes[-1].frame, boxes[0].time_s, boxes[-1].time_s, tuple(boxes)
    )


def _tracks(*identities: tuple[TrackletRecord, ...], width: int | None = W) -> TracksFile:
    cams = tuple(
        CameraRecord(c, f"{c}.mp4", FPS, width, None if width is None else H, 100) for c in ("a", "b")
    )
    return TracksFile(cams, tuple(IdentityRecord(n + 1, ts) for n, ts in enumerate(identities)))


def _frames(tracks: TracksFile, identity: int = 0) -> list[list[int]]:
    return [[b.frame for b in t.boxes] for t in tracks.identities[identity].tracklets]


# (case, tracklets of one identity, max_gap_s, frames of each tracklet afterwards)
CASES = [
    ("gap inside a tracklet, mid-view", [[_box(0), _box(4)]], 1.0, [[0, 1, 2, 3, 4]]),
    ("gap between two tracklets", [[_box(0), _box(1)], [_box(5), _box(6)]], 1.0, [[0, 1, 2, 3, 4], [5, 6]]),
    ("gap longer than max_gap_s", [[_box(0)], [_box(12)]], 1.0, [[0], [12]]),
    ("gap of exactly max_gap_s", [[_box(0)], [_box(10)]], 1.0, [list(range(10)), [10]]),
    ("both ends at a border: exit and re-entry", [[_box(0, LEFT)], [_box(5, LEFT)]], 1.0, [[0], [5]]),
    ("both ends at borders, opposite sides", [[_box(0, LEFT)], [_box(5, RIGHT)]], 1.0, [[0], [5]]),
    ("one end at a border, the other inside", [[_box(0, LEFT)], [_box(3)]], 1.0, [[0, 1, 2], [3]]),
    ("no gap", [[_box(0), _box(1), _box(2)]], 1.0, [[0, 1, 2]]),
    ("a lone box", [[_box(7)]], 1.0, [[7]]),
]


@pytest.mark.parametrize(("case", "boxes", "max_gap_s", "expected"), CASES, ids=[c[0] for c in CASES])
def test_which_gaps_are_filled(case: str, boxes, max_gap_s: float, expected) -> None:
    tracks = _tracks(tuple(_tracklet(n + 1, b) for n, b in enumerate(boxes)))
    out = interpolate_tracks(tracks, max_gap_s=max_gap_s, smoothing_s=0.0)
    assert _frames(out) == expected
    for tracklet in out.identities[0].tracklets:  # the span covers its boxes
        assert (tracklet.start_frame, tracklet.end_frame) == (
            tracklet.boxes[0].frame,
            tracklet.boxes[-1].frame,
        )
        assert tracklet.t_end_s == pytest.approx(tracklet.boxes[-1].time_s)


def test_filled_boxes_are_linear_marked_and_scoreless() -> None:
    a = _tracklet(1, [_box(0, (100, 100, 150, 200), 0.8)])
    b = _tracklet(2, [_box(4, (140, 120, 190, 240), 0.7)])
    out = interpolate_tracks(_tracks((a, b)), max_gap_s=1.0, smoothing_s=0.0)
    first, second = out.identities[0].tracklets
    filled = first.boxes[1:]
    assert [b.interpolated for b in first.boxes] == [False, True, True, True]
    assert all(b.score is None for b in filled) and first.boxes[0].score == 0.8
    assert [b.xyxy for b in filled] == [(110, 105, 160, 210), (120, 110, 170, 220), (130, 115, 180, 230)]
    assert [b.time_s for b in filled] == pytest.approx([0.1, 0.2, 0.3])
    assert second.boxes == b.boxes  # the later tracklet is unchanged without smoothing
    assert count_interpolated(out) == 3 and count_interpolated(_tracks((a, b))) == 0


def test_other_cameras_and_identities_are_kept_apart() -> None:
    """Gaps are filled per (identity, camera): never between cameras or between two identities."""
    one = (_tracklet(1, [_box(0)], "a"), _tracklet(2, [_box(4)], "b"))
    two = (_tracklet(3, [_box(6)], "a"),)
    out = interpolate_tracks(_tracks(one, two), max_gap_s=1.0, smoothing_s=0.0)
    assert _frames(out, 0) == [[0], [4]] and _frames(out, 1) == [[6]]


def test_tracklets_sharing_a_frame_are_left_alone() -> None:
    tracks = _tracks((_tracklet(1, [_box(0), _box(3)]), _tracklet(2, [_box(3), _box(6)])))
    assert interpolate_tracks(tracks, max_gap_s=1.0, smoothing_s=0.0) == tracks


def test_smoothing_steadies_a_jittery_run_and_keeps_its_frames() -> None:
    rng = np.random.default_rng(0)
    boxes = [_box(f, (100 + 3 * f + rng.normal(0, 4), 100, 150 + 3 * f, 200)) for f in range(0, 100, 2)]
    tracks = _tracks((_tracklet(1, boxes),))
    linear = interpolate_tracks(tracks, max_gap_s=1.0, smoothing_s=0.0)
    smooth = interpolate_tracks(tracks, max_gap_s=1.0, smoothing_s=0.5)
    assert _frames(smooth) == _frames(linear) == [list(range(99))]
    truth = 100 + 3 * np.arange(99)
    x_linear = np.array([b.xyxy[0] for b in linear.identities[0].tracklets[0].boxes])
    x_smooth = np.array([b.xyxy[0] for b in smooth.identities[0].tracklets[0].boxes])
    assert np.abs(x_smooth - truth)[10:-10].mean() < 0.6 * np.abs(x_linear - truth)[10:-10].mean()
    tracked = [b for b in smooth.identities[0].tracklets[0].boxes if not b.interpolated]
    assert [b.score for b in tracked] == [0.9] * len(boxes)  # tracked boxes move but stay tracked


def test_unknown_frame_size_uses_the_boxes_extent() -> None:
    """Without a frame size, boxes reaching the far extent count as at the border."""
    tracks = _tracks((_tracklet(1, [_box(0, LEFT)]), _tracklet(2, [_box(4, LEFT)])), width=None)
    assert _frames(interpolate_tracks(tracks, max_gap_s=1.0, smoothing_s=0.0)) == [[0], [4]]


@pytest.mark.parametrize(("max_gap_s", "smoothing_s"), [(0.0, 0.0), (-1.0, 0.0), (1.0, -0.1)])
def test_bad_knobs_raise(max_gap_s: float, smoothing_s: float) -> None:
    with pytest.raises(ValueError, match="max_gap_s"):
        interpolate_tracks(_tracks(), max_gap_s=max_gap_s, smoothing_s=smoothing_s)


def test_json_round_trip_and_mot_rows_include_filled_boxes(tmp_path) -> None:
    tracks = _tracks((_tracklet(1, [_box(0), _box(3)]),))
    out = interpolate_tracks(tracks, max_gap_s=1.0, smoothing_s=0.0)
    path = tmp_path / "tracks.json"
    write_tracks_json(path, out)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["schema_version"] == 3
    flags = [b.get("interpolated") for b in doc["identities"][0]["tracklets"][0]["boxes"]]
    assert flags == [None, True, True, None]  # the key is written only on filled boxes
    assert read_tracks_json(path) == out
    assert to_mot_rows(out)["a"].frame.tolist() == [1, 2, 3, 4]
