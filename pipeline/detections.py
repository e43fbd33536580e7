"""② Frames → ``trackers.Detections`` (person boxes, xyxy pixels of the original frame).

Two adapters with the same method, ``detect(frames) -> list[Detections]``, one entry per frame:

- :class:`YoloDetector` runs an ultralytics model, by default the bundled TFLite YOLOv8n int8
  (CPU), or any ultralytics model file (``.pt``, ``.onnx``, ``.engine``…). The frames of several
  cameras go through **one** ``predict`` call (pre- and post-processing batched; torch models
  also batch the network forward, on the GPU when there is one). The bundled TFLite graph has a
  fixed batch of 1, so ultralytics runs its network once per frame inside that call.
- :class:`ReplayDetector` reads saved detections, one MOTChallenge file per camera
  (``<dir>/<cam_id>.txt``, 1-based frame = decoded index + 1), so the pipeline runs without a
  model (tests, tuning).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from infra.device import resolve_device
from infra.errors import UserError, WeightsError
from infra.motchallenge import MotRows, read_mot
from pipeline.frames import Frame
from trackers import Detections

if TYPE_CHECKING:
    from pipeline.config import DetectorConfig

__all__ = ["ReplayDetector", "YoloDetector", "rows_to_detections"]

log = logging.getLogger(__name__)


class YoloDetector:
    """Person detector over an ultralytics YOLO model.

    Args:
        weights: model file; ``None`` = the bundled ``pipeline/weights/yolov8n_int8.tflite``.
        conf_threshold: smallest score kept, in [0, 1].
        classes: class ids kept (COCO person = 0); kept rows get ``class_id`` from the model.
        imgsz_px: network input size in pixels.
        device: ``auto``, ``cpu`` or ``cuda:N`` (TFLite models always run on the CPU).
        batch_frames: most frames per ``predict`` call.

    Raises:
        WeightsError: the file is missing or ultralytics cannot load it (named).
    """

    def __init__(
        self,
        weights: str | Path | None,
        *,
        conf_threshold: float,
        classes: Sequence[int],
        imgsz_px: int,
        device: str,
        batch_frames: int,
    ) -> None:
        from pipeline.weights import default_detector_path

        path = Path(weights) if weights is not None else default_detector_path()
        if not path.is_file():
            raise WeightsError(f"{path}: detector weights not found")
        self.path = path
        self.conf_threshold = float(conf_threshold)
        self.classes = [int(c) for c in classes]
        self.imgsz_px = int(imgsz_px)
        self.batch_frames = max(1, int(batch_frames))
        is_torch = path.suffix in (".pt", ".pth")
        on_torch_device = is_torch or path.suffix in (".engine", ".onnx")
        self.device = str(resolve_device(device)) if on_torch_device else "cpu"
        try:
            from ultralytics import YOLO
            from ultralytics.utils import LOGGER as ULTRALYTICS_LOG

            # ultralytics logs "Loading … for … inference" to stdout: keep stdout for results.
            level = ULTRALYTICS_LOG.level
            ULTRALYTICS_LOG.setLevel(logging.WARNING)
            try:
                self._model = YOLO(str(path), task="detect")
                # One warm-up call: loads the backend now (a bad file fails here, named), not at frame 1.
                self._predict([np.zeros((self.imgsz_px, self.imgsz_px, 3), np.uint8)])
            finally:
                ULTRALYTICS_LOG.setLevel(level)
            log.info("detector: %s on %s", path, self.device)
        except UserError:
            raise
        except Exception as err:  # ultralytics raises many types for a bad file
            message = " ".join(str(err).split())[:200]
            raise WeightsError(f"{path}: cannot load detector ({type(err).__name__}: {message})") from None

    @classmethod
    def from_config(cls, cfg: DetectorConfig, *, device: str) -> YoloDetector:
        """Build from the ``detector`` config section on ``device`` (``auto``, ``cpu``, ``cuda:N``)."""
        return cls(
            cfg.weights,
            conf_threshold=cfg.conf_threshold,
            classes=cfg.classes,
            imgsz_px=cfg.imgsz_px,
            device=device,
            batch_frames=cfg.batch_frames,
        )

    def _predict(self, images: list[np.ndarray]) -> list:
        return self._model.predict(
            images,
            conf=self.conf_threshold,
            classes=self.classes,
            imgsz=self.imgsz_px,
            device=self.device,
            verbose=False,
            batch=len(images),
        )

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """Detect people in ``frames`` (any mix of cameras) in as few ``predict`` calls as allowed.

        Args:
            frames: frames with ``(H, W, 3)`` uint8 BGR images (ultralytics expects BGR arrays).

        Returns:
            One :class:`trackers.Detections` per frame, boxes xyxy in pixels of that frame.
        """
        out: list[Detections] = []
        for start in range(0, len(frames), self.batch_frames):
            chunk = [f.image_bgr for f in frames[start : start + self.batch_frames]]
            for result in self._predict(chunk):
                boxes = result.boxes
                if boxes is None or len(boxes) == 0:
                    out.append(Detections.empty())
                    continue
                out.append(
                    Detections(
                        xyxy=boxes.xyxy.cpu().numpy().astype(np.float32),
                        score=boxes.conf.cpu().numpy().astype(np.float32),
                        class_id=boxes.cls.cpu().numpy().astype(np.int64),
                    )
                )
        return out


def rows_to_detections(rows: MotRows) -> Detections:
    """MOTChallenge rows (tlwh pixels, ``conf`` as score) as person :class:`trackers.Detections` (xyxy)."""
    return Detections(
        rows.to_xyxy().astype(np.float32), rows.score.astype(np.float32), np.zeros(len(rows), np.int64)
    )


class ReplayDetector:
    """Saved detections replayed as if a detector produced them.

    Args:
        folder: a folder with one MOTChallenge file per camera, ``<cam_id>.txt``; frame numbers are
            1-based (= decoded index + 1), boxes tlwh pixels, ``conf`` the score.
        cam_ids: the cameras of the run; each must have its file.
        conf_threshold: rows scoring below this are dropped, in [0, 1].

    Raises:
        UserError: the folder or a camera's file is missing or malformed (named).
    """

    def __init__(self, folder: str | Path, cam_ids: Sequence[str], *, conf_threshold: float) -> None:
        folder = Path(folder)
        if not folder.is_dir():
            raise UserError(f"{folder}: --detections-dir is not a folder")
        self.folder = folder
        self._by_cam: dict[str, dict[int, Detections]] = {}
        for cam_id in cam_ids:
            path = folder / f"{cam_id}.txt"
            if not path.is_file():
                raise UserError(f"{path}: no saved detections for camera {cam_id!r} (expected <cam_id>.txt)")
            rows = read_mot(path)
            rows = rows[rows.score >= conf_threshold]
            self._by_cam[cam_id] = {frame: rows_to_detections(part) for frame, part in rows.by_frame()}

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """The saved detections of each frame (``Detections.empty()`` where there are none)."""
        return [self._by_cam[f.cam_id].get(f.index + 1, Detections.empty()) for f in frames]
