"""One reader thread per camera: a source's frames decoded into a bounded queue."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

from pipeline.frames import Frame, FrameSource

__all__ = ["FrameReader"]

_END = object()


class FrameReader:
    """Reads one :class:`FrameSource` on a daemon thread into a bounded queue.

    Iterate over it on the consuming thread; iteration ends when the source ends, and an error
    on the reader thread is raised again there. :meth:`close` stops the thread early.

    Attributes:
        decode_s: seconds the reader thread spent decoding (for the per-stage summary).
    """

    def __init__(self, source: FrameSource, *, queue_size: int) -> None:
        self.source = source
        self.decode_s = 0.0
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, int(queue_size)))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"reader-{source.info.cam_id}", daemon=True)

    def start(self) -> FrameReader:
        self._thread.start()
        return self

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            frames = self.source.frames()
            while not self._stop.is_set():
                start = time.perf_counter()
                frame = next(frames, None)
                self.decode_s += time.perf_counter() - start
                if frame is None or not self._put(frame):
                    break
            frames.close()
        except BaseException as err:
            self._error = err
        finally:
            self._put(_END)

    def get(self) -> Frame | None:
        """The next frame, or ``None`` at the end of the source (blocks until one is there)."""
        item = self._queue.get()
        if item is _END:
            self._queue.put(_END)  # stay at the end for later calls
            if self._error is not None:
                raise self._error
            return None
        assert isinstance(item, Frame)
        return item

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.get()) is not None:
            yield frame

    def close(self) -> None:
        """Stop the reader thread and wait for it (the capture is released by the generator)."""
        self._stop.set()
        self._thread.join(timeout=5.0)
