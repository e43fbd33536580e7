#!/usr/bin/env bash
# Everything a short GPU lease should measure, in one run (docs/speed.md, "The GPU path"):
#   1. the GPU-only tests (pytest -m gpu): CUDA against the CPU for inference, camera normalisation,
#      the bundled detector's torch copy, training (float16 autocast and float32, exact resume),
#      adaptation and the pipeline's identities;
#   2. the README command on the sample with the GPU (bundled detector on torch, re-ID on CUDA);
#   3. benchmarks/gpu_throughput.py: 32 cameras of 1920x1080 at 25 fps on one GPU;
#   4. re-ID training on the GPU: configs/reid/full.yaml's batch, mining and augmentation on a
#      generated data set (the shape of CUHK01/03: 160x60 crops), run twice by reid-train: its
#      speed, and whether two runs give the same weights bit for bit.
# Usage (repo root, on the GPU machine): bash benchmarks/gpu_checks.sh OUT_DIR
# Logs and JSON go to OUT_DIR (at most 8 files). Wheels for packages the machine lacks may sit in
# .whl/ (benchmarks/gpu_wheels.sh fetches them; installed to /tmp/site with --no-deps); each step
# has its own time limit.
set -u
out=${1:?usage: gpu_checks.sh OUT_DIR}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  nproc
  python3 -c "import torch, cv2, numpy; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0), 'opencv', cv2.__version__, 'numpy', numpy.__version__)"
} >"$out/machine.txt" 2>&1

echo "== 1. GPU tests"
# cuBLAS reads its workspace setting when it starts, i.e. at the first GPU test: set it for the
# exact-resume test (reid-train sets it itself).
CUBLAS_WORKSPACE_CONFIG=:4096:8 timeout 170 python3 -m pytest -p no:cacheprovider -m gpu -rA -q \
  tests/gpu tests/pipeline/test_run.py tests/pipeline/detections/test_yolo_safetensors.py \
  tests/reid_core/test_train.py tests/reid_core/test_adapt.py tests/reid_core/test_camera_norm.py \
  >"$out/gpu_tests.log" 2>&1
echo "pytest exit $?"; grep -E "^(PASSED|FAILED|ERROR)|passed|failed" "$out/gpu_tests.log" | tail -n 30

echo "== 2. README command on the GPU"
{
  for dev in cuda:0 cpu; do
    timeout 60 python3 -c "import sys; from pipeline.cli import main; sys.exit(main())" \
      --cams sample_videos/cam_a.mp4 sample_videos/cam_b.mp4 --out "/tmp/sample_$dev.json" --overwrite \
      --progress off --device "$dev"
    echo "exit $?"
  done
} >"$out/sample.log" 2>&1
tail -n 40 "$out/sample.log"

echo "== 3. throughput"
timeout 150 python3 benchmarks/gpu_throughput.py --cams 32 --longer 2 --out /tmp/bench >"$out/throughput_32.log" 2>&1
echo "exit $?"; tail -n 20 "$out/throughput_32.log"
cp /tmp/bench/gpu_throughput.json "$out/throughput_32.json" 2>/dev/null

echo "== 4. training: speed and two runs"
timeout 120 python3 - >"$out/train.log" 2>&1 <<'EOF'
import subprocess, sys, time
from pathlib import Path

import cv2
import numpy as np
import yaml
from safetensors.torch import load_file

root = Path("/tmp/speed_data")
rng = np.random.default_rng(0)
root.mkdir(parents=True, exist_ok=True)
for pid in range(800):  # 800 identities x 2 cameras x 2 shots of 160x60, like CUHK01/03
    colour = rng.integers(0, 256, 3)
    for cam in range(2):
        for n in range(2):
            img = np.clip(colour + rng.normal(0, 40, (160, 60, 3)), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / f"{pid:04d}_{cam}_{n}.jpg"), img)
recipe = yaml.safe_load(Path("configs/reid/full.yaml").read_text())
recipe["data"].update(train=[{"name": "folder", "root": str(root)}], eval=["folder"])
recipe["sampler"]["dataset_weights"] = [1.0]
recipe["model"].update(pretrained=False, trunk_weights=None)  # no ImageNet file there
recipe["mining"].update(start_step=50, round_every_steps=100)
recipe["run"].update(steps=200, eval_every_steps=200, log_every_steps=50, device="cuda")
path = Path("/tmp/speed.yaml")
path.write_text(yaml.safe_dump(recipe))
for run in ("a", "b"):
    t = time.perf_counter()
    cmd = ["python3", "-m", "reid_core.train_cli", "--config", str(path), "--out", f"/tmp/run_{run}", "--progress", "lines"]
    done = subprocess.run(cmd)
    print(f"run {run}: 200 steps of full.yaml's batch on cuda, {time.perf_counter() - t:.1f} s wall "
          f"(start, 200 steps, 2 mining rounds, one evaluation); exit {done.returncode}", flush=True)
a, b = load_file("/tmp/run_a/last.safetensors"), load_file("/tmp/run_b/last.safetensors")
same = [k for k in a if np.array_equal(a[k].numpy(), b[k].numpy())]
print(f"two reid-train runs on cuda: {len(same)} of {len(a)} tensors bit-identical")
EOF
echo "train exit $?"; grep -E "^run |two reid-train|steps/s|Error" "$out/train.log" | tail -n 8
