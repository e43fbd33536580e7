"""Bundled detector weights (package data): the default person detector of ``reid-pipeline``.

``yolov8n_int8.tflite`` is Ultralytics YOLOv8n (COCO, person = class 0) exported by ultralytics
8.2.8 to TFLite with int8 weights and float32 input/output (``[1, 640, 640, 3]`` NHWC →
``[1, 84, 8400]``); it runs on the CPU (``litert`` back end, or ultralytics with the
``ai-edge-litert`` package).

``yolov8n_int8.safetensors`` holds **the same weights** for torch, so that a GPU runs the same
detector: each convolution's int8 weights with their scale and its float32 bias, BatchNorm folded
in as in the TFLite file, named after ultralytics' fused ``yolov8n.yaml`` model
(:mod:`pipeline.detections.yolo_safetensors` loads it; ``tools/yolo_tflite_to_safetensors.py``
made it from the TFLite file). No pickle: safe to load. Licence of both: AGPL-3.0 (see
``LICENSE-AGPL-3.0.md`` beside them).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["DEFAULT_DETECTOR", "TORCH_DETECTOR", "default_detector_path", "default_torch_detector_path"]

DEFAULT_DETECTOR = "yolov8n_int8.tflite"
"""File name of the bundled detector in this package (CPU runs)."""

TORCH_DETECTOR = "yolov8n_int8.safetensors"
"""File name of the bundled detector's weights for torch (GPU runs)."""


def default_detector_path() -> Path:
    """Path of the bundled TFLite detector (a real file: package data is installed unzipped)."""
    return Path(str(resources.files(__name__).joinpath(DEFAULT_DETECTOR)))


def default_torch_detector_path() -> Path:
    """Path of the bundled detector's torch weights (:data:`TORCH_DETECTOR`)."""
    return Path(str(resources.files(__name__).joinpath(TORCH_DETECTOR)))
