"""The ``tracks.json`` file (``schema_version`` 3): write atomically, read and validate.

The file format (also shipped as the JSON Schema ``pipeline/schema/tracks.schema.json``)::

    {"schema_version": 3, "complete": true,
     "cameras": [{"cam_id": "cam_a", "source": "cam_a.mp4", "fps": 25.0, "width": 640,
                  "height": 480, "num_frames": 179,
                  "gaps": [{"t_from_s": 12.4, "t_to_s": 15.9, "reason": "read timeout"}],
                  "frames_dropped": 0, "end": "ended", "error": null}],
     "identities": [{"global_id": 1,
        "tracklets": [{"cam_id": "cam_a", "track_id": 3, "start_frame": 10, "end_frame": 95,
                       "t_start_s": 0.4, "t_end_s": 3.8,
                       "boxes": [{"frame": 10, "time_s": 0.4, "xyxy": [x1, y1, x2, y2],
                                  "score": 0.91},
                                 {"frame": 11, "time_s": 0.44, "xyxy": [x1, y1, x2, y2],
                                  "score": null, "interpolated": true}]}]}]}

The conventions (0-based frames, seconds, pixels, ``null`` for unknown) are those of
:mod:`pipeline.records`. ``complete`` is false for a run stopped by a signal, a run where a camera
failed (its ``end`` is ``"failed"``, ``error`` says why) and for periodic snapshots. A box with
``"interpolated": true`` was filled in across a gap of its identity in that camera
(``export.interpolation``), not tracked; the key is absent on tracked boxes. Readers accept
versions 1, 2 and 3 (:data:`~pipeline.records.READABLE_VERSIONS`); version 1 reads as complete, no
gaps; versions 1 and 2 have no interpolated boxes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.errors import UserError
from infra.fileio import StagedFiles, atomic_write_text
from pipeline.export.base import BaseSink, RunResult, check_file_target
from pipeline.records import TracksFile

if TYPE_CHECKING:
    from pipeline.frames import CameraSpec

__all__ = [
    "TracksJsonSink",
    "load_schema",
    "read_tracks_json",
    "tracks_json_text",
    "validate_tracks_dict",
    "write_tracks_json",
]


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the tracks file, as shipped in the package."""
    text = resources.files("pipeline").joinpath("schema/tracks.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def validate_tracks_dict(data: dict[str, Any], source: str | Path = "<tracks>") -> None:
    """Validate ``data`` against the schema; raise UserError naming ``source`` and the first problem."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise UserError(f"{source}: not a valid tracks file at {where}: {error.message}")


def tracks_json_text(tracks: TracksFile) -> str:
    """The text of the tracks file for ``tracks`` (indented JSON, no NaN, trailing newline)."""
    return json.dumps(tracks.to_dict(), indent=1, allow_nan=False) + "\n"


def write_tracks_json(path: str | Path, tracks: TracksFile) -> None:
    """Write ``tracks`` to ``path`` atomically (temporary file + rename)."""
    atomic_write_text(path, tracks_json_text(tracks))


def read_tracks_json(path: str | Path) -> TracksFile:
    """Read and validate a tracks file; raise UserError naming the file on any problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read ({err})") from None
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: invalid JSON at line {err.lineno}: {err.msg}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: top level must be a JSON object")
    validate_tracks_dict(data, source=path)
    tracks = TracksFile.from_dict(data)
    _check_consistency(tracks, source=path)
    return tracks


def _check_consistency(tracks: TracksFile, source: str | Path) -> None:
    """What the schema cannot say: known cameras, ordered frames, unique ids."""
    cam_ids = [c.cam_id for c in tracks.cameras]
    if len(set(cam_ids)) != len(cam_ids):
        raise UserError(f"{source}: duplicate cam_id in cameras")
    global_ids: set[int] = set()
    tracklet_keys: set[tuple[str, int]] = set()
    for identity in tracks.identities:
        if identity.global_id in global_ids:
            raise UserError(f"{source}: global_id {identity.global_id} appears twice")
        global_ids.add(identity.global_id)
        for t in identity.tracklets:
            where = f"tracklet ({t.cam_id}, {t.track_id}) of global_id {identity.global_id}"
            if t.cam_id not in cam_ids:
                raise UserError(f"{source}: {where} names a camera not in 'cameras'")
            if (t.cam_id, t.track_id) in tracklet_keys:
                raise UserError(f"{source}: {where} appears twice")
            tracklet_keys.add((t.cam_id, t.track_id))
            if t.start_frame > t.end_frame or t.t_start_s > t.t_end_s:
                raise UserError(f"{source}: {where} ends before it starts")


class TracksJsonSink(BaseSink):
    """``--out``: the tracks file, written once at the end (staged with the other outputs).

    Args:
        path: the ``.json`` file.
        overwrite: replace an existing file.
    """

    flag = "--out"
    metavar = "JSON"
    help = "tracks file to write (schema_version 3; written at the end, atomically; live runs also "
    "snapshot it every runtime.snapshot_interval_s)"
    required = True

    def __init__(self, path: str | Path, *, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.overwrite = overwrite

    def paths(self, cam_ids: Sequence[str]) -> list[Path]:
        return [self.path]

    def check(self, cams: Sequence[CameraSpec]) -> None:
        check_file_target(self.path, self.flag, self.overwrite)

    def snapshot(self, tracks: TracksFile) -> None:
        """Write the run so far (``complete: false``) atomically onto the target (replaces the last one)."""
        if self.path.is_symlink() or (self.path.exists() and not self.path.is_file()):
            raise OSError(f"{self.path} is no longer a regular file; snapshot not written")
        write_tracks_json(self.path, tracks)

    def finish(self, result: RunResult, staged: StagedFiles) -> None:
        staged.path(self.path).write_text(tracks_json_text(result.tracks), encoding="utf-8")
