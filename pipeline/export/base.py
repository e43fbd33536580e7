"""What an output (a *sink*) is: three moments of a run, and the checks across all outputs.

A sink is told about a run at three moments:

1. :meth:`Sink.check`, before the first frame is read: every path it will write, whether it can
   (folder exists and is writable, nothing in the way, name not too long), whether it can serve
   these cameras at all (a video needs a rewindable source). :func:`check_sinks` also refuses
   two outputs that would write the same file.
2. :meth:`Sink.on_assign`, live, each time the associator makes an identity decision
   (:class:`~pipeline.identities.Assignment`): for event streams.
3. :meth:`Sink.finish`, once, with the final :class:`RunResult`: write everything through the
   run's :class:`~infra.fileio.StagedFiles`, which renames all outputs together when every sink
   has finished, or removes them all when one fails.

A sink may also offer ``snapshot(tracks)`` (optional, found with ``getattr``): called every
``runtime.snapshot_interval_s`` during the run with the run so far (``complete: false``), written
atomically onto its target, so a crash loses at most that much (the ``--out`` sink does).

:meth:`Sink.abort` is called when the run fails: remove whatever was written live (the events
file). A new output is one class (subclass :class:`BaseSink`, override what it needs) plus one
line in :data:`pipeline.export.SINKS`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from infra.errors import UserError
from infra.fileio import StagedFiles, check_writable
from pipeline.records import TracksFile

if TYPE_CHECKING:
    from pipeline.frames import CameraSpec, FrameSource
    from pipeline.identities import Assignment

__all__ = ["BaseSink", "RunResult", "Sink", "check_file_target", "check_folder_target", "check_sinks"]


@dataclass(frozen=True)
class RunResult:
    """What a finished run hands to its sinks.

    Attributes:
        tracks: the cameras and global identities (the content of ``tracks.json``).
        sources: ``cam_id → FrameSource`` (rewindable ones can be read again, e.g. for videos).
        summary: figures of the run (:class:`pipeline.loop.RunSummary`), for reports.
        config: the run's :class:`~pipeline.config.PipelineConfig` (``None`` = unknown), for reports.
    """

    tracks: TracksFile
    sources: Mapping[str, FrameSource] = field(default_factory=dict)
    summary: Any = None
    config: Any = None


class Sink(Protocol):
    """An output of a run (see the module docstring for the three moments)."""

    def paths(self, cam_ids: Sequence[str]) -> list[Path]:
        """Every file this sink will write for these cameras (for collision checks)."""
        ...

    def check(self, cams: Sequence[CameraSpec]) -> None:
        """Raise :class:`~infra.errors.UserError` naming the path if the output cannot be written."""
        ...

    def on_assign(self, assignment: Assignment) -> None:
        """An identity decision, as it is made."""
        ...

    def finish(self, result: RunResult, staged: StagedFiles) -> None:
        """Write the final outputs through ``staged`` (renamed together after every sink finished)."""
        ...

    def abort(self) -> None:
        """The run failed: remove what was written live."""
        ...


class BaseSink:
    """A sink that does nothing at every moment; subclasses override what they need.

    Class attributes describe the command-line flag that creates the sink (``reid-pipeline``
    builds its output flags from :data:`pipeline.export.SINKS`): ``flag``, ``metavar``, ``help``,
    ``required``. A flag-made sink is constructed as ``cls(path, overwrite=...)``.
    """

    flag: ClassVar[str | None] = None
    stage: ClassVar[str] = "export"  # the summary's stage its finish() time is counted in
    metavar: ClassVar[str] = "PATH"
    help: ClassVar[str] = ""
    required: ClassVar[bool] = False

    def paths(self, cam_ids: Sequence[str]) -> list[Path]:
        return []

    def check(self, cams: Sequence[CameraSpec]) -> None:
        return None

    def on_assign(self, assignment: Assignment) -> None:
        return None

    def finish(self, result: RunResult, staged: StagedFiles) -> None:
        return None

    def abort(self) -> None:
        return None


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder if folder.is_dir() else Path("."), "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def check_file_target(path: Path, flag: str, overwrite: bool) -> None:
    """A file output: its name fits the file system, its folder is writable, nothing is in the way."""
    parent = path.parent if str(path.parent) else Path(".")
    if len(os.fsencode(path.name)) > _name_max(parent):
        raise UserError(f"{path}: {flag}: file name is too long for the file system")
    check_writable(path, overwrite=overwrite)


def check_folder_target(folder: Path, flag: str, files: Sequence[Path], overwrite: bool) -> None:
    """A folder output: a folder (or creatable), and each of its ``files`` as :func:`check_file_target`."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder}: {flag} must be a folder, it is a file")
    if not folder.exists():
        check_writable(folder, overwrite=False)  # its parent exists and is writable
        for path in files:
            if len(os.fsencode(path.name)) > _name_max(folder.parent):
                raise UserError(f"{path}: {flag}: file name is too long for the file system")
        return
    for path in files:
        check_file_target(path, flag, overwrite)


def check_sinks(sinks: Sequence[Sink], cams: Sequence[CameraSpec]) -> None:
    """Check every sink, and that no two outputs write the same file; raise UserError on the first problem."""
    cam_ids = [c.cam_id for c in cams]
    owner: dict[Path, Sink] = {}
    for sink in sinks:
        for path in sink.paths(cam_ids):
            key = Path(os.path.abspath(path))
            if key in owner:
                raise UserError(f"{path}: written by two outputs ({_label(owner[key])} and {_label(sink)})")
            owner[key] = sink
    for sink in sinks:
        sink.check(cams)


def _label(sink: Sink) -> str:
    return getattr(sink, "flag", None) or type(sink).__name__
