"""Weights and checkpoints on disk: ``safetensors`` tensors + a small JSON sidecar. Never unpickled.

A weights file ``NAME.safetensors`` holds the model's tensors (fp16 for shipped weights); the
sidecar ``NAME.json`` holds ``{"format": "reid-siamese", "version": 1, "model": {ModelConfig},
"metrics": {...}, "step": N, ...}``. The same JSON is also embedded in the safetensors header
(key ``reid_meta``), so a file that lost its sidecar still loads.

This folder also holds the shipped default weights (:data:`DEFAULT_WEIGHTS`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from infra.errors import UserError, WeightsError
from infra.fileio import atomic_path, atomic_write_text, read_text_bounded
from reid_core.shipped import DEFAULT_WEIGHTS as _SHIPPED_DEFAULT_WEIGHTS

__all__ = [
    "DEFAULT_WEIGHTS",
    "FORMAT",
    "load_into",
    "load_weights",
    "read_meta",
    "save_weights",
    "sidecar_path",
]

FORMAT = "reid-siamese"
DEFAULT_WEIGHTS = _SHIPPED_DEFAULT_WEIGHTS
"""The shipped default (fp16, trained on CUHK03 pair 1 + CUHK01 training ids; see docs/reid.md)."""


def sidecar_path(path: str | Path) -> Path:
    """``x.safetensors`` → ``x.json``."""
    return Path(path).with_suffix(".json")


def save_weights(
    path: str | Path,
    tensors: Mapping[str, torch.Tensor],
    meta: Mapping[str, Any],
    *,
    half: bool = False,
) -> Path:
    """Write tensors to ``path`` (safetensors) and ``meta`` to its JSON sidecar, both atomically.

    Args:
        path: target ``.safetensors`` file.
        tensors: name → tensor (e.g. a ``state_dict()``); made contiguous, moved to CPU.
        meta: JSON-serialisable description (model config, metrics, step).
        half: store floating tensors as float16 (halves the size; for shipped weights).

    Returns:
        ``path`` as a :class:`Path`.
    """
    from safetensors.torch import save_file

    path = Path(path)
    out: dict[str, torch.Tensor] = {}
    for k, v in tensors.items():
        t = v.detach().to("cpu")
        if half and t.is_floating_point():
            t = t.half()
        out[k] = t.contiguous().clone()  # own storage: safetensors refuses shared tensors
    meta_json = json.dumps(dict(meta), indent=1, sort_keys=True)
    with atomic_path(path) as tmp:
        save_file(out, str(tmp), metadata={"reid_meta": meta_json})
    atomic_write_text(sidecar_path(path), meta_json + "\n")
    return path


MAX_META_BYTES = 1 << 20  # a weights description is a few KiB; more is the wrong file (or /dev/zero)


def read_meta(path: str | Path) -> dict[str, Any]:
    """The JSON description of a weights file: its sidecar, else the copy in the safetensors header.

    Raises:
        WeightsError: file missing, not safetensors, or no description found.
    """
    path = Path(path)
    side = sidecar_path(path)
    if side.is_file():
        try:
            meta = json.loads(read_text_bounded(side, MAX_META_BYTES, "weights description"))
        except ValueError as err:
            raise WeightsError(f"{side}: unreadable weights description ({type(err).__name__})") from None
        except UserError as err:  # unreadable, too large or not UTF-8: the line already names the file
            raise WeightsError(str(err)) from None
    else:
        header = _header_metadata(path)
        if "reid_meta" not in header:
            raise WeightsError(f"{path}: no JSON sidecar {side.name} and no 'reid_meta' in the file header")
        try:
            meta = json.loads(header["reid_meta"])
        except ValueError:
            raise WeightsError(f"{path}: the 'reid_meta' header is not JSON") from None
    if not isinstance(meta, dict) or "model" not in meta:
        raise WeightsError(f"{path}: weights description has no 'model' section")
    if not isinstance(meta["model"], dict):
        raise WeightsError(
            f"{path}: weights description: 'model' must be a mapping, got {type(meta['model']).__name__}"
        )
    return meta


def _header_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    _check_file(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as err:
        raise WeightsError(f"{path}: not a safetensors file ({type(err).__name__})") from None


def _check_file(path: Path) -> None:
    if not path.exists():
        raise WeightsError(f"{path}: weights file not found")
    if not path.is_file():
        raise WeightsError(f"{path}: not a file")


def load_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read tensors and description of a weights file (CPU tensors, stored dtype).

    Raises:
        WeightsError: missing, truncated/corrupt or undescribed file (the message names it).
    """
    from safetensors.torch import load_file

    path = Path(path)
    _check_file(path)
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as err:
        raise WeightsError(f"{path}: not a readable safetensors file ({type(err).__name__})") from None
    return tensors, read_meta(path)


def load_into(module: torch.nn.Module, tensors: Mapping[str, torch.Tensor], source: str | Path) -> None:
    """Copy ``tensors`` into ``module`` (cast to its dtypes); every key must match exactly.

    Raises:
        WeightsError: missing or unexpected keys, or shape mismatches (names ``source``).
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    bad = sorted(k for k in set(own) & set(tensors) if own[k].shape != tensors[k].shape)
    if missing or extra or bad:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if extra:
            parts.append(f"{len(extra)} unexpected (e.g. {extra[0]})")
        if bad:
            parts.append(f"{len(bad)} with wrong shape (e.g. {bad[0]})")
        raise WeightsError(f"{source}: weights do not fit the model: {'; '.join(parts)}")
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in tensors.items()}, strict=True)
