"""A tracklet factory for the associator tests whose matchers read a person code from the crop."""

from __future__ import annotations

import numpy as np

from pipeline.tracklets import Crop, Tracklet


def coded_tracklet(cam: str, track_id: int, t0: float, t1: float, code: int) -> Tracklet:
    """Camera ``cam``'s track ``track_id`` seen every 0.5 s from ``t0`` to ``t1`` (seconds, 10 fps
    frame numbers) at one fixed box, with one 1×1 crop whose pixel value is the person ``code``."""
    times = [round(v, 6) for v in np.arange(t0, t1 + 1e-9, 0.5)]
    t = Tracklet(cam, track_id)
    t.frames = [round(v * 10) for v in times]
    t.times_s = list(times)
    t.boxes_xyxy = [(100.0, 100.0, 140.0, 200.0)] * len(times)
    t.scores = [0.9] * len(times)
    t.crops = [Crop(t.frames[0], times[0], 0.9, np.full((1, 1, 3), code, np.uint8))]
    return t


class PoolsCodes:
    """``pool`` for the test matchers whose encodings are arrays of person codes: a tracklet's
    crops become its most frequent code (``association.crop_pooling: mean``, the default)."""

    def pool(self, enc: np.ndarray) -> np.ndarray:
        return np.array([np.bincount(enc).argmax()], enc.dtype)
