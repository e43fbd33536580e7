"""The replayed detections: :class:`ReplayDetector` reads saved detections, one MOTChallenge file
per camera (``<dir>/<cam_id>.txt``, 1-based frame = decoded index + 1), so the pipeline runs
without a model (tests, tuning).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from infra.errors import UserError
from infra.motchallenge import MotRows, read_mot
from pipeline.frames import Frame
from trackers import Detections

__all__ = ["ReplayDetector", "rows_to_detections"]


log = logging.getLogger("pipeline")


def rows_to_detections(rows: MotRows) -> Detections:
    """MOTChallenge rows (tlwh pixels, ``conf`` as score) as person :class:`trackers.Detections` (xyxy)."""
    return Detections(
        rows.to_xyxy().astype(np.float32), rows.score.astype(np.float32), np.zeros(len(rows), np.int64)
    )


class ReplayDetector:
    """Saved detections replayed as if a detector produced them.

    Args:
        folder: a folder with one MOTChallenge file per camera, ``<cam_id>.txt``; frame numbers are
            1-based (= decoded index + 1), boxes tlwh pixels, ``conf`` the score.
        cam_ids: the cameras of the run; each must have its file.
        conf_threshold: rows scoring below this are dropped, in [0, 1].

    Raises:
        UserError: the folder or a camera's file is missing or malformed (named).
    """

    def __init__(self, folder: str | Path, cam_ids: Sequence[str], *, conf_threshold: float) -> None:
        folder = Path(folder)
        if not folder.is_dir():
            raise UserError(f"{folder}: --detections-dir is not a folder")
        self.folder = folder
        self._by_cam: dict[str, dict[int, Detections]] = {}
        for cam_id in cam_ids:
            path = folder / f"{cam_id}.txt"
            if not path.is_file():
                raise UserError(f"{path}: no saved detections for camera {cam_id!r} (expected <cam_id>.txt)")
            rows = read_mot(path)
            if len(rows) and (rows.score.min() < 0 or rows.score.max() > 1):
                # tracks.json scores are in [0, 1] (its schema): clamp, and say so once per file
                log.warning("%s: detection scores outside [0, 1] clamped into it", path)
                rows.score[:] = np.clip(rows.score, 0.0, 1.0)
            rows = rows[rows.score >= conf_threshold]
            self._by_cam[cam_id] = {frame: rows_to_detections(part) for frame, part in rows.by_frame()}

    def describe(self) -> str:
        """The back end as the summary prints it."""
        return f"replayed from {self.folder}"

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """The saved detections of each frame (``Detections.empty()`` where there are none)."""
        return [self._by_cam[f.cam_id].get(f.index + 1, Detections.empty()) for f in frames]
