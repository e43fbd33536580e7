"""② Frames → ``trackers.Detections`` (person boxes, xyxy pixels of the original frame), by back end.

Every detector has the same method, ``detect(frames) -> list[Detections]``, one entry per frame
(any mix of cameras), and ``describe()``, the line the run summary prints. The back end is
chosen by ``detector.backend`` from :data:`DETECTORS` and built by its ``from_config`` class
method: ``Cls.from_config(cfg: DetectorConfig, *, device: str) -> Detector``.

| name | module | |
|---|---|---|
| ``litert`` | :mod:`~pipeline.detections.litert` | ``.tflite`` on LiteRT interpreters, one per core (CPU) |
| ``ultralytics`` | :mod:`~pipeline.detections.yolo` | any ultralytics model file (GPU batching) |

``auto`` (the default) is ``litert`` for a ``.tflite`` file (the bundled model on the CPU) and
``ultralytics`` for anything else, and for the bundled model on a GPU: its weights in
``yolov8n_int8.safetensors`` (:mod:`~pipeline.detections.yolo_safetensors`) on torch. Both
give the same boxes for the bundled model (a test compares them), and its torch copy nearly
the same (tested too). :class:`~pipeline.detections.replay.ReplayDetector` replays saved
detections instead (``--detections-dir``). A new back end is one module plus one line below.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from infra.device import runs_on_cuda
from infra.errors import UserError, WeightsError
from infra.registry import Registry
from pipeline.detections.replay import ReplayDetector, rows_to_detections

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pipeline.config import DetectorConfig
    from pipeline.frames import Frame
    from trackers import Detections

__all__ = [
    "DETECTORS",
    "Detector",
    "DetectorFactory",
    "ReplayDetector",
    "build_detector",
    "resolve_backend",
    "rows_to_detections",
]


class Detector(Protocol):
    """A detector back end: one :class:`trackers.Detections` per frame, any mix of cameras."""

    def detect(self, frames: Sequence[Frame]) -> list[Detections]: ...

    def describe(self) -> str:
        """The back end, its threads and device, e.g. ``litert (2 interpreters x 1 thread, cpu)``."""
        ...


class DetectorFactory(Protocol):
    """A registered back end: builds its detector from the ``detector`` config section."""

    def from_config(self, cfg: DetectorConfig, *, device: str) -> Detector: ...


log = logging.getLogger(__name__)

DETECTORS: Registry[DetectorFactory] = Registry("detector back end")
DETECTORS.add("litert", "pipeline.detections.litert:LiteRTDetector")
DETECTORS.add("ultralytics", "pipeline.detections.yolo:YoloDetector")


def resolve_backend(cfg: DetectorConfig, device: str = "cpu") -> str:
    """The back end a config selects: ``detector.backend``, with ``auto`` resolved by the file type
    and, for the bundled model (``weights: null``), by ``device``: ``ultralytics`` (its torch copy)
    where ``device`` resolves to CUDA, else ``litert``."""
    if cfg.backend != "auto":
        return cfg.backend
    if cfg.weights is None:
        return "ultralytics" if runs_on_cuda(device) else "litert"
    return "litert" if Path(cfg.weights).suffix.lower() == ".tflite" else "ultralytics"


def build_detector(cfg: DetectorConfig, *, device: str, source: str = "<config>") -> Detector:
    """The detector of ``cfg`` on ``device`` (``auto``, ``cpu``, ``cuda:N``).

    ``auto`` with the bundled model on a GPU falls back to the CPU's TFLite file, with a warning,
    if its torch copy cannot be loaded.

    Raises:
        UserError: unknown back end (listing the registered ones), bad weights file (named).
    """
    name = resolve_backend(cfg, device)
    try:
        factory = DETECTORS.get(name)
    except UserError as err:
        raise UserError(f"{source}: detector.backend: {err}") from None
    bundled_on_gpu = name == "ultralytics" and cfg.backend == "auto" and cfg.weights is None
    try:
        return factory.from_config(cfg, device=device)
    except WeightsError as err:  # e.g. an ultralytics whose yolov8n.yaml no longer fits the file
        if not bundled_on_gpu:
            raise
        log.warning("%s; the bundled detector runs on the CPU (litert) instead", err)
        return DETECTORS.get("litert").from_config(cfg, device="cpu")
