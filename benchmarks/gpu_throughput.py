"""The GPU path in one run: how many 1080p cameras one GPU sustains with the default stages.

One command on the GPU machine::

    python benchmarks/gpu_throughput.py --cams 32

1. builds N synthetic cameras of 1920×1080 at 25 fps from the committed sample
   (``benchmarks/speed_inputs.py``: copies of cam_a/cam_b with their own ids, scaled, played
   ``--longer`` times back and forth; cached under ``runs/bench/inputs/``);
2. runs ``reid-pipeline`` on all of them in one process with a batch-capable detector on the GPU:
   ``detector.backend: ultralytics``, ``batch_frames`` = N (the due frames of every camera in
   **one** forward), ``fp16``, ``runtime.device`` = the GPU, the default tracker, tracklets and
   re-ID (crops of the tracklets that close together encoded in one batch on the GPU);
3. samples the GPU every 0.5 s meanwhile (``pynvml`` when installed, else ``nvidia-smi``):
   utilisation and memory;
4. prints frames/s, **cameras × fps sustained** (frames/s ÷ 25 = cameras kept in real time),
   GPU utilisation (mean, max), GPU memory (max), peak RSS, and the pipeline's stage table; the
   same goes to ``runs/bench/gpu_throughput.json``.

The detector: the bundled YOLOv8n from its torch copy, ``pipeline/weights/yolov8n_int8.safetensors``
(the TFLite file's trained weights, so boxes, tracks and re-ID crops are those of a real run), or
``--weights`` (a ``.pt``, ``.onnx`` or TensorRT ``.engine`` that ultralytics loads). Decoding is
OpenCV on the CPU (``runtime`` has no hardware decoder yet): at many 1080p cameras the CPU
decode may be the limit, which the stage table shows (``decode`` frames/s, summed over reader
threads).

On a machine without a GPU the same script runs on the CPU (``--device cpu``, tiny ``--cams``
and ``--size``), which is how it is tested (``tests/benchmarks/test_gpu_throughput.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from pipeline_speed import parse_summary, run_child  # noqa: E402
from speed_inputs import camera_files, make_inputs  # noqa: E402

from pipeline.weights import default_torch_detector_path  # noqa: E402

REALTIME_FPS = 25.0


class GpuSampler:
    """Samples GPU utilisation (%) and memory used (MiB) of ``index`` every ``interval_s`` seconds."""

    def __init__(self, index: int, interval_s: float = 0.5) -> None:
        self.index, self.interval_s = index, interval_s
        self.util: list[float] = []
        self.mem_mib: list[float] = []
        self.source = "none"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._read = self._reader()

    def _reader(self) -> Any:
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(self.index)
            self.source = "pynvml"

            def read() -> tuple[float, float]:
                util = pynvml.nvmlDeviceGetUtilizationRates(handle).gpu
                return float(util), pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20

            return read
        except Exception:  # no pynvml or no driver: try nvidia-smi
            pass
        if shutil.which("nvidia-smi"):
            self.source = "nvidia-smi"

            def read_smi() -> tuple[float, float]:
                out = subprocess.run(
                    ["nvidia-smi", f"--id={self.index}", "--query-gpu=utilization.gpu,memory.used",
                     "--format=csv,noheader,nounits"],
                    capture_output=True, text=True, check=True, timeout=5,
                ).stdout  # fmt: skip
                util, mem = (float(v) for v in out.strip().splitlines()[0].split(","))
                return util, mem

            return read_smi
        return None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                util, mem = self._read()
            except Exception:
                continue
            self.util.append(util)
            self.mem_mib.append(mem)

    def __enter__(self) -> GpuSampler:
        if self._read is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def summary(self) -> dict[str, Any]:
        if not self.util:
            return {"source": self.source, "samples": 0}
        return {
            "source": self.source,
            "samples": len(self.util),
            "util_mean_pct": sum(self.util) / len(self.util),
            "util_max_pct": max(self.util),
            "mem_max_mib": max(self.mem_mib),
        }


def write_config(path: Path, *, weights: Path, device: str, cams: int, fp16: bool) -> Path:
    """The shipped config with the GPU path's detector and device settings."""
    text = (ROOT / "configs" / "pipeline.yaml").read_text(encoding="utf-8")
    replacements = {
        "  backend: auto ": "  backend: ultralytics ",
        "  weights: null ": f"  weights: {json.dumps(str(weights))} ",
        "  batch_frames: 8 ": f"  batch_frames: {cams} ",
        "  fp16: false ": f"  fp16: {'true' if fp16 else 'false'} ",
        "  device: auto ": f"  device: {device} ",
    }
    for old, new in replacements.items():
        if old not in text:
            raise SystemExit(f"configs/pipeline.yaml: expected a line starting {old.strip()!r}")
        text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cams", type=int, default=32, help="cameras (default 32)")
    parser.add_argument("--size", default="1920x1080", help="frame size WxH (default 1920x1080)")
    parser.add_argument("--longer", type=int, default=4, help="sample length times this (default 4: 28.6 s)")
    parser.add_argument(
        "--weights", type=Path, default=None, help="detector .pt/.onnx/.engine (default: the bundled YOLOv8n)"
    )
    parser.add_argument("--device", default="cuda:0", help="cuda:N or cpu (default cuda:0)")
    parser.add_argument("--no-fp16", action="store_true", help="run the detector in fp32")
    parser.add_argument("--max-frames", type=int, default=None, help="frames per camera at most")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench")
    args = parser.parse_args(argv)

    w, h = (int(v) for v in args.size.lower().split("x"))
    work = args.out / "gpu"
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    folder = make_inputs(args.cams, args.longer, (w, h), root=args.out / "inputs")
    build_s = time.perf_counter() - t0
    weights = args.weights or default_torch_detector_path()
    fp16 = not args.no_fp16 and args.device.startswith("cuda")
    config = write_config(
        work / "config.yaml", weights=weights, device=args.device, cams=args.cams, fp16=fp16
    )
    cmd = [sys.executable, "-c", "import sys; from pipeline.cli import main; sys.exit(main())",
           "--cams", *map(str, camera_files(folder)), "--out", str(work / "tracks.json"), "--overwrite",
           "--progress", "off", "--config", str(config)]  # fmt: skip
    if args.max_frames is not None:
        cmd += ["--max-frames", str(args.max_frames)]
    if Path(weights).suffix == ".pt":  # made here, or named by --weights: the user's own file
        cmd += ["--allow-pickle-detector"]
    gpu_index = int(args.device.split(":")[1]) if args.device.startswith("cuda:") else 0
    with GpuSampler(gpu_index) as sampler:
        res = run_child(cmd, work / "pipeline.log")
    text = (work / "pipeline.log").read_text(encoding="utf-8", errors="replace")
    if res["returncode"] != 0:
        print(text[-3000:], file=sys.stderr)
        print(f"error: the pipeline run failed (exit {res['returncode']}); log: {work / 'pipeline.log'}")
        return 1
    stages = parse_summary(text)
    frames = next(int(line.split()[1]) for line in text.splitlines() if line.startswith("frames: "))
    fps = stages["end-to-end"]["fps"]
    report = {
        "cameras": args.cams,
        "size": [w, h],
        "frames": frames,
        "weights": str(weights),
        "device": args.device,
        "fp16": fp16,
        "inputs_built_s": build_s,
        "fps_loaded": fps,
        "fps_process": frames / res["wall_s"],
        "cameras_realtime": fps / REALTIME_FPS,
        "peak_rss_mib": res["peak_rss_mib"],
        "gpu": sampler.summary(),
        "stages_fps": {s: v["fps"] for s, v in stages.items() if s != "end-to-end"},
        "stages_s": {s: v["seconds"] for s, v in stages.items() if s != "end-to-end"},
        "cpu_cores": os.cpu_count(),
        "summary_lines": [line for line in text.splitlines() if ":" in line][-12:],
    }
    (args.out / "gpu_throughput.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    gpu = report["gpu"]
    print(f"{args.cams} cameras of {w}x{h}, {frames} frames, device {args.device}, fp16 {fp16}, "
          f"weights {report['weights']}")  # fmt: skip
    print(f"frames/s (models loaded -> done): {fps:.1f}; whole process {report['fps_process']:.1f}")
    print(f"cameras x fps sustained: {fps / REALTIME_FPS:.1f} cameras at {REALTIME_FPS:.0f} fps")
    if gpu.get("samples"):
        print(f"GPU ({gpu['source']}): utilisation mean {gpu['util_mean_pct']:.0f}%, "
              f"max {gpu['util_max_pct']:.0f}%; memory max {gpu['mem_max_mib']:.0f} MiB")  # fmt: skip
    else:
        print(f"GPU: not measured (source: {gpu['source']})")
    print(f"peak RSS: {res['peak_rss_mib']:.0f} MiB")
    print("stage        seconds   frames/s")
    for stage, seconds in report["stages_s"].items():
        print(f"{stage:<12} {seconds:>7.2f}   {report['stages_fps'][stage]:>8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
