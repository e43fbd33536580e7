"""Speed and memory of reid-pipeline against detector-only and ultralytics ``model.track()``.

Every measurement runs in its own Python subprocess (so peak RSS is that run's own, read with
``os.wait4``) on the same two videos (default: the committed ``sample_videos/`` cam_a + cam_b,
2 × 179 frames) with the same weights (bundled TFLite YOLOv8n int8, CPU):

- ``detector``: decode both videos with OpenCV and run the detector exactly as the pipeline
  configures it (``YOLO.predict``, conf 0.25, classes [0], imgsz 640, 8 frames per call), no
  tracking; the timed loop includes decoding, excludes model loading.
- ``pipeline``: ``reid-pipeline --cams cam_a.mp4 cam_b.mp4 --out …`` (default config). Its
  closing summary is parsed (``wall time: … frames/s end to end`` and ``stage time
  (frames/s): decode …, detect …, track …, tracklets …, reid …, export …``); the process wall
  time, which also counts imports and model loading, is reported too.
- ``ultralytics-bytetrack`` / ``ultralytics-botsort``: ``YOLO(weights).track(video,
  tracker=…, classes=[0])`` on each camera in turn (ultralytics' defaults otherwise); the timed
  loop includes decoding and excludes model loading.

fps = frames of both cameras / seconds. Each mode runs ``--repeat`` times (default 3) in
interleaved order; the median fps and the largest peak RSS are reported, and each ratio both as
the ratio of the medians and as the median of the per-round ratios (the runs of one round are
back to back, so they see similar load). The machine is shared, so the load average is recorded
before and after.

Usage (from the repo root)::

    python benchmarks/pipeline_speed.py [--repeat 3] [--modes detector pipeline ...] [--markdown]

Results go to stdout and ``runs/bench/speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

MODES = ("detector", "pipeline", "ultralytics-bytetrack", "ultralytics-botsort")
CAMS = ("cam_a", "cam_b")
WEIGHTS = ROOT / "pipeline" / "weights" / "yolov8n_int8.tflite"

# The pipeline's closing summary, e.g.
#   wall time: 31.7 s, 11.3 frames/s end to end on cpu
#   stage time (frames/s): decode 0.38 s (954), detect 27.74 s (13), track 0.38 s (954), ...
_E2E_LINE = re.compile(r"wall time:\s*(?P<seconds>[\d.]+)\s*s,\s*(?P<fps>[\d.]+)\s*frames/s end to end")
_STAGE_ITEM = re.compile(r"(?P<stage>[A-Za-z][\w-]*)\s+(?P<seconds>[\d.]+)\s*s\s*\((?P<fps>[\d.]+)\)")


def _worker_detector(folder: Path, batch: int) -> dict[str, Any]:
    import cv2
    import numpy as np
    from ultralytics import YOLO

    model = YOLO(str(WEIGHTS), task="detect")
    model.predict(
        [np.zeros((480, 640, 3), np.uint8)], conf=0.25, classes=[0], imgsz=640, verbose=False
    )  # warm-up
    frames = 0
    start = time.perf_counter()
    for cam in CAMS:
        cap = cv2.VideoCapture(str(folder / f"{cam}.mp4"))
        try:
            chunk: list[Any] = []
            while True:
                ok, image = cap.read()
                if ok:
                    chunk.append(image)
                if chunk and (not ok or len(chunk) == batch):
                    model.predict(chunk, conf=0.25, classes=[0], imgsz=640, verbose=False, batch=len(chunk))
                    frames += len(chunk)
                    chunk = []
                if not ok:
                    break
        finally:
            cap.release()
    seconds = time.perf_counter() - start
    return {"frames": frames, "seconds": seconds, "fps": frames / seconds}


def _worker_track(folder: Path, tracker: str) -> dict[str, Any]:
    from pipeline_accuracy import ultralytics_track

    _, info = ultralytics_track(folder, tracker)
    return {"frames": info["frames"], "seconds": info["seconds"], "fps": info["frames"] / info["seconds"]}


def parse_summary(text: str) -> dict[str, dict[str, float]]:
    """``{stage: {"seconds", "fps"}}`` from the pipeline's closing summary; ``end-to-end`` included.

    >>> parse_summary("wall time: 10.0 s, 35.8 frames/s end to end on cpu\\n"
    ...               "stage time (frames/s): decode 0.5 s (716), detect 8.0 s (44.8)")["detect"]
    {'seconds': 8.0, 'fps': 44.8}
    """
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        match = _E2E_LINE.search(line)
        if match:
            out["end-to-end"] = {"seconds": float(match["seconds"]), "fps": float(match["fps"])}
        if line.strip().startswith("stage time"):
            for item in _STAGE_ITEM.finditer(line.split(":", 1)[1]):
                out[item["stage"]] = {"seconds": float(item["seconds"]), "fps": float(item["fps"])}
    return out


def run_child(cmd: Sequence[str], log: Path) -> dict[str, Any]:
    """Run ``cmd`` with output to ``log``; returns exit code, wall seconds and peak RSS (MiB)."""
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as handle:
        proc = subprocess.Popen(list(cmd), cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    return {"returncode": proc.returncode, "wall_s": wall, "peak_rss_mib": usage.ru_maxrss / 1024.0}


def measure(
    mode: str, folder: Path, work: Path, index: int, batch: int, config: Path | None = None
) -> dict[str, Any]:
    """One run of ``mode`` in a subprocess."""
    log = work / f"{mode}-{index}.log"
    if mode == "pipeline":
        out = work / f"tracks-{index}.json"
        cmd = [
            sys.executable, "-c", "import sys; from pipeline.cli import main; sys.exit(main())",
            "--cams", str(folder / "cam_a.mp4"), str(folder / "cam_b.mp4"),
            "--out", str(out), "--overwrite", "--progress", "off",
        ]  # fmt: skip
        if config is not None:
            cmd += ["--config", str(config)]
    else:
        cmd = [sys.executable, __file__, "--worker", mode, "--videos", str(folder), "--batch", str(batch)]
    res = run_child(cmd, log)
    text = log.read_text(encoding="utf-8", errors="replace")
    res["log"] = str(log)
    if res["returncode"] != 0:
        res["error"] = text.strip().splitlines()[-1:] or ["(no output)"]
        return res
    if mode == "pipeline":
        res["stages"] = parse_summary(text)
        res["frames"] = _count_frames(folder)
    else:
        res.update(json.loads(text.strip().splitlines()[-1]))
    return res


def _count_frames(folder: Path) -> int:
    import cv2

    total = 0
    for cam in CAMS:
        cap = cv2.VideoCapture(str(folder / f"{cam}.mp4"))
        total += int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
    return total


def _machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False
        ).stdout.splitlines():
            if line.startswith("Model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "gpu": "none used"}


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Median fps and max peak RSS per mode over its successful runs."""
    out: dict[str, dict[str, Any]] = {}
    for mode, results in runs.items():
        ok = [r for r in results if r["returncode"] == 0]
        if not ok:
            out[mode] = {"failed": True, "error": results[-1].get("error") if results else None}
            continue
        entry: dict[str, Any] = {
            "runs": len(ok),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in ok),
            "wall_s": statistics.median(r["wall_s"] for r in ok),
            "frames": ok[0].get("frames"),
        }
        if mode == "pipeline":
            stages: dict[str, list[float]] = {}
            for r in ok:
                for stage, figures in r.get("stages", {}).items():
                    stages.setdefault(stage, []).append(figures["fps"])
            entry["stages_fps"] = {s: statistics.median(v) for s, v in stages.items()}
            entry["process_fps"] = entry["frames"] / entry["wall_s"] if entry["frames"] else None
        else:
            entry["fps"] = statistics.median(r["fps"] for r in ok)
        out[mode] = entry
    # Paired ratios: pipeline e2e fps ÷ the other mode's fps *in the same round* (the runs of one
    # round are back to back, so they share the machine's load more closely than medians do).
    pipe_runs = runs.get("pipeline", [])
    for mode, results in runs.items():
        if mode == "pipeline" or mode not in out or out[mode].get("failed"):
            continue
        paired = [
            p["stages"]["end-to-end"]["fps"] / r["fps"]
            for p, r in zip(pipe_runs, results, strict=False)
            if p["returncode"] == 0 and r["returncode"] == 0 and "end-to-end" in p.get("stages", {})
        ]
        if paired:
            out[mode]["paired_ratios"] = paired
            out[mode]["paired_ratio_median"] = statistics.median(paired)
    return out


def format_summary(summary: dict[str, dict[str, Any]], markdown: bool) -> str:
    """Two tables: fps and peak RSS per mode and pipeline stage; end-to-end fps ratios with targets."""
    rows: list[list[str]] = []
    pipe = summary.get("pipeline", {})
    e2e = None
    if pipe and not pipe.get("failed"):
        stages = dict(pipe.get("stages_fps", {}))
        e2e = stages.pop("end-to-end", None)
        if e2e is not None:
            rows.append(["pipeline end to end (its summary)", f"{e2e:.1f}", f"{pipe['peak_rss_mib']:.0f}"])
        if pipe.get("process_fps"):
            rows.append(["pipeline whole process, incl. start-up", f"{pipe['process_fps']:.1f}", ""])
        for stage, fps in stages.items():
            rows.append([f"pipeline stage: {stage}", f"{fps:.1f}", ""])
    base: dict[str, float] = {}
    for mode, label in (
        ("detector", "detector only (decode + YOLO predict)"),
        ("ultralytics-bytetrack", "ultralytics model.track ByteTrack"),
        ("ultralytics-botsort", "ultralytics model.track BoT-SORT"),
    ):
        entry = summary.get(mode)
        if entry and not entry.get("failed"):
            base[mode] = entry["fps"]
            rows.append([label, f"{entry['fps']:.1f}", f"{entry['peak_rss_mib']:.0f}"])
    ratios = []
    for mode, target in (("detector", 0.85), ("ultralytics-bytetrack", 1.0), ("ultralytics-botsort", 1.0)):
        if e2e is not None and mode in base:
            value = e2e / base[mode]
            paired = summary[mode].get("paired_ratios", [])
            median = summary[mode].get("paired_ratio_median")
            shown = f"{median:.2f} ({', '.join(f'{v:.2f}' for v in paired)})" if paired else "n/a"
            verdict = "met" if (median if median is not None else value) >= target else "not met"
            ratios.append([f"pipeline e2e ÷ {mode}", f"{value:.2f}", shown, f"≥ {target:.2f}", verdict])
    head = ["ratio", "of medians", "median of paired rounds (each round)", "target", ""]
    return (
        _table(["what", "fps (frames of both cameras / s)", "peak RSS MiB"], rows, markdown)
        + "\n\n"
        + _table(head, ratios, markdown)
    )


def _table(head: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), *(fmt.format(*r) for r in rows)])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``--worker``, one measurement); returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--videos", type=Path, default=ROOT / "sample_videos", help="folder with cam_a/cam_b.mp4"
    )
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode (median fps)")
    parser.add_argument(
        "--batch", type=int, default=8, help="detector-only frames per predict call (default 8)"
    )
    parser.add_argument(
        "--e2e-stage",
        default="end-to-end",
        help="the pipeline summary's end-to-end line (default 'end-to-end')",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "runs" / "bench", help="output folder (git-ignored)"
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="pipeline config (default: the shipped one)"
    )
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--worker", choices=[m for m in MODES if m != "pipeline"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        if args.worker == "detector":
            res = _worker_detector(args.videos, args.batch)
        else:
            res = _worker_track(args.videos, args.worker.split("-", 1)[1] + ".yaml")
        print(json.dumps(res))
        return 0

    work = args.out / "speed"
    work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in args.modes}
    for index in range(args.repeat):
        for mode in args.modes:
            res = measure(mode, args.videos, work, index, args.batch, args.config)
            runs[mode].append(res)
            status = "ok" if res["returncode"] == 0 else f"exit {res['returncode']}: {res.get('error')}"
            fps = f", {res['fps']:.1f} fps" if "fps" in res else ""
            wall, rss = res["wall_s"], res["peak_rss_mib"]
            print(
                f"[{index}] {mode}: {status}, wall {wall:.1f} s, peak RSS {rss:.0f} MiB{fps}", file=sys.stderr
            )
    summary = summarise(runs)
    report = {
        "machine": _machine(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "videos": str(args.videos),
        "pipeline_config": None if args.config is None else str(args.config),
        "summary": summary,
        "runs": runs,
    }
    (args.out / "speed.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"machine: {report['machine']}; load average before/after: {load_before} / {os.getloadavg()}")
    print(format_summary(summary, args.markdown))
    return 0 if all(not s.get("failed") for s in summary.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
