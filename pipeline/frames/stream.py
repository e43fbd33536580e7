"""The ``stream`` source kind: a URL (``rtsp://``, ``http(s)://``, ``udp://``…) read through OpenCV (FFmpeg).

Opened once: the capture that checked the stream (and the first frame it read) is the one that is
read. Timestamps are ``index / fps`` with the stream's stated rate (``default_fps`` if none).
"""

from __future__ import annotations

import re
from typing import Any

from infra.errors import UserError
from pipeline.frames import SourceInfo
from pipeline.frames.capture import CaptureSource

__all__ = ["StreamSource", "is_url", "open_live_capture"]

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_url(source: str) -> bool:
    """Whether ``source`` looks like a URL (``scheme://…``)."""
    return bool(_URL.match(source))


def open_live_capture(
    cls: type[CaptureSource], source: str, cam_id: str, default_fps: float, target: Any
) -> Any:
    """Open a live capture of ``target`` once, read its first frame, and build ``cls`` around it."""
    import cv2

    cap = cv2.VideoCapture(target)
    try:
        if not cap.isOpened():
            raise UserError(f"{source}: cannot open {cls.kind}")
        ok, image = cap.read()
        if not ok or image is None:
            raise UserError(f"{source}: {cls.kind} yields no frames")
    except BaseException:
        cap.release()
        raise
    fps = cap.get(cv2.CAP_PROP_FPS)
    fps = float(fps) if fps and 0 < fps < 1000 else float(default_fps)
    h, w = image.shape[:2]
    info = SourceInfo(cam_id, source, cls.kind, fps, w, h, None, rewindable=False)
    return cls(info, cap=cap, first=image, container_times=False)


class StreamSource(CaptureSource):
    """A network stream."""

    kind = "stream"
    live = True

    @staticmethod
    def claims(source: str) -> bool:
        return is_url(source)

    @classmethod
    def open(cls, source: str, cam_id: str, default_fps: float) -> StreamSource:
        source_obj: StreamSource = open_live_capture(cls, source, cam_id, default_fps, source)
        return source_obj
