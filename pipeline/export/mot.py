"""``--mot-dir``: one MOTChallenge file per camera, ``<cam_id>.txt``, with global ids.

Rows come from :func:`pipeline.records.to_mot_rows` (1-based frames, ``tlwh`` pixels, id =
global id, score 1 for a coasted box); the format is :mod:`infra.motchallenge`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from infra.fileio import StagedFiles
from infra.motchallenge import format_mot
from pipeline.export.base import BaseSink, RunResult, check_folder_target
from pipeline.records import to_mot_rows

if TYPE_CHECKING:
    from pipeline.frames import CameraSpec

__all__ = ["MotSink"]


class MotSink(BaseSink):
    """Writes ``<folder>/<cam_id>.txt`` for every camera at the end (the folder is made if missing).

    Args:
        folder: the output folder; its parent must exist.
        overwrite: replace existing camera files.
    """

    flag = "--mot-dir"
    metavar = "DIR"
    help = (
        "also write DIR/<cam_id>.txt, MOTChallenge format with global ids, 1-based frames "
        "(default: not written)"
    )

    def __init__(self, folder: str | Path, *, overwrite: bool = False) -> None:
        self.folder = Path(folder)
        self.overwrite = overwrite

    def paths(self, cam_ids: Sequence[str]) -> list[Path]:
        return [self.folder / f"{cam_id}.txt" for cam_id in cam_ids]

    def check(self, cams: Sequence[CameraSpec]) -> None:
        check_folder_target(self.folder, self.flag, self.paths([c.cam_id for c in cams]), self.overwrite)

    def finish(self, result: RunResult, staged: StagedFiles) -> None:
        staged.folder(self.folder)
        for cam_id, rows in to_mot_rows(result.tracks).items():
            staged.path(self.folder / f"{cam_id}.txt").write_text(format_mot(rows), encoding="utf-8")
