"""The ``webcam`` source kind: a capture device by index (``"0"``), read through OpenCV."""

from __future__ import annotations

from pathlib import Path

from pipeline.frames.capture import CaptureSource

__all__ = ["WebcamSource", "is_webcam"]


def is_webcam(source: str) -> bool:
    """Whether ``source`` is a device index (digits that are not the name of an existing path)."""
    return source.isdigit() and not Path(source).exists()


class WebcamSource(CaptureSource):
    """A local camera device."""

    kind = "webcam"
    live = True

    @staticmethod
    def claims(source: str) -> bool:
        return is_webcam(source)

    @classmethod
    def open(cls, source: str, cam_id: str, default_fps: float) -> WebcamSource:
        from pipeline.frames.stream import open_live_capture

        webcam: WebcamSource = open_live_capture(cls, source, cam_id, default_fps, int(source))
        return webcam
