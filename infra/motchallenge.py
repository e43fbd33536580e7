"""MOTChallenge text files: read, write and convert.

One row per box, comma-separated: ``frame,id,x,y,w,h,conf,x,y,z`` where

- ``frame`` is 1-based, ``id`` the track (or ground-truth person) id, ``-1`` for bare detections;
- ``x,y,w,h`` is the box as ``tlwh`` (left, top, width, height) in pixels;
- ``conf`` is the detection/track score; in ground truth files it is the "consider" flag
  (0 = ignore this row, as in MOT15, 1 = evaluate);
- the last three (world coordinates, or class/visibility in MOT16+) are written as ``-1`` and
  ignored when read. Files with 6 to 10 columns are accepted (a missing ``conf`` reads as 1).

Used by the pipeline for ``--mot-dir`` output and ``--detections-dir`` replay, by
``reid-eval``, the benchmarks and the data tools. The conversions to and from the tracker
containers (``trackers.Detections``/``Tracks``) live in :mod:`pipeline.detections`.
"""

from __future__ import annotations

import configparser
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from infra.boxes import tlwh_to_xyxy
from infra.errors import UserError
from infra.fileio import atomic_write_text, check_writable, read_text_bounded, short_repr

__all__ = [
    "MAX_COORD_PX",
    "MAX_FRAME",
    "MAX_MOT_BYTES",
    "MotRows",
    "SeqInfo",
    "read_mot",
    "read_seqinfo",
    "write_mot",
]

# Bounds on what a MOTChallenge file may hold: beyond them a value is a mistake (and would
# overflow int64 frames, or make inf boxes), reported as one line naming the file and line.
MAX_MOT_BYTES = 1 << 30  # 1 GiB: about 20 million rows
MAX_FRAME = 2**31 - 1  # frame numbers and ids
MAX_COORD_PX = 1e6  # |x|, |y|, w, h in pixels
MIN_FPS, MAX_FPS = 1e-3, 1e3  # seqinfo.ini frameRate, frames per second


@dataclass(frozen=True, slots=True, eq=False)
class MotRows:
    """Rows of a MOTChallenge file as parallel arrays.

    Attributes:
        frame: ``(N,)`` int64 frame number, 1-based.
        track_id: ``(N,)`` int64 track / person id (``-1`` for detections without identity).
        tlwh: ``(N, 4)`` float64 boxes ``[left, top, width, height]`` in pixels.
        score: ``(N,)`` float64 confidence (ground truth: the consider flag, 0 = ignore).
    """

    frame: np.ndarray
    track_id: np.ndarray
    tlwh: np.ndarray
    score: np.ndarray

    def __post_init__(self) -> None:
        tlwh = np.asarray(self.tlwh, dtype=np.float64)
        if tlwh.size == 0:
            tlwh = tlwh.reshape(0, 4)
        if tlwh.ndim != 2 or tlwh.shape[1] != 4:
            raise ValueError(f"MotRows.tlwh must have shape (N, 4), got {tlwh.shape}")
        n = len(tlwh)
        fields: dict[str, Any] = {"tlwh": tlwh}
        for name, dtype in (("frame", np.int64), ("track_id", np.int64), ("score", np.float64)):
            arr = np.asarray(getattr(self, name))
            if arr.size == 0 and n == 0:
                arr = arr.reshape(0)
            if arr.shape != (n,):
                raise ValueError(f"MotRows.{name} must have shape ({n},), got {arr.shape}")
            fields[name] = arr.astype(dtype)
        if n and fields["frame"].min() < 1:
            raise ValueError(f"MotRows.frame must be 1-based (>= 1), got {fields['frame'].min()}")
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    @classmethod
    def empty(cls) -> MotRows:
        """No rows."""
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0))

    @classmethod
    def concat(cls, parts: Sequence[MotRows]) -> MotRows:
        """All rows of ``parts`` in order."""
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.frame for p in parts]),
            np.concatenate([p.track_id for p in parts]),
            np.concatenate([p.tlwh for p in parts]),
            np.concatenate([p.score for p in parts]),
        )

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, index: Any) -> MotRows:
        """Rows selected by a boolean mask, an integer array or a slice."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        return MotRows(self.frame[index], self.track_id[index], self.tlwh[index], self.score[index])

    def to_xyxy(self) -> np.ndarray:
        """``(N, 4)`` float64 boxes ``[x1, y1, x2, y2]`` in pixels."""
        return tlwh_to_xyxy(self.tlwh)

    def by_frame(self) -> Iterator[tuple[int, MotRows]]:
        """``(frame, rows of that frame)`` for each frame that has rows, in increasing frame order."""
        if not len(self):
            return
        order = np.argsort(self.frame, kind="stable")
        frames = self.frame[order]
        starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]])
        ends = np.r_[starts[1:], len(frames)]
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            yield int(frames[start]), self[order[start:end]]


def read_mot(path: str | Path) -> MotRows:
    """Read a MOTChallenge text file (see the module docstring for the format).

    Raises:
        UserError: the file is missing or unreadable, or a line is malformed; the message names
            the file and the 1-based line number.
    """
    path = Path(path)
    try:
        text = read_text_bounded(path, MAX_MOT_BYTES, "MOT file")
    except FileNotFoundError:
        raise UserError(f"{path}: MOT file not found") from None
    values: list[list[float]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        cells = [c.strip() for c in line.split(",")]
        if not 6 <= len(cells) <= 10:
            raise UserError(
                f"{path}:{line_no}: expected 6 to 10 comma-separated values "
                f"(frame,id,x,y,w,h,conf,...), got {len(cells)}"
            )
        try:
            row = [float(c) for c in cells[:7]]
        except ValueError:
            raise UserError(f"{path}:{line_no}: non-numeric value in {short_repr(line)}") from None
        if not np.isfinite(row).all():
            raise UserError(f"{path}:{line_no}: NaN or infinite value in {short_repr(line)}")
        if not 1 <= row[0] <= MAX_FRAME or row[0] != int(row[0]):
            raise UserError(
                f"{path}:{line_no}: frame must be an integer from 1 (1-based) to {MAX_FRAME}, "
                f"got {cells[0][:30]}"
            )
        if abs(row[1]) > MAX_FRAME or row[1] != int(row[1]):
            raise UserError(
                f"{path}:{line_no}: id must be an integer of at most {MAX_FRAME}, got {cells[1][:30]}"
            )
        if row[4] < 0 or row[5] < 0:
            raise UserError(f"{path}:{line_no}: width and height must be >= 0, got {cells[4]}, {cells[5]}")
        if max(abs(v) for v in row[2:6]) > MAX_COORD_PX:
            raise UserError(f"{path}:{line_no}: box values must be at most {MAX_COORD_PX:g} pixels")
        if len(row) == 6:
            row.append(1.0)
        values.append(row)
    if not values:
        return MotRows.empty()
    arr = np.asarray(values, dtype=np.float64)
    return MotRows(arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2:6], arr[:, 6])


def format_mot(rows: MotRows) -> str:
    """The text of a MOTChallenge file for ``rows``, sorted by frame then id (2 decimals for pixels)."""
    order = np.lexsort((rows.track_id, rows.frame))
    lines = [
        f"{f},{i},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{s:.4g},-1,-1,-1"
        for f, i, (x, y, w, h), s in zip(
            rows.frame[order].tolist(),
            rows.track_id[order].tolist(),
            rows.tlwh[order].tolist(),
            rows.score[order].tolist(),
            strict=True,
        )
    ]
    return "".join(line + "\n" for line in lines)


def write_mot(path: str | Path, rows: MotRows, overwrite: bool = False) -> None:
    """Write ``rows`` as a MOTChallenge file, atomically (a crash never leaves half a file).

    Raises:
        UserError: ``path`` exists and ``overwrite`` is false, or its folder is missing/not writable.
    """
    path = check_writable(path, overwrite=overwrite)
    atomic_write_text(path, format_mot(rows))


@dataclass(frozen=True, slots=True)
class SeqInfo:
    """The ``[Sequence]`` section of a MOTChallenge ``seqinfo.ini``.

    Attributes:
        name: sequence name.
        fps: frame rate (frames per second, float; the one key that must be there).
        num_frames: sequence length in frames, ``None`` when not stated.
        width_px, height_px: image size in pixels, ``None`` when not stated.
    """

    name: str
    fps: float
    num_frames: int | None
    width_px: int | None
    height_px: int | None


def read_seqinfo(path: str | Path) -> SeqInfo:
    """Read a ``seqinfo.ini``; a missing file, section or ``frameRate`` raises UserError naming the file."""
    path = Path(path)
    parser = configparser.ConfigParser()
    try:
        parser.read_string(read_text_bounded(path, 1 << 16, "seqinfo.ini"), source=str(path))
        section = parser["Sequence"]
        fps = float(section["frameRate"])
        if not MIN_FPS <= fps <= MAX_FPS:
            raise UserError(
                f"{path}: frameRate must be {MIN_FPS:g} to {MAX_FPS:g} frames per second, got {fps:g}"
            )
        return SeqInfo(
            name=section.get("name", path.parent.name),
            fps=fps,
            num_frames=_opt_int(section.get("seqLength")),
            width_px=_opt_int(section.get("imWidth")),
            height_px=_opt_int(section.get("imHeight")),
        )
    except FileNotFoundError:
        raise UserError(f"{path}: seqinfo.ini not found") from None
    except KeyError as err:
        raise UserError(f"{path}: missing section or key {err}") from None
    except (configparser.Error, ValueError, OSError) as err:
        raise UserError(f"{path}: bad seqinfo.ini ({' '.join(str(err).split())})") from None


def _opt_int(value: str | None) -> int | None:
    return None if value is None else int(value)
