"""Cut a two-camera example out of one MOTChallenge sequence.

The frame is split into two disjoint vertical views with a blind strip between them::

    x:  0 ........ left | blind strip | right ........ width
        <--- cam_a --->                <--- cam_b --->

``cam_a`` is columns ``[0, left)``, ``cam_b`` is columns ``[right, width)``; a person walking
across the scene leaves one view, is seen by neither while in the strip, and enters the other.
``cam_b`` gets a colour/gain change (``pixel × gain × tint``, BGR, clipped to [0, 255]) and
seeded Gaussian sensor noise, so an appearance model has to be robust to the camera.

Ground truth (MOTChallenge ``frame,id,x,y,w,h,conf,-1,-1,-1``, 1-based frames, tlwh pixels of
the *view*) keeps the sequence's own person ids, which are therefore **global** ids across
the two views. Visibility rule: a box is clipped to the view and kept only when
``area(box ∩ view) / area(box ∩ frame) >= --min-visible`` (default 0.5, i.e. at least half of
the person's in-frame box is inside the view) **and** the clipped box is at least
``--min-width`` pixels wide (default 10).

The output is deterministic for a given OpenCV build: same inputs and ``--seed`` → same
files. Frame rate comes from ``seqinfo.ini`` (the container's stated rate may be wrong).

Example::

    python tools/make_two_camera_sample.py ../shared/data/mot15/TUD-Stadtmitte \\
        --out sample_videos --split 360,400 --gain 1.35 --seed 0
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = ["SplitSummary", "View", "main", "make_sample", "split_ground_truth"]


@dataclass(frozen=True, slots=True)
class View:
    """One camera view: columns ``[x0, x1)`` of the source frame (pixels)."""

    name: str
    x0: int
    x1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0


@dataclass(frozen=True, slots=True)
class SplitSummary:
    """What was written: per-view person ids and boxes, and the ids seen in both views."""

    sequence: str
    fps: float
    num_frames: int
    height: int
    views: tuple[View, ...]
    ids_per_view: dict[str, list[int]]
    boxes_per_view: dict[str, int]
    ids_in_both: list[int]

    def to_dict(self) -> dict[str, object]:
        return {
            "sequence": self.sequence,
            "fps": self.fps,
            "num_frames": self.num_frames,
            "height": self.height,
            "views": [{"name": v.name, "x0": v.x0, "x1": v.x1} for v in self.views],
            "ids_per_view": self.ids_per_view,
            "boxes_per_view": self.boxes_per_view,
            "ids_in_both": self.ids_in_both,
        }


def _frames(seq_dir: Path, name: str) -> Iterator[np.ndarray]:
    """BGR frames of the sequence: ``<name>.mp4`` if present, else ``img1/*.jpg`` in order."""
    video = seq_dir / f"{name}.mp4"
    if video.is_file():
        cap = cv2.VideoCapture(str(video))
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                yield frame
        finally:
            cap.release()
        return
    images = sorted((seq_dir / "img1").glob("*.jpg"))
    if not images:
        raise SystemExit(f"error: {seq_dir}: neither {name}.mp4 nor img1/*.jpg found")
    for path in images:
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise SystemExit(f"error: {path}: cannot decode image")
        yield frame


def split_ground_truth(
    gt: np.ndarray,
    views: Sequence[View],
    frame_width: int,
    frame_height: int,
    min_visible: float = 0.5,
    min_width: float = 10.0,
) -> dict[str, np.ndarray]:
    """Split MOT ground truth rows into per-view rows with boxes clipped to each view.

    Args:
        gt: (N, >=6) MOT rows ``frame, id, x, y, w, h, ...`` (1-based frames, tlwh pixels).
        views: the views; ``x0``/``x1`` are source-frame columns.
        frame_width, frame_height: source frame size in pixels.
        min_visible: keep a box when the fraction of its in-frame area inside the view is at
            least this (0–1).
        min_width: and when its clipped width is at least this many pixels.

    Returns:
        ``{view name: (M, 10) float64 rows frame, id, x, y, w, h, 1, -1, -1, -1}`` with ``x``
        relative to the view's left edge, sorted by (frame, id).
    """
    x1, y1 = gt[:, 2], gt[:, 3]
    x2, y2 = x1 + gt[:, 4], y1 + gt[:, 5]
    fx1, fy1 = np.clip(x1, 0, frame_width), np.clip(y1, 0, frame_height)
    fx2, fy2 = np.clip(x2, 0, frame_width), np.clip(y2, 0, frame_height)
    frame_area = np.maximum(fx2 - fx1, 0) * np.maximum(fy2 - fy1, 0)
    out: dict[str, np.ndarray] = {}
    for view in views:
        vx1, vx2 = np.clip(fx1, view.x0, view.x1), np.clip(fx2, view.x0, view.x1)
        vis_w = np.maximum(vx2 - vx1, 0)
        vis_area = vis_w * np.maximum(fy2 - fy1, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(frame_area > 0, vis_area / frame_area, 0.0)
        keep = (frac >= min_visible) & (vis_w >= min_width)
        rows = np.zeros((int(keep.sum()), 10), dtype=np.float64)
        rows[:, 0] = gt[keep, 0]
        rows[:, 1] = gt[keep, 1]
        rows[:, 2] = vx1[keep] - view.x0
        rows[:, 3] = fy1[keep]
        rows[:, 4] = vis_w[keep]
        rows[:, 5] = (fy2 - fy1)[keep]
        rows[:, 6] = 1.0
        rows[:, 7:] = -1.0
        order = np.lexsort((rows[:, 1], rows[:, 0]))
        out[view.name] = rows[order]
    return out


def _write_mot(path: Path, rows: np.ndarray) -> None:
    lines = [f"{int(r[0])},{int(r[1])},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f},1,-1,-1,-1" for r in rows]
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")


def _colour_change(
    image: np.ndarray,
    gain: float,
    tint_bgr: Sequence[float],
    noise: np.ndarray | None,
) -> np.ndarray:
    out = image.astype(np.float32) * (gain * np.asarray(tint_bgr, dtype=np.float32))
    if noise is not None:
        out += noise
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def make_sample(
    seq_dir: str | Path,
    out_dir: str | Path,
    split: tuple[int, int],
    names: tuple[str, str] = ("a", "b"),
    gain: float = 1.35,
    tint_bgr: Sequence[float] = (0.8, 1.0, 1.15),
    noise_sigma: float = 2.0,
    seed: int = 0,
    min_visible: float = 0.5,
    min_width: float = 10.0,
    fourcc: str = "mp4v",
) -> SplitSummary:
    """Write ``cam_<a>.mp4``, ``cam_<b>.mp4``, ``gt_<a>.txt``, ``gt_<b>.txt`` and ``split.json``.

    Args:
        seq_dir: MOTChallenge sequence folder (``seqinfo.ini``, ``gt/gt.txt``, ``<name>.mp4`` or
            ``img1/``).
        out_dir: output folder (created).
        split: ``(left, right)`` columns in pixels: first view ``[0, left)``, second
            ``[right, width)``; ``right - left`` is the blind strip.
        names: suffixes of the two cameras.
        gain, tint_bgr: the second view's pixels are multiplied by ``gain × tint`` (B, G, R).
        noise_sigma: standard deviation (grey levels) of the second view's Gaussian noise; 0 = none.
        seed: seed of the noise generator.
        min_visible, min_width: ground-truth visibility rule (see :func:`split_ground_truth`).
        fourcc: OpenCV codec of the mp4 files.

    Returns:
        A :class:`SplitSummary` (also written as ``split.json``).
    """
    seq_dir, out_dir = Path(seq_dir), Path(out_dir)
    from infra.errors import UserError
    from infra.motchallenge import read_seqinfo

    try:
        info = read_seqinfo(seq_dir / "seqinfo.ini")
    except UserError as err:
        raise SystemExit(f"error: {err} (expected a MOTChallenge sequence folder)") from None
    name, fps, num_frames, width, height = info.name, info.fps, info.num_frames, info.width_px, info.height_px
    left, right = split
    if not 0 < left <= right < width:
        raise SystemExit(f"error: --split {left},{right}: need 0 < left <= right < {width}")
    views = (View(f"cam_{names[0]}", 0, left), View(f"cam_{names[1]}", right, width))
    gt = np.loadtxt(seq_dir / "gt" / "gt.txt", delimiter=",", ndmin=2)
    gt = gt[gt[:, 6] != 0] if gt.shape[1] > 6 else gt  # conf 0 rows are "ignore" in MOT
    per_view = split_ground_truth(gt, views, width, height, min_visible, min_width)

    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    writers = {
        v.name: cv2.VideoWriter(
            str(out_dir / f"{v.name}.mp4"), cv2.VideoWriter_fourcc(*fourcc), fps, (v.width, height)
        )
        for v in views
    }
    try:
        for writer_name, writer in writers.items():
            if not writer.isOpened():
                raise SystemExit(f"error: {out_dir / writer_name}.mp4: OpenCV cannot open a {fourcc} writer")
        count = 0
        for frame in _frames(seq_dir, name):
            a = np.ascontiguousarray(frame[:, views[0].x0 : views[0].x1])
            b = frame[:, views[1].x0 : views[1].x1]
            noise = rng.normal(0.0, noise_sigma, size=b.shape).astype(np.float32) if noise_sigma > 0 else None
            writers[views[0].name].write(a)
            writers[views[1].name].write(_colour_change(b, gain, tint_bgr, noise))
            count += 1
    finally:
        for writer in writers.values():
            writer.release()
    if count != num_frames:
        print(f"warning: {seq_dir}: decoded {count} frames, seqinfo.ini says {num_frames}", file=sys.stderr)

    for view, suffix in zip(views, names, strict=True):
        _write_mot(out_dir / f"gt_{suffix}.txt", per_view[view.name])
    ids = {v.name: sorted({int(i) for i in per_view[v.name][:, 1]}) for v in views}
    summary = SplitSummary(
        sequence=name,
        fps=fps,
        num_frames=count,
        height=height,
        views=views,
        ids_per_view=ids,
        boxes_per_view={v.name: len(per_view[v.name]) for v in views},
        ids_in_both=sorted(set(ids[views[0].name]) & set(ids[views[1].name])),
    )
    (out_dir / "split.json").write_text(json.dumps(summary.to_dict(), indent=1) + "\n", encoding="utf-8")
    return summary


def _pair(text: str, cast: type = int) -> tuple:
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected two comma-separated values, got {text!r}")
    try:
        return tuple(cast(p) for p in parts)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _floats3(text: str) -> tuple[float, float, float]:
    parts = text.split(",")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected B,G,R, got {text!r}")
    try:
        b, g, r = (float(p) for p in parts)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return b, g, r


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seq_dir", type=Path, help="MOTChallenge sequence folder (seqinfo.ini, gt/gt.txt)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--split",
        type=_pair,
        default=(360, 400),
        help="LEFT,RIGHT columns (px): cam A = [0,LEFT), cam B = [RIGHT,width) (default 360,400)",
    )
    parser.add_argument(
        "--names",
        type=lambda s: _pair(s, str),
        default=("a", "b"),
        help="camera suffixes (default a,b → cam_a, cam_b)",
    )
    parser.add_argument("--gain", type=float, default=1.35, help="brightness gain of cam B (default 1.35)")
    parser.add_argument(
        "--tint",
        type=_floats3,
        default=(0.8, 1.0, 1.15),
        help="B,G,R multipliers of cam B on top of the gain (default 0.8,1.0,1.15)",
    )
    parser.add_argument("--noise", type=float, default=2.0, help="cam B noise sigma, grey levels (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument(
        "--min-visible",
        type=float,
        default=0.5,
        help="keep a GT box when this fraction of it is in the view (default 0.5)",
    )
    parser.add_argument(
        "--min-width", type=float, default=10.0, help="and its visible width ≥ this, px (default 10)"
    )
    args = parser.parse_args(argv)
    summary = make_sample(
        args.seq_dir,
        args.out,
        args.split,
        args.names,
        args.gain,
        args.tint,
        args.noise,
        args.seed,
        args.min_visible,
        args.min_width,
    )
    print(json.dumps(summary.to_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
