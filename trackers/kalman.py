"""The SORT constant-velocity Kalman filter over one box, built on ``filterpy.kalman.KalmanFilter``.

State ``x`` (7,): ``[cx, cy, s, r, vcx, vcy, vs]`` — box center (px), area ``s`` (px²), aspect
``r = w/h`` (assumed constant), and the velocities of center and area per frame.
Measurement ``z`` (4,): ``[cx, cy, s, r]``. Noise values are SORT's (Bewley et al., 2016,
``sort.py``: ``KalmanBoxTracker.__init__``).
"""

from __future__ import annotations

import numpy as np
from filterpy.kalman import KalmanFilter

from infra.boxes import xysr_to_xyxy, xyxy_to_xysr

__all__ = ["make_box_filter", "predict_xyxy", "state_xyxy", "update_xyxy"]

# Transition: position += velocity each frame (one time step = one frame).
_F = np.eye(7)
_F[0, 4] = _F[1, 5] = _F[2, 6] = 1.0
# Measurement picks the first four state entries.
_H = np.eye(4, 7)
# Measurement noise: area and aspect are noisier than the center.
_R = np.diag([1.0, 1.0, 10.0, 10.0])
# Initial covariance: velocities unknown (large), positions as measured.
_P0 = np.diag([10.0, 10.0, 10.0, 10.0, 1e4, 1e4, 1e4])
# Process noise: small on velocities, smallest on area velocity.
_Q = np.diag([1.0, 1.0, 1.0, 1.0, 0.01, 0.01, 1e-4])


def make_box_filter(xyxy: np.ndarray) -> KalmanFilter:
    """A new filter whose state is the box ``[x1, y1, x2, y2]`` (px) with zero velocity."""
    kf = KalmanFilter(dim_x=7, dim_z=4)
    kf.F = _F
    kf.H = _H
    kf.R = _R
    kf.Q = _Q
    kf.P = _P0.copy()
    kf.x[:4] = xyxy_to_xysr(xyxy)
    return kf


def predict_xyxy(kf: KalmanFilter) -> np.ndarray:
    """Advance ``kf`` by one frame and return the predicted box ``(4,)`` ``[x1, y1, x2, y2]``.

    As in SORT, an area velocity that would make the area non-positive is zeroed first.
    """
    if kf.x[6, 0] + kf.x[2, 0] <= 0:
        kf.x[6, 0] = 0.0
    kf.predict()
    return xysr_to_xyxy(kf.x)


def update_xyxy(kf: KalmanFilter, xyxy: np.ndarray) -> None:
    """Correct ``kf`` with a measured box ``[x1, y1, x2, y2]`` (px)."""
    kf.update(xyxy_to_xysr(xyxy))


def state_xyxy(kf: KalmanFilter) -> np.ndarray:
    """The current state estimate as a box ``(4,)`` ``[x1, y1, x2, y2]``."""
    return xysr_to_xyxy(kf.x)
