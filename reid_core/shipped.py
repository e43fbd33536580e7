"""Where the shipped re-ID files are; importable without torch (a CPU run on ONNX Runtime never loads it)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_WEIGHTS", "onnx_paths"]

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "siamese_mobilenet_v2.safetensors"
"""The shipped default weights (safetensors, with a ``.json`` sidecar)."""


def onnx_paths(weights: str | Path) -> tuple[Path, Path]:
    """The ONNX exports of a weights file: ``W.encode.onnx`` (crops → encodings) and ``W.head.onnx``
    (pair head), next to ``W.safetensors`` (:mod:`reid_core.onnx_export` writes them)."""
    path = Path(weights)
    stem = path.with_suffix("") if path.suffix == ".safetensors" else path
    return stem.with_name(stem.name + ".encode.onnx"), stem.with_name(stem.name + ".head.onnx")
