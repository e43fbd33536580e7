"""The run's result as small validated records: cameras, identities, tracklets, boxes.

These cross the boundary between the stages and the outputs (sinks, ``reid-eval``): every sink
reads a :class:`TracksFile`, and :func:`to_mot_rows` is the one conversion of records to
MOTChallenge rows (used by the MOT sink, the video sink and ``reid-eval mtmc``).

Conventions: ``frame`` is the 0-based index of the decoded frame in its source; ``time_s`` is
seconds from the start of the source (container time, or index ÷ real fps); ``xyxy`` are
pixels of the original frame; a value that is unknown is ``None`` (``null`` in JSON), never ``""``.
The JSON form (``to_dict``/``from_dict``) is the ``tracks.json`` format of
:mod:`pipeline.export.tracks_json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infra.boxes import xyxy_to_tlwh
from infra.motchallenge import MotRows

__all__ = [
    "CAMERA_ENDS",
    "READABLE_VERSIONS",
    "SCHEMA_VERSION",
    "BoxRecord",
    "CameraRecord",
    "GapRecord",
    "IdentityRecord",
    "LinkRecord",
    "TrackletRecord",
    "TracksFile",
    "json_frame_to_mot",
    "to_mot_rows",
]

SCHEMA_VERSION = 3
# Version 1 files read as version 3 with no gaps, nothing dropped, complete; versions 1 and 2 have no
# interpolated boxes (version 3 adds the optional ``interpolated`` flag of a box).
READABLE_VERSIONS = (1, 2, 3)
# How a camera's reading ended (``end`` in tracks.json): its source ended; the run was stopped by a
# signal; --duration or --max-frames was reached; the camera failed (``error`` says why); or the
# run is still going (a periodic snapshot).
CAMERA_ENDS = ("ended", "stopped", "duration", "max_frames", "failed", "running")


def _opt_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _opt_int(value: int | None) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True, slots=True)
class BoxRecord:
    """One box of a tracklet: 0-based ``frame``, ``time_s`` seconds, ``xyxy`` pixels, ``score`` in [0, 1].

    ``interpolated``: the box was not tracked but filled in afterwards, across a gap of its identity
    in this camera (``export.interpolation``; its ``score`` is ``None``). Written to JSON only when
    true (schema version 3); absent reads as false.
    """

    frame: int
    time_s: float
    xyxy: tuple[float, float, float, float]
    score: float | None = None
    interpolated: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "frame": int(self.frame),
            "time_s": float(self.time_s),
            "xyxy": [float(v) for v in self.xyxy],
            "score": _opt_float(self.score),
        }
        if self.interpolated:
            data["interpolated"] = True
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BoxRecord:
        x1, y1, x2, y2 = (float(v) for v in data["xyxy"])
        return cls(
            int(data["frame"]),
            float(data["time_s"]),
            (x1, y1, x2, y2),
            _opt_float(data.get("score")),
            bool(data.get("interpolated", False)),
        )


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """How firmly a tracklet was linked to its identity (written by associators that know it).

    ``score``: calibrated P(same person) of the tracklet with the rest of its identity, in [0, 1];
    ``margin_logodds``: its log-odds with its identity minus that with the best other identity
    it could have joined (natural log), ``None`` when no other could take it.
    """

    score: float
    margin_logodds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"score": float(self.score), "margin_logodds": _opt_float(self.margin_logodds)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinkRecord:
        return cls(float(data["score"]), _opt_float(data.get("margin_logodds")))


@dataclass(frozen=True, slots=True)
class TrackletRecord:
    """One per-camera track: ``(cam_id, track_id)`` is unique within a file.

    ``link`` (optional, written only when known): how firmly it was linked to its identity.
    """

    cam_id: str
    track_id: int
    start_frame: int
    end_frame: int
    t_start_s: float
    t_end_s: float
    boxes: tuple[BoxRecord, ...] = ()
    link: LinkRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "cam_id": self.cam_id,
            "track_id": int(self.track_id),
            "start_frame": int(self.start_frame),
            "end_frame": int(self.end_frame),
            "t_start_s": float(self.t_start_s),
            "t_end_s": float(self.t_end_s),
            "boxes": [box.to_dict() for box in self.boxes],
        }
        if self.link is not None:
            data["link"] = self.link.to_dict()
        return data

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
            link=LinkRecord.from_dict(data["link"]) if data.get("link") is not None else None,
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
class GapRecord:
    """One outage of a live camera: no frame between ``t_from_s`` and ``t_to_s`` (seconds, source clock).

    ``reason`` says what happened (``"read timeout"``, ``"stream ended"``, ``"read error: …"``);
    ``t_to_s`` is ``None`` when the camera never came back.
    """

    t_from_s: float
    t_to_s: float | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"t_from_s": float(self.t_from_s), "t_to_s": _opt_float(self.t_to_s), "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GapRecord:
        return cls(float(data["t_from_s"]), _opt_float(data.get("t_to_s")), str(data["reason"]))


@dataclass(frozen=True, slots=True)
class CameraRecord:
    """One input camera. ``fps`` is the real (float) frame rate; unknown values are ``None``.

    ``gaps`` are the outages of a live source (reconnects), ``frames_dropped`` the frames left
    unprocessed to keep up with a live source (``runtime.when_behind: drop``), ``end`` how its
    reading ended (one of :data:`CAMERA_ENDS`) and ``error`` the one-line reason when it failed.
    """

    cam_id: str
    source: str
    fps: float | None
    width: int | None
    height: int | None
    num_frames: int | None
    gaps: tuple[GapRecord, ...] = ()
    frames_dropped: int = 0
    end: str = "ended"
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "cam_id": self.cam_id,
            "source": self.source,
            "fps": _opt_float(self.fps),
            "width": _opt_int(self.width),
            "height": _opt_int(self.height),
            "num_frames": _opt_int(self.num_frames),
            "gaps": [g.to_dict() for g in self.gaps],
            "frames_dropped": int(self.frames_dropped),
            "end": self.end,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraRecord:
        error = data.get("error")
        return cls(
            cam_id=str(data["cam_id"]),
            source=str(data["source"]),
            fps=_opt_float(data.get("fps")),
            width=_opt_int(data.get("width")),
            height=_opt_int(data.get("height")),
            num_frames=_opt_int(data.get("num_frames")),
            gaps=tuple(GapRecord.from_dict(g) for g in data.get("gaps", [])),
            frames_dropped=int(data.get("frames_dropped", 0)),
            end=str(data.get("end", "ended")),
            error=None if error is None else str(error),
        )


@dataclass(frozen=True, slots=True)
class TracksFile:
    """The whole output: cameras and the global identities across them.

    ``complete`` is ``False`` when the file holds less than the run was asked for: the run was
    stopped by a signal, a camera failed, or the file is a periodic snapshot of a run still going.
    Always written as :data:`SCHEMA_VERSION`; a version 1 file reads as complete, with no gaps;
    version 1 and 2 files have no interpolated boxes.
    """

    cameras: tuple[CameraRecord, ...]
    identities: tuple[IdentityRecord, ...] = ()
    schema_version: int = field(default=SCHEMA_VERSION)
    complete: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "complete": bool(self.complete),
            "cameras": [c.to_dict() for c in self.cameras],
            "identities": [i.to_dict() for i in self.identities],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TracksFile:
        return cls(
            cameras=tuple(CameraRecord.from_dict(c) for c in data["cameras"]),
            identities=tuple(IdentityRecord.from_dict(i) for i in data["identities"]),
            schema_version=SCHEMA_VERSION,
            complete=bool(data.get("complete", True)),
        )


def json_frame_to_mot(frame: int) -> int:
    """The 1-based MOTChallenge frame number of a 0-based record frame index.

    >>> json_frame_to_mot(0)
    1
    """
    return int(frame) + 1


def to_mot_rows(tracks: TracksFile) -> dict[str, MotRows]:
    """Per-camera MOTChallenge rows of ``tracks``: id = ``global_id``, 1-based frames, ``tlwh`` pixels.

    Every camera of ``tracks.cameras`` gets an entry (possibly empty), in that order; a box score
    that is ``None`` (a coasted or an interpolated box) reads as 1.0. Interpolated boxes are
    included (as StrongSORT's interpolated MOT files do).

    Example:
        >>> box = BoxRecord(0, 0.0, (10.0, 20.0, 40.0, 80.0), None)
        >>> t = TrackletRecord("a", 1, 0, 0, 0.0, 0.0, (box,))
        >>> cams = (CameraRecord("a", "a.mp4", 25.0, 64, 48, 1),)
        >>> rows = to_mot_rows(TracksFile(cams, (IdentityRecord(7, (t,)),)))["a"]
        >>> rows.frame.tolist(), rows.track_id.tolist(), rows.tlwh.tolist(), rows.score.tolist()
        ([1], [7], [[10.0, 20.0, 30.0, 60.0]], [1.0])
    """
    parts: dict[str, list[tuple[int, int, float, float, float, float, float]]] = {
        cam.cam_id: [] for cam in tracks.cameras
    }
    for identity in tracks.identities:
        for tracklet in identity.tracklets:
            rows = parts.setdefault(tracklet.cam_id, [])
            for box in tracklet.boxes:
                score = 1.0 if box.score is None else float(box.score)
                rows.append((json_frame_to_mot(box.frame), identity.global_id, *box.xyxy, score))
    out: dict[str, MotRows] = {}
    for cam_id, rows in parts.items():
        if not rows:
            out[cam_id] = MotRows.empty()
            continue
        arr = np.asarray(rows, dtype=np.float64)
        tlwh = xyxy_to_tlwh(arr[:, 2:6])
        out[cam_id] = MotRows(arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), tlwh, arr[:, 6])
    return out
