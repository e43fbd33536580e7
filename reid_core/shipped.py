"""Where the shipped re-ID files are; importable without torch (a CPU run on ONNX Runtime never loads it)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CMC_WEIGHTS", "DEFAULT_WEIGHTS", "onnx_paths"]

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "siamese_mobilenet_v2.safetensors"
"""The shipped default weights (safetensors, with a ``.json`` sidecar): the pipeline's and every
loader's default (``configs/reid/default.yaml``, 1,800 steps). They score tracklet pairs of the
association benchmark's cuts better than :data:`CMC_WEIGHTS` (docs/reid.md, "Two shipped weights")."""

CMC_WEIGHTS = DEFAULT_WEIGHTS.with_name("siamese_mobilenet_v2_full.safetensors")
"""Shipped weights that rank still re-ID images best (``configs/reid/full.yaml``, 4,000 steps, low
resolution augmentation): the default of ``reid-eval cmc``. Not the pipeline's: on the
association benchmark they rank tracklet pairs worse (docs/reid.md, "Two shipped weights")."""


def onnx_paths(weights: str | Path) -> tuple[Path, Path]:
    """The ONNX exports of a weights file: ``W.encode.onnx`` (crops → encodings) and ``W.head.onnx``
    (pair head), next to ``W.safetensors`` (:mod:`reid_core.onnx_export` writes them)."""
    path = Path(weights)
    stem = path.with_suffix("") if path.suffix == ".safetensors" else path
    return stem.with_name(stem.name + ".encode.onnx"), stem.with_name(stem.name + ".head.onnx")
