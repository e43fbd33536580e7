"""``train()``: a recipe in, a run folder out (the wiring behind ``reid-train``)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from infra.errors import UserError, WeightsError
from reid_core.model import build_model
from reid_core.training.config import TrainConfig, config_to_dict
from reid_core.training.data import load_train_data
from reid_core.training.siamese import SiameseTrainer

__all__ = ["train"]


def train(
    cfg: TrainConfig,
    *,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: str | bool | None = "auto",
) -> dict[str, Any]:
    """Train per ``cfg``; write checkpoints and weights to ``out_dir`` (default ``cfg.run.out_dir``).

    Args:
        cfg: the recipe.
        out_dir: run folder (created).
        resume: continue from ``out_dir/last.safetensors`` (error if absent).
        progress: :class:`infra.progress.Progress` mode: ``auto`` (a bar on a terminal, a plain
            line every 30 s otherwise), ``bar``, ``lines`` or ``off``.

    Returns:
        The last evaluation record (``{"step": ..., "<set>_r1": ...}``).

    Raises:
        DatasetError: empty or broken training data (names the path).
        WeightsError: ``resume`` without a readable checkpoint.
    """

    out = Path(out_dir or cfg.run.out_dir)
    if cfg.run.num_threads:
        torch.set_num_threads(cfg.run.num_threads)
    ckpt = out / "last.safetensors"
    if resume and not ckpt.is_file():
        raise WeightsError(f"{ckpt}: no checkpoint to resume from")
    try:  # the run folder before any data is read or model built
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"{out}: cannot create the run folder ({err.strerror})") from None
    if not os.access(out, os.W_OK):
        raise UserError(f"{out}: run folder is not writable")
    with deterministic_algorithms(cfg.run.deterministic):
        return _train(cfg, out, ckpt, resume, progress)


@contextlib.contextmanager
def deterministic_algorithms(on: bool) -> Iterator[None]:
    """``torch.use_deterministic_algorithms(on)`` inside the block (as before it, after).

    On CUDA, cuBLAS is deterministic only with a fixed workspace: ``CUBLAS_WORKSPACE_CONFIG``
    is set to ``:4096:8`` unless the environment sets it (it takes effect where cuBLAS starts
    after it, as in a ``reid-train`` process). Without this, two CUDA runs of one recipe part ways
    at the first hard-negative mining round (seen on an H200).
    """
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(on, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was)


def start_or_resume(trainer: Any, cfg: TrainConfig, out: Path, ckpt: Path, resume: bool) -> None:
    """Resume ``trainer`` from ``ckpt`` (one line on stderr), or record ``cfg`` as ``out/config.yaml``
    for a fresh run. Shared by training and adaptation (``reid_core.training.adapt``)."""
    if resume:
        trainer.load_checkpoint(ckpt)
        print(f"resumed from {ckpt} at step {trainer.step}", file=sys.stderr, flush=True)
        return
    import yaml

    from infra.fileio import atomic_write_text

    atomic_write_text(out / "config.yaml", yaml.safe_dump(config_to_dict(cfg), sort_keys=False))


def _train(
    cfg: TrainConfig, out: Path, ckpt: Path, resume: bool, progress: str | bool | None
) -> dict[str, Any]:
    torch.manual_seed(cfg.run.seed)
    data = load_train_data(cfg.data)
    model = build_model(cfg.model, load_imagenet=False if resume or cfg.run.init_weights else None)
    if cfg.run.init_weights and not resume:
        from reid_core.weights import load_into, load_weights

        tensors, _ = load_weights(cfg.run.init_weights)
        load_into(model, tensors, cfg.run.init_weights)
    trainer = SiameseTrainer.from_config(cfg, model, data, out)
    trainer.progress = progress
    start_or_resume(trainer, cfg, out, ckpt, resume)
    print(
        f"training on {len(data.items)} crops of {trainer.sampler.num_identities} identities, "
        f"{trainer.pairs_per_step()} pairs/step from {2 * trainer.sampler.P} crops, device {trainer.device}, "
        f"{torch.get_num_threads()} threads, deterministic algorithms "
        f"{'on' if cfg.run.deterministic else 'off'}",
        file=sys.stderr,
        flush=True,
    )
    return trainer.run()
