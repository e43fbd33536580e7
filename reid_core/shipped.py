"""Where the shipped re-ID files are; importable without torch (a CPU run on ONNX Runtime never loads it)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CMC_WEIGHTS", "DEFAULT_WEIGHTS", "ONNX_FORMAT_VERSION", "onnx_paths"]

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "siamese_mobilenet_v2.safetensors"
"""The shipped default weights (safetensors, with a ``.json`` sidecar): the pipeline's and every
loader's default (``configs/reid/default.yaml``, 1,800 steps). They score tracklet pairs of the
association benchmark's cuts better than :data:`CMC_WEIGHTS` (docs/reid.md, "Two shipped weights")."""

CMC_WEIGHTS = DEFAULT_WEIGHTS.with_name("siamese_mobilenet_v2_full.safetensors")
"""Shipped weights that rank still re-ID images best (``configs/reid/full.yaml``, 4,000 steps, low
resolution augmentation): the default of ``reid-eval cmc``. Not the pipeline's: on the
association benchmark they rank tracklet pairs worse (docs/reid.md, "Two shipped weights")."""


ONNX_FORMAT_VERSION = "2"
"""The layout of the ONNX exports (their ``reid_pipeline_onnx`` metadata). 2: the encoder keeps the
trunk's BatchNorm nodes (ONNX Runtime folds them into the convolutions when it loads the graph), so
camera normalisation can swap their moments; a third graph measures those moments."""


def onnx_paths(weights: str | Path) -> tuple[Path, Path, Path]:
    """The ONNX exports of a weights file, next to ``W.safetensors`` (:mod:`reid_core.onnx_export`
    writes them): ``W.encode.onnx`` (crops → encodings), ``W.head.onnx`` (pair head) and
    ``W.moments.onnx`` (crops → the trunk's BatchNorm input moments, for camera normalisation)."""
    path = Path(weights)
    stem = path.with_suffix("") if path.suffix == ".safetensors" else path
    encode, head, moments = (
        stem.with_name(f"{stem.name}.{part}.onnx") for part in ("encode", "head", "moments")
    )
    return encode, head, moments
