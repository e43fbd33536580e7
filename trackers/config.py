"""Frozen dataclasses mirroring the tracker constructors, one per ``configs/trackers/<name>.yaml``.

Plain dataclasses, no YAML here (trackers/ depends on nothing of ours): the application loads a
YAML file into one of these (``infra.yaml_config.load_dataclass(SortConfig, path)``) and unpacks
it, ``create_tracker("sort", fps=fps, **dataclasses.asdict(cfg))``. The fields are the
constructor's parameters except ``fps`` and ``frame_wh``, which belong to the video, not the
config; a test keeps them in step. These dataclasses are the one place a tracker default is
written: the constructors' defaults refer to them (``max_age_s: float = SortConfig.max_age_s``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_FPS", "TRACKER_CONFIGS", "ByteTrackConfig", "SortConfig"]

DEFAULT_FPS = 25.0
"""Frame rate (frames per second) assumed by a tracker built without one (MOTChallenge's usual rate)."""


@dataclass(frozen=True)
class SortConfig:
    """Keyword arguments of :class:`trackers.SortTracker` (except ``fps``); see it for meanings."""

    max_age_s: float = 1.0
    min_hits: int = 3
    iou_threshold: float = 0.3
    coast_output_s: float = 0.1
    border_max_age_s: float | None = 0.2


@dataclass(frozen=True)
class ByteTrackConfig:
    """Keyword arguments of :class:`trackers.ByteTracker` (except ``fps``); see it for meanings."""

    max_age_s: float = 1.0
    min_hits: int = 2
    iou_threshold: float = 0.3
    coast_output_s: float = 0.1
    border_max_age_s: float | None = 0.2
    high_score_threshold: float = 0.25
    low_score_threshold: float = 0.1
    new_track_threshold: float = 0.25
    low_iou_threshold: float = 0.5


TRACKER_CONFIGS: dict[str, type] = {"sort": SortConfig, "bytetrack": ByteTrackConfig}
"""Tracker name → its config dataclass (``configs/trackers/<name>.yaml``)."""
