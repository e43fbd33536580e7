"""Two versions of reid-pipeline on the association benchmark's cuts, each through its own CLI.

The association benchmark (``association_accuracy.py``) scores the *current* code's stages in
process. To say how far a release moved against an older one (issue 9's "MTMC IDF1 at least 8 points
above today's pipeline" compares with the pipeline of round 1), both must run the way a user runs
them: ``reid-pipeline --cams …`` with each version's own default config, detector, tracker, re-ID
weights and association, then be scored by one scorer. This script does that:

- a **baseline** version is a checkout of an older commit, e.g. round 1's last commit::

      git worktree add /tmp/r1 6bd158e

  and runs as ``python -c 'from pipeline.cli import main; …'`` with that folder as the working
  directory (its packages shadow the installed ones; it must run on this environment's libraries);
- the **current** version is this repository;
- each runs on every cut of ``--role`` (the cut videos and ground truth of
  ``association_accuracy.py``, made on first use under ``--out/cuts``), once with its own YOLO
  detector and once with the ground-truth boxes replayed (``--detections-dir``, which both
  versions read): tracking and association errors apart from detection errors;
- the tracks files (schema 1 or 2; the current reader reads both) are scored by
  ``pipeline_accuracy.score``: MTMC IDF1 (TrackEval), per-camera IDF1, identities against people,
  and tracklet-level cross-camera links (correct / made / possible). An identity holding two
  tracklets of one camera that overlap in time (one person in two places, which round 1's linker
  could make) cannot be scored as it is; :func:`split_conflicts` moves the shorter tracklet to
  an identity of its own first (the count is reported: ``conflicts_split``). That is the
  baseline's most favourable reading of such a merge.

The cuts' roles are ``association_accuracy.py``'s: nothing here is tuned. Usage (repo root)::

    python benchmarks/pipeline_versions.py --baseline /tmp/r1 [--role test] [--boxes gt yolo] [--markdown]

Outputs under ``runs/bench/versions/`` (git-ignored); the table on stdout and in
``runs/bench/versions/versions-<role>.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from association_accuracy import BOXES, CUTS, DEFAULT_DATA, _write_gt_detections, cut_folder, load_gt  # noqa: E402
from pipeline_accuracy import score  # noqa: E402

from infra.fileio import atomic_write_text  # noqa: E402
from pipeline.export.tracks_json import read_tracks_json  # noqa: E402

DEFAULT_OUT = ROOT / "runs" / "bench" / "versions"


def run_version(root: Path, cams: Sequence[Path], out: Path, det_dir: Path | None) -> dict[str, Any]:
    """``reid-pipeline`` of the checkout at ``root`` on ``cams``; its log next to ``out``."""
    cmd = [
        sys.executable, "-c", "import sys; from pipeline.cli import main; sys.exit(main())",
        "--cams", *map(str, cams), "--out", str(out), "--overwrite",
    ]  # fmt: skip
    if det_dir is not None:
        cmd += ["--detections-dir", str(det_dir)]
    log = out.with_suffix(".log")
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as handle:
        proc = subprocess.run(cmd, cwd=root, stdout=handle, stderr=subprocess.STDOUT, check=False)
    return {"returncode": proc.returncode, "wall_s": round(time.perf_counter() - start, 1), "log": str(log)}


def evaluate(
    version: str, root: Path, cut_name: str, boxes: str, data: Path, out: Path, reuse: bool = False
) -> dict[str, Any]:
    """One version on one cut with one kind of boxes: the run (``reuse``: an existing tracks
    file instead) and its scores."""
    cut = CUTS[cut_name]
    folder = cut_folder(cut, data, out)
    det_dir = None
    if boxes == "gt":
        det_dir = out / "gt-detections" / cut.name
        _write_gt_detections(cut, folder, det_dir)
    result = out / version / cut.name / f"{boxes}.json"
    result.parent.mkdir(parents=True, exist_ok=True)
    if reuse and result.is_file():
        run: dict[str, Any] = {"returncode": 0, "wall_s": None, "log": str(result.with_suffix(".log"))}
    else:
        run = run_version(root, [folder / f"{cam}.mp4" for cam in cut.cams], result, det_dir)
    row: dict[str, Any] = {"version": version, "cut": cut.name, "boxes": boxes, **run}
    if run["returncode"] != 0:
        print(f"{version} {cut.name} {boxes}: exit {run['returncode']} (see {run['log']})", file=sys.stderr)
        return row
    tracks, row["conflicts_split"] = split_conflicts(read_tracks_json(result))
    row.update(score(tracks, load_gt(cut, folder)))
    return row


def split_conflicts(tracks: Any) -> tuple[Any, int]:
    """``tracks`` with every identity's same-camera tracklets that overlap in frames split off.

    Per identity, tracklets are kept longest first unless one of the kept ones of the same camera
    shares a frame with it; each one not kept becomes its own identity (new global id).
    Returns the tracks and the number of tracklets split off.
    """
    import dataclasses

    identities, extra = [], []
    next_id = max((i.global_id for i in tracks.identities), default=0) + 1
    for identity in tracks.identities:
        kept: list[Any] = []
        for t in sorted(identity.tracklets, key=lambda t: t.end_frame - t.start_frame, reverse=True):
            clash = any(
                k.cam_id == t.cam_id and k.start_frame <= t.end_frame and t.start_frame <= k.end_frame
                for k in kept
            )
            if clash:
                extra.append(dataclasses.replace(identity, global_id=next_id, tracklets=(t,)))
                next_id += 1
            else:
                kept.append(t)
        order = {id(t): n for n, t in enumerate(identity.tracklets)}
        kept.sort(key=lambda t: order[id(t)])
        identities.append(dataclasses.replace(identity, tracklets=tuple(kept)))
    return dataclasses.replace(tracks, identities=tuple(identities + extra)), len(extra)


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Means over cuts (MTMC IDF1, per-camera IDF1) and pooled link counts, in percent."""
    ok = [r for r in rows if r["returncode"] == 0]
    links = {k: sum(r["cross_camera_links"][k] for r in ok) for k in ("links", "correct", "possible")}
    per_camera = [cam["IDF1"] for r in ok for cam in r["per_camera"].values()]
    return {
        "cuts": len(ok),
        "failed": len(rows) - len(ok),
        "mtmc_idf1": 100 * sum(r["idf1"] for r in ok) / max(1, len(ok)),
        "per_camera_idf1": 100 * sum(per_camera) / max(1, len(per_camera)),
        "pred_ids": sum(r["num_pred_ids"] for r in ok),
        "gt_ids": sum(r["num_gt_ids"] for r in ok),
        "link_precision": 100 * links["correct"] / max(1, links["links"]),
        "link_recall": 100 * links["correct"] / max(1, links["possible"]),
        "conflicts_split": sum(r["conflicts_split"] for r in ok),
        **links,
    }


def format_table(table: dict[str, dict[str, dict[str, float]]], markdown: bool) -> str:
    head = [
        "boxes", "version", "MTMC IDF1", "per-camera IDF1", "ids / people", "links ok / made / possible",
        "tracklets split off",
    ]  # fmt: skip
    lines = []
    for boxes, by_version in table.items():
        for version, s in by_version.items():
            lines.append(
                [
                    boxes,
                    version,
                    f"{s['mtmc_idf1']:.1f}",
                    f"{s['per_camera_idf1']:.1f}",
                    f"{s['pred_ids']} / {s['gt_ids']}",
                    f"{s['correct']} / {s['links']} / {s['possible']}",
                    str(s["conflicts_split"]),
                ]
            )
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(out + ["| " + " | ".join(line) + " |" for line in lines])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)]
    return "\n".join(
        "  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)) for row in [head, *lines]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--baseline", type=Path, required=True, help="checkout of the older version")
    parser.add_argument("--baseline-name", default="baseline")
    parser.add_argument("--role", choices=("tuning", "test"), default="test")
    parser.add_argument("--boxes", nargs="+", choices=BOXES, default=list(BOXES))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="score tracks files already under --out")
    args = parser.parse_args(argv)
    if not (args.baseline / "pipeline" / "cli.py").is_file():
        parser.error(f"{args.baseline}: not a reid-pipeline checkout (no pipeline/cli.py)")
    versions = {args.baseline_name: args.baseline.resolve(), "current": ROOT}
    cuts = [name for name, cut in CUTS.items() if cut.role == args.role]
    rows = [
        evaluate(version, root, cut, boxes, args.data, args.out, args.reuse)
        for boxes in args.boxes
        for version, root in versions.items()
        for cut in cuts
    ]
    for r in rows:
        if r["returncode"] == 0:
            print(
                f"{r['version']:>10} {r['boxes']:>4} {r['cut']:<26} MTMC IDF1 {100 * r['idf1']:.1f}  "
                f"ids {r['num_pred_ids']}/{r['num_gt_ids']}  {r['wall_s']} s",
                file=sys.stderr,
            )
    table = {
        boxes: {v: summary([r for r in rows if r["version"] == v and r["boxes"] == boxes]) for v in versions}
        for boxes in args.boxes
    }
    print(format_table(table, args.markdown))
    atomic_write_text(
        args.out / f"versions-{args.role}.json",
        json.dumps(
            {"versions": {k: str(v) for k, v in versions.items()}, "summary": table, "rows": rows}, indent=1
        )
        + "\n",
    )
    return 0 if all(r["returncode"] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
