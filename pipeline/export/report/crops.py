"""The report's crops: which boxes to show on each identity card, cut as small JPEGs during one pass.

:func:`plan_crops` picks, per identity and camera, up to ``per_camera`` boxes: detected ones
only (a predicted box may show nobody), those not cut by the frame border first, then by
``score × height`` (a sharp, large view), at least one second apart (different views).
:class:`CropCutter` then receives each frame of a camera as the source is read again (the
same pass that draws the annotated video) and encodes the planned crops, scaled to
``height_px``, as JPEG bytes.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from pipeline.records import TracksFile

__all__ = ["CropCutter", "PlannedCrop", "crop_file_name", "plan_crops"]

_MIN_APART_S = 1.0  # seconds between two crops of one identity in one camera (different views)
_BORDER_PX = 2.0  # a box within this many pixels of the frame border counts as cut by it


@dataclass(frozen=True, slots=True)
class PlannedCrop:
    """One crop to cut: ``global_id``, ``cam_id``, 0-based ``frame``, ``xyxy`` pixels, file ``name``."""

    global_id: int
    cam_id: str
    frame: int
    xyxy: tuple[float, float, float, float]
    name: str


def crop_file_name(global_id: int, cam_id: str, frame: int) -> str:
    """A file name safe on every file system for a crop.

    >>> crop_file_name(7, "cam a/1", 12)
    '7_cam_a_1_12.jpg'
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", cam_id)
    return f"{global_id}_{safe}_{frame}.jpg"


def plan_crops(tracks: TracksFile, per_camera: int) -> dict[str, dict[int, list[PlannedCrop]]]:
    """``{cam_id: {frame: [PlannedCrop, …]}}``: the crops of every identity card (see module docstring)."""
    sizes = {c.cam_id: (c.width, c.height) for c in tracks.cameras}
    plan: dict[str, dict[int, list[PlannedCrop]]] = defaultdict(lambda: defaultdict(list))
    for identity in tracks.identities:
        by_cam: dict[str, list[tuple[tuple[bool, float], float, int, tuple[float, float, float, float]]]]
        by_cam = defaultdict(list)
        for t in identity.tracklets:
            width, height = sizes.get(t.cam_id, (None, None))
            for box in t.boxes:
                if box.score is None:
                    continue
                x1, y1, x2, y2 = box.xyxy
                if x2 - x1 < 2 or y2 - y1 < 2:
                    continue
                inside = (
                    x1 > _BORDER_PX
                    and y1 > _BORDER_PX
                    and (width is None or x2 < width - _BORDER_PX)
                    and (height is None or y2 < height - _BORDER_PX)
                )
                by_cam[t.cam_id].append(((inside, box.score * (y2 - y1)), box.time_s, box.frame, box.xyxy))
        for cam_id, boxes in by_cam.items():
            chosen: list[tuple[float, int, tuple[float, float, float, float]]] = []
            for _, time_s, frame, xyxy in sorted(boxes, key=lambda b: b[0], reverse=True):
                if all(abs(time_s - c[0]) >= _MIN_APART_S for c in chosen):
                    chosen.append((time_s, frame, xyxy))
                    if len(chosen) == per_camera:
                        break
            for _, frame, xyxy in sorted(chosen, key=lambda c: c[0]):
                name = crop_file_name(identity.global_id, cam_id, frame)
                plan[cam_id][frame].append(PlannedCrop(identity.global_id, cam_id, frame, xyxy, name))
    return {c: dict(f) for c, f in plan.items()}


class CropCutter:
    """Cuts the planned crops of one camera from its frames, as JPEG bytes.

    Args:
        planned: ``{frame: [PlannedCrop, …]}`` of this camera.
        height_px: crops are scaled to this height (aspect kept).
        jpeg_quality: JPEG quality in [1, 100].
    """

    def __init__(self, planned: dict[int, list[PlannedCrop]], *, height_px: int, jpeg_quality: int) -> None:
        self.planned = planned
        self.height_px = height_px
        self.jpeg_quality = jpeg_quality
        self.jpegs: dict[str, bytes] = {}

    def __call__(self, frame_index: int, image_bgr: np.ndarray) -> None:
        """Cut the crops planned for this frame (``(H, W, 3)`` uint8 BGR) before anything is drawn on it."""
        import cv2

        for crop in self.planned.get(frame_index, ()):
            h, w = image_bgr.shape[:2]
            x1, y1, x2, y2 = crop.xyxy
            x1i, y1i = max(int(x1), 0), max(int(y1), 0)
            x2i, y2i = min(int(np.ceil(x2)), w), min(int(np.ceil(y2)), h)
            if x2i - x1i < 2 or y2i - y1i < 2:
                continue
            part = image_bgr[y1i:y2i, x1i:x2i]
            scale = self.height_px / part.shape[0]
            size = (max(1, round(part.shape[1] * scale)), self.height_px)
            part = cv2.resize(part, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
            ok, buf = cv2.imencode(".jpg", part, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            if ok:
                self.jpegs[crop.name] = buf.tobytes()
