"""The ``ultralytics`` back end: :class:`YoloDetector` runs any ultralytics model file.

By default the bundled YOLOv8n: its TFLite int8 file on the CPU, the same weights from
``.safetensors`` on torch on a GPU; or any ultralytics model file (``.pt``, ``.onnx``,
``.engine``…). The frames of several cameras go through **one** ``predict`` call
(pre- and post-processing batched; torch models also batch the network forward, on the GPU when
there is one, in fp16 with ``detector.fp16``). The bundled TFLite graph has a fixed batch of 1,
so ultralytics runs its network once per frame inside that call, on one thread (ultralytics'
own choice on a 2-core machine); the ``litert`` back end is the faster way to run that file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from infra.device import resolve_device, runs_on_cuda
from infra.errors import UserError, WeightsError
from pipeline.detections.yolo_numpy import Letterbox
from pipeline.frames import Frame
from trackers import Detections

if TYPE_CHECKING:
    from pipeline.config import DetectorConfig

__all__ = ["YoloDetector"]

log = logging.getLogger(__name__)

_UNIT_SCALE = np.ones(4, np.float32)


def _bundled(device: str) -> Path:
    """The bundled model: its torch weights where ``device`` resolves to CUDA, else the TFLite file."""
    from pipeline.weights import default_detector_path, default_torch_detector_path

    return default_torch_detector_path() if runs_on_cuda(device) else default_detector_path()


class YoloDetector:
    """Person detector over an ultralytics YOLO model.

    Args:
        weights: model file (``.safetensors`` in the format of
            :mod:`~pipeline.detections.yolo_safetensors`, or any file ultralytics loads);
            ``None`` = the bundled model: ``yolov8n_int8.safetensors`` on torch where ``device``
            resolves to CUDA, else ``yolov8n_int8.tflite`` (CPU).
        conf_threshold: smallest score kept, in [0, 1].
        classes: class ids kept (COCO person = 0); kept rows get ``class_id`` from the model.
        imgsz_px: network input size in pixels.
        device: ``auto``, ``cpu`` or ``cuda:N`` (TFLite models always run on the CPU).
        batch_frames: most frames per ``predict`` call.
        fp16: half precision on a GPU (ignored on the CPU).

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
        fp16: bool,
    ) -> None:
        path = Path(weights) if weights is not None else _bundled(device)
        if not path.is_file():
            raise WeightsError(f"{path}: detector weights not found")
        self.path = path
        self.conf_threshold = float(conf_threshold)
        self.classes = [int(c) for c in classes]
        self.imgsz_px = int(imgsz_px)
        self.batch_frames = max(1, int(batch_frames))
        on_torch_device = path.suffix in (".pt", ".pth", ".safetensors", ".engine", ".onnx")
        self.device = str(resolve_device(device)) if on_torch_device else "cpu"
        self.fp16 = bool(fp16) and self.device.startswith("cuda")
        # frames are scaled down to the network input on these threads (cv2 releases the GIL)
        self._pool = ThreadPoolExecutor(
            max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="yolo-shrink"
        )
        try:
            from ultralytics import YOLO
            from ultralytics.utils import LOGGER as ULTRALYTICS_LOG

            # ultralytics logs "Loading … for … inference" to stdout: keep stdout for results.
            level = ULTRALYTICS_LOG.level
            ULTRALYTICS_LOG.setLevel(logging.WARNING)
            try:
                if path.suffix == ".safetensors":
                    from pipeline.detections.yolo_safetensors import load_yolo_safetensors

                    self._model = load_yolo_safetensors(path)
                else:
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
            fp16=cfg.fp16,
        )

    def describe(self) -> str:
        """The back end as the summary prints it, e.g. ``ultralytics (cpu)``."""
        return f"ultralytics ({self.device}{', fp16' if self.fp16 else ''})"

    def _predict(self, images: list[np.ndarray]) -> list[Any]:
        return list(
            self._model.predict(
                images,
                conf=self.conf_threshold,
                classes=self.classes,
                imgsz=self.imgsz_px,
                device=self.device,
                verbose=False,
                batch=len(images),
                **({"half": True} if self.fp16 else {}),
            )
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
            shrunk = list(self._pool.map(self._shrink, chunk))
            results = self._predict([image for image, _ in shrunk])
            for (_, scale), result in zip(shrunk, results, strict=True):
                boxes = result.boxes
                if boxes is None or len(boxes) == 0:
                    out.append(Detections.empty())
                    continue
                out.append(
                    Detections(
                        xyxy=(boxes.xyxy.cpu().numpy() * scale).astype(np.float32),
                        score=boxes.conf.cpu().numpy().astype(np.float32),
                        class_id=boxes.cls.cpu().numpy().astype(np.int64),
                    )
                )
        return out

    def close(self) -> None:
        """Stop the resize threads (the detector cannot be used afterwards)."""
        self._pool.shutdown(wait=True)

    def _shrink(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A frame larger than the network input scaled down as ultralytics' letterbox would (same
        size, same interpolation), and the (4,) factors that take its xyxy boxes back to the frame.

        Done here, on the pool's threads, rather than by ultralytics one frame after another on the
        caller's (0.8 ms a 1080p frame on a Xeon core): at many 1080p cameras on a GPU the caller's
        thread is the limit (docs/speed.md). The network sees the same input, so the boxes are
        ultralytics' own up to float rounding.
        """
        h, w = image_bgr.shape[:2]
        fit = Letterbox.fit(h, w, self.imgsz_px)
        if fit.new_w >= w:  # not larger: ultralytics letterboxes it as it is
            return image_bgr, _UNIT_SCALE
        small = cv2.resize(image_bgr, (fit.new_w, fit.new_h), interpolation=cv2.INTER_LINEAR)
        sx, sy = w / fit.new_w, h / fit.new_h
        return small, np.array([sx, sy, sx, sy], np.float32)
