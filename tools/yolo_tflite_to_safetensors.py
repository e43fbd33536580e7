"""The bundled TFLite YOLOv8n's weights as ``.safetensors`` for torch (and so for a GPU).

The TFLite file (ultralytics' export through ONNX and TensorFlow) holds every convolution with
its BatchNorm folded in: int8 weights with a scale per output channel (zero point 0) and a float32
bias; the first
and the DFL convolutions are float32. This tool matches each of its 64 convolutions to a
``Conv2d`` of ultralytics' **fused** ``yolov8n.yaml`` model: by signature (output size, input and
output channels, kernel), and within a signature by order (the TFLite tensors' creation order
against torch's execution order). It then checks the match by running both networks on a frame
of the sample: a wrong match gives other boxes, and the tool stops.

Usage (repo root; needs ``ai-edge-litert`` and ``ultralytics``)::

    python tools/yolo_tflite_to_safetensors.py \\
        [--tflite pipeline/weights/yolov8n_int8.tflite] [--out pipeline/weights/yolov8n_int8.safetensors]

The file is the format of :mod:`pipeline.detections.yolo_safetensors`.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.detections.yolo_safetensors import FORMAT, VERSION  # noqa: E402

MODEL_YAML = "yolov8n.yaml"
Signature = tuple[int, int, int, int]  # output height, input channels, output channels, kernel


def tflite_convs(path: Path) -> tuple[Any, list[dict[str, Any]]]:
    """The interpreter and its CONV_2D ops in the order their weight tensors were made."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    ops = [o for o in interp._get_ops_details() if o["op_name"] == "CONV_2D"]
    names = {t["index"]: t["name"] for t in interp.get_tensor_details()}

    def created(op: dict[str, Any]) -> int:
        found = re.search(r"convolution(?:_(\d+))?/", names[op["inputs"][1]])
        if found is None:
            raise SystemExit(f"{path}: unexpected weight name {names[op['inputs'][1]]!r}")
        return int(found.group(1) or 0)

    return interp, sorted(ops, key=created)


def torch_convs(model: Any) -> list[tuple[str, Any, Signature]]:
    """(name, Conv2d, signature) of the fused model's convolutions in execution order (640×640)."""
    import torch

    names = {id(m): n for n, m in model.named_modules()}
    seen: list[tuple[str, Any, Signature]] = []

    def hook(module: Any, _inp: Any, out: Any) -> None:
        w = module.weight.shape
        seen.append((names[id(module)], module, (int(out.shape[2]), int(w[1]), int(w[0]), int(w[2]))))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model(torch.zeros(1, 3, 640, 640))
    for h in handles:
        h.remove()
    return seen


def match(interp: Any, ops: list[dict[str, Any]], convs: list[tuple[str, Any, Signature]]) -> dict[str, Any]:
    """Conv name → TFLite op, by signature, in order within a signature."""
    details = {t["index"]: t for t in interp.get_tensor_details()}
    by_sig: dict[Signature, list[dict[str, Any]]] = defaultdict(list)
    for op in ops:
        w, out = details[op["inputs"][1]]["shape"], details[op["outputs"][0]]["shape"]
        by_sig[(int(out[1]), int(w[3]), int(w[0]), int(w[1]))].append(op)
    pairs: dict[str, Any] = {}
    for name, _, sig in convs:
        if not by_sig.get(sig):
            raise SystemExit(f"no TFLite convolution left for {name} {sig}: not a {MODEL_YAML} export")
        pairs[name] = by_sig[sig].pop(0)
    if any(by_sig.values()):
        raise SystemExit("TFLite convolutions left unmatched: not a " + MODEL_YAML + " export")
    return pairs


def tensors_of(interp: Any, pairs: dict[str, Any], convs: list[tuple[str, Any, Signature]]) -> dict[str, Any]:
    """The safetensors tensors (int8 weights + scale, float32 biases), torch layout (OIHW)."""
    import torch

    details = {t["index"]: t for t in interp.get_tensor_details()}
    out: dict[str, torch.Tensor] = {}
    for name, conv, _ in convs:
        op = pairs[name]
        w_detail = details[op["inputs"][1]]
        weight = np.ascontiguousarray(interp.get_tensor(op["inputs"][1]).transpose(0, 3, 1, 2))
        if w_detail["dtype"] == np.int8:
            quant = w_detail["quantization_parameters"]
            scales = np.asarray(quant["scales"], np.float32)
            if np.any(quant["zero_points"] != 0) or quant["quantized_dimension"] != 0:
                raise SystemExit(f"{name}: expected zero points 0 along the output channels, got {quant}")
            out[f"{name}.weight"] = torch.from_numpy(weight.copy())
            out[f"{name}.weight_scale"] = torch.from_numpy(scales.reshape(-1, 1, 1, 1).copy())
        else:
            out[f"{name}.weight"] = torch.from_numpy(weight.astype(np.float32))
        bias = interp.get_tensor(op["inputs"][2]).astype(np.float32) if len(op["inputs"]) > 2 else None
        if conv.bias is not None:
            out[f"{name}.bias"] = torch.from_numpy(bias.copy())
        elif bias is not None and np.any(bias != 0):
            raise SystemExit(f"{name}: the TFLite layer has a bias, the torch layer none")
    return out


def check_outputs(interp: Any, model: Any, frame_bgr: np.ndarray) -> float:
    """Largest difference of the person score between TFLite and torch on ``frame_bgr``
    (letterboxed as the ``litert`` back end does it)."""
    import torch

    from pipeline.detections.yolo_numpy import letterbox

    x, _ = letterbox(frame_bgr, 640)  # (640, 640, 3) float32 RGB in [0, 1]
    interp.set_tensor(interp.get_input_details()[0]["index"], x[None])
    interp.invoke()
    ref = interp.get_tensor(interp.get_output_details()[0]["index"])[0]
    with torch.no_grad():
        got = model(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None])
    got = (got[0] if isinstance(got, (tuple, list)) else got)[0].numpy()
    return float(np.abs(ref[4] - got[4]).max())


def main(argv: Sequence[str] | None = None) -> int:
    import cv2
    from safetensors.torch import save_file
    from ultralytics import YOLO

    from pipeline.detections.yolo_safetensors import load_yolo_safetensors

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tflite", type=Path, default=ROOT / "pipeline/weights/yolov8n_int8.tflite")
    parser.add_argument("--out", type=Path, default=ROOT / "pipeline/weights/yolov8n_int8.safetensors")
    parser.add_argument("--max-score-diff", type=float, default=0.15, help="largest person-score gap allowed")
    args = parser.parse_args(argv)

    interp, ops = tflite_convs(args.tflite)
    model = YOLO(MODEL_YAML, task="detect").model.fuse().eval()
    convs = torch_convs(model)
    tensors = tensors_of(interp, match(interp, ops, convs), convs)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "model_yaml": MODEL_YAML,
        "source": args.tflite.name,
        "source_sha256": hashlib.sha256(args.tflite.read_bytes()).hexdigest(),
    }
    tmp = args.out.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    cap = cv2.VideoCapture(str(ROOT / "sample_videos" / "cam_a.mp4"))
    for _ in range(30):  # a frame with people in it
        ok, frame = cap.read()
        if not ok:
            raise SystemExit("sample_videos/cam_a.mp4: cannot read 30 frames")
    loaded = load_yolo_safetensors(tmp).model
    diff = check_outputs(interp, loaded, frame)
    if diff > args.max_score_diff:
        tmp.unlink()
        raise SystemExit(f"person scores differ by up to {diff:.3f} from the TFLite model: wrong match")
    tmp.chmod(0o644)
    tmp.replace(args.out)
    print(f"{args.out}: {len(convs)} convolutions; person scores within {diff:.3f} of the TFLite model's")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
