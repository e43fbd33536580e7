"""pipeline.detections: replayed MOT detections, the back ends (registry, errors, the bundled model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from infra.device import DeviceError, resolve_device
from infra.errors import UserError, WeightsError
from pipeline.config import DetectorConfig
from pipeline.detections import DETECTORS, ReplayDetector, build_detector, resolve_backend
from pipeline.frames import CameraSpec, Frame, open_source

ROOT = Path(__file__).resolve().parents[3]
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


@pytest.mark.parametrize("backend", ["litert", "ultralytics"])
@pytest.mark.parametrize("content", [None, b"garbage", b"x" * 10])
def test_bad_detector_weights_are_a_weights_error(
    tmp_path: Path, content: bytes | None, backend: str
) -> None:
    path = tmp_path / "det.tflite"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(WeightsError) as info:
        build_detector(DetectorConfig(backend=backend, weights=str(path)), device="cpu")
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_unknown_backend_lists_the_registered_ones() -> None:
    with pytest.raises(UserError, match=r"detector\.backend: .*'tpu'.*litert, ultralytics"):
        build_detector(DetectorConfig(backend="tpu"), device="cpu", source="my.yaml")


@pytest.mark.parametrize(
    ("backend", "weights", "expected"),
    [
        ("auto", None, "litert"),
        ("auto", "x/model.tflite", "litert"),
        ("auto", "x/model.TFLITE", "litert"),
        ("auto", "x/model.pt", "ultralytics"),
        ("auto", "x/model.onnx", "ultralytics"),
        ("ultralytics", None, "ultralytics"),
        ("litert", "x/model.onnx", "litert"),
    ],
)
def test_auto_backend_follows_the_file_type(backend: str, weights: str | None, expected: str) -> None:
    assert resolve_backend(DetectorConfig(backend=backend, weights=weights)) == expected
    assert expected in DETECTORS.names()


def test_litert_rejects_an_input_size_the_graph_does_not_take() -> None:
    with pytest.raises(UserError, match=r"imgsz_px is 320 .* takes 640"):
        build_detector(DetectorConfig(backend="litert", imgsz_px=320), device="cpu")


@pytest.mark.skipif(not SAMPLE.is_file(), reason="sample_videos/cam_a.mp4 not in this checkout")
@pytest.mark.parametrize("backend", ["litert", "ultralytics"])
def test_bundled_detector_finds_people_in_a_batch_of_frames(backend: str) -> None:
    """The bundled TFLite model, two frames in one call (its graph has batch 1: run per frame inside)."""
    frames = []
    for frame in open_source(CameraSpec(str(SAMPLE), "cam_a"), 25.0).frames():
        frames.append(frame)
        if len(frames) == 2:
            break
    detector = build_detector(DetectorConfig(backend=backend), device="cpu")  # a GPU runs the torch copy
    assert getattr(detector, "device", None) == "cpu"  # TFLite runs on the CPU
    assert detector.describe().startswith(backend)
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
