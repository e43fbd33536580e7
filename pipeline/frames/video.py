"""The ``video`` source kind: a video file, decoded with OpenCV (FFmpeg)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from infra.errors import UserError
from pipeline.frames import SourceInfo
from pipeline.frames.capture import CaptureSource
from pipeline.frames.folder import seqinfo_fps
from pipeline.frames.stream import is_url
from pipeline.frames.webcam import is_webcam

__all__ = ["VideoFileSource"]

log = logging.getLogger("pipeline.frames")


class VideoFileSource(CaptureSource):
    """A video file. The frame rate is ``seqinfo.ini``'s when one sits beside the file, else the
    container's, else ``default_fps``; timestamps are the container's clock unless the two rates
    disagree (then ``index / fps``)."""

    kind = "video"
    live = False

    @staticmethod
    def claims(source: str) -> bool:
        return not is_url(source) and not is_webcam(source) and not Path(source).is_dir()

    @classmethod
    def open(cls, source: str, cam_id: str, default_fps: float) -> VideoFileSource:
        import cv2

        path = Path(source)
        if not path.exists():
            raise UserError(f"{source}: no such file or folder")
        try:
            with path.open("rb") as handle:
                handle.read(1)
        except OSError as err:
            raise UserError(f"{source}: cannot read ({err.strerror})") from None
        cap = cv2.VideoCapture(str(path))
        try:
            if not cap.isOpened():
                raise UserError(f"{source}: not a readable video")
            ok, image = cap.read()
            if not ok or image is None:
                raise UserError(f"{source}: video yields no frames")
        except BaseException:
            cap.release()
            raise
        container_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps, container_times = _frame_rate(source, container_fps, seqinfo_fps(path.parent), default_fps)
        h, w = image.shape[:2]
        info = SourceInfo(cam_id, source, cls.kind, fps, w, h, count if count > 0 else None, rewindable=True)
        return cls(info, cap=cap, first=image, container_times=container_times)

    def _reopen(self) -> Any:
        import cv2

        cap = cv2.VideoCapture(str(self.info.source))
        if not cap.isOpened():
            cap.release()
            raise UserError(f"{self.info.source}: cannot open video")
        return cap


def _frame_rate(
    source: str, container_fps: float, ini_fps: float | None, default_fps: float
) -> tuple[float, bool]:
    """``(fps, use the container's clock)`` of a video file."""
    if ini_fps is not None:
        if abs(container_fps - ini_fps) > 1e-3 * ini_fps:
            log.info(
                "%s: container states %.3f fps, seqinfo.ini %.3f fps; using seqinfo.ini",
                source,
                container_fps,
                ini_fps,
            )
            return ini_fps, False  # the container's clock is the wrong one
        return ini_fps, True
    if 0 < container_fps < 1000:
        return container_fps, True
    return float(default_fps), False
