"""ByteTrack-style association on top of :class:`~trackers.sort.SortTracker`.

Zhang et al., "ByteTrack: Multi-Object Tracking by Associating Every Detection Box", ECCV 2022.
Only the association hooks differ from SORT (the Kalman filter, lifecycle and output are
inherited):

1. confirmed and lost tracks ↔ high-score detections (``score >= high_score_threshold``), IoU;
2. confirmed tracks still unmatched ↔ low-score detections
   (``low_score_threshold <= score < high_score_threshold``), IoU ≥ ``low_iou_threshold``;
3. tentative tracks ↔ the high-score detections left over, IoU.

Only leftover high-score detections with ``score >= new_track_threshold`` start new tracks;
detections below ``low_score_threshold`` are ignored. The default thresholds are ultralytics'
``bytetrack.yaml`` values (for YOLOv8 scores, our detector); the ByteTrack reference code uses
0.5 / 0.1 / 0.6 (``track_thresh``, 0.1, ``track_thresh + 0.1``) with YOLOX.
"""

from __future__ import annotations

import numpy as np

from trackers.assignment import Matching, min_cost_matching
from trackers.config import DEFAULT_FPS, ByteTrackConfig
from trackers.sort import SortTracker, TrackState, _Track
from trackers.types import Detections

__all__ = ["ByteTracker"]


class ByteTracker(SortTracker):
    """SORT with ByteTrack's two-stage (high-score, then low-score) association.

    Args:
        max_age_s: see :class:`SortTracker`.
        min_hits: see :class:`SortTracker`; 2 as in ByteTrack (confirmed on the second match).
        iou_threshold: smallest IoU for a match in stages 1 and 3 (high-score detections).
        fps: see :class:`SortTracker`.
        coast_output_s, border_max_age_s, frame_wh: see :class:`SortTracker`.
        high_score_threshold: detections at or above this score are matched first and may start
            tracks. Higher trusts fewer detections in the first stage.
        low_score_threshold: detections below this score are ignored; those between the two
            thresholds can only continue existing confirmed tracks (through occlusion, when the
            detector is unsure). Lower recovers more occluded people, and more false matches.
        new_track_threshold: an unmatched high-score detection starts a track only at or above
            this score. Higher means fewer false tracks, later starts.
        low_iou_threshold: smallest IoU for a low-score detection to continue a track (stage 2).
            Higher makes the second stage stricter.
    """

    def __init__(
        self,
        max_age_s: float = ByteTrackConfig.max_age_s,
        min_hits: int = ByteTrackConfig.min_hits,
        iou_threshold: float = ByteTrackConfig.iou_threshold,
        fps: float = DEFAULT_FPS,
        *,
        coast_output_s: float = ByteTrackConfig.coast_output_s,
        border_max_age_s: float | None = ByteTrackConfig.border_max_age_s,
        frame_wh: tuple[int, int] | None = None,
        high_score_threshold: float = ByteTrackConfig.high_score_threshold,
        low_score_threshold: float = ByteTrackConfig.low_score_threshold,
        new_track_threshold: float = ByteTrackConfig.new_track_threshold,
        low_iou_threshold: float = ByteTrackConfig.low_iou_threshold,
    ) -> None:
        super().__init__(
            max_age_s=max_age_s,
            min_hits=min_hits,
            iou_threshold=iou_threshold,
            fps=fps,
            coast_output_s=coast_output_s,
            border_max_age_s=border_max_age_s,
            frame_wh=frame_wh,
        )
        if not 0.0 <= low_score_threshold <= high_score_threshold:
            raise ValueError(
                "need 0 <= low_score_threshold <= high_score_threshold, got "
                f"{low_score_threshold!r} and {high_score_threshold!r}"
            )
        if not 0.0 <= low_iou_threshold <= 1.0:
            raise ValueError(f"low_iou_threshold must be in [0, 1], got {low_iou_threshold!r}")
        self.high_score_threshold = float(high_score_threshold)
        self.low_score_threshold = float(low_score_threshold)
        self.new_track_threshold = float(new_track_threshold)
        self.low_iou_threshold = float(low_iou_threshold)

    def _associate(
        self, tracks: list[_Track], predicted_xyxy: np.ndarray, detections: Detections
    ) -> Matching:
        tentative = np.array([t.state is TrackState.TENTATIVE for t in tracks], dtype=bool)
        confirmed = np.array([t.state is TrackState.CONFIRMED for t in tracks], dtype=bool)
        high = detections.score >= self.high_score_threshold
        low = (detections.score >= self.low_score_threshold) & ~high
        cost = self._cost_matrix(predicted_xyxy, detections)
        pairs: list[np.ndarray] = []

        def stage(rows: np.ndarray, cols: np.ndarray, max_cost: float) -> tuple[np.ndarray, np.ndarray]:
            """Match the given track rows to detection columns; return what is left of each."""
            if len(rows) == 0 or len(cols) == 0:
                return rows, cols
            m = min_cost_matching(cost[np.ix_(rows, cols)], max_cost)
            pairs.append(np.stack([rows[m.matches[:, 0]], cols[m.matches[:, 1]]], axis=1))
            return rows[m.unmatched_rows], cols[m.unmatched_cols]

        # 1: confirmed and lost tracks <-> high-score detections
        track_rows, high_cols = stage(
            np.flatnonzero(~tentative), np.flatnonzero(high), 1.0 - self.iou_threshold
        )
        # 2: confirmed (matched last frame) tracks still free <-> low-score detections
        stage(track_rows[confirmed[track_rows]], np.flatnonzero(low), 1.0 - self.low_iou_threshold)
        # 3: tentative tracks <-> high-score detections still free
        stage(np.flatnonzero(tentative), high_cols, 1.0 - self.iou_threshold)

        matches = np.concatenate(pairs).astype(np.int64) if pairs else np.zeros((0, 2), np.int64)
        matches = matches[np.argsort(matches[:, 0], kind="stable")]
        track_free = np.ones(len(tracks), bool)
        track_free[matches[:, 0]] = False
        det_free = high.copy()  # low-score leftovers never start tracks
        det_free[matches[:, 1]] = False
        return Matching(
            matches, np.flatnonzero(track_free).astype(np.int64), np.flatnonzero(det_free).astype(np.int64)
        )

    def _can_start_track(self, score: float) -> bool:
        return score >= self.new_track_threshold
