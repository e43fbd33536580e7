"""benchmarks/gpu_throughput.py runs end to end; on a machine without a GPU, on the CPU with tiny inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / "sample_videos" / "cam_a.mp4").is_file(), reason="sample_videos/ not here")
def test_gpu_throughput_script_runs_on_the_cpu_with_tiny_inputs(tmp_path: Path) -> None:
    """Two 320×180 cameras, 6 frames each, the bundled YOLOv8n on torch, on the CPU: a full report."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu_throughput.py"), "--cams", "2", "--size", "320x180",
           "--longer", "1", "--device", "cpu", "--max-frames", "6", "--out", str(tmp_path)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "cameras x fps sustained" in proc.stdout and "stage" in proc.stdout
    report = json.loads((tmp_path / "gpu_throughput.json").read_text(encoding="utf-8"))
    assert report["cameras"] == 2 and report["frames"] == 12 and report["size"] == [320, 180]
    assert report["fp16"] is False and report["weights"].endswith("yolov8n_int8.safetensors")
    assert report["cameras_realtime"] == pytest.approx(report["fps_loaded"] / 25.0)
    assert set(report["stages_fps"]) >= {"decode", "detect", "track", "reid"}
    assert report["gpu"]["samples"] == 0 or report["gpu"]["util_max_pct"] >= 0  # no GPU: not measured
    assert len(list((tmp_path / "inputs").glob("*/cam_*.mp4"))) == 2  # inputs built under --out
