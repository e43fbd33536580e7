"""An ultralytics YOLO model built from its ``.yaml`` and loaded from ``.safetensors`` (no pickle).

The file (``tools/yolo_tflite_to_safetensors.py`` makes it from the bundled TFLite model) holds,
for every ``Conv2d`` of the **fused** model (BatchNorm folded into the convolution, as
``model.fuse()`` leaves it), named as in ``model.named_modules()``:

- ``<name>.weight``: (out, in, kh, kw), ``int8`` (then ``<name>.weight_scale``, float32 of shape
  (out, 1, 1, 1) or (): weight = int8 × scale) or ``float32``;
- ``<name>.bias``: (out,) float32 (absent where the layer has none, e.g. the DFL convolution).

Its metadata: ``format`` = :data:`FORMAT`, ``version``, ``model_yaml`` (e.g. ``yolov8n.yaml``:
one of ultralytics' own model definitions, :data:`MODEL_YAML`) and provenance (``source``, ``source_sha256``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from infra.errors import WeightsError

__all__ = ["FORMAT", "MODEL_YAML", "VERSION", "load_yolo_safetensors"]

FORMAT = "reid-pipeline-yolo"
VERSION = "1"
MODEL_YAML = re.compile(r"yolo(v8|11)[nsmlx]\.yaml")
"""The model definitions a file may name: ultralytics' own detection models (built from its
package, so a file cannot point ultralytics at another file to load)."""


def load_yolo_safetensors(path: Path) -> Any:
    """An ``ultralytics.YOLO`` whose fused model holds the weights of ``path`` (float32, eval mode).

    Raises:
        WeightsError: unreadable file, another format, or tensors that do not fit the model (named).
    """
    import torch
    from safetensors import safe_open
    from ultralytics import YOLO

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except Exception as err:  # safetensors raises its own types for a damaged file
        raise WeightsError(f"{path}: not a readable .safetensors file ({err})") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        found = f"format {meta.get('format')!r}, version {meta.get('version')!r}"
        raise WeightsError(f"{path}: not a {FORMAT} version {VERSION} detector file ({found})")
    model_yaml = meta.get("model_yaml", "")
    if not MODEL_YAML.fullmatch(model_yaml):  # a name of ultralytics' own, never a path to load
        raise WeightsError(f"{path}: model_yaml {model_yaml!r} is not one of ultralytics' YOLOv8/11 models")
    yolo = YOLO(model_yaml, task="detect")
    model: Any = yolo.model
    model.fuse()
    convs = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    expected = {f"{n}.weight" for n in convs} | {f"{n}.bias" for n, m in convs.items() if m.bias is not None}
    given = {k for k in tensors if not k.endswith(".weight_scale")}
    if given != expected:
        missing, extra = sorted(expected - given)[:3], sorted(given - expected)[:3]
        raise WeightsError(
            f"{path}: tensors do not fit {meta['model_yaml']} (missing {missing}, extra {extra})"
        )
    with torch.no_grad():
        for name, conv in convs.items():
            weight = tensors[f"{name}.weight"]
            if weight.dtype == torch.int8:
                weight = weight.float() * tensors[f"{name}.weight_scale"].float()
            if tuple(weight.shape) != tuple(conv.weight.shape):
                shape, want = tuple(weight.shape), tuple(conv.weight.shape)
                raise WeightsError(f"{path}: {name}.weight is {shape}, not {want}")
            conv.weight.copy_(weight)
            if conv.bias is not None:
                conv.bias.copy_(tensors[f"{name}.bias"].float())
    model.eval()
    return yolo
