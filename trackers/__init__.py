"""Single-camera multi-object tracking (SORT, ByteTrack): numpy/scipy/filterpy only.

>>> from trackers import Detections, create_tracker
>>> tracker = create_tracker("sort", fps=25.0)
>>> tracks = tracker.update(Detections(xyxy=[[0, 0, 10, 30]], score=[0.9], class_id=[0]))
>>> tracks.track_id.tolist()
[1]
"""

from __future__ import annotations

from trackers.assignment import Matching, min_cost_matching
from trackers.bytetrack import ByteTracker
from trackers.config import TRACKER_CONFIGS, ByteTrackConfig, SortConfig
from trackers.registry import available_trackers, create_tracker, register_tracker, tracker_class
from trackers.sort import SortTracker, TrackState
from trackers.types import Detections, Tracks

__all__ = [
    "TRACKER_CONFIGS",
    "ByteTrackConfig",
    "ByteTracker",
    "Detections",
    "Matching",
    "SortConfig",
    "SortTracker",
    "TrackState",
    "Tracks",
    "available_trackers",
    "create_tracker",
    "min_cost_matching",
    "register_tracker",
    "tracker_class",
]
