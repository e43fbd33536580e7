"""``reid-eval mtmc``: cross-camera (MTMC) identity measures of a ``tracks.json``.

Cross-camera IDF1/IDP/IDR in the sense of Ristani et al., "Performance measures and a data set
for multi-target, multi-camera tracking" (ECCV-W 2016): all cameras' frames are concatenated into
one sequence of ``(camera, frame)`` time steps, and **one** bipartite matching of ground-truth
person ids to predicted global ids, over all cameras at once, maximises the number of boxes whose
ids agree (IDTP). A person correctly linked across cameras counts once; one split into a
different global id per camera loses the boxes of all but its best-matched id. The matching and
the counts are TrackEval's ``Identity`` metric run on that concatenated sequence (a box pair
can match when IoU ≥ ``--iou``, default 0.5).

Per-camera HOTA/MOTA/IDF1 come from :func:`pipeline.evaluation.mot.evaluate_mot` on each
camera alone, with the predicted **global** id as the track id (so re-linking a person who
re-enters the same camera counts there too).

Frames: ``tracks.json`` frames are 0-based decoded-frame indices, MOTChallenge ground truth is
1-based; :func:`pipeline.records.json_frame_to_mot` is the one place that converts (``mot = json + 1``).
Ground-truth rows with ``conf == 0`` (MOT15's "ignore") are dropped; predicted boxes are all
counted. Cameras in the result without ground truth are ignored (and reported).

Example::

    reid-eval mtmc --result tracks.json --gt cam_a=sample_videos/gt_a.txt \\
        --gt cam_b=sample_videos/gt_b.txt --iou 0.5
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infra.errors import UserError
from infra.motchallenge import MotRows
from pipeline.records import TracksFile, to_mot_rows

__all__ = [
    "MtmcResult",
    "add_arguments",
    "evaluate_mtmc",
    "format_result",
    "identity_measures",
    "parse_gt_spec",
    "run",
]

#: What ``per_camera`` reports from ``evaluate_mot`` (fractions in [0, 1]; MOTA may be negative).
PER_CAMERA_KEYS: tuple[str, ...] = ("HOTA", "MOTA", "IDF1")


@dataclass(frozen=True, slots=True)
class MtmcResult:
    """Cross-camera identity measures and per-camera MOT metrics.

    Attributes:
        idf1, idp, idr: fractions in [0, 1] (IDF1 = 2·IDTP / (2·IDTP + IDFP + IDFN)).
        idtp, idfp, idfn: box counts over all cameras.
        num_gt_ids: distinct ground-truth persons over all evaluated cameras.
        num_pred_ids: distinct predicted global ids with a box in an evaluated camera.
        cameras: the evaluated camera ids, in ``--gt`` order.
        per_camera: ``{cam_id: {"HOTA": …, "MOTA": …, "IDF1": …}}`` fractions, or empty.
        ignored_cameras: result cameras without ground truth (not scored).
        iou_threshold: the IoU a box pair needs to match.
    """

    idf1: float
    idp: float
    idr: float
    idtp: int
    idfp: int
    idfn: int
    num_gt_ids: int
    num_pred_ids: int
    cameras: tuple[str, ...]
    per_camera: dict[str, dict[str, float]] = field(default_factory=dict)
    ignored_cameras: tuple[str, ...] = ()
    iou_threshold: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (fractions, counts, lists)."""
        data = asdict(self)
        data["cameras"] = list(self.cameras)
        data["ignored_cameras"] = list(self.ignored_cameras)
        return data


def _box_iou_tlwh(a_tlwh: np.ndarray, b_tlwh: np.ndarray) -> np.ndarray:
    """(N, M) IoU of ``tlwh`` boxes, TrackEval's own implementation."""
    from trackeval.datasets._base_dataset import _BaseDataset

    return _BaseDataset._calculate_box_ious(a_tlwh, b_tlwh, box_format="xywh")


def _check_unique(rows: MotRows, cam_id: str, what: str) -> None:
    if not len(rows):
        return
    pairs = np.stack([rows.frame, rows.track_id], axis=1)
    uniq, counts = np.unique(pairs, axis=0, return_counts=True)
    if (counts > 1).any():
        frame, track_id = (int(v) for v in uniq[np.flatnonzero(counts > 1)[0]])
        raise UserError(
            f"{what}: id {track_id} has more than one box in camera {cam_id} "
            f"frame {frame} (1-based); ids must be unique per frame"
        )


def identity_measures(
    gt: Mapping[str, MotRows],
    pred: Mapping[str, MotRows],
    iou_threshold: float = 0.5,
    gt_name: str = "ground truth",
    pred_name: str = "result",
) -> dict[str, float]:
    """Cross-camera IDF1/IDP/IDR/IDTP/IDFP/IDFN with one id mapping over all cameras.

    The cameras of ``gt`` are concatenated into one sequence of ``(camera, frame)`` time steps
    and TrackEval's ``Identity`` metric is run on it, so a ground-truth id is matched to one
    predicted id across all cameras.

    Args:
        gt: ``{cam_id: rows}``, 1-based frames, ``track_id`` = global person id, rows with
            ``score == 0`` ignored.
        pred: ``{cam_id: rows}``, 1-based frames, ``track_id`` = predicted global id. Cameras
            not in ``gt`` are ignored; a camera of ``gt`` missing here has no predictions.
        iou_threshold: IoU (0–1) a ground-truth/predicted box pair needs to match.
        gt_name, pred_name: how error messages name the inputs.

    Returns:
        ``{"IDF1", "IDP", "IDR"}`` fractions in [0, 1], ``{"IDTP", "IDFP", "IDFN"}`` box counts
        and ``num_gt_ids``/``num_pred_ids``, as floats.

    Raises:
        UserError: an id has two boxes in one camera frame.
    """
    from trackeval.metrics import Identity

    steps: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    gt_id_set: set[int] = set()
    pred_id_set: set[int] = set()
    for cam_id, gt_rows_all in gt.items():
        gt_rows = gt_rows_all[gt_rows_all.score != 0]
        pred_rows = pred.get(cam_id, MotRows.empty())
        _check_unique(gt_rows, cam_id, gt_name)
        _check_unique(pred_rows, cam_id, pred_name)
        gt_id_set.update(gt_rows.track_id.tolist())
        pred_id_set.update(pred_rows.track_id.tolist())
        frames = np.union1d(gt_rows.frame, pred_rows.frame)
        for frame in frames.tolist():
            g = gt_rows[gt_rows.frame == frame]
            p = pred_rows[pred_rows.frame == frame]
            steps.append((g.track_id, g.tlwh, p.track_id, p.tlwh))

    gt_ids = sorted(gt_id_set)
    pred_ids = sorted(pred_id_set)
    gt_index = {v: i for i, v in enumerate(gt_ids)}
    pred_index = {v: i for i, v in enumerate(pred_ids)}
    data: dict[str, Any] = {
        "num_timesteps": len(steps),
        "num_gt_ids": len(gt_ids),
        "num_tracker_ids": len(pred_ids),
        "num_gt_dets": int(sum(len(s[0]) for s in steps)),
        "num_tracker_dets": int(sum(len(s[2]) for s in steps)),
        "gt_ids": [np.asarray([gt_index[v] for v in s[0].tolist()], dtype=int) for s in steps],
        "tracker_ids": [np.asarray([pred_index[v] for v in s[2].tolist()], dtype=int) for s in steps],
        "similarity_scores": [_box_iou_tlwh(s[1], s[3]) for s in steps],
    }
    res = Identity({"THRESHOLD": float(iou_threshold), "PRINT_CONFIG": False}).eval_sequence(data)
    if "IDF1" not in res:  # TrackEval's early return for an empty side skips the final fields
        res = Identity._compute_final_fields(res)
    out = {key: float(res[key]) for key in ("IDF1", "IDP", "IDR", "IDTP", "IDFP", "IDFN")}
    out["num_gt_ids"] = float(len(gt_ids))
    out["num_pred_ids"] = float(len(pred_ids))
    return out


def evaluate_mtmc(
    tracks: TracksFile,
    gt: Mapping[str, MotRows],
    iou_threshold: float = 0.5,
    per_camera: bool = True,
    result_name: str = "result",
) -> MtmcResult:
    """Score a tracks file against per-camera ground truth (see the module docstring).

    Args:
        tracks: the pipeline's output.
        gt: ``{cam_id: ground-truth rows}`` (1-based frames, global person ids).
        iou_threshold: IoU (0–1) needed for a box match.
        per_camera: also compute per-camera HOTA/MOTA/IDF1 with ``evaluate_mot``.
        result_name: how error messages name ``tracks`` (usually its path).

    Raises:
        UserError: a ground-truth camera is not among ``tracks.cameras``, or an id has two boxes
            in one camera frame.
    """
    result_cams = [cam.cam_id for cam in tracks.cameras]
    for cam_id in gt:
        if cam_id not in result_cams:
            raise UserError(
                f"{result_name}: camera '{cam_id}' of --gt is not in the result "
                f"(its cameras: {', '.join(result_cams) or 'none'})"
            )
    pred = to_mot_rows(tracks)
    ids = identity_measures(gt, pred, iou_threshold, pred_name=str(result_name))
    cams: dict[str, dict[str, float]] = {}
    if per_camera:
        from pipeline.evaluation.mot import evaluate_mot

        num_frames = {cam.cam_id: cam.num_frames for cam in tracks.cameras}
        for cam_id, gt_rows in gt.items():
            metrics = evaluate_mot(gt_rows, pred.get(cam_id, MotRows.empty()), num_frames.get(cam_id))
            # evaluate_mot reports percent; MtmcResult keeps fractions.
            cams[cam_id] = {key: float(metrics[key]) / 100.0 for key in PER_CAMERA_KEYS if key in metrics}
    return MtmcResult(
        idf1=ids["IDF1"],
        idp=ids["IDP"],
        idr=ids["IDR"],
        idtp=int(ids["IDTP"]),
        idfp=int(ids["IDFP"]),
        idfn=int(ids["IDFN"]),
        num_gt_ids=int(ids["num_gt_ids"]),
        num_pred_ids=int(ids["num_pred_ids"]),
        cameras=tuple(gt),
        per_camera=cams,
        ignored_cameras=tuple(c for c in result_cams if c not in gt),
        iou_threshold=float(iou_threshold),
    )


def parse_gt_spec(spec: str) -> tuple[str, Path]:
    """``"cam_a=path/gt_a.txt"`` → ``("cam_a", Path("path/gt_a.txt"))``; UserError if malformed."""
    cam_id, sep, path = spec.partition("=")
    if not sep or not cam_id.strip() or not path.strip():
        raise UserError(f"--gt {spec!r}: expected CAM_ID=PATH, e.g. cam_a=sample_videos/gt_a.txt")
    return cam_id.strip(), Path(path.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``reid-eval mtmc`` options."""
    parser.add_argument("--result", required=True, type=Path, help="tracks.json written by reid-pipeline")
    parser.add_argument(
        "--gt",
        required=True,
        action="append",
        metavar="CAM_ID=PATH",
        help="MOTChallenge ground truth of one camera (1-based frames, global person ids); repeat per camera",
    )
    parser.add_argument("--iou", type=float, default=0.5, help="IoU a box pair needs to match (default 0.5)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--no-per-camera", action="store_true", help="skip per-camera HOTA/MOTA/IDF1")


def _pct(value: float) -> str:
    return "  n/a" if value is None or math.isnan(value) else f"{100.0 * value:5.1f}"


def format_result(result: MtmcResult) -> str:
    """The human-readable report (percentages with one decimal)."""
    lines = [
        f"MTMC identity over {len(result.cameras)} cameras ({', '.join(result.cameras)}), "
        f"IoU >= {result.iou_threshold:g}: {result.num_gt_ids} ground-truth ids, "
        f"{result.num_pred_ids} predicted global ids",
        f"  IDF1 {_pct(result.idf1)}   IDP {_pct(result.idp)}   IDR {_pct(result.idr)}   "
        f"(IDTP {result.idtp}, IDFP {result.idfp}, IDFN {result.idfn} boxes)",
    ]
    if result.per_camera:
        lines.append(f"  {'camera':<12} {'HOTA':>5} {'MOTA':>5} {'IDF1':>5}   (per camera, global ids)")
        for cam_id, metrics in result.per_camera.items():
            cells = " ".join(_pct(metrics.get(key, float("nan"))) for key in PER_CAMERA_KEYS)
            lines.append(f"  {cam_id:<12} {cells}")
    if result.ignored_cameras:
        lines.append(f"  not scored (no ground truth): {', '.join(result.ignored_cameras)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``reid-eval mtmc``; returns the exit code (UserError → 2 via ``cli_entry``)."""
    from infra.fileio import atomic_write_text, check_writable
    from infra.motchallenge import read_mot
    from pipeline.export.tracks_json import read_tracks_json

    if not 0.0 < args.iou <= 1.0:
        raise UserError(f"--iou {args.iou}: must be in (0, 1]")
    specs: Sequence[tuple[str, Path]] = [parse_gt_spec(spec) for spec in args.gt]
    seen: set[str] = set()
    for cam_id, _ in specs:
        if cam_id in seen:
            raise UserError(f"--gt: camera '{cam_id}' given twice")
        seen.add(cam_id)
    if args.json is not None:
        check_writable(args.json, overwrite=True)
    tracks = read_tracks_json(args.result)
    gt = {cam_id: read_mot(path) for cam_id, path in specs}
    result = evaluate_mtmc(
        tracks, gt, args.iou, per_camera=not args.no_per_camera, result_name=str(args.result)
    )
    print(format_result(result))
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(result.to_dict(), indent=1) + "\n")
    return 0
