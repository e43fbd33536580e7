"""Benchmark inputs built from the committed sample: N cameras, a longer input, a larger frame size.

``make_inputs(cams, longer, size_wh)`` writes ``cam_00.mp4 … cam_{N-1}.mp4`` under
``runs/bench/inputs/`` (git-ignored, cached: built once per shape): camera ``i`` is
``sample_videos/cam_a.mp4`` for even ``i`` and ``cam_b.mp4`` for odd ``i`` (so N cameras are N
different ids over two distinct views), played ``longer`` times back and forth (forward,
backward, forward… so people keep moving smoothly, no cut) and, with ``size_wh``, scaled to that
frame size (e.g. 1920×1080 for the GPU benchmark). Each view is encoded once; cameras 2… are
copies of cam_00/cam_01's files. The committed two cameras at their own size and length are
returned as they are.
"""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_videos"

__all__ = ["camera_files", "make_inputs"]


def camera_files(folder: Path) -> list[Path]:
    """The ``.mp4`` cameras of an input folder, sorted by name."""
    return sorted(folder.glob("*.mp4"))


def _read(path: Path) -> tuple[list, float]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    return frames, fps


def make_inputs(
    cams: int = 2, longer: int = 1, size_wh: tuple[int, int] | None = None, root: Path | None = None
) -> Path:
    """The folder of an input with ``cams`` cameras, ``longer`` times the sample's length.

    Args:
        cams: cameras (>= 1).
        longer: the sample's length times this (>= 1), played back and forth.
        size_wh: frame size in pixels, ``None`` = the sample's (640×360).
        root: where inputs are cached (default ``runs/bench/inputs``).

    Returns:
        The folder holding the cameras' ``.mp4`` files (:func:`camera_files`).
    """
    import cv2

    if cams < 1 or longer < 1:
        raise ValueError("cams and longer must be >= 1")
    if cams == 2 and longer == 1 and size_wh is None:
        return SAMPLE
    size_tag = "" if size_wh is None else f"-{size_wh[0]}x{size_wh[1]}"
    folder = (root or ROOT / "runs" / "bench" / "inputs") / f"cams{cams}-x{longer}{size_tag}"
    done = folder / ".complete"
    if done.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    views = [_read(SAMPLE / "cam_a.mp4"), _read(SAMPLE / "cam_b.mp4")]
    for i in range(cams):
        if i >= len(views):  # the same frames as an earlier camera: copy its file, encode once
            shutil.copyfile(folder / f"cam_{i % 2:02d}.mp4", folder / f"cam_{i:02d}.mp4")
            continue
        frames, fps = views[i % 2]
        h, w = frames[0].shape[:2]
        out_wh = size_wh or (w, h)
        writer = cv2.VideoWriter(
            str(folder / f"cam_{i:02d}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps, out_wh
        )
        try:
            for lap in range(longer):
                for image in frames if lap % 2 == 0 else frames[::-1]:
                    if out_wh != (w, h):
                        image = cv2.resize(image, out_wh, interpolation=cv2.INTER_LINEAR)
                    writer.write(image)
        finally:
            writer.release()
    done.write_text("ok\n", encoding="utf-8")
    return folder
