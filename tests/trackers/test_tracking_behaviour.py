"""Hand-built scenes: identities through crossings, swaps, gaps, empty frames, resets."""

from __future__ import annotations

import numpy as np
import pytest

from trackers import Detections, SortTracker, Tracks, TrackState, available_trackers, create_tracker

ALL = available_trackers()


def box(x: float, y: float, w: float = 40.0, h: float = 100.0) -> list[float]:
    return [x, y, x + w, y + h]


def dets(*boxes: list[float], score: float = 0.9) -> Detections:
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), score, np.float32))


def id_of(tracks: Tracks, det_row: int) -> int:
    """Track id of the row that was updated by detection ``det_row``."""
    rows = np.flatnonzero(tracks.det_index == det_row)
    assert len(rows) == 1, f"detection {det_row} is not in the output: {tracks}"
    return int(tracks.track_id[rows[0]])


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("order_seed", [0, 1, 2])
def test_two_people_crossing_keep_their_ids(name: str, order_seed: int) -> None:
    # A walks right, B walks left, B a bit lower; at the crossing their boxes overlap (IoU ~0.5).
    tracker = create_tracker(name, fps=25.0)
    rng = np.random.default_rng(order_seed)
    first_ids: dict[str, int] = {}
    for t in range(25):
        people = {"A": box(10.0 * t, 0.0), "B": box(240.0 - 10.0 * t, 30.0)}
        names = list(people)
        if rng.random() < 0.5:
            names.reverse()  # the detector's order carries no meaning
        tracks = tracker.update(dets(*(people[n] for n in names)))
        ids = {n: id_of(tracks, i) for i, n in enumerate(names)}
        if not first_ids:
            first_ids = ids
        assert ids == first_ids, f"frame {t}: ids changed from {first_ids} to {ids}"
    assert first_ids["A"] != first_ids["B"]


@pytest.mark.parametrize("name", ALL)
def test_boxes_given_in_swapped_order_keep_their_ids(name: str) -> None:
    tracker = create_tracker(name, fps=25.0)
    a, b = box(0, 0), box(300, 0)
    first = tracker.update(dets(a, b))
    second = tracker.update(dets(b, a))
    assert id_of(second, 0) == id_of(first, 1)
    assert id_of(second, 1) == id_of(first, 0)
    assert sorted(second.det_index.tolist()) == [0, 1]


@pytest.mark.parametrize("name", ALL)
def test_empty_frames(name: str) -> None:
    tracker = create_tracker(name, fps=25.0, coast_output_s=0.0)
    out = tracker.update(Detections.empty())
    assert len(out) == 0 and out.xyxy.shape == (0, 4) and out.track_id.dtype == np.int64
    tracks = tracker.update(dets(box(0, 0)))
    (track_id,) = tracks.track_id.tolist()
    assert len(tracker.update(Detections.empty())) == 0  # a lost track is not reported...
    assert tracker.track_states() == {track_id: TrackState.LOST}  # ...but kept
    assert tracker.update(dets(box(0, 0))).track_id.tolist() == [track_id]


@pytest.mark.parametrize("name", ALL)
def test_track_coasting_through_a_3_frame_gap_keeps_its_id(name: str) -> None:
    tracker = create_tracker(name, fps=25.0, coast_output_s=0.1)  # 0.1 s at 25 fps = 2 frames
    ids, coasted = set(), []
    for t in range(14):
        gap = 5 <= t <= 7
        out = tracker.update(Detections.empty() if gap else dets(box(8.0 * t, 0.0)))
        ids.update(out.track_id.tolist())
        if gap:
            coasted.append(out)
    assert ids == {1}
    # the first two gap frames report the Kalman prediction, moving on at ~8 px/frame
    assert [len(c) for c in coasted] == [1, 1, 0]
    assert coasted[0].det_index.tolist() == [-1]
    assert coasted[0].xyxy[0, 0] == pytest.approx(8.0 * 5, abs=2.0)
    assert coasted[1].xyxy[0, 0] == pytest.approx(8.0 * 6, abs=2.0)


@pytest.mark.parametrize(
    ("fps", "max_age_s", "deleted_after_missed_frames"),
    [
        (25.0, 0.2, 6),  # 0.2 s = 5 frames kept, deleted on the 6th miss
        (10.0, 0.2, 3),  # 2 frames
        (29.97, 1.0, 31),  # 30 frames (rounded from 29.97)
        (25.0, 0.0, 2),  # at least one frame is always kept
    ],
)
def test_max_age_is_in_seconds_and_deleted_ids_are_reported_once(
    fps: float, max_age_s: float, deleted_after_missed_frames: int
) -> None:
    tracker = SortTracker(fps=fps, max_age_s=max_age_s, coast_output_s=0.0)
    track_id = int(tracker.update(dets(box(0, 0))).track_id[0])
    reported = []
    for miss in range(1, deleted_after_missed_frames + 3):
        tracker.update(Detections.empty())
        if len(tracker.last_deleted_ids):
            reported.append((miss, tracker.last_deleted_ids.tolist()))
    assert reported == [(deleted_after_missed_frames, [track_id])]
    assert tracker.last_deleted_ids.dtype == np.int64


def test_tentative_tracks_are_neither_reported_nor_given_ids() -> None:
    tracker = SortTracker(fps=25.0, min_hits=3)
    for _ in range(3):  # warm-up frames: SORT confirms tracks born in the first min_hits frames
        tracker.update(dets(box(0, 0)))
    assert len(tracker.update(dets(box(0, 0), box(400, 0)))) == 1  # newcomer is tentative
    assert len(tracker.update(dets(box(0, 0)))) == 1  # newcomer missed: deleted...
    assert tracker.last_deleted_ids.tolist() == []  # ...silently, it never had an ID
    for expected in (1, 1, 2):
        out = tracker.update(dets(box(0, 0), box(400, 0)))
        assert len(out) == expected
    assert sorted(out.track_id.tolist()) == [1, 2]


@pytest.mark.parametrize("name", ALL)
def test_reset_restarts_ids_and_forgets_tracks(name: str) -> None:
    tracker = create_tracker(name, fps=25.0)
    for _ in range(3):
        tracker.update(dets(box(0, 0), box(300, 0)))
    tracker.reset()
    assert tracker.track_states() == {}
    assert tracker.frame_count == 0
    assert tracker.last_deleted_ids.tolist() == []
    assert sorted(tracker.update(dets(box(500, 500), box(800, 0))).track_id.tolist()) == [1, 2]


@pytest.mark.parametrize("name", ALL)
def test_two_trackers_are_independent(name: str) -> None:
    cam_a, cam_b = create_tracker(name, fps=25.0), create_tracker(name, fps=30.0)
    assert cam_a.update(dets(box(0, 0))).track_id.tolist() == [1]
    assert cam_b.update(dets(box(0, 0))).track_id.tolist() == [1]  # own counter
    cam_a.reset()
    assert cam_a.update(dets(box(0, 0))).track_id.tolist() == [1]
    out = cam_b.update(dets(box(0, 0), box(300, 0)))  # unaffected by cam_a's reset
    assert sorted(out.track_id.tolist()) == [1, 2]


@pytest.mark.parametrize("name", ALL)
def test_det_index_joins_output_rows_to_input_rows(name: str) -> None:
    tracker = create_tracker(name, fps=25.0)
    frame = dets(box(0, 0), box(200, 0), box(400, 0))
    for _ in range(3):
        out = tracker.update(frame)
    assert sorted(out.det_index.tolist()) == [0, 1, 2]
    for row in range(len(out)):
        np.testing.assert_allclose(out.xyxy[row], frame.xyxy[out.det_index[row]], atol=1.0)


def test_bytetrack_low_score_detections_continue_tracks_but_never_start_them() -> None:
    tracker = create_tracker(
        "bytetrack", fps=25.0, high_score_threshold=0.5, low_score_threshold=0.1, new_track_threshold=0.6
    )
    first = tracker.update(dets(box(0, 0), score=0.9))
    (track_id,) = first.track_id.tolist()
    # the person becomes hard to see (score 0.2): stage 2 keeps the track; a lone low box starts nothing
    for t in range(1, 6):
        out = tracker.update(dets(box(2.0 * t, 0), box(500, 300), score=0.2))
        assert out.track_id.tolist() == [track_id]
        assert out.det_index.tolist() == [0]
    assert tracker.track_states() == {track_id: TrackState.CONFIRMED}


def test_bytetrack_ignores_detections_below_the_low_threshold() -> None:
    tracker = create_tracker("bytetrack", fps=25.0, coast_output_s=0.0)
    tracker.update(dets(box(0, 0), score=0.9))
    assert len(tracker.update(dets(box(0, 0), score=0.05))) == 0


@pytest.mark.parametrize("name", ALL)
def test_update_rejects_other_inputs(name: str) -> None:
    tracker = create_tracker(name, fps=25.0)
    with pytest.raises(TypeError, match=r"trackers\.Detections"):
        tracker.update(np.zeros((0, 5)))  # type: ignore[arg-type]


# ---------------------------------------------------------------- tracks lost at the frame border

FRAME = (400, 300)  # px: a box with x2 >= 396 (1 % of 400 from the right edge) touches the border


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(
    ("x", "frame_wh", "border_max_age_s", "deleted_after_missed_frames"),
    [
        (356.0, FRAME, 0.2, 6),  # at the right border (x2 = 396): 0.2 s = 5 frames at 25 fps
        (356.0, FRAME, 0.0, 2),  # at least one frame, as for max_age_s
        (356.0, FRAME, None, 26),  # no border rule: max_age_s (1 s = 25 frames)
        (356.0, None, 0.2, 26),  # frame size unknown: no border rule
        (200.0, FRAME, 0.2, 26),  # lost mid-view (an occlusion): max_age_s
        (0.0, FRAME, 0.2, 6),  # the left border (x1 = 0)
        (356.0, FRAME, 2.0, 26),  # never longer than max_age_s
    ],
)
def test_a_track_lost_at_the_border_is_kept_border_max_age_s(
    name: str,
    x: float,
    frame_wh: tuple[int, int] | None,
    border_max_age_s: float | None,
    deleted_after_missed_frames: int,
) -> None:
    tracker = create_tracker(
        name,
        fps=25.0,
        max_age_s=1.0,
        coast_output_s=0.0,
        border_max_age_s=border_max_age_s,
        frame_wh=frame_wh,
    )
    for _ in range(3):
        track_id = int(tracker.update(dets(box(x, 100.0))).track_id[0])
    deleted_at = None
    for miss in range(1, 30):
        tracker.update(Detections.empty())
        if len(tracker.last_deleted_ids):
            assert tracker.last_deleted_ids.tolist() == [track_id]
            deleted_at = miss
            break
    assert deleted_at == deleted_after_missed_frames


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(("border_max_age_s", "same_id"), [(0.2, False), (None, True)])
def test_a_newcomer_where_someone_left_gets_a_new_id(
    name: str, border_max_age_s: float | None, same_id: bool
) -> None:
    """A stands at the right border and is gone (left the view); 0.4 s later B comes in at that place."""
    tracker = create_tracker(name, fps=25.0, border_max_age_s=border_max_age_s, frame_wh=FRAME)
    for _ in range(5):
        first = int(tracker.update(dets(box(356.0, 100.0))).track_id[0])
    for _ in range(10):
        tracker.update(Detections.empty())
    ids = [tracker.update(dets(box(356.0, 100.0))).track_id.tolist() for _ in range(3)]
    assert (ids[-1] == [first]) is same_id


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"border_max_age_s": -0.1}, "border_max_age_s must be >= 0 seconds or None"),
        ({"border_max_age_s": float("nan")}, "border_max_age_s"),
        ({"frame_wh": (0, 300)}, "frame_wh must be"),
        ({"frame_wh": (400,)}, "frame_wh must be"),
    ],
)
def test_bad_border_settings_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SortTracker(fps=25.0, **kwargs)
