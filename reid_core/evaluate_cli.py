"""``reid-eval cmc``: CMC rank-1/5/10/20 and mAP of a Siamese model on a labelled re-ID data set.

Usage::

    reid-eval cmc --dataset cuhk01 --root ../shared/data/reid/cuhk01 [--weights W.safetensors]
                  [--trials 1] [--seed 0] [--num-test-ids N] [--shortlist-k K] [--tta flip]
                  [--camera-norm auto] [--device auto]
    reid-eval cmc --split-file split.json [--root DATA_ROOT] ...

Each trial draws the data set's protocol split with :func:`reid_core.data.splits.load_split`
(``seed``, ``trial`` = 0..N-1), ranks its gallery for every query with the pair head (or the
embedding shortlist re-ranked by the pair head) and computes CMC / mAP with
:func:`reid_core.evaluate.cmc_map`. By default every pair is scored as seen and mirrored
(:class:`reid_core.tta.FlipAveraged`; ``--tta none`` scores it once, as the pipeline
does). With ``--camera-norm`` (default ``auto``: on unless the weights were trained on this data
set) each camera's images are encoded with the trunk's BatchNorm statistics measured on that
camera's test images (:mod:`reid_core.camera_norm`). Output on stdout, percentages averaged over trials::

    rank-1   45.0
    rank-5   71.0
    rank-10  80.0
    rank-20  90.0
    rank1=45.0 rank5=71.0 rank10=80.0 rank20=90.0 mAP=55.3

A summary of the run (data, queries, weights, time) goes to stderr. A bad root, an empty data
set or an unknown name is one ``error:`` line and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.errors import DatasetError, UserError

if TYPE_CHECKING:
    from reid_core.evaluate import CMCResult, Matcher

__all__ = [
    "CAMERA_NORM_MODES",
    "RANKS",
    "add_arguments",
    "format_result",
    "run",
    "trained_on",
    "training_overlap_warning",
]

#: The CMC ranks printed, 1-based.
RANKS = (1, 5, 10, 20)
#: ``--camera-norm`` choices.
CAMERA_NORM_MODES = ("auto", "on", "off")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``cmc`` options to ``parser``."""
    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset", metavar="NAME", help="registered data set: cuhk01, cuhk03, viper, market1501, folder"
    )
    data.add_argument(
        "--root", metavar="DIR", type=Path, help="data set folder (with --split-file: data root override)"
    )
    data.add_argument(
        "--split-file",
        metavar="F",
        type=Path,
        help="evaluate this saved split (JSON from reid_core.data.splits.save_split) instead of drawing one",
    )
    data.add_argument(
        "--trials", type=int, default=1, metavar="N", help="random splits averaged (default 1; VIPeR: 10)"
    )
    data.add_argument("--seed", type=int, default=0, metavar="S", help="base seed of the splits (default 0)")
    data.add_argument(
        "--num-test-ids",
        type=int,
        default=None,
        metavar="N",
        help="test identities (default: the protocol's)",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--weights",
        type=Path,
        metavar="PATH",
        help="weights .safetensors (default: the shipped CMC weights, siamese_mobilenet_v2_full)",
    )
    model.add_argument("--device", default="auto", metavar="D", help="auto (default), cpu, cuda or cuda:N")
    model.add_argument(
        "--shortlist-k",
        type=int,
        default=None,
        metavar="K",
        help="re-rank only the top K by embedding cosine with the pair head (default: pair head over all)",
    )
    model.add_argument(
        "--tta",
        choices=("flip", "none"),
        default="flip",
        help="test-time augmentation: flip (default) scores each pair as seen and mirrored, mean "
        "log-odds (trunk and head run twice); none scores it once, as the pipeline does",
    )
    model.add_argument(
        "--camera-norm",
        choices=CAMERA_NORM_MODES,
        default="auto",
        help="re-estimate the trunk's BatchNorm statistics per camera from that camera's test images "
        "(reid_core.camera_norm; no labels): on, off, or auto (default) = on unless the weights were "
        "trained on this data set (whose cameras their statistics already fit) or cannot (not torch)",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--pair-scores",
        type=Path,
        metavar="F.npz",
        default=None,
        help="also write the pair head's P(same) of every query x gallery pair (all trials) to F.npz: "
        "arrays scores (float) and same (bool), for calibration; prints positives vs negatives, "
        "ROC AUC and calibration error (the scores of the ranking: add --tta none for the pipeline's)",
    )


def run(args: argparse.Namespace) -> int:
    """Evaluate as asked by ``args`` (from :func:`add_arguments`), print the figures; return 0.

    Raises:
        UserError: bad options; DatasetError: bad data; WeightsError: bad weights.
    """
    if args.trials < 1:
        raise UserError(f"--trials must be >= 1, got {args.trials}")
    if args.shortlist_k is not None and args.shortlist_k < 1:
        raise UserError(f"--shortlist-k must be >= 1, got {args.shortlist_k}")
    if args.split_file is not None and args.trials != 1:
        raise UserError("--trials does not apply to --split-file (one saved split = one trial)")
    if args.split_file is None and (args.dataset is None or args.root is None):
        raise UserError("give --dataset NAME and --root DIR (or --split-file F)")

    if args.pair_scores is not None and not args.pair_scores.parent.is_dir():
        raise UserError(f"{args.pair_scores}: folder {args.pair_scores.parent} does not exist")

    from reid_core.data.splits import load_split, read_split

    if args.split_file is not None:
        splits = [read_split(args.split_file, root=args.root)]
        source = str(args.split_file)
    else:
        splits = [
            load_split(args.dataset, args.root, seed=args.seed, trial=t, num_test_ids=args.num_test_ids)
            for t in range(args.trials)
        ]
        source = f"{args.dataset} at {args.root}"

    from reid_core.shipped import CMC_WEIGHTS

    weights = args.weights or CMC_WEIGHTS
    matcher = _load_matcher(weights, args.device)
    if args.split_file is None:
        warning = training_overlap_warning(getattr(matcher, "meta", {}), args.dataset, args.root, splits)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    seen = args.split_file is None and trained_on(getattr(matcher, "meta", {}), args.dataset, args.root)
    able = callable(getattr(matcher, "renormalised", None))
    per_camera = args.camera_norm == "on" or (args.camera_norm == "auto" and able and not seen)
    start = time.perf_counter()
    matchers = [_split_matcher(matcher, split, args.tta, per_camera) for split in splits]
    results = [
        _evaluate(m, split, args.shortlist_k, source) for m, split in zip(matchers, splits, strict=True)
    ]
    elapsed = time.perf_counter() - start
    ranking = f"shortlist k={args.shortlist_k}" if args.shortlist_k else "full pair ranking"
    print(
        f"cmc: {source}: {len(splits)} trial(s), {len(splits[0].query)} queries, "
        f"{len(splits[0].gallery)} gallery, weights {weights}, {ranking}, tta {args.tta}, "
        f"camera norm {'on' if per_camera else 'off'}, {elapsed:.1f} s",
        file=sys.stderr,
    )
    print(format_result(results))
    if args.pair_scores is not None:
        _write_pair_scores(matchers, splits, args.pair_scores)
    return 0


def _split_matcher(matcher: Any, split: Any, tta: str, per_camera: bool) -> Any:
    """The matcher for one split: with ``tta``; per camera, renormalised on the split's test images."""
    from reid_core.tta import with_tta

    if not per_camera:
        return with_tta(matcher, tta)
    if not callable(getattr(matcher, "renormalised", None)):
        raise UserError("--camera-norm on needs weights run by torch (reid_core.inference.Matcher)")
    from reid_core.camera_norm import camera_normalised

    images = [(it.image_path, it.camera_id) for it in (*split.query, *split.gallery)]
    return camera_normalised(matcher, images, lambda m: with_tta(m, tta))


def _write_pair_scores(matchers: list[Any], splits: list[Any], path: Path) -> None:
    """Write every (query, gallery) pair's score and truth to ``path`` (npz, atomic); print a summary."""
    import io

    import numpy as np

    from infra.fileio import atomic_write_bytes
    from reid_core.evaluate import calibration_summary, pair_scores

    parts = [pair_scores(m, split) for m, split in zip(matchers, splits, strict=True)]
    scores = np.concatenate([p[0] for p in parts])
    same = np.concatenate([p[1] for p in parts])
    buffer = io.BytesIO()
    np.savez(buffer, scores=scores, same=same)
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as err:
        raise UserError(f"{path}: cannot write pair scores ({err.strerror})") from None
    c = calibration_summary(scores, same)
    print(
        f"pairs: {int(c['positives'])} positive (mean P {c['pos_mean']:.3f}), {int(c['negatives'])} negative "
        f"(mean P {c['neg_mean']:.3f}); AUC {c['auc']:.3f}; ECE {c['ece']:.3f} "
        f"(balanced {c['ece_balanced']:.3f}); Brier {c['brier']:.4f}; written to {path}"
    )


def format_result(results: list[CMCResult]) -> str:
    """The stdout block: one line per rank in :data:`RANKS`, then ``rank1=… … mAP=…``.

    Figures are percentages with one decimal, averaged over ``results`` (the trials).
    """
    import numpy as np

    cmc = np.mean([r.cmc for r in results], axis=0) * 100
    m_ap = float(np.mean([r.mAP for r in results])) * 100
    lines = [f"rank-{k:<3d} {cmc[k - 1]:5.1f}" for k in RANKS]
    lines.append(" ".join(f"rank{k}={cmc[k - 1]:.1f}" for k in RANKS) + f" mAP={m_ap:.1f}")
    return "\n".join(lines)


def trained_on(meta: Any, dataset: str | None, root: Path | None) -> bool:
    """Whether the weights description ``meta`` names ``dataset`` among its training data.

    A named data set (``cuhk01``, ``cuhk03``, …) is recognised by its name wherever it lies (its
    cameras are the same); the generic ``folder`` layout only at the same folder (``root``).
    """
    if dataset is None or not isinstance(meta, dict) or not isinstance(meta.get("train_data"), list):
        return False
    here = Path(root).resolve() if root is not None else None

    def same(d: Any) -> bool:
        if not isinstance(d, dict) or d.get("name") != dataset:
            return False
        return dataset != "folder" or (here is not None and Path(str(d.get("root", ""))).resolve() == here)

    return any(same(d) for d in meta["train_data"])


def training_overlap_warning(meta: Any, dataset: str, root: Path, splits: list[Any]) -> str | None:
    """A warning if the test identities of ``splits`` were training identities of the weights.

    The weights description (``meta``) names its training data (``train_data``: name + root)
    and ``split_seed``. When ``dataset`` at ``root`` is one of them, the training split is
    redrawn (``load_split(dataset, root, seed=split_seed)``) and its train identities compared
    with the test identities evaluated here, e.g. CUHK01 with another ``--seed``/``--trials``.

    Returns:
        The warning text, or ``None`` (no overlap, or the weights do not say how they were trained).
    """
    from reid_core.data.splits import load_split

    if not trained_on(meta, dataset, root):
        return None
    seed = int(meta.get("split_seed", 0))
    try:
        train_ids = {it.person_id for it in load_split(dataset, root, seed=seed).train}
    except UserError:  # e.g. a data set too small for the default protocol: nothing to compare
        return None
    test_ids = {it.person_id for split in splits for it in split.query}
    overlap = len(test_ids & train_ids)
    if not overlap:
        return None
    return (
        f"{overlap} of the {len(test_ids)} test identities evaluated were training identities of these "
        f"weights ({dataset} split seed {seed}): the figures are optimistic; use --seed {seed} --trials 1"
    )


def _load_matcher(weights: Path | None, device: str) -> Matcher:
    """The model engineer's loader (imported here: torch is heavy); tests replace this function."""
    from reid_core.inference import load_matcher

    return load_matcher(weights=weights, device=device)


def _evaluate(matcher: Any, split: Any, shortlist_k: int | None, source: str) -> CMCResult:
    from reid_core.evaluate import evaluate_split

    try:
        return evaluate_split(matcher, split, shortlist_k=shortlist_k)
    except ValueError as err:  # empty query/gallery or no cross-camera match: the data's fault
        raise DatasetError(f"{source}: {err}") from None
