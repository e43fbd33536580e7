"""Crop preprocessing and training augmentation.

**Colour order.** Crops arrive as OpenCV images: ``uint8`` (H, W, 3) **BGR**. The one and only
BGR → RGB conversion of the re-ID stack happens in :func:`bgr_to_input`, together with the
ImageNet normalisation. Training and inference both go through it, so they see identical inputs.

Augmentation (:func:`random_affine`) works on batches of model inputs: a random 2-D affine
transform around the image centre (rotation, scale, translation, and a horizontal flip), as in
the paper's Section IV-C (which makes ×5 copies offline; here a fresh transform is drawn for
every crop every time it is used). :func:`pipeline_look` adds what the pipeline's crops suffer
from (low resolution, motion blur, another camera's colour, detector cut-offs, occlusion).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from reid_core.data.crops import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, resize_bgr, stack_bgr

__all__ = [
    "IMAGENET_MEAN_RGB",
    "IMAGENET_STD_RGB",
    "bgr_to_input",
    "pipeline_look",
    "random_affine",
    "resize_bgr",
    "stack_bgr",
]


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


def pipeline_look(
    x: torch.Tensor,
    generator: torch.Generator,
    *,
    low_res_prob: float,
    low_res_min_height_px: int,
    blur_prob: float,
    blur_max_px: int,
    colour_prob: float,
    gain_range: tuple[float, float],
    white_balance_frac: float,
    cutoff_prob: float,
    cutoff_max_frac: float,
    erase_prob: float,
    erase_area_range: tuple[float, float],
) -> torch.Tensor:
    """Make crops look like the pipeline's: small, blurred, cut off, colour-shifted, occluded.

    Each effect is applied to each crop independently with its probability (0 = off); all draws
    come from ``generator``, so a seeded run is exact. Effects, in this order:

    - **low resolution**: down-scale to a height drawn in [``low_res_min_height_px``, H] pixels
      (aspect kept, area averaging), then back up (bilinear), as a far person's crop;
    - **motion blur**: a horizontal or vertical box blur of length 2..``blur_max_px`` pixels;
    - **colour**: gain drawn in ``gain_range`` (× all channels) and a white-balance change
      (× each channel by 1 ± ``white_balance_frac``), as another camera's exposure/tint;
    - **cut-off**: one side (top, bottom, left or right) of the crop replaced by the
      border-repeated rest, up to ``cutoff_max_frac`` of that side, as a detector box that cuts
      off feet, head or a shoulder;
    - **random erasing**: a rectangle of area fraction in ``erase_area_range`` (aspect 0.3..3.3)
      filled with noise, as an occluder (Zhong et al., 2020).

    Args:
        x: (N, 3, H, W) float model inputs (ImageNet-normalised RGB from :func:`bgr_to_input`).
        generator: CPU random generator.

    Returns:
        (N, 3, H, W) augmented inputs (a new tensor).
    """
    n, _, h, w = x.shape
    if n == 0:
        return x
    x = x.clone()
    u = torch.rand(n, 16, generator=generator)
    mean = torch.tensor(IMAGENET_MEAN_RGB, device=x.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD_RGB, device=x.device).view(3, 1, 1)
    for i in range(n):
        img = x[i]
        if u[i, 0] < low_res_prob and low_res_min_height_px < h:
            th = int(low_res_min_height_px + u[i, 1].item() * (h - low_res_min_height_px))
            tw = max(1, round(th * w / h))
            small = F.interpolate(img[None], size=(th, tw), mode="area")
            img = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)[0]
        if u[i, 2] < blur_prob and blur_max_px >= 2:
            k = 2 + int(u[i, 3].item() * (blur_max_px - 1))
            k = min(k, blur_max_px)
            kernel = torch.full((3, 1, 1, k), 1.0 / k, device=x.device, dtype=x.dtype)
            if u[i, 4] < 0.5:
                kernel = kernel.transpose(2, 3)
            pad = (k // 2, k - 1 - k // 2, 0, 0) if kernel.shape[3] > 1 else (0, 0, k // 2, k - 1 - k // 2)
            img = F.conv2d(F.pad(img[None], pad, mode="replicate"), kernel, groups=3)[0]
        if u[i, 5] < colour_prob:
            gain = gain_range[0] + u[i, 6].item() * (gain_range[1] - gain_range[0])
            wb = 1.0 + (torch.rand(3, generator=generator) * 2 - 1) * white_balance_frac
            rgb = (img * std + mean) * gain * wb.view(3, 1, 1).to(x.device)
            img = (rgb.clamp(0, 1) - mean) / std
        if u[i, 7] < cutoff_prob:
            side = int(u[i, 8].item() * 4) % 4
            frac = u[i, 9].item() * cutoff_max_frac
            if side < 2:  # top / bottom
                c = max(1, int(frac * h))
                img = img[:, c:, :] if side == 0 else img[:, : h - c, :]
            else:  # left / right
                c = max(1, int(frac * w))
                img = img[:, :, c:] if side == 2 else img[:, :, : w - c]
            img = F.interpolate(img[None], size=(h, w), mode="bilinear", align_corners=False)[0]
        if u[i, 10] < erase_prob:
            lo, hi = erase_area_range
            area = (lo + u[i, 11].item() * (hi - lo)) * h * w
            aspect = math.exp(math.log(0.3) + u[i, 12].item() * (math.log(3.3) - math.log(0.3)))
            eh = min(h, max(1, round(math.sqrt(area * aspect))))
            ew = min(w, max(1, round(math.sqrt(area / aspect))))
            y0 = int(u[i, 13].item() * (h - eh + 1))
            x0 = int(u[i, 14].item() * (w - ew + 1))
            img = img.clone()
            img[:, y0 : y0 + eh, x0 : x0 + ew] = torch.randn(3, eh, ew, generator=generator).to(x.device)
        x[i] = img
    return x
