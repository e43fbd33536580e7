"""Export re-ID weights to ONNX, so that CPU runs need neither torch nor its start-up.

``python -m reid_core.onnx_export [WEIGHTS.safetensors]`` (default: the shipped weights) writes,
next to the weights (:func:`reid_core.shipped.onnx_paths`):

- ``W.encode.onnx``: crops → encodings. Input ``crops``: (N, 160, 80, 3) **uint8 BGR** (resized
  by :func:`reid_core.data.crops.stack_bgr`); the graph does the BGR → RGB conversion and the
  ImageNet normalisation (as :func:`~reid_core.data.transforms.bgr_to_input`), the trunk, both
  BatchNorm-folded half-responses of the correspondence conv and the shortlist embedding.
  Outputs ``half_a``, ``half_b``: (N, C', 10, 5) float32; ``embedding``: (N, D) float32,
  L2-normalised. The trunk's BatchNorm nodes stay in the graph, their moments as initializers
  named after the weights (``trunk.<layer>.running_mean`` / ``running_var``): ONNX Runtime folds
  them into the convolutions when it loads the graph, and camera normalisation swaps them first.
- ``W.head.onnx``: the rest of the pair head. Input ``summed``: (P, C', 10, 5) float32
  (``half_a[i] + half_b[j]``); output ``p_same``: (P,) float32.
- ``W.moments.onnx``: crops → the moments camera normalisation measures
  (:func:`reid_core.camera_norm.renormalised`): the trunk run as in training, every BatchNorm
  normalising by its batch, each reporting the per-channel mean and unbiased variance of its input.
  Input ``crops`` as above; one output per moment, named as the encoder's initializer it replaces:
  (C,) float32.

Each file's metadata records ``weights_sha256``, the SHA-256 of the weights file it was made
from, and the layout version (:data:`reid_core.shipped.ONNX_FORMAT_VERSION`);
:mod:`reid_core.onnx_inference` refuses an export whose weights changed since or whose layout is
older. The graphs are the :class:`~reid_core.inference.Matcher`'s inference path: the same maths,
so scores agree with torch's to float rounding (tests check it).
"""

from __future__ import annotations

import argparse
import copy
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
from reid_core.shipped import DEFAULT_WEIGHTS, ONNX_FORMAT_VERSION, onnx_paths

__all__ = ["OPSET", "export_onnx", "main"]

OPSET = 17


class _Encoder(nn.Module):
    """uint8 BGR crops (N, H, W, 3) → (half_a, half_b, embedding), as :meth:`Matcher.encode`.

    The trunk is the unfused one, so that its BatchNorm moments stay separate initializers.
    """

    def __init__(self, matcher: Matcher) -> None:
        super().__init__()
        self.trunk = copy.deepcopy(matcher.model.trunk).eval().to(memory_format=torch.contiguous_format)
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


class _BatchMoments(nn.Module):
    """A BatchNorm as in training (normalised by its batch) that reports its input's moments.

    Writes ``sink[name] = (mean, unbiased variance)``, each (C,), as the running statistics of
    :func:`reid_core.camera_norm.renormalised` take them from one pass.
    """

    def __init__(
        self, norm: nn.BatchNorm2d, name: str, sink: dict[str, tuple[torch.Tensor, torch.Tensor]]
    ) -> None:
        super().__init__()
        self.norm = norm
        self.name = name
        self.sink = sink

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        count = x.shape[0] * x.shape[2] * x.shape[3]
        # E[x²] - E[x]²: no centred copy of x (ONNX ReduceL2 squares as it sums); each image's plane
        # is reduced first (contiguous in NCHW, ONNX Runtime's fast path), then the batch
        mean = F.adaptive_avg_pool2d(x, 1).mean(dim=(0, 2, 3))
        var = (torch.linalg.vector_norm(x, 2, dim=(2, 3)) ** 2).sum(dim=0) / count - mean * mean
        var = torch.clamp(var, min=0.0)  # the difference can round below 0 for a near-constant channel
        self.sink[self.name] = (mean, var * (count / (count - 1)))
        # normalised by the batch's moments, as in training (one BatchNormalization node, moments as inputs)
        return F.batch_norm(x, mean, var, self.norm.weight, self.norm.bias, training=False, eps=self.norm.eps)


class _Moments(nn.Module):
    """uint8 BGR crops (N, H, W, 3) → (mean, unbiased var) of each trunk BatchNorm input, by :attr:`names`."""

    def __init__(self, matcher: Matcher) -> None:
        super().__init__()
        self.trunk = copy.deepcopy(matcher.model.trunk).eval().to(memory_format=torch.contiguous_format)
        self.sink: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.names: list[str] = []  # initializer prefixes of the encoder graph: trunk.<layer>
        for parent_name, parent in list(self.trunk.named_modules()):
            for child_name, child in list(parent.named_children()):
                if isinstance(child, nn.BatchNorm2d):
                    name = ".".join(p for p in ("trunk", parent_name, child_name) if p)
                    self.names.append(name)
                    setattr(parent, child_name, _BatchMoments(child, name, self.sink))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN_RGB).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD_RGB).view(1, 3, 1, 1))

    def output_names(self) -> list[str]:
        return [f"{name}.{moment}" for name in self.names for moment in ("running_mean", "running_var")]

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, ...]:
        self.sink.clear()
        x = crops.flip(-1).permute(0, 3, 1, 2).float() / 255.0  # BGR -> RGB, NHWC -> NCHW
        self.trunk((x - self.mean) / self.std)
        return tuple(t for name in self.names for t in self.sink[name])


class _Head(nn.Module):
    """``half_a + half_b`` (P, C', h, w) → P(same person) (P,)."""

    def __init__(self, matcher: Matcher) -> None:
        super().__init__()
        self.head = matcher._head

    def forward(self, summed: torch.Tensor) -> torch.Tensor:
        return F.softmax(self.head.forward_summed(summed).float(), dim=1)[:, 1]


def export_onnx(weights: str | Path | None = None) -> tuple[Path, Path, Path]:
    """Write ``W.encode.onnx``, ``W.head.onnx`` and ``W.moments.onnx`` next to ``weights``.

    ``weights``: a ``.safetensors`` file; default: the shipped one.

    Returns:
        The three paths, each written atomically.

    Raises:
        WeightsError: the weights file is missing or does not load.
    """
    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    matcher = load_matcher(path, device="cpu")
    meta = {"weights_sha256": file_sha256(path), "reid_pipeline_onnx": ONNX_FORMAT_VERSION}
    encode_path, head_path, moments_path = onnx_paths(path)
    crops = torch.zeros((2, *INPUT_SIZE_HW, 3), dtype=torch.uint8)
    summed = torch.zeros(
        (2, matcher.model.head.corr_channels, INPUT_SIZE_HW[0] // 16, INPUT_SIZE_HW[1] // 16)
    )
    moments = _Moments(matcher).eval()
    _export(_Encoder(matcher).eval(), crops, encode_path, ["crops"], ["half_a", "half_b", "embedding"], meta)
    _export(_Head(matcher).eval(), summed, head_path, ["summed"], ["p_same"], meta)
    _export(moments, crops, moments_path, ["crops"], moments.output_names(), meta, batched=["crops"])
    _check_moment_names(encode_path, moments.output_names())
    return encode_path, head_path, moments_path


def _check_moment_names(encode_path: Path, names: list[str]) -> None:
    """Every moment of the moments graph must be an initializer of the encoder (else the swap misses)."""
    import onnx

    have = {init.name for init in onnx.load(str(encode_path)).graph.initializer}
    missing = [name for name in names if name not in have]
    if missing:  # a trunk the exporter folded or renamed: a bug here, not the user's
        raise RuntimeError(f"{encode_path}: no initializer for the moments {missing[:3]}")


def _export(
    module: nn.Module,
    example: torch.Tensor,
    out: Path,
    inputs: list[str],
    outputs: list[str],
    meta: dict[str, str],
    batched: list[str] | None = None,
) -> None:
    """``batched``: the inputs and outputs whose first axis is the batch (default: all)."""
    import warnings

    import onnx

    with atomic_path(out) as tmp, torch.inference_mode(), warnings.catch_warnings():
        # the TorchScript exporter (dynamo=False) is deprecated but exact here and needs no onnxscript
        warnings.simplefilter("ignore", DeprecationWarning)
        # PRESERVE with eval-mode modules is eval mode, not training: the folding advice does not apply
        warnings.filterwarnings("ignore", "It is recommended that constant folding be turned off")
        torch.onnx.export(
            module,
            (example,),
            str(tmp),
            input_names=inputs,
            output_names=outputs,
            dynamic_axes={name: {0: "n"} for name in (batched if batched is not None else inputs + outputs)},
            opset_version=OPSET,
            dynamo=False,
            training=torch.onnx.TrainingMode.PRESERVE,  # eval modules; BatchNorm nodes kept, not folded
            # as inputs, equal tensors (e.g. two layers' untouched moments) keep their own
            # initializers instead of being merged into one: camera normalisation swaps each
            keep_initializers_as_inputs=True,
        )
        model = onnx.load(str(tmp))
        constants = {init.name for init in model.graph.initializer}
        real_inputs = [value for value in model.graph.input if value.name not in constants]
        del model.graph.input[:]  # the initializers are constants again: ONNX Runtime folds them
        model.graph.input.extend(real_inputs)
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
