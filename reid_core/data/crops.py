"""Crop resizing and the input constants of the re-ID network, without torch.

Crops are OpenCV images: ``uint8`` (H, W, 3) **BGR**. :func:`stack_bgr` resizes a batch to the
network's input size; the BGR → RGB conversion and the ImageNet normalisation happen once, later
(:func:`reid_core.data.transforms.bgr_to_input` for torch, inside the exported graph for ONNX
Runtime, :mod:`reid_core.onnx_inference`).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["IMAGENET_MEAN_RGB", "IMAGENET_STD_RGB", "INPUT_SIZE_HW", "resize_bgr", "stack_bgr"]

INPUT_SIZE_HW: tuple[int, int] = (160, 80)
"""(height, width) pixels of a crop as the network sees it."""
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)


def resize_bgr(crop_bgr: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Resize one crop to ``size_hw`` (height, width) pixels; stays uint8 BGR.

    Raises:
        ValueError: not an (H, W, 3) uint8 array, or an empty crop.
    """
    if not isinstance(crop_bgr, np.ndarray) or crop_bgr.ndim != 3 or crop_bgr.shape[2] != 3:
        shape = getattr(crop_bgr, "shape", None)
        raise ValueError(f"expected an (H, W, 3) BGR crop, got shape {shape}")
    if crop_bgr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 crop, got {crop_bgr.dtype}")
    if crop_bgr.shape[0] == 0 or crop_bgr.shape[1] == 0:
        raise ValueError(f"empty crop of shape {crop_bgr.shape}")
    h, w = size_hw
    if crop_bgr.shape[:2] == (h, w):
        return crop_bgr
    interp = cv2.INTER_AREA if crop_bgr.shape[0] > h else cv2.INTER_LINEAR
    return cv2.resize(crop_bgr, (w, h), interpolation=interp)


def stack_bgr(crops_bgr: Sequence[np.ndarray], size_hw: tuple[int, int]) -> np.ndarray:
    """Resize crops of any size and stack them: (N, H, W, 3) uint8 BGR."""
    if len(crops_bgr) == 0:
        return np.zeros((0, *size_hw, 3), np.uint8)
    return np.stack([resize_bgr(c, size_hw) for c in crops_bgr])
