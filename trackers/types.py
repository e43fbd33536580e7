"""Typed containers that cross the tracker boundary: :class:`Detections` in, :class:`Tracks` out.

Both are frozen dataclasses of parallel numpy arrays, validated on construction. Boxes are
``xyxy`` = ``(x1, y1, x2, y2)`` in pixels of the original frame, ``x2 >= x1`` and ``y2 >= y1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Detections", "Tracks"]


def _as_boxes(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float32)
    if arr.size == 0 and arr.ndim <= 2:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4) [x1, y1, x2, y2], got shape {arr.shape}")
    if not np.isfinite(arr).all():
        row = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise ValueError(f"{name} must be finite, got {arr[row].tolist()} at row {row}")
    bad = (arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must have x2 >= x1 and y2 >= y1, got {arr[row].tolist()} at row {row}")
    return arr


def _as_vector(name: str, value: Any, n: int, dtype: type[np.generic]) -> np.ndarray:
    raw = np.asarray(value)
    if raw.size == 0 and n == 0:
        raw = raw.reshape(0)
    if raw.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match {n} boxes, got shape {raw.shape}")
    if np.issubdtype(dtype, np.integer):
        if raw.dtype.kind == "f":
            if not np.isfinite(raw).all() or not np.array_equal(raw, np.round(raw)):
                raise ValueError(f"{name} must hold integers, got non-integral values {raw.tolist()[:5]}")
        elif raw.dtype.kind not in "iub":
            raise ValueError(f"{name} must hold integers, got dtype {raw.dtype}")
        return raw.astype(dtype)
    arr = raw.astype(dtype)
    if not np.isfinite(arr).all():
        row = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{name} must be finite, got {arr[row]} at row {row}")
    return arr


def _index_array(index: Any, n: int) -> np.ndarray:
    """Turn an int, slice, integer array or boolean mask into an integer index array."""
    if isinstance(index, slice):
        return np.arange(n)[index]
    idx = np.asarray(index)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise IndexError(f"boolean mask must have shape ({n},), got shape {idx.shape}")
        return np.flatnonzero(idx)
    if idx.ndim == 0:
        idx = idx.reshape(1)
    if idx.size and idx.dtype.kind not in "iu":
        raise IndexError(f"index must be integers, a slice or a boolean mask, got dtype {idx.dtype}")
    return idx.astype(np.int64)


@dataclass(frozen=True, slots=True, eq=False)
class Detections:
    """The detections of one frame.

    Attributes:
        xyxy: ``(N, 4)`` float32, boxes ``[x1, y1, x2, y2]`` in pixels; finite, ``x2 >= x1``, ``y2 >= y1``.
        score: ``(N,)`` float32 detector confidence, usually in ``[0, 1]``.
        class_id: ``(N,)`` int64 class label (COCO person = 0); all zeros when not given.

    Inputs are coerced to these dtypes; a wrong shape, a NaN/inf value or an inverted box raises
    ``ValueError`` stating what was expected and what was given.

    Example:
        >>> d = Detections(xyxy=[[0, 0, 10, 20]], score=[0.9], class_id=[0])
        >>> len(d), d.xyxy.dtype.name
        (1, 'float32')
        >>> len(d[d.score > 0.95])
        0
    """

    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray | None = None

    def __post_init__(self) -> None:
        xyxy = _as_boxes("Detections.xyxy", self.xyxy)
        n = len(xyxy)
        score = _as_vector("Detections.score", self.score, n, np.float32)
        class_id = np.zeros(n, np.int64) if self.class_id is None else self.class_id
        class_id = _as_vector("Detections.class_id", class_id, n, np.int64)
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "class_id", class_id)

    @classmethod
    def empty(cls) -> Detections:
        """No detections (a frame where the detector found nothing)."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Any) -> Detections:
        """Select rows by boolean mask, integer index/array or slice; always returns Detections."""
        idx = _index_array(index, len(self))
        return Detections(self.xyxy[idx], self.score[idx], self.class_id[idx])  # type: ignore[index]


@dataclass(frozen=True, slots=True, eq=False)
class Tracks:
    """The tracker output of one frame.

    Attributes:
        xyxy: ``(M, 4)`` float32 track boxes ``[x1, y1, x2, y2]`` in pixels (Kalman estimate).
        track_id: ``(M,)`` int64 track id, >= 1, unique within one tracker instance.
        score: ``(M,)`` float32 score of the detection that last updated the track.
        det_index: ``(M,)`` int64 row of this frame's input :class:`Detections` that updated the
            track, or ``-1`` for a coasted prediction (no detection this frame). Re-attach crops,
            embeddings or classes with ``detections.class_id[tracks.det_index]`` where ``>= 0``.
    """

    xyxy: np.ndarray
    track_id: np.ndarray
    score: np.ndarray
    det_index: np.ndarray

    def __post_init__(self) -> None:
        xyxy = _as_boxes("Tracks.xyxy", self.xyxy)
        n = len(xyxy)
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "track_id", _as_vector("Tracks.track_id", self.track_id, n, np.int64))
        object.__setattr__(self, "score", _as_vector("Tracks.score", self.score, n, np.float32))
        object.__setattr__(self, "det_index", _as_vector("Tracks.det_index", self.det_index, n, np.int64))

    @classmethod
    def empty(cls) -> Tracks:
        """No tracks."""
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.int64),
            np.zeros(0, np.float32),
            np.zeros(0, np.int64),
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Any) -> Tracks:
        """Select rows by boolean mask, integer index/array or slice; always returns Tracks."""
        idx = _index_array(index, len(self))
        return Tracks(self.xyxy[idx], self.track_id[idx], self.score[idx], self.det_index[idx])
