"""Box format conversions and IoU, as pure functions over arrays.

Formats: ``xyxy`` = ``(x1, y1, x2, y2)``; ``tlwh`` = ``(left, top, width, height)`` (MOTChallenge);
``xysr`` = ``(center x, center y, area, aspect w/h)`` (the SORT Kalman measurement). All in pixels.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["iou_matrix", "tlwh_to_xyxy", "xysr_to_xyxy", "xyxy_to_tlwh", "xyxy_to_xysr"]


def iou_matrix(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` with every box in ``b``.

    Args:
        a_xyxy: ``(N, 4)`` boxes.
        b_xyxy: ``(M, 4)`` boxes.

    Returns:
        ``(N, M)`` float64 IoU in ``[0, 1]``; 0 where both boxes have zero area.
    """
    a = np.asarray(a_xyxy, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b_xyxy, dtype=np.float64).reshape(-1, 4)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def xyxy_to_tlwh(xyxy: np.ndarray) -> np.ndarray:
    """``(N, 4)`` ``[x1, y1, x2, y2]`` → ``(N, 4)`` ``[left, top, width, height]``."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)


def tlwh_to_xyxy(tlwh: np.ndarray) -> np.ndarray:
    """``(N, 4)`` ``[left, top, width, height]`` → ``(N, 4)`` ``[x1, y1, x2, y2]``."""
    tlwh = np.asarray(tlwh, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([tlwh[:, :2], tlwh[:, :2] + tlwh[:, 2:]], axis=1)


def xyxy_to_xysr(xyxy: np.ndarray) -> np.ndarray:
    """One box ``[x1, y1, x2, y2]`` → ``(4, 1)`` column ``[cx, cy, area, w/h]`` (SORT's ``z``)."""
    x1, y1, x2, y2 = np.asarray(xyxy, dtype=np.float64).reshape(4).tolist()
    w = x2 - x1
    h = max(y2 - y1, 1e-6)
    return np.array([[x1 + w / 2.0], [y1 + h / 2.0], [w * h], [w / h]])


def xysr_to_xyxy(xysr: np.ndarray) -> np.ndarray:
    """A state or measurement starting ``[cx, cy, area, w/h, ...]`` → ``(4,)`` ``[x1, y1, x2, y2]``.

    A negative area or aspect (possible in a coasted prediction) gives a zero-size box.
    """
    cx, cy, s, r = np.asarray(xysr, dtype=np.float64).reshape(-1)[:4].tolist()
    s, r = max(s, 0.0), max(r, 0.0)
    w = math.sqrt(s * r)
    h = s / w if w > 0 else 0.0
    return np.array([cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0])
