#!/usr/bin/env bash
# Everything a short GPU lease should measure, in one run (docs/speed.md, "The GPU path"):
#   1. the GPU-only tests (pytest -m gpu): CUDA against the CPU for inference, camera normalisation,
#      training (float16 autocast and float32, resume), adaptation and the pipeline's identities;
#   2. benchmarks/gpu_throughput.py: 32 (then 48) cameras of 1920x1080 at 25 fps on one GPU;
#   3. re-ID training speed on the GPU: configs/reid/full.yaml's batch, mining and augmentation for
#      300 steps on a generated data set (shape and cost of CUHK01/03: 160x60 crops), so that the
#      time of the recipe and of the 10 CUHK01 trials can be stated.
# Usage (repo root, on the GPU machine): bash benchmarks/gpu_checks.sh OUT_DIR
# Logs and JSON go to OUT_DIR (at most 8 files). Wheels for packages the machine lacks may sit in
# .whl/ (installed to /tmp/site with --no-deps); each step has its own time limit.
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
timeout 200 python3 -m pytest -p no:cacheprovider -m gpu -rA -q \
  tests/gpu tests/pipeline/test_run.py tests/reid_core/test_train.py \
  tests/reid_core/test_adapt.py tests/reid_core/test_camera_norm.py >"$out/gpu_tests.log" 2>&1
echo "pytest exit $?"; tail -n 15 "$out/gpu_tests.log"

echo "== 2. throughput"
for cams in 32 48; do
  longer=$([ "$cams" -gt 32 ] && echo 2 || echo 4)
  timeout "$([ "$cams" -gt 32 ] && echo 100 || echo 140)" python3 benchmarks/gpu_throughput.py --cams "$cams" --longer "$longer" --out /tmp/bench \
    >"$out/throughput_$cams.log" 2>&1
  echo "cams $cams exit $?"; cat "$out/throughput_$cams.log" | tail -n 20
  cp /tmp/bench/gpu_throughput.json "$out/throughput_$cams.json" 2>/dev/null
done

echo "== 3. training speed"
timeout 110 python3 - "$out" >"$out/train_speed.log" 2>&1 <<'EOF'
import subprocess, sys, time
from pathlib import Path

import cv2
import numpy as np
import yaml

root, run = Path("/tmp/speed_data"), Path("/tmp/speed_run")
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
recipe["model"].update(pretrained=False, trunk_weights=None)  # speed only: no ImageNet file there
recipe["mining"].update(start_step=50, round_every_steps=100)
recipe["run"].update(steps=300, eval_every_steps=300, log_every_steps=50, device="cuda", out_dir=str(run))
path = Path("/tmp/speed.yaml")
path.write_text(yaml.safe_dump(recipe))
t = time.perf_counter()
done = subprocess.run(["python3", "-m", "reid_core.train_cli", "--config", str(path), "--progress", "lines"])
print(f"300 steps of full.yaml's batch on cuda: {time.perf_counter() - t:.1f} s wall (start, 300 steps, "
      f"2 mining rounds, one evaluation); exit {done.returncode}")
EOF
echo "train exit $?"; tail -n 12 "$out/train_speed.log"
