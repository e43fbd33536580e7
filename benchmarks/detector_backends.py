"""Detector back ends side by side on the same frames, and the golden check of the ``litert`` back end.

Speed: the frames of every camera of the input (default: the committed sample, 2 × 179 frames;
``--cams N`` copies, see ``benchmarks/speed_inputs.py``) are decoded once into memory, then each
configuration detects them step by step (one call per step with the next frame of every camera,
as the pipeline calls its detector), in interleaved rounds (``--repeat``, default 3); the median
frames/s of each is reported, decoding excluded. Configurations:

- ``litert P×T``: the ``litert`` back end with P interpreters of T threads (``detector.parallelism``
  and ``detector.threads``); the default on this machine is one interpreter per core;
- ``ultralytics (T threads)``: ``YOLO.predict`` on the same ``.tflite`` file, its TFLite
  interpreter on T threads (ultralytics' own choice is ``min(8, cores - 1)``);
- ``openvino (T threads)``: OpenVINO reading the same ``.tflite`` directly (when the ``openvino``
  package is installed), the same NumPy letterbox and NMS as ``litert``.

Golden (``--golden``): the ``litert`` and ``ultralytics`` back ends on every frame of the sample
(boxes, scores, classes and order compared bit for bit), and two whole runs of ``reid-pipeline`` on
the sample, one per back end, whose ``tracks.json`` must be byte-identical. Exit code 1 if not.

Usage (from the repo root)::

    python benchmarks/detector_backends.py [--cams 2] [--repeat 3] [--golden] [--markdown]

Results go to stdout and ``runs/bench/detector_backends.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from speed_inputs import camera_files, make_inputs  # noqa: E402

from pipeline.config import DetectorConfig  # noqa: E402
from pipeline.detections import build_detector  # noqa: E402
from pipeline.detections.litert import available_cores  # noqa: E402
from pipeline.frames import CameraSpec, Frame, open_source  # noqa: E402

WEIGHTS = ROOT / "pipeline" / "weights" / "yolov8n_int8.tflite"


def load_steps(folder: Path) -> list[list[Frame]]:
    """Every camera's frames, grouped in steps (the i-th frame of every camera)."""
    per_cam = []
    for path in camera_files(folder):
        source = open_source(CameraSpec(str(path), path.stem), 25.0)
        per_cam.append(list(source.frames()))
        source.close()
    steps = max(len(f) for f in per_cam)
    return [[f[i] for f in per_cam if i < len(f)] for i in range(steps)]


class _UltralyticsThreads:
    """``YOLO.predict`` on the bundled file with its TFLite interpreter on ``threads`` threads."""

    def __init__(self, threads: int) -> None:
        import ultralytics.nn.backends.litert as litert_backend

        before = litert_backend.NUM_THREADS  # type: ignore[attr-defined]
        litert_backend.NUM_THREADS = threads  # type: ignore[attr-defined]
        try:
            self.inner = build_detector(DetectorConfig(backend="ultralytics"), device="cpu")
        finally:
            litert_backend.NUM_THREADS = before  # type: ignore[attr-defined]

    def detect(self, frames: Sequence[Frame]) -> list[Any]:
        return self.inner.detect(frames)


class _OpenVino:
    """OpenVINO on the ``.tflite`` file (read directly), NumPy letterbox + NMS as ``litert``."""

    def __init__(self, threads: int) -> None:
        import openvino as ov

        from pipeline.detections.yolo_numpy import decode, letterbox

        core = ov.Core()
        model = core.read_model(str(WEIGHTS))
        self.compiled = core.compile_model(
            model, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
        )
        self.request = self.compiled.create_infer_request()
        self.decode, self.letterbox = decode, letterbox
        self.classes = np.asarray([0])

    def detect(self, frames: Sequence[Frame]) -> list[Any]:
        out = []
        for f in frames:
            x, box = self.letterbox(f.image_bgr, 640)
            raw = self.request.infer({0: x[None]})[0][0].copy()
            raw[:4] *= 640
            out.append(
                self.decode(raw, box, f.image_bgr.shape[:2], conf_threshold=0.25, classes=self.classes)
            )
        return out


def configurations(cores: int) -> dict[str, Callable[[], Any]]:
    """Name → constructor of each configuration measured."""
    configs: dict[str, Callable[[], Any]] = {
        f"litert {cores}x1 (default)": lambda: build_detector(DetectorConfig(), device="cpu"),
        "litert 1x1": lambda: build_detector(DetectorConfig(threads=1, parallelism=1), device="cpu"),
        f"litert 1x{cores}": lambda: build_detector(
            DetectorConfig(threads=cores, parallelism=1), device="cpu"
        ),
        f"ultralytics ({max(1, min(8, cores - 1))} thread, its default)": lambda: _UltralyticsThreads(
            max(1, min(8, cores - 1))
        ),
        f"ultralytics ({cores} threads)": lambda: _UltralyticsThreads(cores),
    }
    try:
        import openvino  # noqa: F401

        configs[f"openvino ({cores} threads)"] = lambda: _OpenVino(cores)
    except ImportError:
        pass
    return configs


def speed(folder: Path, repeat: int, max_steps: int | None = None) -> dict[str, Any]:
    """Median frames/s of each configuration over ``repeat`` rounds (the first ``max_steps`` steps)."""
    steps = load_steps(folder)[:max_steps]
    frames = sum(len(s) for s in steps)
    detectors = {name: make() for name, make in configurations(available_cores()).items()}
    for det in detectors.values():  # warm-up
        det.detect(steps[0])
    fps: dict[str, list[float]] = {name: [] for name in detectors}
    for r in range(repeat):
        for name, det in detectors.items():
            start = time.perf_counter()
            for step in steps:
                det.detect(step)
            fps[name].append(frames / (time.perf_counter() - start))
            print(f"[{r}] {name}: {fps[name][-1]:.1f} frames/s", file=sys.stderr)
    return {"frames": frames, "fps": fps, "median": {n: statistics.median(v) for n, v in fps.items()}}


def golden(work: Path) -> dict[str, Any]:
    """Detections of every sample frame and the two runs' tracks.json, litert vs ultralytics."""
    steps = load_steps(make_inputs(2, 1))
    frames = [f for step in steps for f in step]
    litert = build_detector(DetectorConfig(backend="litert"), device="cpu")
    ultra = build_detector(DetectorConfig(backend="ultralytics"), device="cpu")
    differing = 0
    boxes = 0
    for f in frames:
        (a,), (b,) = litert.detect([f]), ultra.detect([f])
        boxes += len(b)
        same = (
            a.xyxy.shape == b.xyxy.shape
            and np.array_equal(a.xyxy, b.xyxy)
            and np.array_equal(a.score, b.score)
            and np.array_equal(a.class_id, b.class_id)
        )
        differing += not same
    work.mkdir(parents=True, exist_ok=True)
    outputs = {}
    for backend in ("litert", "ultralytics"):
        config = work / f"{backend}.yaml"
        text = (ROOT / "configs" / "pipeline.yaml").read_text(encoding="utf-8")
        config.write_text(text.replace("  backend: auto ", f"  backend: {backend} ", 1), encoding="utf-8")
        out = work / f"tracks-{backend}.json"
        cmd = [sys.executable, "-c", "import sys; from pipeline.cli import main; sys.exit(main())",
               "--cams", *map(str, camera_files(make_inputs(2, 1))), "--out", str(out), "--overwrite",
               "--progress", "off", "--config", str(config)]  # fmt: skip
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"pipeline run with backend {backend} failed: {proc.stderr.strip()[-500:]}")
        outputs[backend] = out.read_bytes()
    return {
        "frames": len(frames),
        "boxes": boxes,
        "frames_differing": differing,
        "tracks_json_identical": outputs["litert"] == outputs["ultralytics"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cams", type=int, default=2, help="cameras, copies of the sample's two")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--steps", type=int, default=None, help="only the first STEPS frames of each camera")
    parser.add_argument("--golden", action="store_true", help="only the litert-vs-ultralytics golden check")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    report: dict[str, Any] = {"cores": available_cores(), "load_average_before": load_before}
    if args.golden:
        report["golden"] = result = golden(args.out / "golden")
        print(
            f"golden: {result['frames_differing']} of {result['frames']} frames differ "
            f"({result['boxes']} boxes); tracks.json identical: {result['tracks_json_identical']}"
        )
        ok = result["frames_differing"] == 0 and result["tracks_json_identical"]
    else:
        folder = make_inputs(args.cams, 1)
        report["speed"] = result = speed(folder, args.repeat, args.steps)
        rows = [(name, f"{fps:.1f}", ", ".join(f"{v:.1f}" for v in result["fps"][name]))
                for name, fps in result["median"].items()]  # fmt: skip
        head = ("back end (interpreters x threads)", "frames/s (median)", "each round")
        if args.markdown:
            print("| " + " | ".join(head) + " |\n|---|---|---|")
            print("\n".join("| " + " | ".join(r) + " |" for r in rows))
        else:
            print("\n".join(f"{a:<48} {b:>8}   {c}" for a, b, c in [head, *rows]))
        ok = True
    report["load_average_after"] = os.getloadavg()
    print(
        f"cores {report['cores']}; load average before/after: {load_before} / {report['load_average_after']}"
    )
    (args.out / "detector_backends.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
