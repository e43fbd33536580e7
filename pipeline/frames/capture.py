"""Reading an OpenCV ``VideoCapture`` frame by frame: the loop shared by video files, streams and webcams.

:class:`CaptureSource` holds the capture opened by ``open`` (and the first frame it decoded to
check the source), so :meth:`CaptureSource.frames` goes on from there: the source is opened once.
A rewindable source (a file) is opened again only when it is read a second time.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import numpy as np

from infra.errors import UserError
from pipeline.frames import Frame, FrameSource, SourceInfo

__all__ = ["MAX_CONSECUTIVE_FAILURES", "CaptureSource"]

log = logging.getLogger("pipeline.frames")

MAX_CONSECUTIVE_FAILURES = 25  # decode failures in a row before a video is taken to have ended


class CaptureSource(FrameSource):
    """A source read through ``cv2.VideoCapture``.

    Args:
        info: what the opening found.
        cap: the capture, positioned after the first frame (``None``: open again on read).
        first: the first frame's image (BGR), already decoded by ``open`` from ``cap``.
        container_times: use the container's clock (``CAP_PROP_POS_MSEC``) rather than ``index / fps``.
    """

    def __init__(self, info: SourceInfo, *, cap: Any, first: np.ndarray, container_times: bool) -> None:
        super().__init__(info)
        self._cap = cap
        self._first: np.ndarray | None = first
        self._container_times = container_times

    def _reopen(self) -> Any:
        """A new capture at the start of the source (rewindable sources only)."""
        raise UserError(f"{self.info.source}: a live {self.info.kind} cannot be read twice")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def frames(self) -> Generator[Frame, None, None]:
        """Yield the frames in order; a rewindable source starts again from its first frame each call.

        Raises:
            UserError: the source cannot be opened any more (named).
        """
        self.skipped = 0
        cap, first = self._cap, self._first
        self._cap, self._first = None, None
        if cap is None:
            cap, first = self._reopen(), None
        try:
            yield from self._read(cap, first)
        finally:
            cap.release()

    def _time_s(self, cap: Any, index: int) -> float:
        import cv2

        time_s = index / self.info.fps
        if self._container_times:
            msec = cap.get(cv2.CAP_PROP_POS_MSEC)
            if msec > 0 or index == 0:
                time_s = msec / 1000.0
        return round(float(time_s), 6)  # µs

    def _read(self, cap: Any, first: np.ndarray | None) -> Generator[Frame, None, None]:
        cam_id = self.info.cam_id
        index = -1
        if first is not None:
            index = 0
            yield Frame(cam_id, 0, self._time_s(cap, 0), first)
        failures = 0
        known = self.info.num_frames
        pending = 0  # grab failures not yet known to be mid-stream (vs. the end)
        while True:
            if not cap.grab():
                # End of stream, or a frame the demuxer could not read: for a file whose length
                # is known, try to step over it; it counts as skipped only if a later frame
                # decodes (a stated length can be a little too long).
                if known is not None and index + 1 < known and pending < MAX_CONSECUTIVE_FAILURES:
                    pending += 1
                    index += 1
                    continue
                break
            if pending:
                self.skipped += pending
                log.warning("%s: %d frame(s) before %d failed to read, skipped", cam_id, pending, index + 1)
                pending = 0
            index += 1
            ok, image = cap.retrieve()
            if not ok or image is None or image.size == 0 or image.ndim != 3:
                failures += 1
                self.skipped += 1
                log.warning("%s: frame %d failed to decode, skipped", cam_id, index)
                if failures >= MAX_CONSECUTIVE_FAILURES:
                    break
                continue
            failures = 0
            yield Frame(cam_id, index, self._time_s(cap, index), image)
        read = index + 1 - pending
        if known is not None and known - read > max(2, known // 100):  # stated lengths can be a bit long
            log.warning(
                "%s: %s states %d frames but only %d could be read: truncated or damaged?",
                cam_id,
                self.info.source,
                known,
                read,
            )
