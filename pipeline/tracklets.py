"""④ ``Tracks`` (+ the frame's detections and image) → closed :class:`Tracklet` s.

A tracklet is one per-camera track, ``(cam_id, track_id)``: its boxes over time and a small,
bounded set of good crops for re-identification. The builder accumulates tracklets from each
frame's :class:`trackers.Tracks`, joining rows back to their detection through ``det_index``
(never by matching boxes again), and closes a tracklet when its tracker reports the track
deleted (``last_deleted_ids``) or when the camera's stream ends.

Crops (``(h, w, 3)`` uint8 **BGR**) are cut from the *detection* box of frames where the track
was matched. At most ``max_crops`` are kept per tracklet; the set prefers, in this order of
weight: boxes fully inside the frame (not cut by its border) and not occluded (low IoU with
the other detections of that frame) → high detector score → spread in time. So memory per open
tracklet is bounded by ``max_crops`` crops of at most ``crop_max_height_px`` rows, however long the
video; boxes are a few numbers per frame. With ``crop_colour: grey_world`` each crop is multiplied,
as it is cut, by its camera's grey-world gains (:class:`reid_core.data.colour.GreyWorld`: the
camera's running mean frame colour mapped onto ImageNet's mean), so that re-ID compares people,
not cameras' colour casts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from infra.boxes import iou_matrix
from pipeline.frames import Frame
from pipeline.records import BoxRecord, TrackletRecord
from reid_core.data.colour import MODES as COLOUR_MODES
from reid_core.data.colour import GreyWorld
from trackers import Detections, Tracks

if TYPE_CHECKING:
    from pipeline.config import TrackletConfig

__all__ = ["Crop", "Tracklet", "TrackletBuilder", "crop_quality"]

_FALLBACK_WEIGHT = 0.1  # quality factor of a crop cut by the border or occluded


@dataclass(frozen=True, slots=True, eq=False)
class Crop:
    """One kept crop: ``frame`` 0-based index, ``time_s`` seconds, ``quality`` ≥ 0, ``image_bgr`` BGR.

    ``good`` is false for a fallback crop (cut by the frame border or occluded).
    """

    frame: int
    time_s: float
    quality: float
    image_bgr: np.ndarray
    good: bool = True


@dataclass(eq=False)
class Tracklet:
    """One per-camera track: boxes over time and a bounded set of crops.

    Attributes:
        cam_id, track_id: the track's identity (track ids are unique within a camera).
        frames: 0-based frame indices, increasing.
        times_s: seconds of those frames.
        boxes_xyxy: ``[x1, y1, x2, y2]`` pixels per frame (the tracker's box).
        scores: detector score per frame, ``None`` for a coasted prediction.
        crops: the crops chosen when the tracklet closed, sorted by time (empty while open).
        slots: the candidate crops while open (``None`` once closed).
        encoded: whether :attr:`encoding` was attached by the producer (then the crops are gone).
        encoding: the re-ID encoding (:class:`pipeline.identities.scoring.EncodedTracklet`, or
            ``None`` for a tracklet without a usable crop), attached where the tracklet closed so
            that only encodings, never images, travel to the association.
    """

    cam_id: str
    track_id: int
    frames: list[int] = field(default_factory=list)
    times_s: list[float] = field(default_factory=list)
    boxes_xyxy: list[tuple[float, float, float, float]] = field(default_factory=list)
    scores: list[float | None] = field(default_factory=list)
    crops: list[Crop] = field(default_factory=list)
    slots: CropSlots | None = field(default=None, repr=False)
    encoded: bool = False
    encoding: Any = field(default=None, repr=False)

    @property
    def key(self) -> tuple[str, int]:
        """``(cam_id, track_id)``."""
        return (self.cam_id, self.track_id)

    @property
    def t_start_s(self) -> float:
        return self.times_s[0]

    @property
    def t_end_s(self) -> float:
        return self.times_s[-1]

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last box."""
        return self.times_s[-1] - self.times_s[0] if self.times_s else 0.0

    def crops_bgr(self) -> list[np.ndarray]:
        """The kept crops' images (uint8 BGR), in time order."""
        return [c.image_bgr for c in self.crops]

    def trim_coasted_tail(self) -> None:
        """Drop trailing coasted boxes (predictions after the person was last detected)."""
        while self.scores and self.scores[-1] is None:
            for seq in (self.frames, self.times_s, self.boxes_xyxy, self.scores):
                seq.pop()

    def drop_crops(self) -> None:
        """Free the crop images (after they were encoded)."""
        self.crops = []

    def to_record(self) -> TrackletRecord:
        """The export record (:class:`pipeline.records.TrackletRecord`)."""
        boxes = tuple(
            BoxRecord(f, t, b, s)
            for f, t, b, s in zip(self.frames, self.times_s, self.boxes_xyxy, self.scores, strict=True)
        )
        return TrackletRecord(
            self.cam_id,
            int(self.track_id),
            self.frames[0],
            self.frames[-1],
            self.t_start_s,
            self.t_end_s,
            boxes,
        )


def crop_quality(
    detections: Detections,
    width: int,
    height: int,
    *,
    min_crop_height_px: int,
    border_margin_px: int,
    max_overlap_iou: float,
) -> np.ndarray:
    """Quality of each detection as a re-ID crop: ``(N,)`` float32, 0 = never use it.

    ``score × (1 − max IoU with the other detections)``, multiplied by 0.1 when the box is
    within ``border_margin_px`` of the frame border or overlaps another box by more than
    ``max_overlap_iou``; 0 when the box is shorter than ``min_crop_height_px``.

    Args:
        detections: one frame's detections (xyxy pixels).
        width, height: the frame size in pixels.

    Example:
        >>> boxes = [[10, 10, 50, 110], [0, 10, 8, 110], [200, 0, 210, 20]]
        >>> d = Detections(xyxy=boxes, score=[0.9, 0.8, 0.9])
        >>> q = crop_quality(d, 320, 240, min_crop_height_px=40, border_margin_px=4, max_overlap_iou=0.3)
        >>> [round(float(v), 3) for v in q]  # 2nd cut by the border, 3rd too small
        [0.9, 0.08, 0.0]
    """
    return _crop_scores(detections, width, height, min_crop_height_px, border_margin_px, max_overlap_iou)[0]


def _crop_scores(
    detections: Detections,
    width: int,
    height: int,
    min_crop_height_px: int,
    border_margin_px: int,
    max_overlap_iou: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``(quality (N,) float32, good (N,) bool)``; see :func:`crop_quality`."""
    n = len(detections)
    if n == 0:
        return np.zeros(0, np.float32), np.zeros(0, bool)
    xyxy = detections.xyxy
    if n > 1:
        iou = iou_matrix(xyxy, xyxy)
        np.fill_diagonal(iou, 0.0)
        max_iou = iou.max(axis=1)
    else:
        max_iou = np.zeros(1)
    quality = detections.score.astype(np.float64) * (1.0 - max_iou)
    m = border_margin_px
    cut = (xyxy[:, 0] <= m) | (xyxy[:, 1] <= m) | (xyxy[:, 2] >= width - m) | (xyxy[:, 3] >= height - m)
    degraded = cut | (max_iou > max_overlap_iou)
    quality = np.where(degraded, quality * _FALLBACK_WEIGHT, quality)
    quality = np.where((xyxy[:, 3] - xyxy[:, 1]) < min_crop_height_px, 0.0, quality)
    return np.maximum(quality, 0.0).astype(np.float32), ~degraded


class CropSlots:
    """Bounded, time-spread candidate crops of one open tracklet.

    The tracklet's time since its first crop is cut into ``n_slots`` slots of equal width; each
    slot keeps its best crop (good before fallback, then higher quality). When the tracklet
    outlives the slots, the width doubles and neighbouring slots merge (the better crop stays),
    so at most ``n_slots`` crops are held however long the track, spread over its whole life.
    A crop image is copied only when it enters a slot.

    Args:
        n_slots: most candidate crops held.
        initial_width_s: first slot width in seconds (doubles as needed).
    """

    def __init__(self, n_slots: int, initial_width_s: float = 0.05) -> None:
        self.n_slots = max(1, int(n_slots))
        self.width_s = float(initial_width_s)
        self.t0: float | None = None
        self.slots: dict[int, Crop] = {}

    @staticmethod
    def _better(a: tuple[bool, float], b: Crop) -> bool:
        return a > (b.good, b.quality)

    def offer(self, time_s: float, quality: float, good: bool, make: Callable[[], Crop]) -> bool:
        """Offer a candidate; ``make()`` builds the :class:`Crop` (copies pixels) only if it is kept."""
        if self.t0 is None:
            self.t0 = time_s
        k = int((time_s - self.t0) // self.width_s)
        while k >= self.n_slots:
            self.width_s *= 2.0
            merged: dict[int, Crop] = {}
            for idx, crop in sorted(self.slots.items()):
                j = idx // 2
                if j not in merged or self._better((crop.good, crop.quality), merged[j]):
                    merged[j] = crop
            self.slots = merged
            k = int((time_s - self.t0) // self.width_s)
        current = self.slots.get(k)
        if current is not None and not self._better((good, quality), current):
            return False
        self.slots[k] = make()
        return True

    def select(self, k: int) -> list[Crop]:
        """Up to ``k`` crops in time order: good ones only when there are ``k`` of them, spread in time.

        Greedy: the best crop first, then each time the crop maximising
        ``quality × (time to the nearest chosen crop + 0.01 s)``.
        """
        crops = list(self.slots.values())
        good = [c for c in crops if c.good]
        pool = good if len(good) >= k else crops
        if len(pool) <= k:
            return sorted(pool, key=lambda c: c.time_s)
        times = np.array([c.time_s for c in pool])
        quality = np.array([c.quality for c in pool])
        chosen = [int(np.argmax(quality))]
        nearest = np.abs(times - times[chosen[0]])
        while len(chosen) < k:
            value = quality * (nearest + 0.01)
            value[chosen] = -1.0
            nxt = int(np.argmax(value))
            chosen.append(nxt)
            nearest = np.minimum(nearest, np.abs(times - times[nxt]))
        return sorted((pool[i] for i in chosen), key=lambda c: c.time_s)


class TrackletBuilder:
    """Accumulates tracklets of all cameras; returns them as they close.

    Args:
        max_crops: crops a closed tracklet keeps (an open one holds up to twice as many candidates).
        min_crop_height_px: shorter boxes give no crop.
        border_margin_px: boxes this close to the border count as cut (kept only as a fallback).
        max_overlap_iou: boxes overlapping another detection more than this count as occluded.
        crop_max_height_px: stored crops are scaled down to this height at most.
        min_length_s: closed tracklets shorter than this (seconds) are dropped (counted in
            :attr:`dropped`).
        crop_colour: ``grey_world`` corrects each camera's crops by its running mean frame colour
            (:class:`reid_core.data.colour.GreyWorld`); ``as_seen`` keeps them as cut.
        crop_colour_window_s: seconds of frames in that running mean.
    """

    def __init__(
        self,
        *,
        max_crops: int,
        min_crop_height_px: int,
        border_margin_px: int,
        max_overlap_iou: float,
        crop_max_height_px: int,
        min_length_s: float,
        crop_colour: str,
        crop_colour_window_s: float,
    ) -> None:
        self.max_crops = int(max_crops)
        self.min_crop_height_px = int(min_crop_height_px)
        self.border_margin_px = int(border_margin_px)
        self.max_overlap_iou = float(max_overlap_iou)
        self.crop_max_height_px = int(crop_max_height_px)
        self.min_length_s = float(min_length_s)
        if crop_colour not in COLOUR_MODES:
            raise ValueError(f"crop_colour must be one of {', '.join(COLOUR_MODES)}, got {crop_colour!r}")
        self.colour = GreyWorld(crop_colour_window_s) if crop_colour == "grey_world" else None
        self._open: dict[tuple[str, int], Tracklet] = {}
        self._last_tracked: dict[str, list[tuple[str, int]]] = {}
        self.dropped = 0

    @classmethod
    def from_config(cls, cfg: TrackletConfig) -> TrackletBuilder:
        """Build from the ``tracklets`` config section (its fields are this class's parameters)."""
        return cls(**dataclasses.asdict(cfg))

    @property
    def num_open(self) -> int:
        return len(self._open)

    def earliest_open_start_s(self, cam_id: str | None = None) -> float | None:
        """Start (s) of the oldest open tracklet of ``cam_id`` (any camera if ``None``); ``None`` if none."""
        return min(
            (t.t_start_s for t in self._open.values() if cam_id is None or t.cam_id == cam_id), default=None
        )

    def update(
        self, frame: Frame, detections: Detections, tracks: Tracks, deleted_ids: Iterable[int] = ()
    ) -> list[Tracklet]:
        """Add one frame of one camera.

        Args:
            frame: the frame (its image gives the crops; BGR).
            detections: the detections given to the tracker for this frame.
            tracks: the tracker's output for this frame (``det_index`` joins rows to ``detections``).
            deleted_ids: ids of this camera's tracks deleted during this update.

        Returns:
            The tracklets that closed (deleted tracks), already filtered by ``min_length_s``.
        """
        cam = frame.cam_id
        h, w = frame.image_bgr.shape[:2]
        if self.colour is not None:
            self.colour.observe(cam, frame.image_bgr, frame.time_s)
        quality, good = _crop_scores(
            detections, w, h, self.min_crop_height_px, self.border_margin_px, self.max_overlap_iou
        )
        for row in range(len(tracks)):
            key = (cam, int(tracks.track_id[row]))
            tracklet = self._open.get(key)
            if tracklet is None:
                tracklet = self._open[key] = Tracklet(cam, key[1])
            d = int(tracks.det_index[row])
            x1, y1, x2, y2 = (float(v) for v in tracks.xyxy[row])
            tracklet.frames.append(frame.index)
            tracklet.times_s.append(frame.time_s)
            tracklet.boxes_xyxy.append((x1, y1, x2, y2))
            tracklet.scores.append(float(detections.score[d]) if d >= 0 else None)
            if d >= 0 and quality[d] > 0:
                self._offer_crop(tracklet, frame, detections.xyxy[d], float(quality[d]), bool(good[d]))
        self._last_tracked[cam] = [(cam, int(t)) for t in tracks.track_id]
        closed = []
        for track_id in deleted_ids:
            tracklet = self._open.pop((cam, int(track_id)), None)
            if tracklet is not None:
                closed.append(tracklet)
        return self._finish(closed)

    def coast(self, frame: Frame) -> None:
        """Add a frame that was not detected (``detector.every_n_frames`` > 1): each track of the
        camera's last tracked frame gets a box predicted at constant velocity (from its last two
        boxes, as the tracker's Kalman filter moves it) and no score and no crop. Predicted boxes
        left at a tracklet's end are dropped when it closes (as coasted boxes are).
        """
        for key in self._last_tracked.get(frame.cam_id, ()):
            tracklet = self._open.get(key)
            if tracklet is None or tracklet.frames[-1] >= frame.index:
                continue
            last = np.asarray(tracklet.boxes_xyxy[-1])
            step = np.zeros(4)
            if len(tracklet.frames) >= 2:
                step = (last - np.asarray(tracklet.boxes_xyxy[-2])) / (
                    tracklet.frames[-1] - tracklet.frames[-2]
                )
            x1, y1, x2, y2 = (float(v) for v in last + step * (frame.index - tracklet.frames[-1]))
            tracklet.frames.append(frame.index)
            tracklet.times_s.append(frame.time_s)
            tracklet.boxes_xyxy.append((x1, y1, x2, y2))
            tracklet.scores.append(None)

    def close_camera(self, cam_id: str) -> list[Tracklet]:
        """Close every open tracklet of ``cam_id`` (its stream ended); filtered by ``min_length_s``."""
        keys = [k for k in self._open if k[0] == cam_id]
        return self._finish([self._open.pop(k) for k in keys])

    def _finish(self, tracklets: list[Tracklet]) -> list[Tracklet]:
        kept = []
        for tracklet in tracklets:
            tracklet.trim_coasted_tail()
            if tracklet.slots is not None:
                tracklet.crops = tracklet.slots.select(self.max_crops)
                tracklet.slots = None
            if not tracklet.frames or tracklet.duration_s < self.min_length_s:
                self.dropped += 1
                continue
            kept.append(tracklet)
        return kept

    def _offer_crop(
        self, tracklet: Tracklet, frame: Frame, xyxy: np.ndarray, quality: float, good: bool
    ) -> None:
        if tracklet.slots is None:
            tracklet.slots = CropSlots(2 * self.max_crops)
        tracklet.slots.offer(
            frame.time_s,
            quality,
            good,
            lambda: Crop(
                frame.index, frame.time_s, quality, self._cut(frame.cam_id, frame.image_bgr, xyxy), good
            ),
        )

    def _cut(self, cam_id: str, image: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        crop = self._cut_raw(image, xyxy)
        return crop if self.colour is None else self.colour.apply(cam_id, crop)

    def _cut_raw(self, image: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        x1 = int(np.clip(np.floor(xyxy[0]), 0, w - 1))
        y1 = int(np.clip(np.floor(xyxy[1]), 0, h - 1))
        x2 = int(np.clip(np.ceil(xyxy[2]), x1 + 1, w))
        y2 = int(np.clip(np.ceil(xyxy[3]), y1 + 1, h))
        crop = image[y1:y2, x1:x2]
        if crop.shape[0] > self.crop_max_height_px:
            import cv2

            scale = self.crop_max_height_px / crop.shape[0]
            size = (max(1, round(crop.shape[1] * scale)), self.crop_max_height_px)
            return cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        return crop.copy()
