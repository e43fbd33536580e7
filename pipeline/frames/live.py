"""Live captures (streams, webcams): opened once, read under a watchdog, reconnected with back-off.

A live source never ends by itself, so an end of its frames is a fault. :class:`LiveCaptureSource`:

- **opens once** (the capture that read the first frame is the one that is read) within
  ``runtime.stream_open_timeout_s``;
- reads every frame under a **watchdog**: the capture is read on a thread of its own
  (:class:`_Grabber`) and a frame that does not come within ``runtime.stream_read_timeout_s``
  counts as a stall (FFmpeg's own open/read timeouts are set to the same values, so the abandoned
  read also gives up and its capture is released);
- on a stall or a cut, **reconnects** with exponential back-off (``runtime.reconnect_delay_s``
  doubling up to ``runtime.reconnect_max_delay_s``), at most ``runtime.reconnect_max_tries``
  failed tries in a row, then fails the camera (a one-line :class:`~infra.errors.UserError`;
  the run goes on with the other cameras);
- records every outage as a :class:`~pipeline.records.GapRecord` in :attr:`FrameSource.gaps` and
  logs one line when it starts and one when the stream is back;
- never feeds a made-up frame: after a gap the next frame is the next real one. Timestamps are
  wall-clock seconds since the source was opened (the stream's own clock restarts on reconnect),
  so a gap is a real jump in ``time_s``; a frame size that changed after a reconnect is scaled
  back to the size the camera opened with (boxes stay in one pixel frame) and logged once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from infra.errors import UserError
from pipeline.frames import Frame, SourceInfo
from pipeline.frames.capture import CaptureSource
from pipeline.records import GapRecord

if TYPE_CHECKING:
    from pipeline.config import RuntimeConfig

__all__ = ["LiveCaptureSource", "LiveSettings"]

log = logging.getLogger("pipeline.frames")


@dataclass(frozen=True)
class LiveSettings:
    """Timeouts and reconnects of live sources, in seconds (the ``runtime.`` knobs of the config).

    Attributes:
        open_timeout_s: to connect and read the first frame.
        read_timeout_s: without a frame before the source counts as stalled.
        reconnect_delay_s: before the first reconnect try (doubled after each failed try).
        reconnect_max_delay_s: the longest wait between two tries.
        reconnect_max_tries: failed tries in a row before the camera is given up; 0 = never reconnect.
    """

    open_timeout_s: float
    read_timeout_s: float
    reconnect_delay_s: float
    reconnect_max_delay_s: float
    reconnect_max_tries: int

    @classmethod
    def from_config(cls, runtime: RuntimeConfig | None = None) -> LiveSettings:
        """The settings of ``runtime`` (default: the config's defaults)."""
        if runtime is None:
            from pipeline.config import RuntimeConfig

            runtime = RuntimeConfig()
        return cls(
            runtime.stream_open_timeout_s,
            runtime.stream_read_timeout_s,
            runtime.reconnect_delay_s,
            runtime.reconnect_max_delay_s,
            runtime.reconnect_max_tries,
        )


CLOSE_WAIT_S = 2.0
"""Seconds :meth:`LiveCaptureSource.close` waits for the reading thread (a live read returns
within one frame interval; a dead stream's within the backend's timeout, not waited for)."""


class _Grabber:
    """Reads one capture on a daemon thread, one frame per request; the caller waits with a timeout.

    :meth:`abandon` lets go of it: the thread releases the capture once its current read returns.
    """

    def __init__(self, cap: Any, name: str) -> None:
        self.cap = cap
        self._requests: queue.Queue[bool] = queue.Queue()
        self._results: queue.Queue[tuple[bool, np.ndarray | None]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"grab-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while self._requests.get():
                try:
                    ok, image = self.cap.read()
                except Exception:  # a backend error is a failed read, like a cut
                    ok, image = False, None
                self._results.put((bool(ok), image))
        finally:
            self.cap.release()

    def read(self, timeout_s: float) -> tuple[bool, np.ndarray | None] | None:
        """``(ok, image)`` of the next read, or ``None`` if it did not return within ``timeout_s``."""
        self._requests.put(True)
        try:
            return self._results.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def abandon(self, wait_s: float = 0.0) -> None:
        """Let go; wait up to ``wait_s`` seconds for the thread to release the capture.

        A process that exits while the thread is still inside the capture's native read can
        abort ("terminate called without an active exception"): close waits for it.
        """
        self._requests.put(False)
        if wait_s > 0:
            self._thread.join(timeout=wait_s)


def _usable(ok: bool, image: np.ndarray | None) -> bool:
    return ok and image is not None and image.ndim == 3 and image.size > 0


class LiveCaptureSource(CaptureSource):
    """A live source read through ``cv2.VideoCapture`` (see the module docstring).

    Subclasses say how to make the capture (:meth:`_capture`); ``target`` is what it is made from
    (a URL, a device index).
    """

    live = True

    def __init__(
        self, info: SourceInfo, *, cap: Any, first: np.ndarray, target: Any, settings: LiveSettings
    ) -> None:
        super().__init__(info, cap=cap, first=first, container_times=False)
        self.target = target
        self.settings = settings
        self._interrupt = threading.Event()
        self._active: _Grabber | None = None  # the grabber :meth:`frames` reads (close waits for it)
        self._t0 = time.monotonic()
        self._resized_logged = False

    @classmethod
    def _capture(cls, target: Any, settings: LiveSettings) -> Any:
        """A new capture of ``target`` (not yet read)."""
        raise NotImplementedError

    @classmethod
    def _connect(cls, target: Any, settings: LiveSettings, name: str) -> tuple[_Grabber, np.ndarray] | str:
        """Open ``target`` and read its first frame within the open timeout; the reason on failure."""
        cap = cls._capture(target, settings)
        if not cap.isOpened():
            cap.release()
            return "cannot open"
        grabber = _Grabber(cap, name)
        result = grabber.read(settings.open_timeout_s)
        if result is None or not _usable(*result):
            grabber.abandon()
            return "no frame" if result is not None else f"no frame within {settings.open_timeout_s:g} s"
        image = result[1]
        assert image is not None
        return grabber, image

    @classmethod
    def open_live(
        cls, source: str, cam_id: str, default_fps: float, target: Any, settings: LiveSettings
    ) -> Any:
        """Open ``source`` once and check it yields a frame; raise UserError naming it if not."""
        import cv2

        connected = cls._connect(target, settings, cam_id)
        if isinstance(connected, str):
            raise UserError(f"{source}: cannot open {cls.kind} ({connected})")
        grabber, image = connected
        fps = grabber.cap.get(cv2.CAP_PROP_FPS)
        fps = float(fps) if fps and 0 < fps < 1000 else float(default_fps)
        h, w = image.shape[:2]
        info = SourceInfo(cam_id, source, cls.kind, fps, w, h, None, rewindable=False)
        opened = cls(info, cap=grabber, first=image, target=target, settings=settings)
        return opened

    def interrupt(self) -> None:
        self._interrupt.set()

    def close(self) -> None:
        """Release the capture; waits up to :data:`CLOSE_WAIT_S` for a read in progress to return."""
        for grabber in (self._cap, self._active):
            if grabber is not None:
                grabber.abandon(wait_s=min(CLOSE_WAIT_S, self.settings.read_timeout_s))
        self._cap = self._active = None

    def frames(self) -> Generator[Frame, None, None]:
        """Yield the frames until the camera is given up (UserError) or :meth:`interrupt` is called.

        Raises:
            UserError: read a second time, or no reconnect succeeded (the gap is recorded first).
        """
        grabber, first = self._cap, self._first
        self._cap, self._first = None, None
        if grabber is None or first is None:
            raise UserError(f"{self.info.source}: a live {self.info.kind} cannot be read twice")
        cam_id = self.info.cam_id
        index, last_s = 0, 0.0
        self._active = grabber
        try:
            yield Frame(cam_id, 0, 0.0, first)
            while not self._interrupt.is_set():
                result = grabber.read(self.settings.read_timeout_s)
                if result is not None and _usable(*result):
                    index += 1
                    last_s = round(time.monotonic() - self._t0, 6)
                    assert result[1] is not None
                    yield Frame(cam_id, index, last_s, self._fit(result[1]))
                    continue
                if self._interrupt.is_set():
                    return
                grabber.abandon()
                reason = "read timeout" if result is None else "stream ended"
                reconnected = self._reconnect(reason, last_s)
                if reconnected is None:
                    return  # interrupted while waiting
                grabber, image = reconnected
                self._active = grabber
                index += 1
                last_s = round(time.monotonic() - self._t0, 6)
                yield Frame(cam_id, index, last_s, self._fit(image))
        finally:
            grabber.abandon()

    def _reconnect(self, reason: str, gap_from_s: float) -> tuple[_Grabber, np.ndarray] | None:
        """Reconnect with back-off; the gap is recorded. ``None`` if interrupted; UserError if given up."""
        s = self.settings
        what = f"{reason} after {s.read_timeout_s:g} s" if reason == "read timeout" else reason
        log.warning(
            "%s: %s (%s); reconnecting, up to %d tries",
            self.info.cam_id,
            self.info.kind,
            what,
            s.reconnect_max_tries,
        )
        delay = s.reconnect_delay_s
        last = reason
        for attempt in range(1, s.reconnect_max_tries + 1):
            if self._interrupt.wait(delay):
                self.gaps.append(GapRecord(gap_from_s, None, reason))
                return None
            connected = self._connect(self.target, s, self.info.cam_id)
            if not isinstance(connected, str):
                back_s = round(time.monotonic() - self._t0, 6)
                self.gaps.append(GapRecord(gap_from_s, back_s, reason))
                log.warning(
                    "%s: back after %.1f s (try %d); gap %.1f–%.1f s recorded",
                    self.info.cam_id,
                    back_s - gap_from_s,
                    attempt,
                    gap_from_s,
                    back_s,
                )
                return connected
            last = connected
            log.info("%s: reconnect try %d failed (%s)", self.info.cam_id, attempt, connected)
            delay = min(delay * 2.0, s.reconnect_max_delay_s)
        self.gaps.append(GapRecord(gap_from_s, None, reason))
        tries = s.reconnect_max_tries
        raise UserError(f"{self.info.source}: {what}; gave up after {tries} reconnect tries (last: {last})")

    def _fit(self, image: np.ndarray) -> np.ndarray:
        """``image`` at the size the camera opened with (a reconnect may bring another size)."""
        h, w = image.shape[:2]
        if (w, h) == (self.info.width, self.info.height):
            return image
        import cv2

        if not self._resized_logged:
            log.warning(
                "%s: frame size changed to %dx%d after a reconnect; scaled back to %dx%d",
                self.info.cam_id,
                w,
                h,
                self.info.width,
                self.info.height,
            )
            self._resized_logged = True
        return cv2.resize(image, (self.info.width, self.info.height), interpolation=cv2.INTER_AREA)
