"""Per-camera colour normalisation of crops: the grey-world assumption, without torch.

Two cameras see one person in different colours: gain, white balance and exposure differ, and
the re-ID network has not learnt to ignore that. Grey world (Buchsbaum 1980) assumes the mean
colour of a camera's scene, over time, is the same for every camera; the per-channel gains that
map a camera's mean frame colour onto a common reference then undo its colour cast and exposure
(a von Kries, diagonal correction). The reference is ImageNet's mean colour, the input the
trunk's normalisation expects, so a camera that already looks average is barely changed.

:class:`GreyWorld` keeps one running mean per camera and applies the gains to crops as they are
cut. The mean is that of all frames so far until the camera has run for about ``window_s``
seconds, then an exponential average over ``window_s`` seconds (so crops of the first frame are
already corrected, a dark first frame or a camera still adjusting its exposure is soon outvoted,
and a live camera follows light that changes). Everything is **BGR** uint8,
as OpenCV reads it.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from reid_core.data.crops import IMAGENET_MEAN_RGB

__all__ = ["MAX_GAIN", "MEAN_SAMPLE_PX", "MODES", "REFERENCE_BGR", "GreyWorld", "frame_mean_bgr"]

REFERENCE_BGR = np.array([c * 255.0 for c in reversed(IMAGENET_MEAN_RGB)], np.float32)
"""The mean colour every camera is mapped to: ImageNet's mean, BGR, 0–255."""
MODES = ("grey_world", "as_seen")
"""The settings of a crop's colour: corrected by :class:`GreyWorld`, or as the camera saw it."""
MAX_GAIN = 2.0
"""Gains are clipped to ``[1 / MAX_GAIN, MAX_GAIN]``: a very dark or saturated scene is corrected
only this far (noise and clipped pixels cannot be undone)."""


MEAN_SAMPLE_PX = 130_000
"""A frame's mean colour is taken over at most about this many pixels (a regular grid): every
pixel up to 960 × 540, every 3rd pixel of every 3rd row at 1920 × 1080 (0.17 ms there instead of
0.45 ms for every pixel, on the pipeline's main thread; on a sample frame the mean moved by 0.04
grey levels)."""


def frame_mean_bgr(image_bgr: np.ndarray) -> np.ndarray:
    """(3,) float32 mean B, G, R of an (H, W, 3) uint8 BGR frame, over a grid of at most
    ~:data:`MEAN_SAMPLE_PX` pixels (every pixel of a frame of fewer than 4 × that many)."""
    h, w = image_bgr.shape[:2]
    step = int(math.sqrt(h * w / MEAN_SAMPLE_PX))
    if step >= 2:  # nearest-neighbour resize = every step-th pixel of every step-th row, fast
        image_bgr = cv2.resize(image_bgr, (w // step, h // step), interpolation=cv2.INTER_NEAREST)
    return np.asarray(cv2.mean(image_bgr)[:3], np.float32)


class GreyWorld:
    """Running mean frame colour per camera, and the crops corrected by it.

    Args:
        window_s: seconds of frames the running mean averages (time constant of an exponential
            average). Longer is steadier; shorter follows light that changes (day to dusk).

    Raises:
        ValueError: ``window_s`` not positive.
    """

    def __init__(self, window_s: float) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s must be > 0 seconds, got {window_s}")
        self.window_s = float(window_s)
        self._mean: dict[str, np.ndarray] = {}
        self._time_s: dict[str, float] = {}
        self._frames: dict[str, int] = {}

    def observe(self, cam_id: str, image_bgr: np.ndarray, time_s: float) -> None:
        """Fold one frame of ``cam_id`` ((H, W, 3) uint8 BGR, taken at ``time_s`` seconds) into its mean."""
        mean = frame_mean_bgr(image_bgr)
        previous = self._mean.get(cam_id)
        count = self._frames.get(cam_id, 0) + 1
        if previous is None:
            self._mean[cam_id] = mean
        else:
            dt = max(0.0, time_s - self._time_s[cam_id])
            weight = max(1.0 / count, 1.0 - math.exp(-dt / self.window_s))  # the plain mean at first
            self._mean[cam_id] = previous + np.float32(weight) * (mean - previous)
        self._time_s[cam_id] = float(time_s)
        self._frames[cam_id] = count

    def gains(self, cam_id: str) -> np.ndarray:
        """(3,) float32 BGR gains of ``cam_id`` (all 1 before its first frame)."""
        mean = self._mean.get(cam_id)
        if mean is None:
            return np.ones(3, np.float32)
        gains = REFERENCE_BGR / np.maximum(mean, 1.0)
        return np.clip(gains, 1.0 / MAX_GAIN, MAX_GAIN).astype(np.float32)

    def apply(self, cam_id: str, crop_bgr: np.ndarray) -> np.ndarray:
        """``crop_bgr`` ((H, W, 3) uint8 BGR) with ``cam_id``'s gains applied: a new uint8 array."""
        corrected = crop_bgr.astype(np.float32) * self.gains(cam_id) + 0.5
        return np.clip(corrected, 0.0, 255.0).astype(np.uint8)
