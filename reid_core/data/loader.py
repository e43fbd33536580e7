"""Image decoding for data sets: files → uint8 BGR arrays (OpenCV order; not converted here).

The BGR → RGB conversion happens once, in :func:`reid_core.data.transforms.bgr_to_input`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from infra.errors import DatasetError
from reid_core.data.transforms import resize_bgr

__all__ = ["read_bgr", "read_crops_bgr"]


def read_bgr(path: str | Path) -> np.ndarray:
    """Decode one image file: (H, W, 3) uint8 **BGR**.

    Raises:
        DatasetError: the file is missing or not a decodable image (the message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: image file not found")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise DatasetError(f"{path}: not a readable image")
    return img


def read_crops_bgr(paths: Sequence[str | Path], size_hw: tuple[int, int] = (160, 80)) -> np.ndarray:
    """Decode and resize many images: (N, H, W, 3) uint8 BGR (N = len(paths)).

    Raises:
        DatasetError: the first file that is missing or unreadable.
    """
    out = np.empty((len(paths), size_hw[0], size_hw[1], 3), np.uint8)
    for i, p in enumerate(paths):
        out[i] = resize_bgr(read_bgr(p), size_hw)
    return out
