#!/usr/bin/env bash
# Wheels a GPU machine without network needs for benchmarks/gpu_checks.sh: the packages of this
# project that its image lacks (it has torch, torchvision, onnxruntime, opencv, numpy, scipy,
# safetensors, pyyaml, attrs, ...), at the versions installed here, for its Python (3.12, x86-64).
# Usage (repo root, on a machine with the package registry):  bash benchmarks/gpu_wheels.sh [.whl]
# then call the device with carry [".whl"] (git-ignored via .git/info/exclude: /.whl/).
set -euo pipefail
dest=${1:-.whl}
mkdir -p "$dest"
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >>.git/info/exclude
platforms=()
for p in manylinux_2_17 manylinux_2_24 manylinux_2_27 manylinux_2_28 manylinux_2_31 manylinux_2_34; do
  platforms+=(--platform "${p}_x86_64")
done
platforms+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64)
version() { python3 -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1"; }
for pkg in ultralytics ultralytics-thop filterpy lap dacite jsonschema jsonschema-specifications \
  referencing rpds-py trackeval ai-edge-litert backports.strenum; do
  spec=$pkg
  if v=$(version "$pkg" 2>/dev/null); then spec="$pkg==$v"; fi
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d "$dest" "$spec"
done
du -sh "$dest"
