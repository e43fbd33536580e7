"""The ``stream`` source kind: a URL (``rtsp://``, ``http(s)://``, ``udp://``…) read through OpenCV (FFmpeg).

Opened once, read under a watchdog and reconnected with back-off (:mod:`pipeline.frames.live`).
FFmpeg's own open and read timeouts are set from ``runtime.stream_open_timeout_s`` and
``runtime.stream_read_timeout_s``, so a cut stream never hangs for FFmpeg's default 30 s × 3.
RTSP transport and other FFmpeg options go in the ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` environment
variable (``rtsp_transport;tcp``), as OpenCV reads them.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.frames.live import LiveCaptureSource, LiveSettings

__all__ = ["StreamSource", "is_url"]

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_url(source: str) -> bool:
    """Whether ``source`` looks like a URL (``scheme://…``)."""
    return bool(_URL.match(source))


class StreamSource(LiveCaptureSource):
    """A network stream."""

    kind = "stream"

    @staticmethod
    def claims(source: str) -> bool:
        return is_url(source)

    @classmethod
    def _capture(cls, target: Any, settings: LiveSettings) -> Any:
        import cv2

        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(settings.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(settings.read_timeout_s * 1000),
        ]
        return cv2.VideoCapture(target, cv2.CAP_FFMPEG, params)

    @classmethod
    def open(cls, source: str, cam_id: str, default_fps: float) -> StreamSource:
        return cls.open_with(source, cam_id, default_fps, LiveSettings.from_config())

    @classmethod
    def open_with(cls, source: str, cam_id: str, default_fps: float, live: LiveSettings) -> StreamSource:
        stream: StreamSource = cls.open_live(source, cam_id, default_fps, source, live)
        return stream
