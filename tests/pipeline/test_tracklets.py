"""pipeline.tracklets: accumulation by det_index, closing, bounded and well-chosen crops."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pipeline.config import TrackletConfig
from pipeline.frames import Frame
from pipeline.tracklets import TrackletBuilder, crop_quality
from trackers import Detections, Tracks

W, H = 320, 240


def frame(index: int, cam: str = "a", fps: float = 10.0, fill: int = 0) -> Frame:
    image = np.full((H, W, 3), fill, np.uint8)
    image[:, :, 0] = index % 256  # blue channel carries the frame index, to check crop origins
    return Frame(cam, index, index / fps, image)


def dets(*boxes: tuple[float, float, float, float], score: float = 0.9) -> Detections:
    return Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), score, np.float32))


def tracks(ids: list[int], det_index: list[int], boxes: list[tuple[float, ...]]) -> Tracks:
    return Tracks(np.asarray(boxes, np.float32).reshape(-1, 4), ids, np.full(len(ids), 0.9), det_index)


BOX = (100.0, 50.0, 140.0, 150.0)


def builder(**changes: object) -> TrackletBuilder:
    """A builder with the config defaults, except ``changes``."""
    return TrackletBuilder.from_config(dataclasses.replace(TrackletConfig(), **changes))


def test_boxes_accumulate_and_close_on_deletion() -> None:
    b = builder(min_length_s=0.0)
    for i in range(5):
        assert b.update(frame(i), dets(BOX), tracks([7], [0], [BOX])) == []
    closed = b.update(frame(5), Detections.empty(), Tracks.empty(), deleted_ids=[7])
    [t] = closed
    assert t.key == ("a", 7) and t.frames == [0, 1, 2, 3, 4]
    assert t.times_s == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert t.boxes_xyxy[0] == BOX and t.scores == pytest.approx([0.9] * 5)
    assert b.num_open == 0
    record = t.to_record()
    assert (record.start_frame, record.end_frame, record.t_end_s) == (0, 4, pytest.approx(0.4))


def test_coasted_boxes_have_no_score_and_a_coasted_tail_is_trimmed() -> None:
    b = builder(min_length_s=0.0)
    b.update(frame(0), dets(BOX), tracks([1], [0], [BOX]))
    b.update(frame(1), Detections.empty(), tracks([1], [-1], [BOX]))  # coasted through a gap
    b.update(frame(2), dets(BOX), tracks([1], [0], [BOX]))
    b.update(frame(3), Detections.empty(), tracks([1], [-1], [BOX]))  # coasted after the last detection
    [t] = b.update(frame(4), Detections.empty(), Tracks.empty(), deleted_ids=[1])
    assert t.frames == [0, 1, 2] and t.scores[1] is None and t.to_record().boxes[1].score is None


def _moved(box: tuple[float, ...], dx: float) -> tuple[float, ...]:
    return (box[0] + dx, box[1], box[2] + dx, box[3])


@pytest.mark.parametrize(
    ("detected", "coasted", "expected_x1"),
    [
        ([0], [1, 2], [100.0, 100.0, 100.0]),  # one box: no velocity yet, the box stays
        ([0, 2], [3, 4], [100.0, 106.0, 109.0, 112.0]),  # 3 px/frame from frames 0 → 2
        ([0, 3], [4, 5], [100.0, 109.0, 112.0, 115.0]),
    ],
)
def test_frames_between_detections_get_constant_velocity_boxes(
    detected: list[int], coasted: list[int], expected_x1: list[float]
) -> None:
    b = builder(min_length_s=0.0)
    for i in detected:
        box = _moved(BOX, 3.0 * i)
        b.update(frame(i), dets(box), tracks([1], [0], [box]))
    for i in coasted:
        b.coast(frame(i))
        b.coast(frame(i))  # a frame given twice is added once
    b.coast(frame(coasted[-1], cam="other"))  # another camera's frame touches nothing
    next_detected = coasted[-1] + 1
    box = _moved(BOX, 3.0 * next_detected)
    b.update(frame(next_detected), dets(box), tracks([1], [0], [box]))
    [t] = b.close_camera("a")
    assert t.frames == [*detected, *coasted, next_detected]
    assert [bx[0] for bx in t.boxes_xyxy[:-1]] == pytest.approx(expected_x1)
    assert [t.scores[k] is None for k in range(len(t.frames))] == [
        f in coasted for f in t.frames
    ]  # predicted boxes carry no score, and give no crop
    assert all(c.frame not in coasted for c in t.crops)


def test_a_predicted_tail_is_dropped_and_lost_tracks_are_not_predicted() -> None:
    b = builder(min_length_s=0.0)
    b.update(frame(0), dets(BOX, _moved(BOX, 100)), tracks([1, 2], [0, 1], [BOX, _moved(BOX, 100)]))
    b.update(frame(2), dets(BOX), tracks([1], [0], [BOX]))  # track 2 not in this frame's output
    b.coast(frame(3))
    tracklets = {t.track_id: t for t in b.close_camera("a")}
    assert tracklets[1].frames == [0, 2] and tracklets[2].frames == [0]


def test_close_camera_closes_only_that_camera() -> None:
    b = builder(min_length_s=0.0)
    b.update(frame(0, "a"), dets(BOX), tracks([1], [0], [BOX]))
    b.update(frame(0, "b"), dets(BOX), tracks([1], [0], [BOX]))
    assert [t.key for t in b.close_camera("a")] == [("a", 1)]
    assert b.num_open == 1 and b.earliest_open_start_s() == 0.0


def test_short_tracklets_are_dropped_and_counted() -> None:
    b = builder(min_length_s=0.5)
    for i in range(3):
        b.update(frame(i), dets(BOX), tracks([1], [0], [BOX]))
    assert b.close_camera("a") == [] and b.dropped == 1


def test_crops_come_from_the_detection_row_named_by_det_index() -> None:
    """Two detections, the track matched to the second: the crop is cut from the second's box."""
    b = builder(min_length_s=0.0, max_crops=1, min_crop_height_px=10, crop_colour="as_seen")
    other = (10.0, 10.0, 30.0, 60.0)
    f = frame(3)
    f.image_bgr[50:150, 100:140, 1] = 200  # green only inside BOX
    b.update(f, dets(other, BOX), tracks([1], [1], [BOX]))
    [t] = b.close_camera("a")
    [crop] = t.crops
    assert crop.image_bgr.shape[:2] == (100, 40) and crop.image_bgr[..., 1].min() == 200


@pytest.mark.parametrize(
    ("cast_bgr", "colour"),
    [
        ((1.0, 1.0, 1.0), "as_seen"),  # kept as cut: the two cameras' crops differ by the cast
        ((1.3, 1.0, 0.7), "grey_world"),  # a warm camera: corrected
        ((0.7, 0.7, 0.7), "grey_world"),  # an under-exposed camera: corrected
    ],
)
def test_grey_world_makes_two_cameras_crops_of_one_scene_alike(
    cast_bgr: tuple[float, ...], colour: str
) -> None:
    """One scene seen by two cameras, the second with a colour cast: grey world undoes it."""
    rng = np.random.default_rng(0)
    scene = rng.integers(40, 160, size=(H, W, 3)).astype(np.float32)
    cast = np.asarray(cast_bgr, np.float32) if colour == "grey_world" else np.float32([1.3, 1.0, 0.7])
    b = builder(min_length_s=0.0, max_crops=1, min_crop_height_px=10, crop_colour=colour)
    for cam, image in (("a", scene), ("b", scene * cast)):
        f = Frame(cam, 0, 0.0, np.clip(image, 0, 255).astype(np.uint8))
        b.update(f, dets(BOX), tracks([1], [0], [BOX]))
    a, c = (b.close_camera(cam)[0].crops[0].image_bgr.astype(np.float32) for cam in ("a", "b"))
    difference = np.abs(a.mean(axis=(0, 1)) - c.mean(axis=(0, 1))).max()
    assert (difference < 3.0) == (colour == "grey_world"), difference


def test_crops_stay_bounded_and_spread_over_a_long_track() -> None:
    b = builder(min_length_s=0.0, max_crops=6)
    n = 600
    for i in range(n):
        b.update(frame(i), dets(BOX), tracks([1], [0], [BOX]))
        assert len(b._open[("a", 1)].slots.slots) <= 12  # candidates: twice max_crops
    [t] = b.close_camera("a")
    times = [c.time_s for c in t.crops]
    assert len(times) == 6 and times == sorted(times)
    assert times[-1] - times[0] > 0.6 * t.duration_s  # spread, not the last few frames
    assert min(np.diff(times)) > 0.05 * t.duration_s


def test_good_crops_beat_border_cut_and_occluded_ones() -> None:
    b = builder(min_length_s=0.0, max_crops=2)
    cut = (0.0, 50.0, 40.0, 150.0)  # touches the left border
    occluder = (110.0, 50.0, 150.0, 150.0)  # IoU 0.6 with BOX: occluded
    for i in range(10):
        b.update(frame(i), dets(cut), tracks([1], [0], [cut]))
    for i in range(10, 20):
        b.update(frame(i), dets(BOX, occluder), tracks([1], [0], [BOX]))
    for i in range(20, 40):
        b.update(frame(i), dets(BOX), tracks([1], [0], [BOX]))
    [t] = b.close_camera("a")
    assert all(c.frame >= 20 for c in t.crops), [c.frame for c in t.crops]


def test_fallback_crops_are_kept_when_nothing_better_exists() -> None:
    b = builder(min_length_s=0.0, max_crops=3)
    cut = (0.0, 50.0, 40.0, 150.0)
    for i in range(10):
        b.update(frame(i), dets(cut), tracks([1], [0], [cut]))
    [t] = b.close_camera("a")
    assert len(t.crops) == 3


def test_small_boxes_give_no_crop_and_big_crops_are_scaled_down() -> None:
    b = builder(min_length_s=0.0, min_crop_height_px=40, crop_max_height_px=64)
    small = (10.0, 10.0, 20.0, 30.0)
    big = (100.0, 20.0, 160.0, 220.0)
    b.update(frame(0), dets(small), tracks([1], [0], [small]))
    b.update(frame(0, "b"), dets(big), tracks([2], [0], [big]))
    [t_small] = b.close_camera("a")
    [t_big] = b.close_camera("b")
    assert t_small.crops == []
    assert t_big.crops[0].image_bgr.shape == (64, 19, 3)


def test_two_tracks_in_one_frame_are_separate_tracklets() -> None:
    b = builder(min_length_s=0.0)
    other = (200.0, 50.0, 240.0, 150.0)
    b.update(frame(0), dets(BOX, other), tracks([1, 2], [0, 1], [BOX, other]))
    assert sorted(t.key for t in b.close_camera("a")) == [("a", 1), ("a", 2)]


def test_crop_quality_gates() -> None:
    d = dets((100, 50, 140, 150), (0, 50, 40, 150), (200, 50, 240, 60), (105, 50, 145, 150))
    q = crop_quality(d, W, H, min_crop_height_px=40, border_margin_px=4, max_overlap_iou=0.3)
    assert q[2] == 0.0  # 10 px tall
    assert q[1] == pytest.approx(0.9 * 0.1)  # cut by the left border
    assert 0 < q[0] < 0.1 and q[0] == pytest.approx(q[3])  # mutually occluded (IoU 0.78)
    assert crop_quality(
        Detections.empty(), W, H, min_crop_height_px=40, border_margin_px=4, max_overlap_iou=0.3
    ).shape == (0,)
