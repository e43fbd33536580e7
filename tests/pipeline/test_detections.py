"""pipeline.detections: replayed MOT detections, the YOLO adapter and its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from infra.device import DeviceError, resolve_device
from infra.errors import UserError, WeightsError
from pipeline.config import DetectorConfig
from pipeline.detections import ReplayDetector, YoloDetector
from pipeline.frames import CameraSpec, Frame, open_source

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_videos" / "cam_a.mp4"


def _frame(cam: str, index: int) -> Frame:
    return Frame(cam, index, index / 25.0, np.zeros((4, 4, 3), np.uint8))


def test_replay_maps_one_based_frames_to_decoded_indices(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(
        "1,-1,10,20,30,40,0.9,-1,-1,-1\n3,-1,0,0,5,5,0.2,-1,-1,-1\n3,-1,1,2,3,4,0.8\n", encoding="utf-8"
    )
    replay = ReplayDetector(tmp_path, ["a"], conf_threshold=0.5)
    d0, d1, d2 = replay.detect([_frame("a", 0), _frame("a", 1), _frame("a", 2)])
    assert d0.xyxy.tolist() == [[10, 20, 40, 60]] and d0.score.tolist() == pytest.approx([0.9])
    assert len(d1) == 0
    assert d2.xyxy.tolist() == [[1, 2, 4, 6]]  # the 0.2 row is below conf_threshold
    assert d0.class_id.tolist() == [0]


def test_replay_needs_a_file_per_camera(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("", encoding="utf-8")
    with pytest.raises(UserError, match=r"b\.txt"):
        ReplayDetector(tmp_path, ["a", "b"], conf_threshold=0.0)
    with pytest.raises(UserError, match="not a folder"):
        ReplayDetector(tmp_path / "nope", ["a"], conf_threshold=0.0)


def test_replay_malformed_file_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("1,-1,10,20,30,40,0.9\n2,x\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"a\.txt:2"):
        ReplayDetector(tmp_path, ["a"], conf_threshold=0.0)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("cpu", {"cpu"}), ("auto", {"cpu", "cuda:0"}), (" CPU ", {"cpu"})],
)
def test_resolve_device(name: str, expected: set[str]) -> None:
    assert str(resolve_device(name)) in expected


@pytest.mark.parametrize("name", ["tpu", "gpu0", ""])
def test_resolve_device_rejects_unknown_names_as_user_errors(name: str) -> None:
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device(name)


@pytest.mark.parametrize("content", [None, b"garbage", b"x" * 10])
def test_bad_detector_weights_are_a_weights_error(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "det.tflite"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(WeightsError) as info:
        YoloDetector.from_config(DetectorConfig(weights=None if path is None else str(path)), device="cpu")
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.skipif(not SAMPLE.is_file(), reason="sample_videos/cam_a.mp4 not in this checkout")
def test_bundled_detector_finds_people_in_a_batch_of_frames() -> None:
    """The bundled TFLite model, two frames in one call (its graph has batch 1: run per frame inside)."""
    frames = []
    for frame in open_source(CameraSpec(str(SAMPLE), "cam_a"), 25.0).frames():
        frames.append(frame)
        if len(frames) == 2:
            break
    detector = YoloDetector.from_config(DetectorConfig(), device="auto")
    assert detector.device == "cpu"  # TFLite runs on the CPU
    out = detector.detect(frames)
    assert len(out) == 2
    for det in out:
        assert len(det) >= 2 and set(det.class_id.tolist()) == {0}
        assert det.xyxy.dtype == np.float32 and (det.score >= 0.25).all()
        assert (det.xyxy[:, 2] <= 360 + 1).all()  # pixels of the original 360-wide frame


def test_rows_to_detections() -> None:
    from infra.motchallenge import MotRows
    from pipeline.detections import rows_to_detections

    rows = MotRows(
        np.array([1, 1]), np.array([-1, -1]), np.array([[10, 20, 30, 60], [0, 0, 2, 4]]), np.array([0.9, 0.5])
    )
    dets = rows_to_detections(rows)
    np.testing.assert_allclose(dets.xyxy, [[10, 20, 40, 80], [0, 0, 2, 4]])
    assert dets.score.tolist() == pytest.approx([0.9, 0.5]) and dets.class_id.tolist() == [0, 0]
