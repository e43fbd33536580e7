"""Cut identity-labelled person crops out of a MOTChallenge video and its ``gt.txt``.

The crops are written in the ``folder`` layout of :mod:`reid_core.data.datasets`,
``OUT/PID_CAMID_FRAME.jpg`` (``FRAME`` 1-based, six digits), so that
``load_items("folder", OUT)`` reads them back. ``PID`` is the ground-truth track id plus
``id_offset`` (use distinct offsets to put several sequences in one folder without their
ids colliding; use the same ids when the sequences are views of the same people).

``gt.txt`` rows (1-based frames, boxes ``tlwh`` in pixels, 1-based as MOTChallenge writes them):

- MOT15 (10 columns): ``frame,id,x,y,w,h,conf,wx,wy,wz`` — no visibility: every box counts as
  fully visible; rows with ``conf == 0`` are ignored.
- MOT16/17/20 (9 columns): ``frame,id,x,y,w,h,active,class,visibility`` — rows with
  ``active == 0`` or a class not in ``classes`` (default: 1, pedestrian) are ignored.

Boxes are clipped to the frame; a crop is kept when its clipped size is at least
``min_width_px`` × ``min_height_px`` and its visibility at least ``min_visibility``. Only
frames ``1, 1 + stride, 1 + 2·stride, …`` are used (``stride`` in frames). Frames are
decoded with OpenCV (BGR) and written as BGR JPEGs (the usual on-disk order), each atomically.

Command line::

    python -m reid_core.data.mot_crops --video ../shared/data/mot15/TUD-Campus/TUD-Campus.mp4 \\
        --gt ../shared/data/mot15/TUD-Campus/gt/gt.txt --out crops/ --stride 5 --min-height 64
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from infra.errors import DatasetError, UserError, cli_entry

__all__ = [
    "CropSummary",
    "GtBox",
    "VideoSequence",
    "build_crops",
    "build_video_crops",
    "find_sequences",
    "main",
    "read_gt",
]

#: Video containers recognised by :func:`find_sequences` (by extension, lower case).
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm")


@dataclass(frozen=True, slots=True)
class GtBox:
    """One ground-truth box.

    Attributes:
        frame: 1-based frame number.
        track_id: ground-truth identity.
        tlwh: (left, top, width, height) in pixels, left/top 1-based as in MOTChallenge.
        visibility: in [0, 1]; 1.0 where the file has no visibility column (MOT15).
    """

    frame: int
    track_id: int
    tlwh: tuple[float, float, float, float]
    visibility: float


@dataclass(frozen=True, slots=True)
class CropSummary:
    """What :func:`build_crops` wrote: ``num_crops`` crops of ``num_ids`` ids from ``frames_used`` frames."""

    num_crops: int
    num_ids: int
    frames_used: int
    out: Path


def read_gt(path: str | Path, *, classes: Sequence[int] = (1,)) -> list[GtBox]:
    """Read a MOTChallenge ``gt.txt`` (MOT15 10-column or MOT16+ 9-column, see module docstring).

    Returns:
        The boxes that count (active, of ``classes``), in file order.

    Raises:
        DatasetError: missing file, or a row that is not numbers / has fewer than 6 columns (line named).
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DatasetError(f"{path}: ground-truth file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: cannot read ground truth ({err})") from None
    boxes: list[GtBox] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            v = [float(x) for x in line.replace(" ", "").split(",")]
        except ValueError:
            raise DatasetError(f"{path}:{number}: not a MOTChallenge row of numbers: {line!r}") from None
        if len(v) < 6:
            raise DatasetError(f"{path}:{number}: expected frame,id,x,y,w,h,... got {len(v)} columns")
        visibility = 1.0
        if len(v) == 9:  # MOT16/17/20: active flag, class, visibility
            if v[6] == 0 or int(v[7]) not in classes:
                continue
            visibility = v[8]
        elif len(v) >= 7 and v[6] == 0:  # MOT15: conf 0 = ignore
            continue
        boxes.append(GtBox(int(v[0]), int(v[1]), (v[2], v[3], v[4], v[5]), visibility))
    return boxes


def build_crops(
    video: str | Path,
    gt: str | Path,
    out: str | Path,
    *,
    cam_id: int = 0,
    stride: int = 1,
    min_visibility: float = 0.0,
    min_height_px: int = 0,
    min_width_px: int = 0,
    id_offset: int = 0,
    classes: Sequence[int] = (1,),
    jpeg_quality: int = 95,
    overwrite: bool = False,
    time_halves: bool = False,
) -> CropSummary:
    """Write the crops of ``video`` labelled by ``gt`` to ``out`` as ``PID_CAMID_FRAME.jpg``.

    Args:
        video: the sequence as a video file (any container OpenCV reads); frame 1 = first frame.
        gt: its ``gt.txt``.
        out: output folder (created). Existing files of the same name are an error unless ``overwrite``.
        cam_id: camera id written in the names (>= 0).
        stride: use every ``stride``-th frame (>= 1); higher = fewer, less redundant crops.
        min_visibility: drop boxes less visible than this (0..1; MOT16+ only, MOT15 has no visibility).
        min_height_px, min_width_px: drop crops smaller than this after clipping to the frame (pixels).
        id_offset: added to the ground-truth ids (>= 0 after adding).
        classes: MOT16+ classes kept (1 = pedestrian).
        jpeg_quality: JPEG quality 0..100.
        overwrite: replace existing crops of the same name.
        time_halves: camera id ``cam_id`` for the boxes of the first half of each identity's
            frames, ``cam_id + 1`` for the second half (two "views" of one person from one
            camera, as the cross-camera pair sampler and the single-shot protocol need).

    Returns:
        :class:`CropSummary`.

    Raises:
        UserError: bad arguments, or crops that already exist; DatasetError: unreadable video or gt.
    """
    import cv2

    from infra.fileio import atomic_write_bytes

    if stride < 1 or cam_id < 0 or not 0 <= jpeg_quality <= 100 or not 0.0 <= min_visibility <= 1.0:
        raise UserError(
            f"need stride >= 1, cam_id >= 0, 0 <= jpeg_quality <= 100, 0 <= min_visibility <= 1; got "
            f"{stride}, {cam_id}, {jpeg_quality}, {min_visibility}"
        )
    video, out = Path(video), Path(out)
    wanted: dict[int, list[GtBox]] = defaultdict(list)
    for box in read_gt(gt, classes=classes):
        if (box.frame - 1) % stride == 0 and box.visibility >= min_visibility:
            if box.track_id + id_offset < 0:
                raise UserError(f"{gt}: track id {box.track_id} + id offset {id_offset} is negative")
            wanted[box.frame].append(box)
    if not (video.is_file() or ("%" in video.name and video.parent.is_dir())):
        raise DatasetError(f"{video}: video file not found")
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"{out}: cannot create the output folder ({err.strerror})") from None

    split_frame: dict[int, float] = {}
    if time_halves:
        frames_of: dict[int, list[int]] = defaultdict(list)
        for boxes in wanted.values():
            for b in boxes:
                frames_of[b.track_id].append(b.frame)
        split_frame = {t: float(np.median(f)) for t, f in frames_of.items()}

    def name(box: GtBox) -> str:
        cam = cam_id + (1 if time_halves and box.frame > split_frame[box.track_id] else 0)
        return f"{box.track_id + id_offset}_{cam}_{box.frame:06d}.jpg"

    if not overwrite:
        clash = next(
            (out / name(b) for boxes in wanted.values() for b in boxes if (out / name(b)).exists()), None
        )
        if clash is not None:
            raise UserError(f"{clash}: already exists (pass --overwrite to replace crops)")

    cap = cv2.VideoCapture(str(video))
    written: set[int] = set()
    num_crops = frames_used = 0
    try:
        if not cap.isOpened():
            raise DatasetError(f"{video}: cannot open video")
        last = max(wanted, default=0)
        frame_no = 0
        while frame_no < last:
            ok, image = cap.read()
            if not ok:
                break
            frame_no += 1
            if frame_no not in wanted:
                continue
            frames_used += 1
            height, width = image.shape[:2]
            for box in wanted[frame_no]:
                crop = _clip_crop(image, box.tlwh, width, height)
                if crop is None or crop.shape[0] < min_height_px or crop.shape[1] < min_width_px:
                    continue
                ok, data = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
                if not ok:
                    raise DatasetError(f"{out / name(box)}: cannot encode crop")
                atomic_write_bytes(out / name(box), data.tobytes())
                written.add(box.track_id)
                num_crops += 1
        if frame_no < last:
            raise DatasetError(f"{video}: ended at frame {frame_no}, but {gt} has boxes up to frame {last}")
    finally:
        cap.release()
    return CropSummary(num_crops=num_crops, num_ids=len(written), frames_used=frames_used, out=out)


@dataclass(frozen=True, slots=True)
class VideoSequence:
    """A MOTChallenge sequence with frames: ``name`` (its folder), ``video`` and ``gt`` paths.

    ``video`` is a video file, or an OpenCV image-sequence pattern ``.../img1/%06d.jpg``.
    """

    name: str
    video: Path
    gt: Path


def find_sequences(data_root: str | Path) -> list[VideoSequence]:
    """Every sequence under ``data_root`` (searched recursively) that has frames and ground truth.

    A sequence is a folder with ``gt/gt.txt`` and either a video file (``VIDEO_EXTENSIONS``;
    the first by name) or an ``img1/`` folder of ``000001.jpg``… frames. Folders with ground
    truth but no frames are skipped. Sorted by folder name (then path), so ids are stable.

    Raises:
        DatasetError: ``data_root`` is not a folder.
    """
    root = Path(data_root)
    if not root.is_dir():
        raise DatasetError(f"{root}: data folder not found")
    found: list[VideoSequence] = []
    for gt in sorted(root.rglob("gt/gt.txt")):
        folder = gt.parent.parent
        videos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
        if videos:
            found.append(VideoSequence(folder.name, videos[0], gt))
        elif (folder / "img1" / "000001.jpg").is_file():
            found.append(VideoSequence(folder.name, folder / "img1" / "%06d.jpg", gt))
    return sorted(found, key=lambda s: (s.name, str(s.video)))


def build_video_crops(
    data_root: str | Path,
    out: str | Path,
    *,
    val_sequences: Sequence[str],
    stride: int = 5,
    min_height_px: int = 40,
    overwrite: bool = False,
) -> dict[str, CropSummary]:
    """Crops of every sequence of :func:`find_sequences` in the ``video_crops`` layout.

    Writes ``out/train/`` and ``out/val/`` (:func:`build_crops` with ``time_halves``: camera 0
    = first half of a person's frames, 1 = second half). Sequences named in ``val_sequences``
    go to ``val/`` (their people are never trained on), the others to ``train/``. Person ids are
    the gt ids offset per sequence (in sorted order) so that no two sequences share an id.

    Args:
        data_root: searched for sequences.
        out: output folder (created).
        val_sequences: sequence folder names held out for validation (each must exist).
        stride: use every ``stride``-th frame (frames).
        min_height_px: smallest crop height kept (pixels).
        overwrite: replace existing crops.

    Returns:
        Sequence name → :class:`CropSummary`.

    Raises:
        UserError: a name in ``val_sequences`` that is not a sequence with frames.
        DatasetError: no sequence with frames and ground truth under ``data_root``.
    """
    sequences = find_sequences(data_root)
    if not sequences:
        raise DatasetError(f"{data_root}: no sequence with frames and gt/gt.txt")
    names = {s.name for s in sequences}
    unknown = sorted(set(val_sequences) - names)
    if unknown:
        raise UserError(
            f"validation sequence(s) {', '.join(unknown)} not found with frames under {data_root} "
            f"(found: {', '.join(sorted(names))})"
        )
    out = Path(out)
    offset = 0
    summaries: dict[str, CropSummary] = {}
    for seq in sequences:
        part = "val" if seq.name in val_sequences else "train"
        summaries[seq.name] = build_crops(
            seq.video,
            seq.gt,
            out / part,
            stride=stride,
            min_height_px=min_height_px,
            id_offset=offset,
            overwrite=overwrite,
            time_halves=True,
        )
        offset += 1 + max((b.track_id for b in read_gt(seq.gt)), default=0)
    return summaries


def _clip_crop(
    image: np.ndarray, tlwh: tuple[float, float, float, float], width: int, height: int
) -> np.ndarray | None:
    """The box (MOT 1-based tlwh) clipped to the image, or None if nothing is left."""
    x, y, w, h = tlwh
    x0, y0 = max(0, round(x - 1)), max(0, round(y - 1))
    x1, y1 = min(width, round(x - 1 + w)), min(height, round(y - 1 + h))
    if x1 <= x0 or y1 <= y0:
        return None
    return image[y0:y1, x0:x1]


def _main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reid_core.data.mot_crops",
        description="Cut identity-labelled crops out of a MOTChallenge video + gt.txt "
        "(folder layout PID_CAMID_FRAME.jpg).",
    )
    parser.add_argument("--video", type=Path, help="sequence video file (frame 1 = first frame)")
    parser.add_argument("--gt", type=Path, help="MOTChallenge gt.txt of the sequence")
    parser.add_argument(
        "--data-root",
        type=Path,
        help="instead of --video/--gt: every sequence with frames + gt/gt.txt under this folder, "
        "written as the video_crops data set (OUT/train, OUT/val; camera = half of a person's frames)",
    )
    parser.add_argument(
        "--val-sequences",
        nargs="*",
        default=["TUD-Stadtmitte"],
        help="with --data-root: sequence folder names held out for validation (default TUD-Stadtmitte)",
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder (created)")
    parser.add_argument("--cam-id", type=int, default=0, help="camera id in the file names (default 0)")
    parser.add_argument("--stride", type=int, default=1, help="use every N-th frame (frames, default 1)")
    parser.add_argument("--min-visibility", type=float, default=0.0, help="0..1, MOT16+ only (default 0)")
    parser.add_argument("--min-height", type=int, default=0, help="minimum crop height in pixels (default 0)")
    parser.add_argument("--min-width", type=int, default=0, help="minimum crop width in pixels (default 0)")
    parser.add_argument("--id-offset", type=int, default=0, help="added to the gt ids (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing crops of the same name")
    args = parser.parse_args(argv)
    if args.data_root is not None:
        if args.video is not None or args.gt is not None:
            raise UserError("give either --data-root or --video and --gt, not both")
        summaries = build_video_crops(
            args.data_root,
            args.out,
            val_sequences=args.val_sequences,
            stride=args.stride,
            min_height_px=args.min_height or 0,
            overwrite=args.overwrite,
        )
        for name, sm in summaries.items():
            print(f"{name}: {sm.num_crops} crops of {sm.num_ids} identities in {sm.out}")
        return 0
    if args.video is None or args.gt is None:
        raise UserError("give --video and --gt (one sequence) or --data-root (all sequences)")
    summary = build_crops(
        args.video,
        args.gt,
        args.out,
        cam_id=args.cam_id,
        stride=args.stride,
        min_visibility=args.min_visibility,
        min_height_px=args.min_height,
        min_width_px=args.min_width,
        id_offset=args.id_offset,
        overwrite=args.overwrite,
    )
    print(
        f"{summary.out}: wrote {summary.num_crops} crops of {summary.num_ids} identities "
        f"from {summary.frames_used} frames"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (2 with one ``error:`` line for bad input)."""
    return cli_entry(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
