"""One reader thread per camera: a source's frames decoded into a bounded queue."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

from pipeline.frames import Frame, FrameSource

__all__ = ["FrameReader"]

_END = object()
_POLL_S = 0.05  # how often a waiting consumer looks at its stop event


class FrameReader:
    """Reads one :class:`FrameSource` on a daemon thread into a bounded queue.

    Iterate over it on the consuming thread; iteration ends when the source ends, and an error
    on the reader thread is raised again there. :meth:`close` stops the thread early.

    Args:
        source: the opened source.
        queue_size: frames buffered between the reader and the consumer.
        drop_when_behind: when the queue is full, drop its oldest frame (counted in
            ``source.dropped``) instead of waiting: a live source keeps its latency bounded by
            ``queue_size`` frames. ``False``: the reader waits (every frame is processed).

    Attributes:
        decode_s: seconds the reader thread spent decoding (for the per-stage summary).
        latency_s: seconds the last frame handed out waited in the queue (read → consumed).
    """

    def __init__(self, source: FrameSource, *, queue_size: int, drop_when_behind: bool = False) -> None:
        self.source = source
        self.decode_s = 0.0
        self.latency_s = 0.0
        self.drop_when_behind = drop_when_behind
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, int(queue_size)))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"reader-{source.info.cam_id}", daemon=True)

    def start(self) -> FrameReader:
        self._thread.start()
        return self

    def _put(self, item: object, *, may_drop: bool = False) -> bool:
        """Queue ``item``; when full, wait (or with ``may_drop``, drop the oldest frame at once)."""
        while not self._stop.is_set():
            try:
                if may_drop:
                    self._queue.put_nowait(item)
                else:
                    self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                if may_drop:
                    try:
                        self._queue.get_nowait()
                        self.source.dropped += 1  # only this thread writes it
                    except queue.Empty:
                        pass
        return False

    def _run(self) -> None:
        try:
            frames = self.source.frames()
            while not self._stop.is_set():
                start = time.perf_counter()
                frame = next(frames, None)
                self.decode_s += time.perf_counter() - start
                if frame is None or not self._put((frame, time.monotonic()), may_drop=self.drop_when_behind):
                    break
            frames.close()
        except BaseException as err:
            self._error = err
        finally:
            self._put(_END)

    def get(self, stop: threading.Event | None = None) -> Frame | None:
        """The next frame; ``None`` at the end of the source, once ``stop`` is set, or the reader stopped."""
        while True:
            try:
                item = self._queue.get(timeout=_POLL_S)
                break
            except queue.Empty:
                if self._stop.is_set() or (stop is not None and stop.is_set()):
                    return None
        if item is _END:
            self._queue.put(_END)  # stay at the end for later calls
            if self._error is not None:
                raise self._error
            return None
        assert isinstance(item, tuple)
        frame, read_at = item
        self.latency_s = time.monotonic() - read_at
        assert isinstance(frame, Frame)
        return frame

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.get()) is not None:
            yield frame

    def stop(self) -> None:
        """Ask the reader thread to stop (returns at once; :meth:`close` waits for it)."""
        self._stop.set()
        self.source.interrupt()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the reader thread, wait for it up to ``timeout_s`` (the generator releases the capture)."""
        self.stop()
        self._thread.join(timeout=timeout_s)
