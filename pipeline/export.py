"""⑥ Identities → versioned JSON (``schema_version`` 1), written atomically.

The file format (also shipped as the JSON Schema ``pipeline/schema/tracks.schema.json``)::

    {"schema_version": 1,
     "cameras": [{"cam_id": "cam_a", "source": "cam_a.mp4", "fps": 25.0, "width": 640,
                  "height": 480, "num_frames": 179}],
     "identities": [{"global_id": 1,
        "tracklets": [{"cam_id": "cam_a", "track_id": 3, "start_frame": 10, "end_frame": 95,
                       "t_start_s": 0.4, "t_end_s": 3.8,
                       "boxes": [{"frame": 10, "time_s": 0.4, "xyxy": [x1, y1, x2, y2],
                                  "score": 0.91}]}]}]}

Conventions: ``frame`` is the 0-based index of the decoded frame in its source; ``time_s`` is
seconds from the start of the source (container time, or index ÷ real fps); ``xyxy`` are
pixels of the original frame; a value that is unknown is ``null``, never ``""``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from infra.errors import UserError
from infra.fileio import atomic_write_text

__all__ = [
    "SCHEMA_VERSION",
    "BoxRecord",
    "CameraRecord",
    "IdentityRecord",
    "TrackletRecord",
    "TracksFile",
    "load_schema",
    "read_tracks_json",
    "validate_tracks_dict",
    "write_tracks_json",
]

SCHEMA_VERSION = 1


def _opt_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _opt_int(value: int | None) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True, slots=True)
class BoxRecord:
    """One box of a tracklet: 0-based ``frame``, ``time_s`` seconds, ``xyxy`` pixels, ``score`` in [0, 1]."""

    frame: int
    time_s: float
    xyxy: tuple[float, float, float, float]
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "frame": int(self.frame),
            "time_s": float(self.time_s),
            "xyxy": [float(v) for v in self.xyxy],
            "score": _opt_float(self.score),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BoxRecord:
        x1, y1, x2, y2 = (float(v) for v in data["xyxy"])
        return cls(int(data["frame"]), float(data["time_s"]), (x1, y1, x2, y2), _opt_float(data.get("score")))


@dataclass(frozen=True, slots=True)
class TrackletRecord:
    """One per-camera track: ``(cam_id, track_id)`` is unique within a file."""

    cam_id: str
    track_id: int
    start_frame: int
    end_frame: int
    t_start_s: float
    t_end_s: float
    boxes: tuple[BoxRecord, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "cam_id": self.cam_id,
            "track_id": int(self.track_id),
            "start_frame": int(self.start_frame),
            "end_frame": int(self.end_frame),
            "t_start_s": float(self.t_start_s),
            "t_end_s": float(self.t_end_s),
            "boxes": [box.to_dict() for box in self.boxes],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrackletRecord:
        return cls(
            cam_id=str(data["cam_id"]),
            track_id=int(data["track_id"]),
            start_frame=int(data["start_frame"]),
            end_frame=int(data["end_frame"]),
            t_start_s=float(data["t_start_s"]),
            t_end_s=float(data["t_end_s"]),
            boxes=tuple(BoxRecord.from_dict(b) for b in data.get("boxes", [])),
        )


@dataclass(frozen=True, slots=True)
class IdentityRecord:
    """One global person identity and the tracklets (possibly of several cameras) linked to it."""

    global_id: int
    tracklets: tuple[TrackletRecord, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"global_id": int(self.global_id), "tracklets": [t.to_dict() for t in self.tracklets]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IdentityRecord:
        tracklets = tuple(TrackletRecord.from_dict(t) for t in data.get("tracklets", []))
        return cls(int(data["global_id"]), tracklets)


@dataclass(frozen=True, slots=True)
class CameraRecord:
    """One input camera. ``fps`` is the real (float) frame rate; unknown values are ``None``."""

    cam_id: str
    source: str
    fps: float | None
    width: int | None
    height: int | None
    num_frames: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "cam_id": self.cam_id,
            "source": self.source,
            "fps": _opt_float(self.fps),
            "width": _opt_int(self.width),
            "height": _opt_int(self.height),
            "num_frames": _opt_int(self.num_frames),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraRecord:
        return cls(
            cam_id=str(data["cam_id"]),
            source=str(data["source"]),
            fps=_opt_float(data.get("fps")),
            width=_opt_int(data.get("width")),
            height=_opt_int(data.get("height")),
            num_frames=_opt_int(data.get("num_frames")),
        )


@dataclass(frozen=True, slots=True)
class TracksFile:
    """The whole output: cameras and the global identities across them."""

    cameras: tuple[CameraRecord, ...]
    identities: tuple[IdentityRecord, ...] = ()
    schema_version: int = field(default=SCHEMA_VERSION)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": int(self.schema_version),
            "cameras": [c.to_dict() for c in self.cameras],
            "identities": [i.to_dict() for i in self.identities],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TracksFile:
        return cls(
            cameras=tuple(CameraRecord.from_dict(c) for c in data["cameras"]),
            identities=tuple(IdentityRecord.from_dict(i) for i in data["identities"]),
            schema_version=int(data["schema_version"]),
        )


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


def write_tracks_json(path: str | Path, tracks: TracksFile) -> None:
    """Write ``tracks`` to ``path`` atomically (temporary file + rename)."""
    text = json.dumps(tracks.to_dict(), indent=1, allow_nan=False)
    atomic_write_text(path, text + "\n")


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
