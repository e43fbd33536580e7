"""A copy of a crops folder with every image scaled down to a random height, like far-away people.

The held-out surveillance crops of issue 10 are 40-90 px tall; the video-crop set
(``runs/video_crops``, 122-246 px) is not. This writes the same folder layout with each image
scaled (``cv2.INTER_AREA``, aspect kept) to a height drawn uniformly in ``[--min-px, --max-px]``
(seeded) and saved as JPEG (quality 90), so ``reid-eval cmc --dataset video_crops --root OUT``
scores the same people at that size.

Usage (from the repo root)::

    python benchmarks/small_crops.py runs/video_crops runs/video_crops_small [--min-px 40] [--max-px 90]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np


def shrink_folder(src: Path, dst: Path, min_px: int, max_px: int, seed: int = 0) -> int:
    """Write every ``*.jpg``/``*.png`` under ``src`` to its path under ``dst``, scaled; returns the count."""
    rng = np.random.default_rng(seed)
    count = 0
    for path in sorted(p for p in src.rglob("*") if p.suffix.lower() in (".jpg", ".png")):
        image = cv2.imread(str(path))
        if image is None:
            raise SystemExit(f"{path}: not a readable image")
        h, w = image.shape[:2]
        new_h = int(rng.integers(min_px, max_px + 1))
        small = cv2.resize(image, (max(1, round(w * new_h / h)), new_h), interpolation=cv2.INTER_AREA)
        out = (dst / path.relative_to(src)).with_suffix(".jpg")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SystemExit(f"{out.parent}: cannot create ({err.strerror})") from None
        if not cv2.imwrite(str(out), small, [cv2.IMWRITE_JPEG_QUALITY, 90]):
            raise SystemExit(f"{out}: cannot write")
        count += 1
    return count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--min-px", type=int, default=40, help="smallest height, pixels (default 40)")
    parser.add_argument("--max-px", type=int, default=90, help="largest height, pixels (default 90)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 1 <= args.min_px <= args.max_px:
        raise SystemExit("need 1 <= --min-px <= --max-px")
    n = shrink_folder(args.src, args.dst, args.min_px, args.max_px, args.seed)
    if n == 0:
        raise SystemExit(f"{args.src}: no .jpg or .png images")
    print(f"{n} crops written under {args.dst}, {args.min_px}-{args.max_px} px tall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
