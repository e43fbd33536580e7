"""Speed and memory of reid-pipeline against its own detector-only baseline and ultralytics ``model.track()``.

Every measurement runs in its own Python subprocess (so peak RSS is that run's own, read with
``os.wait4``) on the same input: by default the committed ``sample_videos/`` (cam_a + cam_b,
2 × 179 frames of 640×360); ``--cams N`` uses N cameras and ``--longer K`` K times the length,
built from the sample by ``benchmarks/speed_inputs.py`` (cached under ``runs/bench/inputs/``).
Same weights everywhere (bundled TFLite YOLOv8n int8, CPU):

- ``detector``: the pipeline's own detector back end exactly as the default config builds it
  (``litert``: one interpreter per core), one call per step with the next frame of every
  camera, frames decoded with OpenCV in the same loop, no tracking: the baseline the pipeline
  must keep (target: pipeline ≥ 0.9 × this). ``detector-ultralytics``: the same with
  ``detector.backend: ultralytics`` (``YOLO.predict``), for reference.
- ``pipeline``: ``reid-pipeline --cams <every camera> --out …`` (default config, or
  ``--config``). Its closing summary is parsed (``wall time: … frames/s end to end``, ``stage
  time …``); the process wall time, which also counts imports and model loading, too.
- ``ultralytics-bytetrack`` / ``ultralytics-botsort``: ``YOLO(weights).track(video,
  tracker=…, classes=[0])`` on each camera in turn, ultralytics' defaults otherwise (its TFLite
  back end then runs on ``min(8, cores - 1)`` threads: 1 on a 2-core machine).
  ``ultralytics-bytetrack-allcores``: the same with its TFLite interpreter on every core
  (``NUM_THREADS`` patched), so the pipeline's lead is more than a thread setting.

fps = frames of all cameras / seconds, at three boundaries:

- *models loaded → done*: from the start of model loading to the end of the work (the
  pipeline's own ``wall time`` line; for the others importing ultralytics + model construction
  + warm-up + the frame loop).
- *whole process*: frames ÷ the subprocess's wall time (interpreter start, imports, loading).
  **The targets are judged here** (what a user waits for).
- *frame loop*: the others' frame loop alone; for the pipeline, its per-stage figures.

Each mode runs ``--repeat`` times (default 3) in interleaved rounds; the median fps and the
largest peak RSS are reported, and each ratio as the median of the per-round ratios (the runs
of one round are back to back, so they see similar load). The machine may be shared: the load
average is recorded before and after.

Usage (from the repo root)::

    python benchmarks/pipeline_speed.py [--cams 4] [--longer 5] [--repeat 3] [--modes ...] [--markdown]

Results go to stdout and ``runs/bench/speed.json`` (``--tag`` names it ``speed-<tag>.json``).
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

from speed_inputs import camera_files  # noqa: E402

MODES = (
    "detector",
    "detector-ultralytics",
    "pipeline",
    "ultralytics-bytetrack",
    "ultralytics-bytetrack-allcores",
    "ultralytics-botsort",
)
DEFAULT_MODES = ("detector", "pipeline", "ultralytics-bytetrack", "ultralytics-bytetrack-allcores")
WEIGHTS = ROOT / "pipeline" / "weights" / "yolov8n_int8.tflite"

# The pipeline's closing summary, e.g.
#   wall time: 31.7 s, 11.3 frames/s end to end on cpu
#   stage time (frames/s): decode 0.38 s (954), detect 27.74 s (13), track 0.38 s (954), ...
_E2E_LINE = re.compile(r"wall time:\s*(?P<seconds>[\d.]+)\s*s,\s*(?P<fps>[\d.]+)\s*frames/s end to end")
_STAGE_ITEM = re.compile(r"(?P<stage>[A-Za-z][\w-]*)\s+(?P<seconds>[\d.]+)\s*s\s*\((?P<fps>[\d.]+)\)")


def _worker_detector(folder: Path, backend: str) -> dict[str, Any]:
    """Decode every camera in step and detect each step's frames in one call, as the pipeline does."""
    t_load = time.perf_counter()  # the pipeline's wall time also counts importing and loading
    import cv2

    from pipeline.config import DetectorConfig
    from pipeline.detections import build_detector
    from pipeline.frames import Frame

    detector = build_detector(DetectorConfig(backend=backend), device="cpu")
    load_s = time.perf_counter() - t_load
    caps = {p.stem: cv2.VideoCapture(str(p)) for p in camera_files(folder)}
    frames = 0
    start = time.perf_counter()
    index = 0
    try:
        while caps:
            step = []
            for cam, cap in list(caps.items()):
                ok, image = cap.read()
                if ok:
                    step.append(Frame(cam, index, index / 25.0, image))
                else:
                    cap.release()
                    del caps[cam]
            if step:
                detector.detect(step)
                frames += len(step)
            index += 1
    finally:
        for cap in caps.values():
            cap.release()
    seconds = time.perf_counter() - start
    return {"frames": frames, "seconds": seconds, "fps": frames / seconds, "load_s": load_s,
            "fps_incl_load": frames / (seconds + load_s), "backend": detector.describe()}  # fmt: skip


def _worker_track(folder: Path, tracker: str, all_cores: bool) -> dict[str, Any]:
    """``YOLO(weights).track()`` on each camera in turn (one model load counted, as a user pays once)."""
    t_load = time.perf_counter()  # the pipeline's wall time also counts importing ultralytics
    from ultralytics import YOLO

    threads = None
    if all_cores:
        import ultralytics.nn.backends.litert as litert_backend

        litert_backend.NUM_THREADS = threads = len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    load_s = None
    frames, seconds = 0, 0.0
    for path in camera_files(folder):
        model = YOLO(str(WEIGHTS), task="detect")  # a new model per camera resets the tracker
        load_s = time.perf_counter() - t_load if load_s is None else load_s
        start = time.perf_counter()
        for _ in model.track(source=str(path), stream=True, tracker=tracker, classes=[0], imgsz=640,
                             verbose=False, persist=True):  # fmt: skip
            frames += 1
        seconds += time.perf_counter() - start
    load_s = load_s or 0.0
    return {"frames": frames, "seconds": seconds, "fps": frames / seconds, "load_s": load_s,
            "fps_incl_load": frames / (seconds + load_s), "threads": threads}  # fmt: skip


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


def measure(mode: str, folder: Path, work: Path, index: int, config: Path | None = None) -> dict[str, Any]:
    """One run of ``mode`` in a subprocess."""
    log = work / f"{mode}-{index}.log"
    if mode == "pipeline":
        out = work / f"tracks-{index}.json"
        cmd = [
            sys.executable, "-c", "import sys; from pipeline.cli import main; sys.exit(main())",
            "--cams", *map(str, camera_files(folder)),
            "--out", str(out), "--overwrite", "--progress", "off",
        ]  # fmt: skip
        if config is not None:
            cmd += ["--config", str(config)]
    else:
        cmd = [sys.executable, __file__, "--worker", mode, "--videos", str(folder)]
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
    for path in camera_files(folder):
        cap = cv2.VideoCapture(str(path))
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


def _fps(mode: str, run: dict[str, Any], boundary: str) -> float | None:
    """One run's fps at a measurement ``boundary``.

    ``loaded``: from the start of model loading to the end of the work (the pipeline's own
    ``wall time``, which counts "models loaded to outputs written"; for the others, model
    construction + warm-up + the loop). ``process``: frames ÷ the subprocess's wall time
    (interpreter start, imports, loading, work, exit). ``loop``: the frame loop only (not
    available for the pipeline).
    """
    if run["returncode"] != 0:
        return None
    if boundary == "process":
        return run["frames"] / run["wall_s"] if run.get("frames") else None
    if mode == "pipeline":
        e2e = run.get("stages", {}).get("end-to-end")
        return e2e["fps"] if e2e and boundary == "loaded" else None
    return run.get("fps_incl_load") if boundary == "loaded" else run.get("fps")


BOUNDARIES = ("loaded", "process", "loop")
# pipeline ÷ mode, whole process: the targets (None: reported, no target)
TARGETS: dict[str, float | None] = {
    "detector": 0.9,
    "detector-ultralytics": None,
    "ultralytics-bytetrack": 1.5,
    "ultralytics-bytetrack-allcores": 1.1,
    "ultralytics-botsort": None,
}


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per mode: median fps at each boundary, max peak RSS; pipeline stages; paired ratios."""
    out: dict[str, dict[str, Any]] = {}
    for mode, results in runs.items():
        ok = [r for r in results if r["returncode"] == 0]
        if not ok:
            out[mode] = {"failed": True, "error": results[-1].get("error") if results else None}
            continue
        entry: dict[str, Any] = {
            "runs": len(ok),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in ok),
            "frames": ok[0].get("frames"),
        }
        for boundary in BOUNDARIES:
            values = [v for r in ok if (v := _fps(mode, r, boundary)) is not None]
            entry[f"fps_{boundary}"] = statistics.median(values) if values else None
        if mode == "pipeline":
            stages: dict[str, list[float]] = {}
            for r in ok:
                for stage, figures in r.get("stages", {}).items():
                    stages.setdefault(stage, []).append(figures["fps"])
            entry["stages_fps"] = {s: statistics.median(v) for s, v in stages.items()}
        out[mode] = entry
    # Paired ratios: pipeline fps ÷ the other mode's fps *in the same round* (the runs of one round
    # are back to back, so they share the machine's load more closely than medians do).
    pipe_runs = runs.get("pipeline", [])
    for mode, results in runs.items():
        if mode == "pipeline" or mode not in out or out[mode].get("failed"):
            continue
        for boundary in ("loaded", "process"):
            paired = []
            for p, r in zip(pipe_runs, results, strict=False):
                fp, fr = _fps("pipeline", p, boundary), _fps(mode, r, boundary)
                if fp is not None and fr:
                    paired.append(fp / fr)
            if paired:
                out[mode][f"paired_{boundary}"] = paired
                out[mode][f"paired_{boundary}_median"] = statistics.median(paired)
    return out


def _f(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def format_summary(summary: dict[str, dict[str, Any]], markdown: bool) -> str:
    """Two tables: fps per mode and pipeline stage with peak RSS; pipeline ÷ others with targets."""
    labels = {
        "pipeline": "reid-pipeline",
        "detector": "its detector alone (same back end and threads)",
        "detector-ultralytics": "detector alone, ultralytics back end (YOLO.predict)",
        "ultralytics-bytetrack": "ultralytics model.track ByteTrack (its default threads)",
        "ultralytics-bytetrack-allcores": "ultralytics model.track ByteTrack, TFLite on every core",
        "ultralytics-botsort": "ultralytics model.track BoT-SORT (its default threads)",
    }
    rows: list[list[str]] = []
    for mode in MODES:
        entry = summary.get(mode)
        if not entry or entry.get("failed"):
            continue
        rows.append([labels[mode], _f(entry["fps_loaded"]), _f(entry["fps_process"]), _f(entry["fps_loop"]),
                     f"{entry['peak_rss_mib']:.0f}"])  # fmt: skip
        if mode == "pipeline":
            for stage, fps in entry.get("stages_fps", {}).items():
                if stage != "end-to-end":
                    rows.append([f"  pipeline stage: {stage}", "", "", _f(fps), ""])
    ratios = []
    for mode, target in TARGETS.items():
        entry = summary.get(mode, {})
        if not entry:
            continue
        cells = []
        for boundary in ("loaded", "process"):
            paired = entry.get(f"paired_{boundary}", [])
            median = entry.get(f"paired_{boundary}_median")
            cells.append(f"{median:.2f} ({', '.join(f'{v:.2f}' for v in paired)})" if paired else "n/a")
        main_value = entry.get("paired_process_median")
        verdict = (
            "" if main_value is None or target is None else ("met" if main_value >= target else "not met")
        )
        goal = "" if target is None else f"≥ {target:.2f}"
        ratios.append([f"pipeline ÷ {labels.get(mode, mode)}", *cells, goal, verdict])
    head = [
        "what",
        "fps, models loaded → done",
        "fps, whole process",
        "fps, frame loop / stage",
        "peak RSS MiB",
    ]
    ratio_head = ["ratio (median of paired rounds; each round)", "models loaded → done", "whole process",
                  "target", "(whole process)"]  # fmt: skip
    return _table(head, rows, markdown) + "\n\n" + _table(ratio_head, ratios, markdown)


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
    parser.add_argument("--cams", type=int, default=2, help="cameras, copies of the sample's two (default 2)")
    parser.add_argument("--longer", type=int, default=1, help="times the sample's length (default 1)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(DEFAULT_MODES))
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode (median fps)")
    parser.add_argument("--tag", default="", help="results go to speed-<tag>.json")
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
    parser.add_argument(
        "--pool",
        nargs="+",
        type=Path,
        metavar="SPEED_JSON",
        help="only print the summary of the rounds of these earlier speed.json files together",
    )
    parser.add_argument("--worker", choices=[m for m in MODES if m != "pipeline"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        if args.worker.startswith("detector"):
            res = _worker_detector(
                args.videos, "ultralytics" if args.worker.endswith("ultralytics") else "auto"
            )
        else:
            tracker = args.worker.split("-")[1] + ".yaml"
            res = _worker_track(args.videos, tracker, all_cores=args.worker.endswith("allcores"))
        print(json.dumps(res))
        return 0

    if args.pool:
        pooled: dict[str, list[dict[str, Any]]] = {}
        for path in args.pool:
            for mode, results in json.loads(path.read_text(encoding="utf-8"))["runs"].items():
                pooled.setdefault(mode, []).extend(results)
        print(format_summary(summarise(pooled), args.markdown))
        return 0

    from speed_inputs import make_inputs

    if args.cams != 2 or args.longer != 1:
        args.videos = make_inputs(args.cams, args.longer)
    work = args.out / ("speed" + (f"-{args.tag}" if args.tag else ""))
    work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in args.modes}
    for index in range(args.repeat):
        for mode in args.modes:
            res = measure(mode, args.videos, work, index, args.config)
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
        "cameras": len(camera_files(args.videos)),
        "pipeline_config": None if args.config is None else str(args.config),
        "summary": summary,
        "runs": runs,
    }
    (args.out / ("speed" + (f"-{args.tag}" if args.tag else "") + ".json")).write_text(
        json.dumps(report, indent=1) + "\n", encoding="utf-8"
    )
    print(f"machine: {report['machine']}; load average before/after: {load_before} / {os.getloadavg()}")
    print(format_summary(summary, args.markdown))
    return 0 if all(not s.get("failed") for s in summary.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
