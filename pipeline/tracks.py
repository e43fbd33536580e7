"""③ ``Detections`` → ``trackers.Tracks``: one tracker per camera, built by the registry.

Each camera has its own tracker instance (its own track-id counter, its own real fps), so a
track's identity is ``(cam_id, track_id)``; global person ids come from :mod:`pipeline.identities`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from infra.errors import UserError
from trackers import Detections, Tracks, create_tracker

if TYPE_CHECKING:
    from pipeline.config import TrackerConfig

__all__ = ["CameraTrackers"]


class CameraTrackers:
    """``dict``-like bank of trackers, ``cam_id → tracker``.

    Args:
        fps_by_cam: each camera's real frame rate (frames per second, float).
        name: registered tracker name (``sort``, ``bytetrack``).
        params: that tracker's constructor keyword arguments (except ``fps`` and ``frame_wh``).
        frame_wh_by_cam: each camera's frame ``(width, height)`` in px, where known (the
            trackers' border rule, ``border_max_age_s``); a camera missing here has none.

    Raises:
        ValueError: unknown tracker name (listing the valid ones) or a bad parameter value.
    """

    def __init__(
        self,
        fps_by_cam: Mapping[str, float],
        name: str,
        params: Mapping[str, Any],
        frame_wh_by_cam: Mapping[str, tuple[int, int]] | None = None,
    ) -> None:
        self.name = name
        sizes = frame_wh_by_cam or {}
        self._trackers = {
            cam: create_tracker(name, fps=float(fps), frame_wh=sizes.get(cam), **dict(params))
            for cam, fps in fps_by_cam.items()
        }
        self._last_time_s: dict[str, float] = {}  # each camera's last frame time (seconds)

    @classmethod
    def from_config(
        cls,
        cfg: TrackerConfig,
        fps_by_cam: Mapping[str, float],
        source: str = "<config>",
        frame_wh_by_cam: Mapping[str, tuple[int, int]] | None = None,
    ) -> CameraTrackers:
        """Build from the ``tracker`` config section (``params_file`` and ``params`` resolved).

        Raises:
            UserError: a bad tracker parameter value, naming the config ``source``.
        """
        from pipeline.config import resolve_tracker_params

        params = resolve_tracker_params(cfg, source=source)
        try:
            return cls(fps_by_cam, cfg.name, params, frame_wh_by_cam)
        except (TypeError, ValueError) as err:
            raise UserError(f"{source}: tracker {cfg.name!r}: {err}") from None

    def __getitem__(self, cam_id: str) -> Any:
        return self._trackers[cam_id]

    def __contains__(self, cam_id: object) -> bool:
        return cam_id in self._trackers

    def __len__(self) -> int:
        return len(self._trackers)

    def update(
        self, cam_id: str, detections: Detections, time_s: float | None = None
    ) -> tuple[Tracks, np.ndarray]:
        """Advance camera ``cam_id`` by one frame (call for every frame, empty ones too).

        Args:
            cam_id: the camera.
            detections: this frame's detections.
            time_s: this frame's time (seconds, source clock); ``None`` = one frame after the last.
                When more time than the tracker's ``max_age_s`` passed since the camera's last
                frame (a live stream's outage), the tracker first steps through empty frames until
                every track has aged out, so no track matches a detection across an outage as if no
                time had passed. Shorter jumps (a few dropped frames) are bridged as before.

        Returns:
            ``(tracks, deleted_ids)``: this frame's :class:`trackers.Tracks` and the ``(K,)``
            int64 ids of confirmed tracks deleted during this update (their tracklets close),
            including those aged out over missing frames.
        """
        tracker = self._trackers[cam_id]
        deleted = []
        for _ in range(self._missing_steps(cam_id, tracker, time_s)):
            tracker.update(Detections.empty())
            deleted.append(np.asarray(tracker.last_deleted_ids, np.int64))
        tracks = tracker.update(detections)
        deleted.append(np.asarray(tracker.last_deleted_ids, np.int64))
        return tracks, np.concatenate(deleted)

    def _missing_steps(self, cam_id: str, tracker: Any, time_s: float | None) -> int:
        """Empty steps to run before a frame at ``time_s``: enough to age every track out after an
        outage longer than ``max_age_s``, else none."""
        last = self._last_time_s.get(cam_id)
        if time_s is None:
            return 0
        self._last_time_s[cam_id] = time_s
        if last is None:
            return 0
        missing = round((time_s - last) * float(tracker.fps)) - 1
        return int(tracker.max_age_frames) + 1 if missing > int(tracker.max_age_frames) else 0
