"""Which boxes make an identity's crops, and cutting them as JPEGs."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.export.report.crops import CropCutter, PlannedCrop, plan_crops
from pipeline.records import BoxRecord, CameraRecord, IdentityRecord, TrackletRecord, TracksFile

CAM = (CameraRecord("a", "a.mp4", 10.0, 100, 80, 100),)


def _plan(boxes: list[BoxRecord], per_camera: int) -> list[int]:
    t = TrackletRecord(
        "a", 1, boxes[0].frame, boxes[-1].frame, boxes[0].time_s, boxes[-1].time_s, tuple(boxes)
    )
    plan = plan_crops(TracksFile(CAM, (IdentityRecord(3, (t,)),)), per_camera)
    return sorted(frame for frame in plan.get("a", {}))


@pytest.mark.parametrize(
    ("boxes", "per_camera", "frames"),
    [
        # best score x height first, then at least 1 s apart
        (
            [
                BoxRecord(0, 0.0, (10, 10, 30, 60), 0.5),
                BoxRecord(5, 0.5, (10, 10, 30, 70), 0.9),
                BoxRecord(20, 2.0, (10, 10, 30, 50), 0.6),
            ],
            2,
            [5, 20],
        ),
        # a predicted box (score None) is never a crop
        ([BoxRecord(0, 0.0, (10, 10, 30, 60), None), BoxRecord(30, 3.0, (10, 10, 30, 40), 0.3)], 3, [30]),
        # a box cut by the frame border loses to one inside it
        ([BoxRecord(0, 0.0, (0, 10, 30, 78), 0.99), BoxRecord(30, 3.0, (10, 10, 30, 40), 0.3)], 1, [30]),
        # only predicted boxes: no crop at all
        ([BoxRecord(0, 0.0, (10, 10, 30, 60), None)], 2, []),
    ],
)
def test_plan_picks_detected_sharp_spread_boxes(
    boxes: list[BoxRecord], per_camera: int, frames: list[int]
) -> None:
    assert _plan(boxes, per_camera) == frames


def test_cutter_scales_to_the_height_and_writes_jpeg() -> None:
    import cv2

    image = np.zeros((80, 100, 3), np.uint8)
    image[10:60, 20:40] = (0, 0, 255)
    crop = PlannedCrop(3, "a", 7, (20.0, 10.0, 40.0, 60.0), "3_a_7.jpg")
    off_frame = PlannedCrop(4, "a", 7, (120.0, 10.0, 140.0, 60.0), "4_a_7.jpg")  # outside the image
    cutter = CropCutter({7: [crop, off_frame]}, height_px=32, jpeg_quality=90)
    cutter(6, image)
    assert cutter.jpegs == {}
    cutter(7, image)
    assert list(cutter.jpegs) == ["3_a_7.jpg"]
    decoded = cv2.imdecode(np.frombuffer(cutter.jpegs["3_a_7.jpg"], np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (32, 13, 3)  # 20x50 scaled to height 32
    assert decoded[16, 6, 2] > 200 and decoded[16, 6, 0] < 60  # red, as cut
