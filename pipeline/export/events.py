"""``--events``: identity assignments streamed as JSON lines while the run goes on.

One JSON object per line, appended and flushed as each decision is made, e.g.::

    {"event": "assign", "cam_id": "cam_a", "track_id": 3, "global_id": 1, "new_identity": true,
     "score": null, "t_start_s": 0.4, "t_end_s": 3.8}

``score`` is the aggregated P(same person) of a link to an existing identity, ``null`` for a new
identity. Unlike ``--out`` this file grows during the run (that is its purpose): it is created at
the first decision (or at the end, empty, if there is none); a run that fails removes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from infra.errors import UserError
from infra.fileio import StagedFiles
from pipeline.export.base import BaseSink, RunResult, check_file_target

if TYPE_CHECKING:
    from pipeline.frames import CameraSpec
    from pipeline.identities import Assignment

__all__ = ["EventsSink"]


class EventsSink(BaseSink):
    """Appends each :class:`~pipeline.identities.Assignment` to a JSON-lines file, one flushed line each.

    Args:
        path: the file; created (or truncated, when overwriting is allowed) at the first event.
        overwrite: replace an existing file.
    """

    flag = "--events"
    metavar = "JSONL"
    help = "stream identity assignments as JSON lines while running (default: not written)"

    def __init__(self, path: str | Path, *, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self._handle: IO[str] | None = None
        self.count = 0

    def paths(self, cam_ids: Sequence[str]) -> list[Path]:
        return [self.path]

    def check(self, cams: Sequence[CameraSpec]) -> None:
        check_file_target(self.path, self.flag, self.overwrite)

    def _open(self) -> IO[str]:
        """Create the file: exclusively (or truncating an existing regular file when overwriting),
        never through a symbolic link."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_TRUNC if self.overwrite else os.O_EXCL)
        try:
            fd = os.open(self.path, flags, 0o666)
        except OSError as err:
            raise UserError(f"{self.path}: {self.flag}: cannot create ({err.strerror})") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise UserError(f"{self.path}: {self.flag}: not a regular file; refusing to write to it")
        return os.fdopen(fd, "w", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        """Write one event object as a line and flush it (an OSError, e.g. a full disk, is a UserError)."""
        if self._handle is None:
            self._handle = self._open()
        try:
            self._handle.write(json.dumps(record, allow_nan=False) + "\n")
            self._handle.flush()
        except OSError as err:
            raise UserError(f"{self.path}: {self.flag}: cannot write ({err.strerror})") from None
        self.count += 1

    def on_assign(self, assignment: Assignment) -> None:
        self.write(assignment.to_dict())

    def finish(self, result: RunResult, staged: StagedFiles) -> None:
        if self._handle is None:
            self._handle = self._open()
        try:
            self._handle.close()
        except OSError as err:
            raise UserError(f"{self.path}: {self.flag}: cannot write ({err.strerror})") from None

    def abort(self) -> None:
        if self._handle is None:
            return
        with contextlib.suppress(OSError):
            self._handle.close()
        with contextlib.suppress(OSError):
            self.path.unlink()
