"""``reid-eval mot``: single-camera MOT metrics (HOTA, MOTA, IDF1, ID switches) with TrackEval.

The metrics are TrackEval's own classes (``HOTA``, ``CLEAR``, ``Identity``) called on data
prepared here exactly as TrackEval's ``MotChallenge2DBox`` prepares MOT15: ground-truth rows
whose ``conf`` column (the "consider" flag) is 0 are dropped; predictions are kept as they are
(no distractor-class removal, which MOT15 does not have); similarity is box IoU; ids are
relabelled to be contiguous. Scores are percentages (HOTA/MOTA/IDF1 = 100 is perfect), counts
(IDSW, FP, FN) are integers.

Inputs, either
  ``--gt A/gt/gt.txt B/gt/gt.txt --pred a.txt b.txt``  (pairs, in order), or
  ``--gt-dir GT --pred-dir PRED``  (MOTChallenge layout: ``GT/<seq>/gt/gt.txt`` and
  ``PRED/<seq>.txt``; every sequence in GT needs a prediction file).
A ``seqinfo.ini`` next to a ``gt/`` folder sets the sequence length; otherwise the last frame
present in either file does.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from infra.errors import UserError

if TYPE_CHECKING:  # imported where used, so `reid-eval --help` stays fast
    from infra.motchallenge import MotRows

__all__ = ["COMBINED", "add_arguments", "evaluate_mot", "evaluate_mot_sequences", "format_table", "run"]

COMBINED = "COMBINED"
"""Key of the all-sequences row in :func:`evaluate_mot_sequences` results."""

SUMMARY_KEYS = (
    "HOTA",
    "DetA",
    "AssA",
    "MOTA",
    "MOTP",
    "IDF1",
    "IDP",
    "IDR",
    "IDSW",
    "FP",
    "FN",
    "Frag",
    "GT_IDs",
    "IDs",
)
_TRACKEVAL_NAME = {"FP": "CLR_FP", "FN": "CLR_FN"}
_PERCENT = {"HOTA", "DetA", "AssA", "MOTA", "MOTP", "IDF1", "IDP", "IDR"}


def _trackeval_data(gt: MotRows, pred: MotRows, num_frames: int | None) -> dict[str, Any]:
    """Build the per-sequence dict TrackEval's metrics expect (see ``_BaseDataset``)."""
    from trackeval.datasets._base_dataset import _BaseDataset

    gt = gt[gt.score != 0]  # MOT15: conf 0 = not to be evaluated
    for name, rows in (("gt", gt), ("pred", pred)):
        if len(rows):
            key = rows.frame * (int(rows.track_id.max()) - int(rows.track_id.min()) + 1) + rows.track_id
            if len(np.unique(key)) != len(key):
                raise ValueError(f"{name}: an id occurs more than once in one frame")
    last = max(
        [int(gt.frame.max()) if len(gt) else 0, int(pred.frame.max()) if len(pred) else 0, num_frames or 0]
    )
    gt_ids_u, gt_idx = np.unique(gt.track_id, return_inverse=True)
    pr_ids_u, pr_idx = np.unique(pred.track_id, return_inverse=True)
    data: dict[str, Any] = {
        k: []
        for k in (
            "gt_ids",
            "tracker_ids",
            "gt_dets",
            "tracker_dets",
            "tracker_confidences",
            "similarity_scores",
        )
    }
    gt_order, pr_order = np.argsort(gt.frame, kind="stable"), np.argsort(pred.frame, kind="stable")
    gt_bounds = np.searchsorted(gt.frame[gt_order], np.arange(1, last + 2))
    pr_bounds = np.searchsorted(pred.frame[pr_order], np.arange(1, last + 2))
    for t in range(last):
        g = gt_order[gt_bounds[t] : gt_bounds[t + 1]]
        p = pr_order[pr_bounds[t] : pr_bounds[t + 1]]
        data["gt_ids"].append(gt_idx[g].astype(int))
        data["tracker_ids"].append(pr_idx[p].astype(int))
        data["gt_dets"].append(gt.tlwh[g])
        data["tracker_dets"].append(pred.tlwh[p])
        data["tracker_confidences"].append(pred.score[p])
        data["similarity_scores"].append(
            _BaseDataset._calculate_box_ious(gt.tlwh[g], pred.tlwh[p], box_format="xywh")
        )
    data.update(
        num_timesteps=last,
        num_gt_ids=len(gt_ids_u),
        num_tracker_ids=len(pr_ids_u),
        num_gt_dets=len(gt),
        num_tracker_dets=len(pred),
        seq="seq",
    )
    return data


def _metrics() -> list[Any]:
    from trackeval.metrics import CLEAR, HOTA, Count, Identity

    return [HOTA(), CLEAR({"PRINT_CONFIG": False}), Identity({"PRINT_CONFIG": False}), Count()]


def _summary(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Flatten TrackEval's per-metric results into ``{name: value}`` (percent for ratios)."""
    merged: dict[str, Any] = {}
    for res in raw.values():
        merged.update(res)
    out: dict[str, float] = {}
    for key in SUMMARY_KEYS:
        value = merged.get(_TRACKEVAL_NAME.get(key, key), math.nan)
        value = float(np.mean(value)) if np.ndim(value) else float(value)  # HOTA: mean over alphas
        out[key] = 100.0 * value if key in _PERCENT else value
    return out


def _evaluate_raw(gt: MotRows, pred: MotRows, num_frames: int | None) -> dict[str, dict[str, Any]]:
    data = _trackeval_data(gt, pred, num_frames)
    return {type(m).__name__: m.eval_sequence(data) for m in _metrics()}


def evaluate_mot(gt: MotRows, pred: MotRows, num_frames: int | None = None) -> dict[str, float]:
    """HOTA, MOTA, IDF1 and friends of one sequence, computed by TrackEval.

    Args:
        gt: ground-truth rows (rows with ``score == 0`` are ignored, MOT15 convention).
        pred: tracker output rows (each id at most once per frame).
        num_frames: sequence length; frames after the last row count as empty. Default: the last
            frame present in ``gt`` or ``pred``.

    Returns:
        ``{"HOTA", "DetA", "AssA", "MOTA", "MOTP", "IDF1", "IDP", "IDR"}`` in percent (0–100; MOTA
        can be negative), and the counts ``"IDSW", "FP", "FN", "Frag", "GT_IDs", "IDs"``.

    Raises:
        ValueError: an id occurs twice in one frame of ``gt`` or ``pred``.
    """
    return _summary(_evaluate_raw(gt, pred, num_frames))


def evaluate_mot_sequences(
    sequences: Mapping[str, tuple[MotRows, MotRows, int | None]],
) -> dict[str, dict[str, float]]:
    """:func:`evaluate_mot` per sequence plus a :data:`COMBINED` entry over all of them.

    Args:
        sequences: ``{name: (gt, pred, num_frames or None)}``.

    Returns:
        ``{name: metrics, ..., "COMBINED": metrics}``; COMBINED is TrackEval's
        ``combine_sequences`` (counts summed, then scores computed), not a mean of the scores.
    """
    metrics = _metrics()
    raw_by_seq: dict[str, dict[str, dict[str, Any]]] = {}
    out: dict[str, dict[str, float]] = {}
    for name, (gt, pred, num_frames) in sequences.items():
        data = _trackeval_data(gt, pred, num_frames)
        raw_by_seq[name] = {type(m).__name__: m.eval_sequence(data) for m in metrics}
        out[name] = _summary(raw_by_seq[name])
    if raw_by_seq:
        combined = {
            type(m).__name__: m.combine_sequences({s: r[type(m).__name__] for s, r in raw_by_seq.items()})
            for m in metrics
        }
        out[COMBINED] = _summary(combined)
    return out


def format_table(
    results: Mapping[str, Mapping[str, float]],
    columns: tuple[str, ...] = ("HOTA", "MOTA", "IDF1", "IDSW", "FP", "FN"),
) -> str:
    """A plain-text table, one row per sequence (percent scores with 1 decimal, counts as integers)."""
    width = max([len("sequence"), *(len(k) for k in results)])
    lines = ["  ".join([f"{'sequence':<{width}}", *(f"{c:>7}" for c in columns)])]
    for name, metrics in results.items():
        cells = [f"{metrics[c]:7.1f}" if c in _PERCENT else f"{int(metrics[c]):7d}" for c in columns]
        lines.append("  ".join([f"{name:<{width}}", *cells]))
    return "\n".join(lines)


# ---------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``reid-eval mot`` options to ``parser``."""
    pairs = parser.add_argument_group("file pairs (in order)")
    pairs.add_argument(
        "--gt",
        nargs="+",
        type=Path,
        metavar="GT",
        help="ground-truth MOT files (e.g. SEQ/gt/gt.txt; conf 0 rows are ignored)",
    )
    pairs.add_argument(
        "--pred",
        nargs="+",
        type=Path,
        metavar="PRED",
        help="tracker output MOT files, one per --gt file, same order",
    )
    dirs = parser.add_argument_group("folders (MOTChallenge layout)")
    dirs.add_argument("--gt-dir", type=Path, help="folder with <seq>/gt/gt.txt (and <seq>/seqinfo.ini)")
    dirs.add_argument("--pred-dir", type=Path, help="folder with <seq>.txt for every <seq> of --gt-dir")


def _sequence_name(gt_path: Path) -> str:
    if gt_path.name == "gt.txt" and gt_path.parent.name == "gt":
        return gt_path.parent.parent.name
    return gt_path.stem


def _num_frames(gt_path: Path) -> int | None:
    from infra.motchallenge import read_seqinfo

    if gt_path.parent.name == "gt" and (gt_path.parent.parent / "seqinfo.ini").is_file():
        return read_seqinfo(gt_path.parent.parent / "seqinfo.ini").num_frames
    return None


def _resolve_pairs(args: argparse.Namespace) -> list[tuple[str, Path, Path]]:
    if (args.gt_dir is None) != (args.pred_dir is None):
        raise UserError("--gt-dir and --pred-dir go together")
    if args.gt_dir is not None:
        if args.gt or args.pred:
            raise UserError("give either --gt/--pred or --gt-dir/--pred-dir, not both")
        if not args.gt_dir.is_dir():
            raise UserError(f"{args.gt_dir}: --gt-dir is not a folder")
        gts = sorted(args.gt_dir.glob("*/gt/gt.txt"))
        if not gts:
            raise UserError(f"{args.gt_dir}: no <seq>/gt/gt.txt files found")
        return [(p.parent.parent.name, p, args.pred_dir / f"{p.parent.parent.name}.txt") for p in gts]
    if not args.gt or not args.pred:
        raise UserError("give --gt and --pred (or --gt-dir and --pred-dir)")
    if len(args.gt) != len(args.pred):
        raise UserError(
            f"--gt has {len(args.gt)} files but --pred has {len(args.pred)}; they pair up in order"
        )
    names = [_sequence_name(p) for p in args.gt]
    if len(set(names)) != len(names):
        names = [f"{i + 1}:{n}" for i, n in enumerate(names)]
    return list(zip(names, args.gt, args.pred, strict=True))


def _load_unique(path: Path) -> MotRows:
    from infra.motchallenge import read_mot

    rows = read_mot(path)
    if len(rows):
        pairs = np.stack([rows.frame, rows.track_id], axis=1)
        uniq, counts = np.unique(pairs, axis=0, return_counts=True)
        if (counts > 1).any():
            frame, track_id = uniq[np.argmax(counts > 1)].tolist()
            raise UserError(f"{path}: id {track_id} occurs more than once in frame {frame}")
    return rows


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table; returns the exit code (0)."""
    sequences = {}
    for name, gt_path, pred_path in _resolve_pairs(args):
        gt = _load_unique(gt_path)
        pred = _load_unique(pred_path)
        sequences[name] = (gt, pred, _num_frames(gt_path))
    results = evaluate_mot_sequences(sequences)
    print(format_table(results))
    return 0
