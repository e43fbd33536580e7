"""Bundled detector weights (package data): the default person detector of ``reid-pipeline``.

``yolov8n_int8.tflite`` is Ultralytics YOLOv8n (COCO, person = class 0) exported by ultralytics
8.2.8 to TFLite with int8 weights and float32 input/output (``[1, 640, 640, 3]`` NHWC →
``[1, 84, 8400]``); it runs on the CPU through ``ultralytics.YOLO(path, task="detect")`` with the
``ai-edge-litert`` package. Licence: AGPL-3.0 (see ``LICENSE-AGPL-3.0.md`` beside it).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["DEFAULT_DETECTOR", "default_detector_path"]

DEFAULT_DETECTOR = "yolov8n_int8.tflite"
"""File name of the bundled detector in this package."""


def default_detector_path() -> Path:
    """Path of the bundled TFLite detector (a real file: package data is installed unzipped)."""
    return Path(str(resources.files(__name__).joinpath(DEFAULT_DETECTOR)))
