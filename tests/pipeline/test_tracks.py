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
