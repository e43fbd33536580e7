"""Cross-camera accuracy of reid-pipeline on two-camera splits of MOT15 sequences.

Splits (made by ``tools/make_two_camera_sample.py``; all 640×480 at 25 fps, cam_b with gain 1.35,
tint 0.8/1.0/1.15 and noise σ 2, seed 0):

- ``sample``: the committed ``sample_videos/`` (TUD-Stadtmitte, views [0, 360) and [400, 640));
- ``stadtmitte-400-440``: TUD-Stadtmitte, views [0, 400) and [440, 640);
- ``campus-320-360``: TUD-Campus (71 frames), views [0, 320) and [360, 640).

The last two are written under ``runs/bench/splits/`` (git-ignored) from ``../shared/data``.

Methods, each scored with ``reid-eval mtmc`` (cross-camera IDF1/IDP/IDR, one identity mapping
over both cameras, IoU ≥ 0.5) and per-camera HOTA/MOTA/IDF1 (TrackEval):

- ``pipeline``: ``reid-pipeline --cams cam_a.mp4 cam_b.mp4`` with the default config (CPU,
  bundled TFLite YOLOv8n int8, SORT, bundled re-ID weights);
- ``pipeline, no linking``: the same run's ``tracks.json`` with every tracklet made its own
  identity: what ``association.enabled: false`` outputs (same tracklets; no re-run, so the
  detector is not run twice on a shared CPU);
- ``ultralytics ByteTrack`` / ``ultralytics BoT-SORT``: ``YOLO(weights).track(video,
  tracker="bytetrack.yaml" | "botsort.yaml", classes=[0])`` per camera, with the same TFLite
  weights and ultralytics' own defaults otherwise (conf 0.1 in track mode, imgsz 640); the
  cameras are not linked, so each camera's ids are distinct global ids;
- ``ground truth, not linked`` (reference): the ground truth itself with each (camera, person)
  its own identity: the best MTMC IDF1 any method without cross-camera linking can reach.

Besides the identity measures, cross-camera links are counted at tracklet level: each tracklet
gets the ground-truth person most of its boxes overlap (IoU ≥ 0.5); a *link* is a pair of
tracklets in different cameras with the same predicted identity, *correct* when both have the
same person, and *possible* counts the pairs a perfect linker would make.

Usage (from the repo root)::

    python benchmarks/pipeline_accuracy.py [--splits sample campus-320-360] [--methods ...] [--markdown]

Results go to stdout and ``runs/bench/accuracy.json``; each run's ``tracks.json`` and log stay
under ``runs/bench/<split>/``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra.motchallenge import MotRows, read_mot  # noqa: E402
from pipeline.evaluation.mtmc import MtmcResult, evaluate_mtmc  # noqa: E402
from pipeline.export.tracks_json import read_tracks_json, write_tracks_json  # noqa: E402
from pipeline.records import (  # noqa: E402
    BoxRecord,
    CameraRecord,
    IdentityRecord,
    TrackletRecord,
    TracksFile,
)

DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_WEIGHTS = ROOT / "pipeline" / "weights" / "yolov8n_int8.tflite"
CAMS = ("cam_a", "cam_b")
FPS = 25.0


@dataclass(frozen=True, slots=True)
class Split:
    """A two-camera split: its folder holds cam_a.mp4, cam_b.mp4, gt_a.txt, gt_b.txt."""

    name: str
    sequence: str | None  # MOT15 sequence to cut it from; None = committed, already there
    columns: tuple[int, int]


SPLITS: dict[str, Split] = {
    "sample": Split("sample", None, (360, 400)),
    "stadtmitte-400-440": Split("stadtmitte-400-440", "TUD-Stadtmitte", (400, 440)),
    "campus-320-360": Split("campus-320-360", "TUD-Campus", (320, 360)),
}
METHODS = ("pipeline", "pipeline-nolink", "ultralytics-bytetrack", "ultralytics-botsort", "gt-nolink")
LABELS = {
    "pipeline": "pipeline (default config)",
    "pipeline-nolink": "pipeline, no cross-camera linking",
    "ultralytics-bytetrack": "ultralytics model.track ByteTrack",
    "ultralytics-botsort": "ultralytics model.track BoT-SORT",
    "gt-nolink": "ground truth, not linked (ceiling)",
}


def split_dir(split: Split, out_dir: Path, data_dir: Path) -> Path:
    """The split's folder, made with tools/make_two_camera_sample.py if needed."""
    if split.sequence is None:
        return ROOT / "sample_videos"
    folder = out_dir / "splits" / split.name
    if not (folder / "gt_b.txt").is_file():
        sys.path.insert(0, str(ROOT / "tools"))
        from make_two_camera_sample import make_sample

        make_sample(data_dir / "mot15" / split.sequence, folder, split.columns)
    return folder


def load_gt(folder: Path) -> dict[str, MotRows]:
    """``{cam_a: rows, cam_b: rows}`` of a split folder."""
    return {cam: read_mot(folder / f"gt_{cam[-1]}.txt") for cam in CAMS}


def camera_records(folder: Path) -> tuple[CameraRecord, ...]:
    """Camera records (size and frame count read with OpenCV, fps 25 as in seqinfo.ini)."""
    import cv2

    records = []
    for cam in CAMS:
        cap = cv2.VideoCapture(str(folder / f"{cam}.mp4"))
        try:
            size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
            frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            cap.release()
        records.append(CameraRecord(cam, f"{cam}.mp4", FPS, size[0], size[1], frames))
    return tuple(records)


def unlink(tracks: TracksFile) -> TracksFile:
    """Every tracklet its own identity (what ``association.enabled: false`` produces)."""
    tracklets = sorted(
        (t for identity in tracks.identities for t in identity.tracklets),
        key=lambda t: (t.cam_id, t.track_id),
    )
    identities = tuple(IdentityRecord(n, (t,)) for n, t in enumerate(tracklets, start=1))
    return TracksFile(tracks.cameras, identities, tracks.schema_version)


def per_camera_tracks(
    cameras: Sequence[CameraRecord], boxes: dict[tuple[str, int], list[BoxRecord]]
) -> TracksFile:
    """A tracks file whose global ids are the per-camera track ids made distinct across cameras."""
    identities = []
    for gid, ((cam, track_id), recs) in enumerate(sorted(boxes.items()), start=1):
        recs = sorted(recs, key=lambda b: b.frame)
        tracklet = TrackletRecord(
            cam, track_id, recs[0].frame, recs[-1].frame, recs[0].time_s, recs[-1].time_s, tuple(recs)
        )
        identities.append(IdentityRecord(gid, (tracklet,)))
    return TracksFile(tuple(cameras), tuple(identities))


def gt_tracks(folder: Path, link: bool) -> TracksFile:
    """The ground truth as a result (``link=False``: each (camera, person) its own identity)."""
    boxes: dict[tuple[str, int], list[BoxRecord]] = {}
    for cam, rows in load_gt(folder).items():
        for f, i, (x, y, w, h) in zip(
            rows.frame.tolist(), rows.track_id.tolist(), rows.tlwh.tolist(), strict=True
        ):
            boxes.setdefault((cam, i), []).append(BoxRecord(f - 1, (f - 1) / FPS, (x, y, x + w, y + h), 1.0))
    tracks = per_camera_tracks(camera_records(folder), boxes)
    if not link:
        return tracks
    by_person: dict[int, list[TrackletRecord]] = {}
    for identity in tracks.identities:
        for t in identity.tracklets:
            by_person.setdefault(t.track_id, []).append(t)
    return TracksFile(
        tracks.cameras, tuple(IdentityRecord(p, tuple(ts)) for p, ts in sorted(by_person.items()))
    )


def ultralytics_track(
    folder: Path, tracker: str, weights: Path = DEFAULT_WEIGHTS, frame_limit: int | None = None
) -> tuple[TracksFile, dict[str, Any]]:
    """Run ``YOLO(weights).track()`` on each camera of ``folder``; returns tracks and timing.

    Args:
        folder: split folder with cam_a.mp4 and cam_b.mp4.
        tracker: ``"bytetrack.yaml"`` or ``"botsort.yaml"``.
        weights: ultralytics model file (default: the bundled TFLite YOLOv8n int8).
        frame_limit: stop after this many frames per camera (None = all).

    Returns:
        ``(tracks, {"frames", "seconds", "load_s"})``: total frames, time inside the track loops
        (the first frame, i.e. warm-up, included) and the time to construct the first camera's
        model (a new model per camera resets the tracker; one load is what a user pays).
    """
    from ultralytics import YOLO

    boxes: dict[tuple[str, int], list[BoxRecord]] = {}
    frames = 0
    seconds = 0.0
    load_s = None
    for cam in CAMS:
        t_load = time.perf_counter()
        model = YOLO(str(weights), task="detect")
        load_s = time.perf_counter() - t_load if load_s is None else load_s
        start = time.perf_counter()
        results = model.track(source=str(folder / f"{cam}.mp4"), stream=True, tracker=tracker, classes=[0],
                              imgsz=640, verbose=False, persist=True)  # fmt: skip
        for index, result in enumerate(results):
            frames += 1
            if result.boxes is not None and result.boxes.id is not None:
                xyxy = result.boxes.xyxy.cpu().numpy().tolist()
                ids = result.boxes.id.cpu().numpy().astype(int).tolist()
                conf = result.boxes.conf.cpu().numpy().tolist()
                for box, tid, score in zip(xyxy, ids, conf, strict=True):
                    rec = BoxRecord(index, index / FPS, tuple(box), min(max(float(score), 0.0), 1.0))
                    boxes.setdefault((cam, tid), []).append(rec)
            if frame_limit is not None and index + 1 >= frame_limit:
                break
        seconds += time.perf_counter() - start
    timing = {"frames": frames, "seconds": seconds, "load_s": load_s or 0.0}
    return per_camera_tracks(camera_records(folder), boxes), timing


def run_pipeline(cams: Sequence[Path], out: Path, log: Path, extra: Sequence[str] = ()) -> dict[str, Any]:
    """Run ``reid-pipeline`` in a subprocess; returns ``{"returncode", "wall_s", "log"}``.

    stdout and stderr go to ``log``; the command is ``python -c 'pipeline.cli.main()'`` so no
    installed console script is needed.
    """
    cmd = [
        sys.executable, "-c", "import sys; from pipeline.cli import main; sys.exit(main())",
        "--cams", *map(str, cams), "--out", str(out), "--overwrite", "--progress", "off", *extra,
    ]  # fmt: skip
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as handle:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, check=False)
    return {"returncode": proc.returncode, "wall_s": time.perf_counter() - start, "log": str(log)}


def tracklet_person(tracklet: TrackletRecord, gt: MotRows, iou_threshold: float = 0.5) -> int | None:
    """The ground-truth person most of the tracklet's boxes overlap (IoU ≥ threshold), or None."""
    import numpy as np

    from pipeline.records import json_frame_to_mot

    votes: dict[int, int] = {}
    for box in tracklet.boxes:
        rows = gt[gt.frame == json_frame_to_mot(box.frame)]
        if not len(rows):
            continue
        g = rows.to_xyxy()
        b = np.asarray(box.xyxy, dtype=np.float64)
        inter_w = np.clip(np.minimum(g[:, 2], b[2]) - np.maximum(g[:, 0], b[0]), 0, None)
        inter_h = np.clip(np.minimum(g[:, 3], b[3]) - np.maximum(g[:, 1], b[1]), 0, None)
        inter = inter_w * inter_h
        union = (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        iou = inter / np.maximum(union, 1e-9)
        best = int(np.argmax(iou))
        if iou[best] >= iou_threshold:
            person = int(rows.track_id[best])
            votes[person] = votes.get(person, 0) + 1
    return max(votes, key=lambda k: votes[k]) if votes else None


def link_counts(tracks: TracksFile, gt: dict[str, MotRows]) -> dict[str, int]:
    """Cross-camera links at tracklet level.

    Each tracklet is labelled with its majority ground-truth person. ``links``: pairs of tracklets
    in different cameras that share a predicted identity; ``ok``/``correct``: those whose two tracklets
    have the same (known) person; ``possible``: pairs of tracklets in different cameras that have
    the same person (what a perfect linker would join).
    """
    labelled = [
        (identity.global_id, t.cam_id, tracklet_person(t, gt[t.cam_id]) if t.cam_id in gt else None)
        for identity in tracks.identities
        for t in identity.tracklets
    ]
    links = correct = possible = 0
    for i, (gid_i, cam_i, person_i) in enumerate(labelled):
        for gid_j, cam_j, person_j in labelled[i + 1 :]:
            if cam_i == cam_j:
                continue
            same_person = person_i is not None and person_i == person_j
            possible += same_person
            if gid_i == gid_j:
                links += 1
                correct += same_person
    return {"links": links, "correct": correct, "possible": possible}


def score(tracks: TracksFile, gt: dict[str, MotRows]) -> dict[str, Any]:
    """MTMC and per-camera figures of ``tracks`` as a plain dict (fractions), plus link counts."""
    result: MtmcResult = evaluate_mtmc(tracks, gt)
    return {**result.to_dict(), "cross_camera_links": link_counts(tracks, gt)}


def _pct(value: float) -> str:
    return f"{100.0 * value:.1f}"


def _label(row: dict[str, Any]) -> str:
    """The method's name; a pipeline run with ``--config`` names its config file."""
    config = row.get("config")
    if config and row["method"].startswith("pipeline"):
        return LABELS[row["method"]].replace("default config", f"config {Path(config).name}")
    return str(LABELS[row["method"]])


def format_rows(rows: Sequence[dict[str, Any]], markdown: bool) -> str:
    """The result table: one row per (split, method)."""
    head = ["split", "method", "MTMC IDF1", "IDP", "IDR", "pred ids / gt ids", "links ok/made/possible",
            "IDF1 a / b", "HOTA a / b", "MOTA a / b"]  # fmt: skip
    lines = []
    for row in rows:
        r = row["result"]
        pc = r["per_camera"]
        lines.append([
            row["split"], _label(row), _pct(r["idf1"]), _pct(r["idp"]), _pct(r["idr"]),
            f"{r['num_pred_ids']} / {r['num_gt_ids']}",
            "{correct} / {links} / {possible}".format(**r["cross_camera_links"]),
            " / ".join(_pct(pc[c]["IDF1"]) for c in CAMS),
            " / ".join(_pct(pc[c]["HOTA"]) for c in CAMS),
            " / ".join(_pct(pc[c]["MOTA"]) for c in CAMS),
        ])  # fmt: skip
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), *(fmt.format(*line) for line in lines)])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit code (1 if a pipeline run failed)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", nargs="+", choices=list(SPLITS), default=list(SPLITS))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="../shared/data (for the extra splits)"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "runs" / "bench", help="output folder (git-ignored)"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="re-score existing tracks files of earlier runs instead of re-running",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="pipeline config (default: the shipped one)"
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument(
        "--report",
        action="store_true",
        help="only print the table of the selected splits/methods from accuracy.json",
    )
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "accuracy.json"
    previous = json.loads(results_path.read_text(encoding="utf-8")) if results_path.is_file() else {}
    if args.report:
        keys = [f"{s}/{m}" for s in args.splits for m in args.methods]
        print(format_rows([previous[k] for k in keys if k in previous], args.markdown))
        return 0
    rows: list[dict[str, Any]] = []
    failed = False
    for name in args.splits:
        folder = split_dir(SPLITS[name], args.out, args.data)
        gt = load_gt(folder)
        work = args.out / name
        work.mkdir(parents=True, exist_ok=True)
        linked_json = work / "tracks.json"
        for method in args.methods:
            info: dict[str, Any] = {}
            if method in ("pipeline", "pipeline-nolink"):
                if not linked_json.is_file() or (method == "pipeline" and not args.reuse):
                    extra = [] if args.config is None else ["--config", str(args.config)]
                    info = run_pipeline([folder / "cam_a.mp4", folder / "cam_b.mp4"], linked_json,
                                        work / "pipeline.log", extra)  # fmt: skip
                    print(
                        f"{name}: pipeline exit {info['returncode']} in {info['wall_s']:.1f} s",
                        file=sys.stderr,
                    )
                    if info["returncode"] != 0:
                        failed = True
                        continue
                tracks = read_tracks_json(linked_json)
                if method == "pipeline-nolink":
                    tracks = unlink(tracks)
                    write_tracks_json(work / "tracks_nolink.json", tracks)
            elif method.startswith("ultralytics"):
                saved = work / f"tracks_{method}.json"
                if args.reuse and saved.is_file():
                    tracks = read_tracks_json(saved)
                    info = previous.get(f"{name}/{method}", {}).get("run", {})
                else:
                    tracker = "bytetrack.yaml" if method.endswith("bytetrack") else "botsort.yaml"
                    tracks, info = ultralytics_track(folder, tracker)
                    write_tracks_json(saved, tracks)
                    print(
                        f"{name}: {method} {info['frames']} frames in {info['seconds']:.1f} s",
                        file=sys.stderr,
                    )
            else:
                tracks = gt_tracks(folder, link=False)
            row = {"split": name, "method": method, "result": score(tracks, gt), "run": info}
            if args.config is not None and method.startswith("pipeline"):
                row["config"] = str(args.config)
            rows.append(row)
            previous[f"{name}/{method}"] = row
    results_path.write_text(json.dumps(previous, indent=1) + "\n", encoding="utf-8")
    print(format_rows(rows, args.markdown))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
