"""SORT: Kalman-predicted boxes matched to detections by IoU with the Hungarian algorithm.

Bewley, Ge, Ott, Ramos & Upcroft, "Simple Online and Realtime Tracking", ICIP 2016, with the
lifecycle of deep_sort (explicit states, per-instance IDs) and durations in seconds.

Lifecycle of a track::

                      matched in min_hits frames in a row
    new detection ──► TENTATIVE ──────────────────────────► CONFIRMED ◄───┐
                         │ missed once                         │ missed    │ matched again
                         ▼                                     ▼           │
                      DELETED ◄──── missed for > max_age_s ── LOST ────────┘

A track gets its ID when it is confirmed, so tentative tracks that die never use an ID.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np
from filterpy.kalman import KalmanFilter

from infra.boxes import iou_matrix
from trackers.assignment import Matching, min_cost_matching
from trackers.config import DEFAULT_FPS, SortConfig
from trackers.kalman import make_box_filter, predict_xyxy, state_xyxy, update_xyxy
from trackers.types import Detections, Tracks

__all__ = ["BORDER_MARGIN", "IdAllocator", "SortTracker", "TrackState", "seconds_to_frames"]

BORDER_MARGIN = 0.01
"""A box within this fraction of the frame's width (height) of a side touches the border (1 %: a
few px; detectors clip boxes of people partly out of view to the frame)."""


class TrackState(enum.Enum):
    """Where a track is in its lifecycle (see the module docstring)."""

    TENTATIVE = "tentative"  # seen fewer than min_hits times in a row; not reported, no ID yet
    CONFIRMED = "confirmed"  # matched in the latest frame and reported
    LOST = "lost"  # confirmed, but not matched recently; kept for re-matching up to max_age_s
    DELETED = "deleted"  # gone; its ID is never reused by this tracker


class IdAllocator:
    """Hands out increasing integer IDs; each tracker owns one, so trackers never share a counter."""

    def __init__(self, start: int = 1) -> None:
        self._start = int(start)
        self._next = self._start

    def next(self) -> int:
        """Return a new ID."""
        value = self._next
        self._next += 1
        return value

    def reset(self) -> None:
        """Start again from ``start``."""
        self._next = self._start


def seconds_to_frames(duration_s: float, fps: float) -> int:
    """``duration_s`` at ``fps`` frames per second, rounded to whole frames (at least 1)."""
    return max(1, round(duration_s * fps))


@dataclass(eq=False)
class _Track:
    """Per-track state, private to the tracker."""

    kf: KalmanFilter
    score: float
    class_id: int
    state: TrackState = TrackState.TENTATIVE
    track_id: int = 0  # 0 until confirmed
    hits: int = 1  # matches in a row (while tentative) / in total (afterwards)
    frames_since_update: int = 0
    det_index: int = -1  # row of this frame's detections that updated it, -1 if none
    predicted_xyxy: np.ndarray = field(default_factory=lambda: np.zeros(4))
    at_border: bool = False  # its last matched box touched the frame's border (it may have left)


class SortTracker:
    """SORT with explicit track states, per-instance IDs and durations in seconds.

    Call :meth:`update` once per frame, **including frames without detections**
    (``Detections.empty()``); the Kalman filter counts time in calls. Matching ignores
    ``class_id``: keep only the classes to track (persons) before calling it.

    Args:
        max_age_s: how long a confirmed track that lost its detections is kept (state LOST) and
            can still be re-matched, in seconds. Higher keeps IDs through longer occlusions but
            risks giving an old ID to a newcomer.
        min_hits: matches in consecutive frames before a track is confirmed, reported and given
            an ID (tracks born in the first ``min_hits`` frames of a stream are confirmed at once,
            as in SORT). Higher suppresses false positives, delays new tracks.
        iou_threshold: smallest IoU between a predicted track box and a detection for a match,
            in [0, 1]. Lower tolerates fast motion, raises the risk of swaps in crowds.
        fps: the stream's real frame rate (float, e.g. 29.97), used to turn seconds into frames.
        coast_output_s: also report a LOST track's Kalman prediction (``det_index == -1``) for up
            to this many seconds after its last detection (rounded to frames; 0.1 s = 2–3 frames
            at 25–30 fps); 0 reports matched tracks only. Higher bridges missed detections, but
            reports boxes for people who have left. Keyword-only, as are the knobs of variants.
        border_max_age_s: how long a track is kept after it lost its detections **at the frame's
            border** (its last matched box within ``BORDER_MARGIN`` of an edge: the person most
            likely left the view), in seconds (at least one frame); ``None`` = ``max_age_s``, as
            elsewhere. Lower stops a newcomer entering where someone just left from inheriting
            their ID; the person's own return becomes a new track (cross-camera association
            re-links it). Needs ``frame_wh``.
        frame_wh: the frame's ``(width, height)`` in px (the video's, like ``fps``); ``None`` =
            unknown, no border rule.

    Example:
        >>> tracker = SortTracker(fps=25.0)
        >>> tracks = tracker.update(Detections(xyxy=[[10, 10, 50, 120]], score=[0.9]))
        >>> tracks.track_id.tolist(), tracks.det_index.tolist()
        ([1], [0])
    """

    def __init__(
        self,
        max_age_s: float = SortConfig.max_age_s,
        min_hits: int = SortConfig.min_hits,
        iou_threshold: float = SortConfig.iou_threshold,
        fps: float = DEFAULT_FPS,
        *,
        coast_output_s: float = SortConfig.coast_output_s,
        border_max_age_s: float | None = SortConfig.border_max_age_s,
        frame_wh: tuple[int, int] | None = None,
    ) -> None:
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number of frames per second, got {fps!r}")
        if not (math.isfinite(max_age_s) and max_age_s >= 0):
            raise ValueError(f"max_age_s must be >= 0 seconds, got {max_age_s!r}")
        if not (math.isfinite(coast_output_s) and coast_output_s >= 0):
            raise ValueError(f"coast_output_s must be >= 0 seconds, got {coast_output_s!r}")
        if border_max_age_s is not None and not (math.isfinite(border_max_age_s) and border_max_age_s >= 0):
            raise ValueError(f"border_max_age_s must be >= 0 seconds or None, got {border_max_age_s!r}")
        if frame_wh is not None and (len(frame_wh) != 2 or min(frame_wh) <= 0):
            raise ValueError(f"frame_wh must be (width, height) in px > 0, got {frame_wh!r}")
        if int(min_hits) != min_hits or min_hits < 1:
            raise ValueError(f"min_hits must be an integer >= 1, got {min_hits!r}")
        if not 0.0 <= iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold!r}")
        self.fps = float(fps)
        self.max_age_s = float(max_age_s)
        self.min_hits = int(min_hits)
        self.iou_threshold = float(iou_threshold)
        self.coast_output_s = float(coast_output_s)
        self.max_age_frames = seconds_to_frames(self.max_age_s, self.fps)
        self.border_max_age_s = None if border_max_age_s is None else float(border_max_age_s)
        self.frame_wh = None if frame_wh is None else (int(frame_wh[0]), int(frame_wh[1]))
        self.border_max_age_frames = (
            self.max_age_frames
            if self.border_max_age_s is None or self.frame_wh is None
            else min(self.max_age_frames, seconds_to_frames(self.border_max_age_s, self.fps))
        )
        self.coast_output_frames = round(self.coast_output_s * self.fps)
        self._ids = IdAllocator(start=1)
        self._tracks: list[_Track] = []
        self._frame_count = 0
        self._last_deleted_ids = np.zeros(0, np.int64)

    # ------------------------------------------------------------------ public API

    @property
    def last_deleted_ids(self) -> np.ndarray:
        """``(K,)`` int64 IDs of confirmed tracks deleted during the most recent :meth:`update`."""
        return self._last_deleted_ids.copy()

    @property
    def frame_count(self) -> int:
        """Number of :meth:`update` calls since construction or :meth:`reset`."""
        return self._frame_count

    def track_states(self) -> dict[int, TrackState]:
        """``{track_id: state}`` of the tracks that have an ID and are not deleted."""
        return {t.track_id: t.state for t in self._tracks if t.track_id > 0}

    def reset(self) -> None:
        """Forget all tracks and restart this tracker's IDs at 1 (other trackers are unaffected)."""
        self._ids.reset()
        self._tracks = []
        self._frame_count = 0
        self._last_deleted_ids = np.zeros(0, np.int64)

    def update(self, detections: Detections) -> Tracks:
        """Advance one frame with this frame's detections.

        Args:
            detections: the frame's :class:`Detections` (``Detections.empty()`` for none).

        Returns:
            :class:`Tracks` of the confirmed tracks matched in this frame (``det_index`` = their
            detection's row), plus, if ``coast_output_s > 0``, recently lost tracks' predictions
            (``det_index == -1``). Rows are in no particular order; join them by ``det_index``.
        """
        if not isinstance(detections, Detections):
            raise TypeError(f"update() takes trackers.Detections, got {type(detections).__name__}")
        self._frame_count += 1
        for track in self._tracks:
            track.predicted_xyxy = predict_xyxy(track.kf)
            track.det_index = -1
        predicted = np.stack([t.predicted_xyxy for t in self._tracks]) if self._tracks else np.zeros((0, 4))

        matching = self._associate(self._tracks, predicted, detections)

        for t_idx, d_idx in matching.matches.tolist():
            self._apply_match(self._tracks[t_idx], detections, d_idx)
        deleted: list[int] = []
        for t_idx in matching.unmatched_rows.tolist():
            track = self._tracks[t_idx]
            self._mark_missed(track)
            if track.state is TrackState.DELETED and track.track_id > 0:
                deleted.append(track.track_id)
        for d_idx in matching.unmatched_cols.tolist():
            if self._can_start_track(float(detections.score[d_idx])):
                self._start_track(detections, d_idx)
        self._tracks = [t for t in self._tracks if t.state is not TrackState.DELETED]
        self._last_deleted_ids = np.asarray(deleted, np.int64)
        return self._output()

    # ------------------------------------------------------------------ hooks for variants

    def _cost_matrix(self, predicted_xyxy: np.ndarray, detections: Detections) -> np.ndarray:
        """``(T, D)`` cost of matching each predicted track box to each detection: ``1 - IoU``."""
        return 1.0 - iou_matrix(predicted_xyxy, detections.xyxy)

    def _associate(
        self, tracks: list[_Track], predicted_xyxy: np.ndarray, detections: Detections
    ) -> Matching:
        """Match tracks (rows) to detections (columns); SORT: one IoU-gated Hungarian step."""
        return min_cost_matching(self._cost_matrix(predicted_xyxy, detections), 1.0 - self.iou_threshold)

    def _can_start_track(self, score: float) -> bool:
        """Whether an unmatched detection with this score starts a new (tentative) track."""
        return True

    # ------------------------------------------------------------------ lifecycle

    def _apply_match(self, track: _Track, detections: Detections, d_idx: int) -> None:
        update_xyxy(track.kf, detections.xyxy[d_idx])
        track.at_border = self._at_border(detections.xyxy[d_idx])
        track.score = float(detections.score[d_idx])
        track.class_id = int(detections.class_id[d_idx])  # type: ignore[index]
        track.det_index = d_idx
        track.frames_since_update = 0
        track.hits += 1
        if track.state is TrackState.TENTATIVE:
            if track.hits >= self.min_hits:
                self._confirm(track)
        else:
            track.state = TrackState.CONFIRMED

    def _mark_missed(self, track: _Track) -> None:
        track.frames_since_update += 1
        max_age = self.border_max_age_frames if track.at_border else self.max_age_frames
        if track.state is TrackState.TENTATIVE or track.frames_since_update > max_age:
            track.state = TrackState.DELETED
        else:
            track.state = TrackState.LOST

    def _start_track(self, detections: Detections, d_idx: int) -> None:
        track = _Track(
            kf=make_box_filter(detections.xyxy[d_idx]),
            score=float(detections.score[d_idx]),
            class_id=int(detections.class_id[d_idx]),  # type: ignore[index]
            det_index=d_idx,
            at_border=self._at_border(detections.xyxy[d_idx]),
        )
        if track.hits >= self.min_hits or self._frame_count <= self.min_hits:
            self._confirm(track)
        self._tracks.append(track)

    def _at_border(self, xyxy: np.ndarray) -> bool:
        """Whether box ``[x1, y1, x2, y2]`` (px) lies within ``BORDER_MARGIN`` of an edge of the frame."""
        if self.frame_wh is None:
            return False
        w, h = self.frame_wh
        mx, my = BORDER_MARGIN * w, BORDER_MARGIN * h
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        return x1 <= mx or y1 <= my or x2 >= w - mx or y2 >= h - my

    def _confirm(self, track: _Track) -> None:
        track.state = TrackState.CONFIRMED
        track.track_id = self._ids.next()

    def _output(self) -> Tracks:
        rows = [
            t
            for t in self._tracks
            if (t.state is TrackState.CONFIRMED and t.frames_since_update == 0)
            or (t.state is TrackState.LOST and t.frames_since_update <= self.coast_output_frames)
        ]
        if not rows:
            return Tracks.empty()
        xyxy = np.stack([state_xyxy(t.kf) if t.frames_since_update == 0 else t.predicted_xyxy for t in rows])
        return Tracks(
            xyxy=xyxy,
            track_id=np.array([t.track_id for t in rows], np.int64),
            score=np.array([t.score for t in rows], np.float32),
            det_index=np.array([t.det_index for t in rows], np.int64),
        )
