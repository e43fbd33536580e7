"""``--save-video``: each camera re-encoded with boxes coloured and labelled by global identity.

Global identities are known only once tracklets close, so the videos are written after the run
by a second pass over each source (files and folders; a live stream cannot be read twice). Only
the boxes, which the export holds anyway, are kept in memory; frames are streamed. Each video is
written to a temporary name beside the target and renamed when complete.
"""

from __future__ import annotations

import colorsys
import contextlib
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from pipeline.export import IdentityRecord
from pipeline.frames import FrameSource

__all__ = ["boxes_by_frame", "identity_colour_bgr", "write_identity_video"]


def identity_colour_bgr(global_id: int) -> tuple[int, int, int]:
    """A stable, well-separated BGR colour for a global id (golden-ratio hue steps).

    Example:
        >>> identity_colour_bgr(1) == identity_colour_bgr(1), identity_colour_bgr(1) != identity_colour_bgr(2)
        (True, True)
    """
    hue = (global_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return (int(b * 255), int(g * 255), int(r * 255))


def boxes_by_frame(
    identities: Iterable[IdentityRecord], cam_id: str
) -> dict[int, list[tuple[tuple[float, ...], int]]]:
    """``{frame index: [(xyxy, global_id), …]}`` of camera ``cam_id``."""
    out: dict[int, list[tuple[tuple[float, ...], int]]] = defaultdict(list)
    for identity in identities:
        for tracklet in identity.tracklets:
            if tracklet.cam_id != cam_id:
                continue
            for box in tracklet.boxes:
                out[box.frame].append((box.xyxy, identity.global_id))
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


def write_identity_video(source: FrameSource, identities: Iterable[IdentityRecord], path: str | Path) -> int:
    """Re-read ``source`` and write it to ``path`` (MP4, ``mp4v``) with identity boxes drawn.

    Args:
        source: a rewindable source (video file or folder of frames).
        identities: the run's identities (their tracklets of this camera are drawn).
        path: the ``.mp4`` file to write (atomically: temporary name, then rename).

    Returns:
        The number of frames written.
    """
    import cv2

    path = Path(path)
    by_frame = boxes_by_frame(identities, source.info.cam_id)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix or '.mp4'}")
    size = (source.info.width, source.info.height)
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), source.info.fps, size)
    written = 0
    try:
        if not writer.isOpened():
            raise OSError(f"{path}: OpenCV cannot write an MP4 video here")
        for frame in source.frames():
            image = frame.image_bgr
            _draw(image, by_frame.get(frame.index, []))
            writer.write(image)
            written += 1
        writer.release()
        os.replace(tmp, path)
    except BaseException:
        writer.release()
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return written
