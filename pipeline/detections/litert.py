"""The ``litert`` back end: a ``.tflite`` YOLO model run directly by LiteRT interpreters, on every core.

The bundled TFLite YOLOv8n int8 has a fixed batch of 1, and ultralytics runs it through one
interpreter on one thread (on a 2-core machine), so half the machine idled during detection.
:class:`LiteRTDetector` keeps ``parallelism`` interpreters (default: one per core, one thread
each) and spreads the frames of one detector call (the due frame of every camera) over them on
a thread pool; LiteRT releases the GIL while a graph runs. Letterbox and NMS are NumPy/OpenCV
(:mod:`~pipeline.detections.yolo_numpy`), computed as ultralytics computes them, so the boxes
equal the ``ultralytics`` back end's on the same file.
"""

from __future__ import annotations

import logging
import os
import queue
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from infra.errors import UserError, WeightsError
from pipeline.detections.yolo_numpy import decode, letterbox
from pipeline.frames import Frame
from trackers import Detections

if TYPE_CHECKING:
    from pipeline.config import DetectorConfig

__all__ = ["LiteRTDetector", "available_cores"]

log = logging.getLogger(__name__)


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class _Runner:
    """One interpreter with its input buffer (used by one thread at a time)."""

    def __init__(self, path: Path, threads: int) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        (inp,) = self.interpreter.get_input_details()
        outs = self.interpreter.get_output_details()
        shape = tuple(int(s) for s in inp["shape"])
        if len(shape) != 4 or shape[0] != 1 or shape[3] != 3 or shape[1] != shape[2] or len(outs) != 1:
            raise ValueError(
                f"expected a YOLO detect graph [1, S, S, 3] -> [1, 4 + nc, N], got input {shape}"
            )
        if np.dtype(inp["dtype"]) != np.float32 or np.dtype(outs[0]["dtype"]) != np.float32:
            raise ValueError("expected float32 input and output (an ultralytics TFLite export)")
        self.size_px = shape[1]
        self.input_index = int(inp["index"])
        self.output_index = int(outs[0]["index"])
        self.buffer = np.empty((1, self.size_px, self.size_px, 3), np.float32)

    def run(self, image_bgr: np.ndarray) -> tuple[np.ndarray, Any]:
        _, box = letterbox(image_bgr, self.size_px, out=self.buffer[0])
        self.interpreter.set_tensor(self.input_index, self.buffer)
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self.output_index)[0].copy()  # (4 + nc, N)
        raw[[0, 2]] *= self.size_px  # exported normalised: xywh to input pixels (as ultralytics does)
        raw[[1, 3]] *= self.size_px
        return raw, box


class LiteRTDetector:
    """Person detector: a ``.tflite`` YOLO detect model on ``parallelism`` LiteRT interpreters.

    Args:
        weights: a ``.tflite`` ultralytics YOLO detect export (float32 I/O, ``[1, S, S, 3]`` input);
            ``None`` = the bundled ``pipeline/weights/yolov8n_int8.tflite``.
        conf_threshold: smallest score kept, in [0, 1].
        classes: class ids kept (COCO person = 0), of each box's best class.
        imgsz_px: network input side in pixels; must be the graph's (640 for the bundled model).
        threads: CPU threads for detection in all; 0 = every core this process may use.
        parallelism: interpreters running at once (frames detected in parallel); 0 = one per
            thread (each interpreter then runs on one thread, the fastest split measured).

    Raises:
        WeightsError: the file is missing or is not such a model (named).
        UserError: ``imgsz_px`` differs from the graph's input size.
    """

    name = "litert"

    def __init__(
        self,
        weights: str | Path | None,
        *,
        conf_threshold: float,
        classes: Sequence[int],
        imgsz_px: int,
        threads: int,
        parallelism: int,
    ) -> None:
        from pipeline.weights import default_detector_path

        path = Path(weights) if weights is not None else default_detector_path()
        if not path.is_file():
            raise WeightsError(f"{path}: detector weights not found")
        self.path = path
        self.device = "cpu"
        self.conf_threshold = float(conf_threshold)
        self.classes = np.asarray([int(c) for c in classes], np.int64)
        self.threads = int(threads) if threads > 0 else available_cores()
        self.parallelism = int(parallelism) if parallelism > 0 else self.threads
        self.threads_per_interpreter = max(1, self.threads // self.parallelism)
        try:
            runners = [_Runner(path, self.threads_per_interpreter) for _ in range(self.parallelism)]
        except Exception as err:  # LiteRT raises ValueError/RuntimeError for a bad file
            message = " ".join(str(err).split())[:200]
            raise WeightsError(f"{path}: cannot load detector ({type(err).__name__}: {message})") from None
        size = runners[0].size_px
        if size != imgsz_px:
            raise UserError(
                f"{path}: detector.imgsz_px is {imgsz_px} but this .tflite graph takes {size} px "
                f"(set detector.imgsz_px: {size})"
            )
        self.imgsz_px = int(imgsz_px)
        self._idle: queue.SimpleQueue[_Runner] = queue.SimpleQueue()
        for runner in runners:
            self._idle.put(runner)
        self._pool = (
            ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="litert")
            if self.parallelism > 1
            else None
        )
        log.info(
            "detector: %s on litert, %d interpreter(s) x %d thread(s)",
            path,
            self.parallelism,
            self.threads_per_interpreter,
        )

    @classmethod
    def from_config(cls, cfg: DetectorConfig, *, device: str) -> LiteRTDetector:
        """Build from the ``detector`` config section (``device`` is ignored: LiteRT runs on the CPU)."""
        del device
        return cls(
            cfg.weights,
            conf_threshold=cfg.conf_threshold,
            classes=cfg.classes,
            imgsz_px=cfg.imgsz_px,
            threads=cfg.threads,
            parallelism=cfg.parallelism,
        )

    def describe(self) -> str:
        """The back end as the summary prints it, e.g. ``litert (2 interpreters x 1 thread, cpu)``."""
        return (
            f"litert ({self.parallelism} interpreter{'s' * (self.parallelism > 1)} x "
            f"{self.threads_per_interpreter} thread{'s' * (self.threads_per_interpreter > 1)}, cpu)"
        )

    def _detect_one(self, image_bgr: np.ndarray) -> Detections:
        runner = self._idle.get()
        try:
            raw, box = runner.run(image_bgr)
        finally:
            self._idle.put(runner)
        return decode(raw, box, image_bgr.shape[:2], conf_threshold=self.conf_threshold, classes=self.classes)

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """Detect people in ``frames`` (any mix of cameras), up to ``parallelism`` frames at once.

        Args:
            frames: frames with ``(H, W, 3)`` uint8 BGR images.

        Returns:
            One :class:`trackers.Detections` per frame, boxes xyxy float32 in pixels of that frame.
        """
        images = [f.image_bgr for f in frames]
        if self._pool is None or len(images) <= 1:
            return [self._detect_one(im) for im in images]
        return list(self._pool.map(self._detect_one, images))

    def close(self) -> None:
        """Stop the worker threads (the detector cannot be used afterwards)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
