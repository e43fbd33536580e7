"""Annotated videos: H.264 that browsers play, identity colours, dashed predicted boxes, the clock."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.export.video import (
    DrawnBox,
    H264Writer,
    boxes_by_camera,
    clock_text,
    draw_boxes,
    identity_colour_bgr,
)
from pipeline.records import BoxRecord, CameraRecord, IdentityRecord, TrackletRecord, TracksFile


@pytest.mark.parametrize(("size", "expected"), [((64, 48), (64, 48)), ((63, 47), (62, 46))])
def test_h264_writer_plays_back_with_frame_times(
    tmp_path: Path, size: tuple[int, int], expected: tuple[int, int]
) -> None:
    import av

    w, h = size
    path = tmp_path / "v.mp4"
    with H264Writer(path, w, h, 12.5) as writer:
        for index in (0, 1, 2, 5):  # frames 3 and 4 were skipped by the source
            writer.write(np.full((h, w, 3), index * 40, np.uint8), index)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        frames = list(container.decode(stream))
    assert [(f.width, f.height) for f in frames] == [expected] * 4
    assert [round(float(f.pts * f.time_base) * 12.5) for f in frames] == [0, 1, 2, 5]


def test_h264_writer_refuses_a_tiny_frame(tmp_path: Path) -> None:
    from infra.errors import UserError

    with pytest.raises(UserError, match="too small"):
        H264Writer(tmp_path / "v.mp4", 1, 1, 25.0)


def test_predicted_boxes_are_dashed_detected_ones_solid() -> None:
    solid, dashed = np.zeros((60, 60, 3), np.uint8), np.zeros((60, 60, 3), np.uint8)
    draw_boxes(solid, [DrawnBox((10, 30, 50, 50), 4, False)])
    draw_boxes(dashed, [DrawnBox((10, 30, 50, 50), 4, True)])
    bottom_solid, bottom_dashed = solid[50, 10:50].any(axis=1), dashed[50, 10:50].any(axis=1)
    assert bottom_solid.all()
    assert 0.4 < bottom_dashed.mean() < 0.9  # gaps in the line
    assert tuple(solid[50, 30]) == identity_colour_bgr(4)


def test_caption_and_boxes_from_tracks() -> None:
    predicted = BoxRecord(3, 0.3, (1.0, 2.0, 5.0, 9.0), None)
    detected = BoxRecord(2, 0.2, (1.0, 2.0, 5.0, 9.0), 0.8)
    t = TrackletRecord("a", 1, 2, 3, 0.2, 0.3, (detected, predicted))
    cams = (CameraRecord("a", "a.mp4", 10.0, 8, 8, 5), CameraRecord("b", "b.mp4", 10.0, 8, 8, 5))
    boxes = boxes_by_camera(TracksFile(cams, (IdentityRecord(7, (t,)),)))
    assert boxes["a"] == {
        2: [DrawnBox((1.0, 2.0, 5.0, 9.0), 7, False)],
        3: [DrawnBox((1.0, 2.0, 5.0, 9.0), 7, True)],
    }
    assert dict(boxes["b"]) == {}
    image = np.zeros((40, 200, 3), np.uint8)
    draw_boxes(image, [], f"a {clock_text(61.5)}")
    assert image[:20].any() and clock_text(61.5) == "00:01:01.50"


def test_fifty_identity_colours_stay_apart() -> None:
    import colorsys

    hues = sorted(
        colorsys.rgb_to_hsv(*[c / 255 for c in identity_colour_bgr(g)[::-1]])[0] for g in range(1, 51)
    )
    gaps = np.diff([*hues, hues[0] + 1.0])
    assert gaps.min() > 0.005 and len(set(identity_colour_bgr(g) for g in range(1, 51))) == 50
