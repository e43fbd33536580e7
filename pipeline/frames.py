"""① Camera sources → stamped frames: ``Frame(cam_id, index, time_s, image_bgr)``.

A source is a video file, a folder of frames (a MOTChallenge sequence folder or its ``img1/``),
a stream URL (``rtsp://``, ``http(s)://``) or a webcam index (``"0"``). :func:`open_source`
checks it and reads its properties (fps, size, frame count) before any work starts;
:meth:`FrameSource.frames` yields the frames, and :class:`FrameReader` runs that generator on a
thread of its own into a bounded queue (one reader per camera).

Timestamps come from the source, never from a counter: the container's time of each decoded
frame (``CAP_PROP_POS_MSEC``), or ``index / fps`` with the real (float) frame rate. When a
``seqinfo.ini`` sits beside the source (MOTChallenge layout) its frame rate wins over the
container's, which is sometimes wrong.

A frame that fails to decode mid-stream is skipped and counted (:attr:`FrameSource.skipped`),
never replaced by a black frame; the indices of the frames after it stay those of the source.
Images are **BGR** ``uint8`` ``(H, W, 3)``, as OpenCV decodes them.
"""

from __future__ import annotations

import configparser
import logging
import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from infra.errors import UserError

__all__ = [
    "IMAGE_SUFFIXES",
    "Frame",
    "FrameReader",
    "FrameSource",
    "SourceInfo",
    "default_cam_id",
    "open_source",
]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_MAX_CONSECUTIVE_FAILURES = 25  # decode failures in a row before a video is taken to have ended


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One decoded frame of one camera.

    Attributes:
        cam_id: the camera it comes from.
        index: 0-based index of the frame in its source (skipped frames keep their index).
        time_s: seconds from the start of the source (container time, or index ÷ real fps).
        image_bgr: ``(H, W, 3)`` uint8 image, **BGR** channel order.
    """

    cam_id: str
    index: int
    time_s: float
    image_bgr: np.ndarray


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What is known about a source before reading it.

    Attributes:
        cam_id: the camera id.
        source: the source as given (path, URL or webcam index).
        kind: ``"video"``, ``"folder"``, ``"stream"`` or ``"webcam"``.
        fps: real frame rate in frames per second (float).
        width, height: frame size in pixels.
        num_frames: frames in the source, ``None`` when unknown (streams).
    """

    cam_id: str
    source: str
    kind: str
    fps: float
    width: int
    height: int
    num_frames: int | None

    @property
    def rewindable(self) -> bool:
        """Whether the source can be read a second time (files and folders)."""
        return self.kind in ("video", "folder")


def _is_webcam(source: str) -> bool:
    return source.isdigit() and not Path(source).exists()


def _is_url(source: str) -> bool:
    return bool(_URL.match(source))


def default_cam_id(source: str) -> str:
    """The camera id used when none is given: the file stem (``cam_a.mp4`` → ``cam_a``).

    A MOTChallenge ``<seq>/img1`` folder gives ``<seq>``; a webcam index ``0`` gives ``webcam0``;
    a URL gives the last part of its path (``rtsp://h/live/door`` → ``door``).
    """
    if _is_webcam(source):
        return f"webcam{source}"
    if _is_url(source):
        tail = source.split("://", 1)[1].split("?", 1)[0].rstrip("/")
        name = tail.rsplit("/", 1)[-1] if "/" in tail else tail
        return Path(name).stem or name
    path = Path(source)
    if path.is_dir():
        path = path.resolve()
        return path.parent.name if path.name == "img1" else path.name
    return path.stem


def _seqinfo_fps(folder: Path) -> float | None:
    """``frameRate`` of ``folder/seqinfo.ini`` if there is a readable one, else ``None``."""
    ini = folder / "seqinfo.ini"
    if not ini.is_file():
        return None
    parser = configparser.ConfigParser()
    try:
        parser.read(ini, encoding="utf-8")
        fps = float(parser["Sequence"]["frameRate"])
    except (KeyError, ValueError, configparser.Error, OSError):
        log.warning("%s: no usable frameRate, ignoring it", ini)
        return None
    return fps if fps > 0 else None


class FrameSource:
    """A checked camera source; create it with :func:`open_source`.

    Attributes:
        info: the :class:`SourceInfo`.
        skipped: frames that failed to decode and were skipped (updated while reading).
        decoded: frames decoded and yielded so far.
    """

    def __init__(self, info: SourceInfo, *, container_times: bool, files: list[Path] | None = None) -> None:
        self.info = info
        self.skipped = 0
        self.decoded = 0
        self._container_times = container_times
        self._files = files

    def frames(self) -> Iterator[Frame]:
        """Yield the frames in order (a fresh read each call for files and folders).

        Raises:
            UserError: the source cannot be opened any more (named).
        """
        self.skipped = 0
        self.decoded = 0
        if self._files is not None:
            yield from self._folder_frames()
        else:
            yield from self._capture_frames()

    def _folder_frames(self) -> Iterator[Frame]:
        import cv2

        assert self._files is not None
        fps = self.info.fps
        for index, path in enumerate(self._files):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None or image.shape[:2] != (self.info.height, self.info.width):
                self.skipped += 1
                log.warning(
                    "%s: cannot decode %s (or its size differs), skipped", self.info.cam_id, path.name
                )
                continue
            self.decoded += 1
            yield Frame(self.info.cam_id, index, round(index / fps, 6), image)

    def _capture_frames(self) -> Iterator[Frame]:
        import cv2

        cap = _open_capture(self.info.source)
        try:
            if not cap.isOpened():
                raise UserError(f"{self.info.source}: cannot open video")
            index = -1
            failures = 0
            fps = self.info.fps
            known = self.info.num_frames
            pending = 0  # grab failures not yet known to be mid-stream (vs. the end)
            while True:
                if not cap.grab():
                    # End of stream, or a frame the demuxer could not read: for a file whose
                    # length is known, try to step over it; it counts as skipped only if a
                    # later frame decodes (a stated length can be a little too long).
                    if known is not None and index + 1 < known and pending < _MAX_CONSECUTIVE_FAILURES:
                        pending += 1
                        index += 1
                        continue
                    break
                if pending:
                    self.skipped += pending
                    log.warning(
                        "%s: %d frame(s) before %d failed to read, skipped",
                        self.info.cam_id,
                        pending,
                        index + 1,
                    )
                    pending = 0
                index += 1
                ok, image = cap.retrieve()
                if not ok or image is None or image.size == 0 or image.ndim != 3:
                    failures += 1
                    self.skipped += 1
                    log.warning("%s: frame %d failed to decode, skipped", self.info.cam_id, index)
                    if failures >= _MAX_CONSECUTIVE_FAILURES:
                        break
                    continue
                failures = 0
                time_s = index / fps
                if self._container_times:
                    msec = cap.get(cv2.CAP_PROP_POS_MSEC)
                    if msec > 0 or index == 0:
                        time_s = msec / 1000.0
                self.decoded += 1
                yield Frame(self.info.cam_id, index, round(float(time_s), 6), image)  # µs
        finally:
            cap.release()


def _open_capture(source: str):  # -> cv2.VideoCapture
    import cv2

    if _is_webcam(source):
        return cv2.VideoCapture(int(source))
    return cv2.VideoCapture(source)


def _folder_files(folder: Path) -> list[Path]:
    if (folder / "img1").is_dir():
        folder = folder / "img1"
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def open_source(source: str, cam_id: str | None = None, default_fps: float = 25.0) -> FrameSource:
    """Check a camera source and read its properties; no frame is kept.

    Args:
        source: video file, folder of frames (or a MOTChallenge sequence folder holding
            ``img1/``), stream URL or webcam index.
        cam_id: camera id; ``None`` = :func:`default_cam_id`.
        default_fps: frames per second used when the source states none.

    Returns:
        A :class:`FrameSource`; its first frame was decoded once to check it.

    Raises:
        UserError: missing, unreadable or empty source, or a folder without images; the message
            names the source.
    """
    import cv2

    cam_id = cam_id or default_cam_id(source)
    if _is_webcam(source) or _is_url(source):
        kind = "webcam" if _is_webcam(source) else "stream"
        cap = _open_capture(source)
        try:
            if not cap.isOpened():
                raise UserError(f"{source}: cannot open {kind}")
            ok, image = cap.read()
            if not ok or image is None:
                raise UserError(f"{source}: {kind} yields no frames")
            fps = cap.get(cv2.CAP_PROP_FPS)
            fps = float(fps) if fps and 0 < fps < 1000 else float(default_fps)
        finally:
            cap.release()
        h, w = image.shape[:2]
        return FrameSource(SourceInfo(cam_id, source, kind, fps, w, h, None), container_times=False)

    path = Path(source)
    if not path.exists():
        raise UserError(f"{source}: no such file or folder")
    if path.is_dir():
        files = _folder_files(path)
        if not files:
            raise UserError(f"{source}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        first = None
        for candidate in files[:_MAX_CONSECUTIVE_FAILURES]:
            first = cv2.imread(str(candidate), cv2.IMREAD_COLOR)
            if first is not None:
                break
        if first is None:
            raise UserError(f"{source}: cannot decode its first images (e.g. {files[0].name})")
        seq_dir = files[0].parent.parent if files[0].parent.name == "img1" else files[0].parent
        fps = _seqinfo_fps(seq_dir) or float(default_fps)
        h, w = first.shape[:2]
        info = SourceInfo(cam_id, source, "folder", fps, w, h, len(files))
        return FrameSource(info, container_times=False, files=files)

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
        container_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        cap.release()
    ini_fps = _seqinfo_fps(path.parent)
    container_times = True
    if ini_fps is not None:
        fps = ini_fps
        if abs(container_fps - ini_fps) > 1e-3 * ini_fps:
            log.info(
                "%s: container states %.3f fps, seqinfo.ini %.3f fps; using seqinfo.ini",
                source,
                container_fps,
                ini_fps,
            )
            container_times = False  # the container's clock is the wrong one
    elif 0 < container_fps < 1000:
        fps = container_fps
    else:
        fps = float(default_fps)
        container_times = False
    h, w = image.shape[:2]
    info = SourceInfo(cam_id, source, "video", fps, w, h, count if count > 0 else None)
    return FrameSource(info, container_times=container_times)


_END = object()


class FrameReader:
    """Reads one :class:`FrameSource` on a daemon thread into a bounded queue.

    Iterate over it on the consuming thread; iteration ends when the source ends, and an error
    on the reader thread is raised again there. :meth:`close` stops the thread early.

    Attributes:
        decode_s: seconds the reader thread spent decoding (for the per-stage summary).
    """

    def __init__(self, source: FrameSource, queue_size: int = 16) -> None:
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
