"""``--save-video``: each camera re-encoded as browser-playable H.264 MP4 with identity boxes drawn.

Global identities are known only once tracklets close, so the videos are written after the run
by a second pass over each source (files and folders; a live stream cannot be read twice).
Only the boxes are kept in memory; frames are streamed. The encoder is FFmpeg's ``libx264``
through PyAV (``av``, which bundles FFmpeg): ``yuv420p``, ``+faststart``, so Chromium, Firefox
and Safari play the file from ``<video>`` as it loads.

What is drawn on a frame: each box in its identity's colour (:func:`identity_colour_bgr`,
golden-ratio hue steps, so ~50 identities stay apart), solid for a detected box and dashed for
a box the tracker predicted (score ``null`` in ``tracks.json``: Kalman coasting through a
miss); the label ``id <global_id>``; the camera id and its clock (``HH:MM:SS.ss`` of source
time) in the top-left corner. Each video is written under a temporary name beside the target
and renamed with the run's other outputs (:class:`~infra.fileio.StagedFiles`).
"""

from __future__ import annotations

import colorsys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from infra.errors import UserError
from infra.fileio import StagedFiles
from pipeline.export.base import BaseSink, RunResult, check_folder_target
from pipeline.records import TracksFile

if TYPE_CHECKING:
    from pipeline.frames import CameraSpec, FrameSource

__all__ = [
    "DrawnBox",
    "H264Writer",
    "VideoSink",
    "boxes_by_camera",
    "clock_text",
    "draw_boxes",
    "identity_colour_bgr",
    "write_identity_video",
]

_CRF = 23  # libx264 constant rate factor: 0 lossless … 51 worst; 23 is x264's own default
_PRESET = "veryfast"  # x264 speed/size trade-off; faster presets give bigger files


def identity_colour_bgr(global_id: int) -> tuple[int, int, int]:
    """A stable, well-separated BGR colour for a global id (golden-ratio hue steps).

    Consecutive ids differ by 0.618 of the hue circle, so any ~50 ids keep distinct hues.

    Example:
        >>> identity_colour_bgr(1) == identity_colour_bgr(1), identity_colour_bgr(1) != identity_colour_bgr(2)
        (True, True)
    """
    hue = (global_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return (int(b * 255), int(g * 255), int(r * 255))


def identity_colour_hex(global_id: int) -> str:
    """:func:`identity_colour_bgr` as a CSS ``#rrggbb`` colour.

    >>> identity_colour_hex(1) == "#%02x%02x%02x" % identity_colour_bgr(1)[::-1]
    True
    """
    b, g, r = identity_colour_bgr(global_id)
    return f"#{r:02x}{g:02x}{b:02x}"


@dataclass(frozen=True, slots=True)
class DrawnBox:
    """One box to draw: ``xyxy`` pixels, its ``global_id``, and whether the tracker ``predicted`` it."""

    xyxy: tuple[float, float, float, float]
    global_id: int
    predicted: bool


def boxes_by_camera(tracks: TracksFile) -> dict[str, dict[int, list[DrawnBox]]]:
    """``{cam_id: {0-based frame index: [DrawnBox, …]}}`` of every box in ``tracks``.

    A box whose score is ``None`` (a prediction, no detection) is marked ``predicted``.
    """
    out: dict[str, dict[int, list[DrawnBox]]] = {c.cam_id: defaultdict(list) for c in tracks.cameras}
    for identity in tracks.identities:
        for tracklet in identity.tracklets:
            frames = out.setdefault(tracklet.cam_id, defaultdict(list))
            for box in tracklet.boxes:
                frames[box.frame].append(DrawnBox(box.xyxy, identity.global_id, box.score is None))
    return out


def clock_text(time_s: float) -> str:
    """``HH:MM:SS.ss`` of a source time in seconds.

    >>> clock_text(3723.456)
    '01:02:03.46'
    """
    centis = round(time_s * 100)
    hours, rest = divmod(centis, 360_000)
    minutes, rest = divmod(rest, 6000)
    return f"{hours:02d}:{minutes:02d}:{rest // 100:02d}.{rest % 100:02d}"


def _dashed_rectangle(image: np.ndarray, p1: tuple[int, int], p2: tuple[int, int], colour: Any) -> None:
    import cv2

    (x1, y1), (x2, y2) = p1, p2
    dash, gap = 6, 4
    for a, b, fixed, horizontal in (
        (x1, x2, y1, True),
        (x1, x2, y2, True),
        (y1, y2, x1, False),
        (y1, y2, x2, False),
    ):
        for start in range(a, b, dash + gap):
            end = min(start + dash, b)
            if horizontal:
                cv2.line(image, (start, fixed), (end, fixed), colour, 2)
            else:
                cv2.line(image, (fixed, start), (fixed, end), colour, 2)


def draw_boxes(image: np.ndarray, boxes: Iterable[DrawnBox], caption: str | None = None) -> None:
    """Draw ``boxes`` (and a ``caption`` top-left, e.g. camera and clock) on a BGR image, in place."""
    import cv2

    font = cv2.FONT_HERSHEY_SIMPLEX
    for box in boxes:
        colour = identity_colour_bgr(box.global_id)
        x1, y1, x2, y2 = (round(v) for v in box.xyxy)
        if box.predicted:
            _dashed_rectangle(image, (x1, y1), (x2, y2), colour)
        else:
            cv2.rectangle(image, (x1, y1), (x2, y2), colour, 2)
        label = f"id {box.global_id}"
        (tw, th), _ = cv2.getTextSize(label, font, 0.5, 1)
        ty = max(y1, th + 4)
        cv2.rectangle(image, (x1, ty - th - 4), (x1 + tw + 4, ty), colour, -1)
        cv2.putText(image, label, (x1 + 2, ty - 3), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    if caption:
        (tw, th), _ = cv2.getTextSize(caption, font, 0.5, 1)
        cv2.rectangle(image, (0, 0), (tw + 8, th + 8), (0, 0, 0), -1)
        cv2.putText(image, caption, (4, th + 4), font, 0.5, (255, 255, 255), 1, cv2.LINE_AA)


class H264Writer:
    """An H.264 MP4 writer (PyAV, ``libx264``, ``yuv420p``, ``+faststart``) for BGR frames.

    ``yuv420p`` needs even sizes: an odd last row or column is cut off. Frames carry their
    source index as presentation time, so skipped frames keep the clock right.

    Args:
        path: the file to write (``.mp4``).
        width, height: frame size in pixels.
        fps: frames per second of the source.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float) -> None:
        import av

        self.path = Path(path)
        self.width, self.height = width - width % 2, height - height % 2
        if self.width < 2 or self.height < 2:
            raise UserError(f"{path}: frames of {width}x{height} pixels are too small for a video")
        self.rate = Fraction(fps).limit_denominator(1001)
        self._container: Any = av.open(
            str(self.path), mode="w", format="mp4", options={"movflags": "+faststart"}
        )
        stream: Any = self._container.add_stream("libx264", rate=self.rate)
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
        stream.time_base = 1 / self.rate
        stream.codec_context.options = {"crf": str(_CRF), "preset": _PRESET}
        self._stream = stream
        self._last_pts = -1
        self.frames_written = 0

    def write(self, image_bgr: np.ndarray, index: int | None = None) -> None:
        """Encode one ``(H, W, 3)`` uint8 BGR frame; ``index``: its 0-based source frame (sets its time)."""
        import av

        pts = self._last_pts + 1 if index is None else max(int(index), self._last_pts + 1)
        image = np.ascontiguousarray(image_bgr[: self.height, : self.width])
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts = pts
        frame.time_base = 1 / self.rate
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self._last_pts = pts
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and close the file."""
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()

    def __enter__(self) -> H264Writer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def write_identity_video(
    source: FrameSource,
    boxes: dict[int, list[DrawnBox]],
    path: str | Path,
    *,
    num_frames: int | None = None,
    on_frame: Any = None,
) -> int:
    """Re-read ``source`` and write it to ``path`` (H.264 MP4) with identity boxes and the camera clock.

    Args:
        source: a rewindable source (video file or folder of frames).
        boxes: the camera's boxes by 0-based frame index (:func:`boxes_by_camera`).
        path: the file to write (the caller renames it into place).
        num_frames: stop after the frames of this index (a run stopped early); ``None`` = all.
        on_frame: called as ``on_frame(frame)`` with each clean frame before drawing (the report
            cuts its crops there, sparing a second decoding pass).

    Returns:
        The number of frames written.
    """
    info = source.info
    with H264Writer(path, info.width, info.height, info.fps) as writer:
        for frame in source.frames():
            if num_frames is not None and frame.index >= num_frames:
                break
            if on_frame is not None:
                on_frame(frame)
            image = frame.image_bgr
            draw_boxes(image, boxes.get(frame.index, []), f"{frame.cam_id} {clock_text(frame.time_s)}")
            writer.write(image, frame.index)
        return writer.frames_written


class VideoSink(BaseSink):
    """Writes ``<folder>/<cam_id>.mp4`` (H.264) for every camera at the end (files and frame folders only).

    Args:
        folder: the output folder; its parent must exist.
        overwrite: replace existing videos.
    """

    flag = "--save-video"
    stage = "video"
    metavar = "DIR"
    help = (
        "also write DIR/<cam_id>.mp4 (H.264, plays in browsers) with boxes coloured and labelled by "
        "global identity, predicted boxes dashed, camera clock (default: not written; files and folders only)"
    )

    def __init__(self, folder: str | Path, *, overwrite: bool = False) -> None:
        self.folder = Path(folder)
        self.overwrite = overwrite

    def paths(self, cam_ids: Sequence[str]) -> list[Path]:
        return [self.folder / f"{cam_id}.mp4" for cam_id in cam_ids]

    def check(self, cams: Sequence[CameraSpec]) -> None:
        for cam in cams:
            if cam.live:
                raise UserError(
                    f"{cam.source}: {self.flag} needs a video file or folder, not a live {cam.kind}"
                )
        check_folder_target(self.folder, self.flag, self.paths([c.cam_id for c in cams]), self.overwrite)

    def finish(self, result: RunResult, staged: StagedFiles) -> None:
        staged.folder(self.folder)
        boxes = boxes_by_camera(result.tracks)
        read = {c.cam_id: c.num_frames for c in result.tracks.cameras}
        for cam_id, source in result.sources.items():
            tmp = staged.path(self.folder / f"{cam_id}.mp4", suffix=".mp4")
            write_identity_video(source, boxes.get(cam_id, {}), tmp, num_frames=read.get(cam_id))
