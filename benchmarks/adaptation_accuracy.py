"""Self-supervised adaptation, measured: MTMC IDF1 and link precision before and after, per split.

For each two-camera split of ``benchmarks/pipeline_accuracy.py`` (``sample``,
``stadtmitte-400-440``, ``campus-320-360``):

1. **before**: ``reid-pipeline --cams cam_a.mp4 cam_b.mp4`` with the shipped re-ID weights
   (default config: bundled TFLite YOLOv8n int8, SORT, online association);
2. **adapt**: ``reid-train --config configs/reid/adapt.yaml --adapt before.json`` — the split's
   videos and the *pipeline's own* tracklets only; the ground truth is never read;
3. **after**: the same pipeline run with ``--reid-weights adapted.safetensors``;

then both runs are scored against the split's ground truth as in ``pipeline_accuracy.py``
(``reid-eval mtmc`` IDF1 over both cameras, tracklet-level cross-camera links: correct / made /
possible, link precision = correct / made).

The splits are views of the sequence they are cut from, so "adapt on a split, score on it" is
the intended use: the user adapts to the cameras they then run on, without labels.

``--cuts tuning|test`` does the same on every cut of ``benchmarks/association_accuracy.py`` with
that role (two- and three-camera cuts, tints, a late camera): per cut, the pipeline's own tracks
of the cut's videos → ``reid-train --adapt`` → weights used **for that cut only**, then scored by
``association_accuracy.py --weights-per-cut`` with ground-truth and YOLO boxes, ``online`` and
``offline``. Both the adapted weights as written (score alignment folded in when the recipe has
``adapt.align_scores``) and the same weights with the alignment undone (``unaligned``) are scored,
so one adaptation per cut compares both. Compare with ``association_accuracy.py --role ROLE``
(shipped weights).

Usage (from the repo root)::

    python benchmarks/adaptation_accuracy.py [--splits sample ...] [--steps 100] [--threads 2] [--markdown]
    python benchmarks/adaptation_accuracy.py --cuts tuning|test [--steps 100] [--threads 1]

Outputs under ``runs/bench/adapt/<split>/`` (git-ignored); the table on stdout and in
``runs/bench/adapt/adaptation.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from pipeline_accuracy import CAMS, DEFAULT_DATA, SPLITS, load_gt, run_pipeline, score, split_dir  # noqa: E402

from infra.fileio import atomic_write_text  # noqa: E402
from pipeline.export.tracks_json import read_tracks_json  # noqa: E402


def _adapt(tracks: Path, out: Path, steps: int, threads: int, log: Path, config: Path) -> dict[str, Any]:
    cmd = [
        sys.executable, "-c", "import sys; from reid_core.train_cli import main; sys.exit(main())",
        "--config", str(config), "--adapt", str(tracks),
        "--out", str(out), "--steps", str(steps), "--progress", "lines",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as handle:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, check=False, env=env)
    return {"returncode": proc.returncode, "wall_s": time.perf_counter() - start, "log": str(log)}


def _unaligned_copy(aligned: Path, out: Path) -> bool:
    """Write ``aligned``'s weights with their folded score alignment undone; False when it has none.

    The alignment scaled the head's last ``Linear(·, 2)`` by ``scale`` and added ``shift`` to the
    "same" logit's bias (``reid_core.training.alignment.fold_into_head``); this inverts it.
    """
    from reid_core.weights import load_weights, save_weights

    tensors, meta = load_weights(aligned)
    fit = meta.get("score_alignment")
    if not fit:
        return False
    outputs = [k for k, v in tensors.items() if k.startswith("head.metric.") and v.ndim and v.shape[0] == 2]
    last = max((k for k in outputs if k.endswith(".weight")), key=lambda k: int(k.split(".")[2]))
    bias = last.removesuffix("weight") + "bias"
    w, b = tensors[last].double(), tensors[bias].double().clone()
    b[1] -= fit["shift"]
    tensors[last] = (w / fit["scale"]).to(tensors[last].dtype)
    tensors[bias] = (b / fit["scale"]).to(tensors[bias].dtype)
    meta = {**meta, "score_alignment": None, "description": f"{aligned.name} with its score alignment undone"}
    save_weights(out, tensors, meta)
    return True


def _adapt_cuts(args: argparse.Namespace) -> int:
    """``--cuts ROLE``: adapt on each cut's own footage, then score every cut with its own weights."""
    import association_accuracy as assoc

    root = args.out / "adapt-cuts"
    cut_videos = args.out / "assoc"  # the cut videos and detections association_accuracy.py makes
    cuts = [c for c in assoc.CUTS.values() if c.role == args.cuts]
    for cut in cuts:
        folder = assoc.cut_folder(cut, args.data, cut_videos)
        work = root / cut.name
        work.mkdir(parents=True, exist_ok=True)
        before = work / "before.json"
        if not before.is_file():
            run = run_pipeline([folder / f"{c}.mp4" for c in cut.cams], before, work / "before.log")
            if run["returncode"]:
                print(f"{cut.name}: pipeline failed, see {run['log']}", file=sys.stderr)
                return 1
        run_dir = work / args.tag
        info = _adapt(before, run_dir, args.steps, args.threads, work / f"{args.tag}.log", args.config)
        if info["returncode"]:
            print(f"{cut.name}: adaptation failed, see {info['log']}", file=sys.stderr)
            return 1
        undone = _unaligned_copy(run_dir / "adapted.safetensors", run_dir / "unaligned.safetensors")
        note = "" if undone else " (no alignment to undo)"
        print(f"{cut.name}: adapted in {info['wall_s']:.0f} s{note}", flush=True)
    code = 0
    for name in ("adapted", "unaligned"):
        if not all((root / c.name / args.tag / f"{name}.safetensors").is_file() for c in cuts):
            continue
        out = root / f"assoc-{args.tag}-{name}"
        out.mkdir(parents=True, exist_ok=True)
        for shared in ("cuts", "detections"):
            (cut_videos / shared).mkdir(parents=True, exist_ok=True)
            if not (out / shared).exists():
                (out / shared).symlink_to((cut_videos / shared).resolve(), target_is_directory=True)
        print(f"# weights: {name}", flush=True)
        code |= assoc.main([
            "--role", args.cuts, "--boxes", "gt", "yolo", "--methods", "online", "offline",
            "--weights-per-cut", str(root / "{cut}" / args.tag / f"{name}.safetensors"), "--out", str(out),
            *(["--markdown"] if args.markdown else []),
        ])  # fmt: skip
    return code


def _row(split: str, stage: str, result: dict[str, Any]) -> list[str]:
    links = result["cross_camera_links"]
    precision = f"{100.0 * links['correct'] / links['links']:.0f}" if links["links"] else "-"
    return [
        split,
        stage,
        f"{100.0 * result['idf1']:.1f}",
        f"{result['num_pred_ids']} / {result['num_gt_ids']}",
        "{correct} / {links} / {possible}".format(**links),
        precision,
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns 1 if a pipeline or adaptation run failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", nargs="+", choices=list(SPLITS), default=list(SPLITS))
    parser.add_argument("--steps", type=int, default=100, help="adaptation steps (default 100)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the adaptation (default 2)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="../shared/data")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench")
    parser.add_argument(
        "--config", type=Path, default=ROOT / "configs" / "reid" / "adapt.yaml", help="adaptation recipe"
    )
    parser.add_argument("--tag", default="run", help="sub-folder of the adaptation run (default run)")
    parser.add_argument(
        "--cuts",
        choices=("tuning", "test"),
        default=None,
        help="adapt on every association_accuracy.py cut of this role instead of --splits (see above)",
    )
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    if args.cuts:
        return _adapt_cuts(args)
    rows: list[list[str]] = []
    record: list[dict[str, Any]] = []
    for name in args.splits:
        folder = split_dir(SPLITS[name], args.out, args.data)
        work = args.out / "adapt" / name
        work.mkdir(parents=True, exist_ok=True)
        cams = [folder / f"{cam}.mp4" for cam in CAMS]
        gt = load_gt(folder)
        before = work / "before.json"
        if not before.is_file():
            run = run_pipeline(cams, before, work / "before.log")
            if run["returncode"]:
                print(f"{name}: pipeline failed, see {run['log']}", file=sys.stderr)
                return 1
        adapted = work / args.tag / "adapted.safetensors"
        info = _adapt(
            before, work / args.tag, args.steps, args.threads, work / f"{args.tag}.log", args.config
        )
        if info["returncode"]:
            print(f"{name}: adaptation failed, see {info['log']}", file=sys.stderr)
            return 1
        after = work / f"after-{args.tag}.json"
        run = run_pipeline(cams, after, work / f"after-{args.tag}.log", ["--reid-weights", str(adapted)])
        if run["returncode"]:
            print(f"{name}: pipeline with adapted weights failed, see {run['log']}", file=sys.stderr)
            return 1
        res_before = score(read_tracks_json(before), gt)
        res_after = score(read_tracks_json(after), gt)
        rows += [_row(name, "shipped weights", res_before), _row(name, "adapted", res_after)]
        record.append(
            {"split": name, "steps": args.steps, "config": str(args.config), "tag": args.tag,
             "adapt_wall_s": round(info["wall_s"], 1),
             "before": res_before, "after": res_after}
        )  # fmt: skip
        print(
            " | ".join(rows[-2]),
            "\n" + " | ".join(rows[-1]),
            f"(adaptation {info['wall_s']:.0f} s)",
            flush=True,
        )
    head = [
        "split",
        "re-ID weights",
        "MTMC IDF1",
        "pred ids / gt ids",
        "links ok / made / possible",
        "link P %",
    ]
    if args.markdown:
        print("| " + " | ".join(head) + " |\n" + "|---" * len(head) + "|")
        print("\n".join("| " + " | ".join(r) + " |" for r in rows))
    else:
        print("\n".join("  ".join(r) for r in [head, *rows]))
    atomic_write_text(args.out / "adapt" / f"adaptation-{args.tag}.json", json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
