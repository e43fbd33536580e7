"""① Camera sources → stamped frames: ``Frame(cam_id, index, time_s, image_bgr)``.

A source is opened **once** by the kind that claims it (registry :data:`SOURCES`):

| kind | module | claims | live |
|---|---|---|---|
| ``video`` | :mod:`~pipeline.frames.video` | any other path (a video file) | no |
| ``folder`` | :mod:`~pipeline.frames.folder` | a folder of images (or a sequence with ``img1/``) | no |
| ``stream`` | :mod:`~pipeline.frames.stream` | a URL (``rtsp://``, ``http(s)://``…) | yes |
| ``webcam`` | :mod:`~pipeline.frames.webcam` | a number that is not a path (``"0"``) | yes |

:func:`open_source` checks the source and reads its properties (fps, size, frame count) before any
work starts; :meth:`FrameSource.frames` yields the frames (a live source goes on from the frames
it read while opening, never opening again); :class:`~pipeline.frames.reader.FrameReader` runs that
generator on a thread of its own into a bounded queue (one reader per camera).

Timestamps come from the source, never from a counter: the container's time of each decoded
frame (``CAP_PROP_POS_MSEC``), or ``index / fps`` with the real (float) frame rate. When a
``seqinfo.ini`` sits beside the source (MOTChallenge layout) its frame rate wins over the
container's, which is sometimes wrong.

A frame that fails to decode mid-stream is skipped and counted (:attr:`FrameSource.skipped`),
never replaced by a black frame; the indices of the frames after it stay those of the source.
Images are **BGR** ``uint8`` ``(H, W, 3)``, as OpenCV decodes them. A new kind of source is one
module with a :class:`FrameSource` subclass plus one line below.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from infra.errors import UserError
from infra.registry import Registry
from pipeline.records import GapRecord

if TYPE_CHECKING:
    from pipeline.frames.live import LiveSettings

__all__ = [
    "SOURCES",
    "CameraSpec",
    "Frame",
    "FrameSource",
    "SourceInfo",
    "default_cam_id",
    "open_source",
    "source_kind",
]

log = logging.getLogger(__name__)


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
        kind: the registered kind that opened it (``video``, ``folder``, ``stream``, ``webcam``).
        fps: real frame rate in frames per second (float).
        width, height: frame size in pixels.
        num_frames: frames in the source, ``None`` when unknown (streams).
        rewindable: whether the source can be read a second time (files and folders).
    """

    cam_id: str
    source: str
    kind: str
    fps: float
    width: int
    height: int
    num_frames: int | None
    rewindable: bool = True

    @property
    def frame_wh(self) -> tuple[int, int]:
        """``(width, height)`` of a frame in pixels."""
        return (self.width, self.height)


class FrameSource:
    """A checked camera source, made by :func:`open_source` (subclasses: one per kind).

    Class attributes: ``kind`` (registry name) and ``live`` (a stream or device: read once, no
    known length). Subclasses implement :meth:`claims`, :meth:`open` and :meth:`frames`.

    Attributes:
        info: the :class:`SourceInfo`.
        skipped: frames that failed to decode and were skipped (updated while reading).
        gaps: outages of a live source (a stall or a cut, then a reconnect), in time order.
        dropped: frames read but not handed on, to keep up with a live source
            (``runtime.when_behind: drop``).
    """

    kind: ClassVar[str] = ""
    live: ClassVar[bool] = False

    def __init__(self, info: SourceInfo) -> None:
        self.info = info
        self.skipped = 0
        self.gaps: list[GapRecord] = []
        self.dropped = 0

    @staticmethod
    def claims(source: str) -> bool:
        """Whether this kind handles ``source`` (kinds claim disjoint sets of strings)."""
        raise NotImplementedError

    @classmethod
    def open(cls, source: str, cam_id: str, default_fps: float) -> FrameSource:
        """Open and check ``source``; raise UserError naming it when it cannot be read."""
        raise NotImplementedError

    @classmethod
    def open_with(cls, source: str, cam_id: str, default_fps: float, live: LiveSettings) -> FrameSource:
        """Like :meth:`open`, with the timeouts and reconnects of live sources (others ignore them)."""
        return cls.open(source, cam_id, default_fps)

    def frames(self) -> Generator[Frame, None, None]:
        """Yield the frames in order (a fresh read each call for rewindable sources)."""
        raise NotImplementedError

    def interrupt(self) -> None:
        """Ask a read that may block (a live source reconnecting) to give up soon; thread-safe."""
        return None

    def close(self) -> None:
        """Release what :meth:`open` holds (a capture); reading again reopens a rewindable source."""
        return None


SOURCES: Registry[type[FrameSource]] = Registry("source kind")
SOURCES.add("video", "pipeline.frames.video:VideoFileSource")
SOURCES.add("folder", "pipeline.frames.folder:FolderSource")
SOURCES.add("stream", "pipeline.frames.stream:StreamSource")
SOURCES.add("webcam", "pipeline.frames.webcam:WebcamSource")


def source_kind(source: str) -> str:
    """The registered kind that claims ``source`` (nothing is opened).

    Raises:
        UserError: no kind claims it.
    """
    for name, cls in SOURCES.items():
        if cls.claims(source):
            return name
    raise UserError(f"{source}: not a video file, folder, stream URL or webcam index")


@dataclass(frozen=True, slots=True)
class CameraSpec:
    """One ``--cams`` entry: ``source`` (path, URL or webcam index), its ``cam_id`` and kind.

    ``kind`` ``None`` = the registered kind that claims ``source`` (:func:`source_kind`).
    """

    source: str
    cam_id: str
    kind: str | None = None

    def __post_init__(self) -> None:
        if self.kind is None:
            object.__setattr__(self, "kind", source_kind(self.source))

    @property
    def live(self) -> bool:
        """Whether the source is live (a stream or a device: read once, no known length)."""
        return SOURCES.get(str(self.kind)).live


def default_cam_id(source: str) -> str:
    """The camera id used when none is given: the file stem (``cam_a.mp4`` → ``cam_a``).

    A MOTChallenge ``<seq>/img1`` folder gives ``<seq>``; a webcam index ``0`` gives ``webcam0``;
    a URL gives the last part of its path (``rtsp://h/live/door`` → ``door``).
    """
    kind = source_kind(source)
    if kind == "webcam":
        return f"webcam{source}"
    if kind == "stream":
        tail = source.split("://", 1)[1].split("?", 1)[0].rstrip("/")
        name = tail.rsplit("/", 1)[-1] if "/" in tail else tail
        return Path(name).stem or name
    path = Path(source)
    if path.is_dir():
        path = path.resolve()
        return path.parent.name if path.name == "img1" else path.name
    return path.stem


def open_source(spec: CameraSpec, default_fps: float, live: LiveSettings | None = None) -> FrameSource:
    """Open the camera ``spec`` once with the kind that claims it; its first frame was decoded to check it.

    Args:
        spec: the source, its camera id and kind.
        default_fps: frames per second used when the source states none.
        live: timeouts and reconnects of a live source; ``None`` = the config's defaults.

    Raises:
        UserError: missing, unreadable or empty source, or a folder without images; named.
    """
    cls = SOURCES.get(str(spec.kind))
    if live is None:
        return cls.open(spec.source, spec.cam_id, default_fps)
    return cls.open_with(spec.source, spec.cam_id, default_fps, live)
