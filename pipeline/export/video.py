"""``--save-video``: each camera re-encoded with boxes coloured and labelled by global identity.

Global identities are known only once tracklets close, so the videos are written after the run
by a second pass over each source (files and folders; a live stream cannot be read twice). Only
the boxes (MOT rows of :func:`pipeline.records.to_mot_rows`) are kept in memory; frames are
streamed. Each video is written under a temporary name beside the target and renamed with the
run's other outputs.
"""

from __future__ import annotations

import colorsys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from infra.errors import UserError
from infra.fileio import StagedFiles
from infra.motchallenge import MotRows
from pipeline.export.base import BaseSink, RunResult, check_folder_target
from pipeline.records import to_mot_rows

if TYPE_CHECKING:
    from pipeline.frames import CameraSpec, FrameSource

__all__ = ["VideoSink", "boxes_by_frame", "identity_colour_bgr", "write_identity_video"]


def identity_colour_bgr(global_id: int) -> tuple[int, int, int]:
    """A stable, well-separated BGR colour for a global id (golden-ratio hue steps).

    Example:
        >>> identity_colour_bgr(1) == identity_colour_bgr(1), identity_colour_bgr(1) != identity_colour_bgr(2)
        (True, True)
    """
    hue = (global_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return (int(b * 255), int(g * 255), int(r * 255))


def boxes_by_frame(rows: MotRows) -> dict[int, list[tuple[tuple[float, ...], int]]]:
    """``{0-based frame index: [(xyxy, global_id), …]}`` of one camera's MOT rows."""
    out: dict[int, list[tuple[tuple[float, ...], int]]] = defaultdict(list)
    xyxy = rows.to_xyxy().tolist()
    for frame, gid, box in zip(rows.frame.tolist(), rows.track_id.tolist(), xyxy, strict=True):
        out[frame - 1].append((tuple(box), gid))
    return out


def _draw(image: np.ndarray, boxes: list[tuple[tuple[float, ...], int]]) -> None:
    import cv2

    for xyxy, gid in boxes:
        colour = identity_colour_bgr(gid)
        x1, y1, x2, y2 = (round(v) for v in xyxy)
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, 2)
        label = f"id {gid}"
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        ty = max(y1, th + 4)
        cv2.rectangle(image, (x1, ty - th - 4), (x1 + tw + 4, ty), colour, -1)
        cv2.putText(image, label, (x1 + 2, ty - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)


def write_identity_video(
    source: FrameSource, rows: MotRows, path: str | Path, num_frames: int | None = None
) -> int:
    """Re-read ``source`` and write it to ``path`` (MP4, ``mp4v``) with identity boxes drawn.

    Args:
        source: a rewindable source (video file or folder of frames).
        rows: the camera's MOT rows (id = global id).
        path: the file to write (the caller renames it into place).
        num_frames: stop after the frames of this index (a run stopped early); ``None`` = all.

    Returns:
        The number of frames written.
    """
    import cv2

    by_frame = boxes_by_frame(rows)
    size = (source.info.width, source.info.height)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), source.info.fps, size)
    written = 0
    try:
        if not writer.isOpened():
            raise UserError(f"{path}: OpenCV cannot write an MP4 video here")
        for frame in source.frames():
            if num_frames is not None and frame.index >= num_frames:
                break
            image = frame.image_bgr
            _draw(image, by_frame.get(frame.index, []))
            writer.write(image)
            written += 1
    finally:
        writer.release()
    return written


class VideoSink(BaseSink):
    """Writes ``<folder>/<cam_id>.mp4`` for every camera at the end (files and frame folders only).

    Args:
        folder: the output folder; its parent must exist.
        overwrite: replace existing videos.
    """

    flag = "--save-video"
    stage = "video"
    metavar = "DIR"
    help = (
        "also write DIR/<cam_id>.mp4 with boxes coloured and labelled by global identity "
        "(default: not written; files and folders only)"
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
        rows = to_mot_rows(result.tracks)
        read = {c.cam_id: c.num_frames for c in result.tracks.cameras}
        for cam_id, source in result.sources.items():
            tmp = staged.path(self.folder / f"{cam_id}.mp4", suffix=".mp4")
            write_identity_video(source, rows.get(cam_id, MotRows.empty()), tmp, read.get(cam_id))
