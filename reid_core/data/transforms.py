"""Crop preprocessing and training augmentation.

**Colour order.** Crops arrive as OpenCV images: ``uint8`` (H, W, 3) **BGR**. The one and only
BGR → RGB conversion of the re-ID stack happens in :func:`bgr_to_input`, together with the
ImageNet normalisation. Training and inference both go through it, so they see identical inputs.

Augmentation (:func:`random_affine`) works on batches of model inputs: a random 2-D affine
transform around the image centre (rotation, scale, translation, and a horizontal flip), as in
the paper's Section IV-C (which makes ×5 copies offline; here a fresh transform is drawn for
every crop every time it is used).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch.nn import functional as F

__all__ = ["IMAGENET_MEAN_RGB", "IMAGENET_STD_RGB", "bgr_to_input", "random_affine", "resize_bgr"]

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


def bgr_to_input(batch_bgr: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """Model input from a batch of BGR crops: **the BGR → RGB conversion happens here, once**.

    Args:
        batch_bgr: (N, H, W, 3) uint8, BGR channel order (as read by OpenCV).
        device: where the returned tensor lives.

    Returns:
        (N, 3, H, W) float32, RGB, normalised with the ImageNet mean and std.
    """
    t = torch.as_tensor(batch_bgr).to(device)
    if t.ndim != 4 or t.shape[-1] != 3:
        raise ValueError(f"expected (N, H, W, 3) BGR crops, got shape {tuple(t.shape)}")
    t = t.flip(-1).permute(0, 3, 1, 2).float().div_(255.0)  # BGR -> RGB, NHWC -> NCHW
    mean = torch.tensor(IMAGENET_MEAN_RGB, device=t.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD_RGB, device=t.device).view(1, 3, 1, 1)
    return t.sub_(mean).div_(std).contiguous()


def random_affine(
    x: torch.Tensor,
    generator: torch.Generator,
    *,
    max_rotation_deg: float,
    scale_range: tuple[float, float],
    max_translate_frac: float,
    flip_prob: float,
) -> torch.Tensor:
    """Random affine transform of each image around its centre, plus horizontal flips.

    Args:
        x: (N, 3, H, W) float model inputs (any normalisation).
        generator: CPU random generator (seeded by the caller, so runs and resumes are exact).
        max_rotation_deg: rotation drawn uniformly in ±this, degrees.
        scale_range: zoom factor drawn uniformly in [lo, hi] (>1 zooms in).
        max_translate_frac: shift drawn uniformly in ±this fraction of width/height.
        flip_prob: probability of a horizontal flip.

    Returns:
        (N, 3, H, W) transformed images; pixels from outside the crop repeat the border.
    """
    n = x.shape[0]
    if n == 0:
        return x
    u = torch.rand(n, 5, generator=generator)
    angle = (u[:, 0] * 2 - 1) * math.radians(max_rotation_deg)
    scale = scale_range[0] + u[:, 1] * (scale_range[1] - scale_range[0])
    tx = (u[:, 2] * 2 - 1) * max_translate_frac * 2  # grid units span 2 per image side
    ty = (u[:, 3] * 2 - 1) * max_translate_frac * 2
    flip = torch.where(u[:, 4] < flip_prob, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1
    ).to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
