"""pipeline.tracks: one tracker per camera, built by the registry."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.tracks import CameraTrackers
from trackers import Detections


def _det(x: float) -> Detections:
    return Detections(np.array([[x, 10, x + 20, 60]], np.float32), np.array([0.9], np.float32))


def test_one_independent_tracker_per_camera() -> None:
    bank = CameraTrackers({"a": 25.0, "b": 12.5}, "sort", {"min_hits": 1})
    assert len(bank) == 2 and "a" in bank and bank["a"] is not bank["b"]
    assert bank["a"].fps == 25.0 and bank["b"].fps == 12.5
    for i in range(3):
        tracks_a, _ = bank.update("a", _det(10 + i))
    tracks_b, _ = bank.update("b", _det(100))
    assert tracks_a.track_id.tolist() == [1] and tracks_b.track_id.tolist() == [1]  # own id counters


def test_each_camera_tracker_gets_its_frame_size() -> None:
    bank = CameraTrackers({"a": 25.0, "b": 25.0}, "bytetrack", {}, {"a": (640, 480)})
    assert bank["a"].frame_wh == (640, 480) and bank["b"].frame_wh is None  # b: no border rule
    assert bank["a"].border_max_age_frames == 5 and bank["b"].border_max_age_frames == 25


def test_deleted_ids_are_reported() -> None:
    bank = CameraTrackers({"a": 10.0}, "sort", {"min_hits": 1, "max_age_s": 0.2})
    bank.update("a", _det(10))
    deleted = []
    for _ in range(5):
        _, gone = bank.update("a", Detections.empty())
        deleted.extend(gone.tolist())
    assert deleted == [1]


def test_bytetrack_and_unknown_names() -> None:
    assert CameraTrackers({"a": 25.0}, "bytetrack", {}).name == "bytetrack"
    with pytest.raises(ValueError, match="available"):
        CameraTrackers({"a": 25.0}, "bytetrak", {})


@pytest.mark.parametrize(
    ("times_s", "same_track", "deleted_before_last"),
    [
        ((0.0, 0.1, 0.2, 0.3), True, []),  # no frame missing (10 fps): one track throughout
        ((0.0, 0.1, 0.2, 0.4), True, []),  # one dropped frame: bridged, nothing ages out
        ((0.0, 0.1, 0.2, 0.5), True, []),  # two dropped frames (< max_age 0.3 s): bridged
        ((0.0, 0.1, 0.2, 5.2), False, [1]),  # a 5-s outage: the track aged out, a new one starts
        ((0.0, 0.1, 0.2, None), True, []),  # no time given: one frame after the last
    ],
)
def test_missing_frames_age_tracks_out(
    times_s: tuple[float | None, ...], same_track: bool, deleted_before_last: list[int]
) -> None:
    """A frame after an outage (a jump in time) is not matched as if no time had passed."""
    bank = CameraTrackers({"a": 10.0}, "sort", {"min_hits": 1, "max_age_s": 0.3})
    for t in times_s[:-1]:
        tracks, _ = bank.update("a", _det(10), t)
    first_id = tracks.track_id.tolist()
    tracks, gone = bank.update("a", _det(10), times_s[-1])
    assert (tracks.track_id.tolist() == first_id) is same_track
    assert gone.tolist() == deleted_before_last


def test_missing_steps_are_capped_at_the_max_age() -> None:
    """A day-long outage costs at most max_age + 1 empty steps, not one per missing frame."""
    bank = CameraTrackers({"a": 25.0}, "sort", {"min_hits": 1, "max_age_s": 1.0})
    bank.update("a", _det(10), 0.0)
    calls: list[int] = []
    real = bank["a"].update
    bank["a"].update = lambda d: calls.append(len(d)) or real(d)  # type: ignore[method-assign]
    bank.update("a", _det(10), 86_400.0)
    assert len(calls) == bank["a"].max_age_frames + 2  # the empty steps, then the frame itself
