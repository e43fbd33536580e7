"""The ``webcam`` source kind: a capture device by index (``"0"``), read through OpenCV.

Read like a stream (:mod:`pipeline.frames.live`): a watchdog on each frame, reconnects with
back-off when the device stops answering (unplugged).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.frames.live import LiveCaptureSource, LiveSettings

__all__ = ["WebcamSource", "is_webcam"]


def is_webcam(source: str) -> bool:
    """Whether ``source`` is a device index (digits that are not the name of an existing path)."""
    return source.isdigit() and not Path(source).exists()


class WebcamSource(LiveCaptureSource):
    """A local camera device."""

    kind = "webcam"

    @staticmethod
    def claims(source: str) -> bool:
        return is_webcam(source)

    @classmethod
    def _capture(cls, target: Any, settings: LiveSettings) -> Any:
        import cv2

        return cv2.VideoCapture(int(target))

    @classmethod
    def open(cls, source: str, cam_id: str, default_fps: float) -> WebcamSource:
        return cls.open_with(source, cam_id, default_fps, LiveSettings.from_config())

    @classmethod
    def open_with(cls, source: str, cam_id: str, default_fps: float, live: LiveSettings) -> WebcamSource:
        webcam: WebcamSource = cls.open_live(source, cam_id, default_fps, int(source), live)
        return webcam
