"""YOLO pre- and post-processing in NumPy/OpenCV, step for step as ultralytics does it.

Used by the back ends that run the network themselves (``litert``): the same letterbox
(``ultralytics.data.augment.LetterBox``, ``auto=False``: scale to fit, pad centred with grey
114), the same input (RGB, float32 ``value / 255``), and the same decoding of the raw
``(4 + nc, N)`` output (``ultralytics.utils.nms.non_max_suppression``: best class per box,
``score > conf``, class-aware greedy NMS at IoU 0.7 keeping at most 300 boxes;
``ultralytics.utils.ops.scale_boxes``: back to pixels of the original frame, clipped). Each
float operation is done in float32 in the same order, so the boxes equal ultralytics' own
(checked by ``tests/pipeline/detections/test_litert.py`` on the sample).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from trackers import Detections

__all__ = ["IOU_THRESHOLD", "MAX_DETECTIONS", "Letterbox", "decode", "letterbox", "nms"]

IOU_THRESHOLD = 0.7
"""ultralytics' ``predict`` default NMS IoU."""
MAX_DETECTIONS = 300
"""ultralytics' ``predict`` default ``max_det``."""
_MAX_WH_PX = 7680  # per-class coordinate offset of class-aware NMS (ultralytics' max_wh)
_PAD_VALUE = 114
# uint8 → float32 value / 255, exactly as torch's ``im.float().div_(255)`` (a table: fast and exact)
_UNIT = np.arange(256, dtype=np.float32) / np.float32(255)


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a ``(height, width)`` frame was fitted into the network's square input.

    Attributes:
        size_px: the network input side in pixels.
        new_w, new_h: the scaled frame's size in pixels.
        left, top: padding before the scaled frame, in pixels.
        gain_x, gain_y: scaled ÷ original size.
    """

    size_px: int
    new_w: int
    new_h: int
    left: int
    top: int
    gain_x: float
    gain_y: float

    @classmethod
    def fit(cls, height: int, width: int, size_px: int) -> Letterbox:
        """The letterbox of a ``height × width`` frame into ``size_px × size_px`` (LetterBox's rounding)."""
        r = min(size_px / height, size_px / width)
        new_w, new_h = max(round(width * r), 1), max(round(height * r), 1)
        dw, dh = (size_px - new_w) / 2, (size_px - new_h) / 2
        return cls(size_px, new_w, new_h, round(dw - 0.1), round(dh - 0.1), new_w / width, new_h / height)


def letterbox(
    image_bgr: np.ndarray, size_px: int, out: np.ndarray | None = None
) -> tuple[np.ndarray, Letterbox]:
    """The network input of one frame.

    Args:
        image_bgr: ``(H, W, 3)`` uint8 BGR frame.
        size_px: network input side in pixels.
        out: optional ``(size_px, size_px, 3)`` float32 buffer to fill (no allocation).

    Returns:
        ``(size_px, size_px, 3)`` float32 RGB in [0, 1] (NHWC without the batch axis), and the
        :class:`Letterbox` to map boxes back.
    """
    h, w = image_bgr.shape[:2]
    box = Letterbox.fit(h, w, size_px)
    img = image_bgr
    if (w, h) != (box.new_w, box.new_h):
        img = cv2.resize(img, (box.new_w, box.new_h), interpolation=cv2.INTER_LINEAR)
    bottom, right = size_px - box.new_h - box.top, size_px - box.new_w - box.left
    img = cv2.copyMakeBorder(
        img, box.top, bottom, box.left, right, cv2.BORDER_CONSTANT, value=(_PAD_VALUE,) * 3
    )
    if out is None:
        out = np.empty((size_px, size_px, 3), np.float32)
    np.take(_UNIT, img[..., ::-1], out=out)  # type: ignore[arg-type]  # uint8 indices: BGR → RGB, /255
    return out, box


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS as ``torchvision.ops.nms`` computes it on the CPU.

    Args:
        boxes: ``(N, 4)`` float32 xyxy.
        scores: ``(N,)`` float32.
        iou_threshold: a box whose IoU with a kept, higher-scoring box is above this is dropped.

    Returns:
        ``(K,)`` int64 indices of the kept boxes, highest score first (ties: lower index first).
    """
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (boxes[:, k] for k in range(4))
    areas = (x2 - x1) * (y2 - y1)
    suppressed = np.zeros(len(boxes), bool)
    keep: list[int] = []
    zero = np.float32(0)
    for pos, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(int(i))
        rest = order[pos + 1 :]
        rest = rest[~suppressed[rest]]
        if len(rest) == 0:
            break
        w = np.maximum(zero, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(zero, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter)
        suppressed[rest[iou.astype(np.float64) > iou_threshold]] = True  # torchvision compares in double
    return np.asarray(keep, np.int64)


def decode(
    raw: np.ndarray, box: Letterbox, frame_hw: tuple[int, int], *, conf_threshold: float, classes: np.ndarray
) -> Detections:
    """The detections of one frame from the network's raw output.

    Args:
        raw: ``(4 + nc, N)`` float32: centre x, centre y, width, height in input pixels, then one
            score per class.
        box: the frame's :class:`Letterbox`.
        frame_hw: the original frame's ``(height, width)`` in pixels.
        conf_threshold: a box is kept when its best class scores above this.
        classes: ``(C,)`` int64 class ids kept (of each box's best class).

    Returns:
        :class:`trackers.Detections`, boxes xyxy float32 in pixels of the original frame, highest
        score first.
    """
    cls_scores = raw[4:]
    conf_t = np.float32(conf_threshold)
    cand = np.flatnonzero(cls_scores.max(axis=0) > conf_t)
    if len(cand) == 0:
        return Detections.empty()
    x = raw[:, cand].T  # (n, 4 + nc)
    xy, half = x[:, :2], x[:, 2:4] / np.float32(2)
    xyxy = np.concatenate((xy - half, xy + half), axis=1)
    best = x[:, 4:].argmax(axis=1)
    score = x[np.arange(len(x)), 4 + best]
    keep = (score > conf_t) & np.isin(best, classes)
    xyxy, score, best = xyxy[keep], score[keep], best[keep]
    if len(score) == 0:
        return Detections.empty()
    offset = best.astype(np.float32)[:, None] * np.float32(_MAX_WH_PX)
    kept = nms(xyxy + offset, score, IOU_THRESHOLD)[:MAX_DETECTIONS]
    xyxy, score, best = xyxy[kept], score[kept], best[kept]
    xyxy[:, [0, 2]] -= np.float32(box.left)
    xyxy[:, [1, 3]] -= np.float32(box.top)
    xyxy[:, [0, 2]] /= np.float32(box.gain_x)
    xyxy[:, [1, 3]] /= np.float32(box.gain_y)
    h, w = frame_hw
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
    return Detections(
        xyxy=xyxy.astype(np.float32), score=score.astype(np.float32), class_id=best.astype(np.int64)
    )
