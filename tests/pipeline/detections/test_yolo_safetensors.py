"""The bundled YOLOv8n's torch copy (``yolov8n_int8.safetensors``): same people as the TFLite
file, loaded without pickle, bad files refused in one line, and remade exactly by its tool."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from infra.errors import WeightsError
from pipeline.config import DetectorConfig
from pipeline.detections import build_detector, resolve_backend
from pipeline.detections.yolo_safetensors import FORMAT, VERSION, load_yolo_safetensors
from pipeline.weights import default_torch_detector_path

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "sample_videos"
BUNDLED = default_torch_detector_path()


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) IoU of xyxy boxes."""
    lo, hi = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area = lambda z: np.prod(z[:, 2:] - z[:, :2], axis=1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None] - inter)


@pytest.mark.skipif(not (SAMPLE / "cam_a.mp4").is_file(), reason="sample_videos/ not in this checkout")
def test_torch_copy_finds_the_tflite_models_people(sample_frames) -> None:
    """The same weights in float32 activations (the TFLite file quantises them to int8 on the fly):
    nearly every box found again, in place, with nearly its score."""
    frames = sample_frames(step=6)
    tflite = build_detector(DetectorConfig(backend="litert"), device="cpu").detect(frames)
    ours = build_detector(DetectorConfig(backend="ultralytics", weights=str(BUNDLED)), device="cpu")
    assert ours.describe() == "ultralytics (cpu)"
    torch_dets = ours.detect(frames)
    found, ious, score_gaps = 0, [], []
    for a, b in zip(tflite, torch_dets, strict=True):
        if len(a) == 0 or len(b) == 0:
            continue
        iou = _iou(a.xyxy, b.xyxy)
        for i, j in enumerate(iou.argmax(axis=1)):
            if iou[i, j] >= 0.5:
                found += 1
                ious.append(iou[i, j])
                score_gaps.append(abs(a.score[i] - b.score[j]))
    total = sum(len(a) for a in tflite)
    assert total > 50 and found >= 0.95 * total, (found, total)
    assert np.median(ious) > 0.95 and np.median(score_gaps) < 0.03


def _write(path: Path, tensors: dict[str, torch.Tensor], **meta: str) -> Path:
    save_file(
        tensors,
        str(path),
        metadata={"format": FORMAT, "version": VERSION, "model_yaml": "yolov8n.yaml"} | meta,
    )
    return path


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p, t: p.write_bytes(b"not a safetensors file") and p, "not a readable .safetensors file"),
        (
            lambda p, t: _write(p, t, format="something-else"),
            "not a reid-pipeline-yolo version 1 detector file .format 'something-else', version '1'.",
        ),
        (lambda p, t: _write(p, t, version="9"), "not a reid-pipeline-yolo version 1 detector file"),
        (lambda p, t: _write(p, t, model_yaml="evil.pt"), "model_yaml 'evil.pt' is not one of"),
        (lambda p, t: _write(p, t, model_yaml="../yolov8n.yaml"), "model_yaml '../yolov8n.yaml' is not"),
        (
            lambda p, t: _write(p, {k: v for k, v in t.items() if k != "model.0.conv.bias"}),
            "missing .*model.0.conv.bias",
        ),
        (
            lambda p, t: _write(p, t | {"model.0.conv.weight": torch.zeros(16, 3, 5, 5)}),
            r"model.0.conv.weight is \(16, 3, 5, 5\)",
        ),
    ],
    ids=["garbage", "format", "version", "pickle-path", "yaml-path", "missing-tensor", "wrong-shape"],
)
def test_bad_files_are_one_line_weights_errors(tmp_path: Path, make, match: str) -> None:
    path = make(tmp_path / "det.safetensors", load_file(str(BUNDLED)))
    with pytest.raises(WeightsError, match=match) as info:
        load_yolo_safetensors(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("weights", "device", "expected"),
    [(None, "cpu", "litert"), ("x/y.safetensors", "cpu", "ultralytics"), ("x/y.tflite", "cpu", "litert")],
)
def test_auto_backend_of_the_bundled_model_follows_the_device(
    weights: str | None, device: str, expected: str
) -> None:
    assert resolve_backend(DetectorConfig(weights=weights), device) == expected


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine (GPU-only test)")
def test_on_cuda_the_bundled_model_runs_on_torch_and_finds_the_cpus_people(sample_frames) -> None:
    frames = sample_frames(step=25)
    cfg = DetectorConfig()
    assert resolve_backend(cfg, "auto") == "ultralytics"
    gpu = build_detector(DetectorConfig(fp16=True), device="auto")
    assert gpu.describe() == "ultralytics (cuda:0, fp16)" and gpu.path == BUNDLED  # type: ignore[attr-defined]
    cpu = build_detector(DetectorConfig(backend="ultralytics", weights=str(BUNDLED)), device="cpu")
    for a, b in zip(cpu.detect(frames), gpu.detect(frames), strict=True):
        assert abs(len(a) - len(b)) <= 1
        if len(a) and len(b):
            assert np.median(_iou(a.xyxy, b.xyxy).max(axis=1)) > 0.9


def test_tool_remakes_the_bundled_file_exactly(tmp_path: Path) -> None:
    """``tools/yolo_tflite_to_safetensors.py`` from the bundled TFLite file gives the bundled tensors."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from yolo_tflite_to_safetensors import main
    finally:
        sys.path.pop(0)
    out = tmp_path / "y.safetensors"
    assert main(["--out", str(out)]) == 0
    made, shipped = load_file(str(out)), load_file(str(BUNDLED))
    assert made.keys() == shipped.keys()
    assert all(torch.equal(made[k], shipped[k]) for k in made)


@pytest.mark.skipif(not (SAMPLE / "cam_a.mp4").is_file(), reason="sample_videos/ not in this checkout")
@pytest.mark.parametrize("size_wh", [(1920, 1080), (1001, 703), (480, 270)], ids=["1080p", "odd", "smaller"])
def test_frames_scaled_down_before_predict_give_ultralytics_own_boxes(
    sample_frames, size_wh: tuple[int, int]
) -> None:
    """YoloDetector scales large frames down itself (on a thread pool) and maps the boxes back:
    the same boxes and scores as ultralytics letterboxing the full frame, up to float rounding."""
    import dataclasses

    import cv2

    frames = [
        dataclasses.replace(f, image_bgr=cv2.resize(f.image_bgr, size_wh, interpolation=cv2.INTER_CUBIC))
        for f in sample_frames(step=45)
    ]
    det = build_detector(DetectorConfig(backend="ultralytics", weights=str(BUNDLED)), device="cpu")
    ours = det.detect(frames)
    theirs = det._predict([f.image_bgr for f in frames])  # type: ignore[attr-defined]
    assert sum(len(d) for d in ours) > 5
    for a, result in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.xyxy, result.boxes.xyxy.numpy().reshape(-1, 4), atol=1e-2)
        np.testing.assert_allclose(a.score, result.boxes.conf.numpy(), atol=1e-5)


@pytest.mark.parametrize(
    ("cuda", "backend", "bundled"), [(True, "ultralytics", ".safetensors"), (False, "litert", ".tflite")]
)
def test_the_bundled_model_follows_where_the_device_resolves(
    monkeypatch: pytest.MonkeyPatch, cuda: bool, backend: str, bundled: str
) -> None:
    """Without a GPU here, the GPU choice is checked with the device check replaced."""
    import pipeline.detections as detections
    from pipeline.detections import yolo

    monkeypatch.setattr(detections, "runs_on_cuda", lambda device: cuda)
    monkeypatch.setattr(yolo, "runs_on_cuda", lambda device: cuda)
    assert resolve_backend(DetectorConfig(), "auto") == backend
    assert yolo._bundled("auto").suffix == bundled


def test_auto_falls_back_to_the_tflite_file_if_the_torch_copy_does_not_load(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """On a GPU, a torch copy that no longer fits ultralytics' model costs speed, not the run."""
    import pipeline.detections as detections
    from pipeline.detections import yolo

    def broken(path: Path) -> None:
        raise WeightsError(f"{path}: tensors do not fit yolov8n.yaml")

    monkeypatch.setattr(detections, "runs_on_cuda", lambda device: True)
    monkeypatch.setattr(yolo, "runs_on_cuda", lambda device: True)
    monkeypatch.setattr(yolo, "resolve_device", lambda device: "cpu")  # no GPU here
    monkeypatch.setattr("pipeline.detections.yolo_safetensors.load_yolo_safetensors", broken)
    with caplog.at_level("WARNING"):
        det = build_detector(DetectorConfig(), device="auto")
    assert det.describe().startswith("litert")
    assert "runs on the CPU (litert) instead" in caplog.text and "do not fit" in caplog.text
    with pytest.raises(WeightsError, match="do not fit"):  # a file the user named: an error
        build_detector(DetectorConfig(weights=str(BUNDLED)), device="auto")
