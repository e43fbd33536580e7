"""Export re-ID weights to ONNX, so that CPU runs need neither torch nor its start-up.

``python -m reid_core.onnx_export [WEIGHTS.safetensors]`` (default: the shipped weights) writes,
next to the weights (:func:`reid_core.shipped.onnx_paths`):

- ``W.encode.onnx``: crops → encodings. Input ``crops``: (N, 160, 80, 3) **uint8 BGR** (resized
  by :func:`reid_core.data.crops.stack_bgr`); the graph does the BGR → RGB conversion and the
  ImageNet normalisation (as :func:`~reid_core.data.transforms.bgr_to_input`), the trunk, both
  BatchNorm-folded half-responses of the correspondence conv and the shortlist embedding.
  Outputs ``half_a``, ``half_b``: (N, C', 10, 5) float32; ``embedding``: (N, D) float32,
  L2-normalised.
- ``W.head.onnx``: the rest of the pair head. Input ``summed``: (P, C', 10, 5) float32
  (``half_a[i] + half_b[j]``); output ``p_same``: (P,) float32.

Each file's metadata records ``weights_sha256``, the SHA-256 of the weights file it was made
from; :mod:`reid_core.onnx_inference` refuses an export whose weights changed since. The graphs
are the :class:`~reid_core.inference.Matcher`'s fused inference path: the same maths, so scores
agree with torch's to float rounding (tests check it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from infra.errors import UserError
from infra.fileio import atomic_path, file_sha256
from reid_core.data.crops import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, INPUT_SIZE_HW
from reid_core.inference import Matcher, load_matcher
from reid_core.shipped import DEFAULT_WEIGHTS, onnx_paths

__all__ = ["OPSET", "export_onnx", "main"]

OPSET = 17
FORMAT_VERSION = "1"


class _Encoder(nn.Module):
    """uint8 BGR crops (N, H, W, 3) → (half_a, half_b, embedding), as :meth:`Matcher.encode`."""

    def __init__(self, matcher: Matcher) -> None:
        super().__init__()
        self.trunk = matcher._trunk
        self.head = matcher._head
        self.model = matcher.model
        self.corr_channels = matcher.model.head.corr_channels
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN_RGB).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD_RGB).view(1, 3, 1, 1))

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = crops.flip(-1).permute(0, 3, 1, 2).float() / 255.0  # BGR -> RGB, NHWC -> NCHW
        maps = self.trunk((x - self.mean) / self.std)
        halves = self.head.halves(maps)
        c = self.corr_channels
        return halves[:, :c], halves[:, c:], self.model.embed(maps)


class _Head(nn.Module):
    """``half_a + half_b`` (P, C', h, w) → P(same person) (P,)."""

    def __init__(self, matcher: Matcher) -> None:
        super().__init__()
        self.head = matcher._head

    def forward(self, summed: torch.Tensor) -> torch.Tensor:
        return F.softmax(self.head.forward_summed(summed).float(), dim=1)[:, 1]


def export_onnx(weights: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``W.encode.onnx`` and ``W.head.onnx`` next to ``weights`` (default: the shipped ones).

    Returns:
        The two paths, written atomically.

    Raises:
        WeightsError: the weights file is missing or does not load.
    """
    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    matcher = load_matcher(path, device="cpu")
    matcher._trunk = matcher._trunk.to(memory_format=torch.contiguous_format)  # plain layout in the graph
    meta = {"weights_sha256": file_sha256(path), "reid_pipeline_onnx": FORMAT_VERSION}
    encode_path, head_path = onnx_paths(path)
    crops = torch.zeros((2, *INPUT_SIZE_HW, 3), dtype=torch.uint8)
    summed = torch.zeros(
        (2, matcher.model.head.corr_channels, INPUT_SIZE_HW[0] // 16, INPUT_SIZE_HW[1] // 16)
    )
    _export(_Encoder(matcher).eval(), crops, encode_path, ["crops"], ["half_a", "half_b", "embedding"], meta)
    _export(_Head(matcher).eval(), summed, head_path, ["summed"], ["p_same"], meta)
    return encode_path, head_path


def _export(
    module: nn.Module,
    example: torch.Tensor,
    out: Path,
    inputs: list[str],
    outputs: list[str],
    meta: dict[str, str],
) -> None:
    import warnings

    import onnx

    with atomic_path(out) as tmp, torch.inference_mode(), warnings.catch_warnings():
        # the TorchScript exporter (dynamo=False) is deprecated but exact here and needs no onnxscript
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            (example,),
            str(tmp),
            input_names=inputs,
            output_names=outputs,
            dynamic_axes={name: {0: "n"} for name in inputs + outputs},
            opset_version=OPSET,
            dynamo=False,
        )
        model = onnx.load(str(tmp))
        for key, value in meta.items():
            model.metadata_props.add(key=key, value=value)
        onnx.save(model, str(tmp))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m reid_core.onnx_export [WEIGHTS]``: one line per written file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("weights", nargs="?", default=None, help="a .safetensors file; default: the shipped")
    args = parser.parse_args(argv)
    try:
        for path in export_onnx(args.weights):
            print(path)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the weights' folder is not writable, the disk is full
        where = err.filename or args.weights or DEFAULT_WEIGHTS
        print(
            f"error: {where}: cannot write the ONNX exports ({err.strerror or type(err).__name__})",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
