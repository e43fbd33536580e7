"""pipeline.detections.litert / yolo_numpy: ultralytics' steps redone in NumPy give ultralytics' boxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.config import DetectorConfig
from pipeline.detections import build_detector
from pipeline.detections.yolo_numpy import Letterbox, decode, letterbox, nms

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "sample_videos"


@pytest.mark.parametrize(
    ("hw", "size"),
    [
        ((360, 640), 640),
        ((336, 576), 640),
        ((1080, 1920), 640),
        ((640, 640), 640),
        ((101, 37), 320),
        ((7, 900), 64),
    ],
)
def test_letterbox_equals_ultralytics(hw: tuple[int, int], size: int) -> None:
    from ultralytics.data.augment import LetterBox

    rng = np.random.default_rng(sum(hw))
    image = rng.integers(0, 256, (*hw, 3), dtype=np.uint8)
    ours, box = letterbox(image, size)
    theirs = LetterBox((size, size), auto=False, stride=32)(image=image)
    expected = torch.from_numpy(theirs).flip(2).float().div_(255).numpy()  # BGR→RGB, /255 as the predictor
    assert ours.dtype == np.float32 and ours.shape == (size, size, 3)
    np.testing.assert_array_equal(ours, expected)
    assert Letterbox.fit(*hw, size) == box


def _random_boxes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    xy = rng.uniform(0, 100, (n, 2)).astype(np.float32)
    wh = rng.uniform(1, 40, (n, 2)).astype(np.float32)
    scores = rng.choice(np.linspace(0.3, 0.9, 7), n).astype(np.float32)  # many ties, as int8 outputs have
    return np.concatenate([xy, xy + wh], 1), scores


@pytest.mark.parametrize(
    ("n", "iou", "seed"), [(0, 0.7, 0), (1, 0.7, 1), (50, 0.7, 2), (300, 0.5, 3), (300, 0.1, 4)]
)
def test_nms_equals_torchvision(n: int, iou: float, seed: int) -> None:
    import torchvision

    boxes, scores = _random_boxes(np.random.default_rng(seed), n)
    expected = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou).numpy()
    np.testing.assert_array_equal(nms(boxes, scores, iou), expected)


@pytest.mark.parametrize(
    ("conf", "classes", "hw"),
    [(0.25, [0], (360, 640)), (0.5, [0], (1080, 1920)), (0.25, [0, 2], (336, 576)), (0.95, [0], (360, 640))],
)
def test_decode_equals_ultralytics_postprocess(conf: float, classes: list[int], hw: tuple[int, int]) -> None:
    from ultralytics.utils import nms as ul_nms
    from ultralytics.utils import ops

    rng = np.random.default_rng(7)
    n, nc = 2000, 80
    raw = np.zeros((4 + nc, n), np.float32)
    raw[:2] = rng.uniform(0, 640, (2, n))
    raw[2:4] = rng.uniform(4, 200, (2, n))
    raw[4:] = (rng.random((nc, n)) ** 8).astype(np.float32)  # mostly low, a few high scores
    box = Letterbox.fit(*hw, 640)
    ours = decode(raw.copy(), box, hw, conf_threshold=conf, classes=np.asarray(classes))

    (pred,) = ul_nms.non_max_suppression(
        torch.from_numpy(raw.copy())[None], conf, 0.7, classes, False, max_det=300, nc=0
    )
    pred[:, :4] = ops.scale_boxes((640, 640), pred[:, :4], (*hw, 3))
    np.testing.assert_array_equal(ours.xyxy, pred[:, :4].numpy())
    np.testing.assert_array_equal(ours.score, pred[:, 4].numpy())
    np.testing.assert_array_equal(ours.class_id, pred[:, 5].numpy().astype(np.int64))


@pytest.mark.skipif(not (SAMPLE / "cam_a.mp4").is_file(), reason="sample_videos/ not in this checkout")
def test_litert_boxes_equal_the_ultralytics_backend_on_the_sample(sample_frames) -> None:
    """Golden equality: same boxes, scores, classes and order, bit for bit, on frames of both cameras.

    (benchmarks/detector_backends.py checks every frame and the whole run's tracks.json.)
    """
    frames = sample_frames(step=6)
    litert = build_detector(DetectorConfig(backend="litert", parallelism=2), device="cpu")
    ultra = build_detector(DetectorConfig(backend="ultralytics"), device="cpu")
    ours, theirs = litert.detect(frames), ultra.detect(frames)
    assert sum(len(d) for d in theirs) > 50
    for frame, a, b in zip(frames, ours, theirs, strict=True):
        where = f"{frame.cam_id} frame {frame.index}"
        np.testing.assert_array_equal(a.xyxy, b.xyxy, err_msg=where)
        np.testing.assert_array_equal(a.score, b.score, err_msg=where)
        np.testing.assert_array_equal(a.class_id, b.class_id, err_msg=where)


@pytest.mark.skipif(not (SAMPLE / "cam_a.mp4").is_file(), reason="sample_videos/ not in this checkout")
@pytest.mark.parametrize(
    ("threads", "parallelism", "expected"), [(1, 0, (1, 1)), (2, 1, (1, 2)), (3, 3, (3, 1))]
)
def test_parallel_interpreters_give_the_serial_result(
    sample_frames, threads: int, parallelism: int, expected: tuple[int, int]
) -> None:
    frames = sample_frames(step=30)
    serial = build_detector(DetectorConfig(backend="litert", threads=1, parallelism=1), device="cpu")
    other = build_detector(
        DetectorConfig(backend="litert", threads=threads, parallelism=parallelism), device="cpu"
    )
    assert (other.parallelism, other.threads_per_interpreter) == expected  # type: ignore[attr-defined]
    for a, b in zip(serial.detect(frames), other.detect(frames), strict=True):
        np.testing.assert_array_equal(a.xyxy, b.xyxy)
        np.testing.assert_array_equal(a.score, b.score)
    other.close()  # type: ignore[attr-defined]
