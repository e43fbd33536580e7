"""The generic training engine: steps, learning-rate schedule, evaluation, checkpoints, resume.

House style §4.11 (torchreid's ``Engine.run`` with one override point): :class:`Trainer` owns the
loop and knows nothing about pairs or re-ID; a subclass overrides :meth:`Trainer.training_step`
(and optionally :meth:`~Trainer.on_step_start`, :meth:`~Trainer.evaluate`,
:meth:`~Trainer.extra_state` / :meth:`~Trainer.load_extra_state`).

Exact resume: before step ``s`` torch's global generator is seeded from ``(seed, s)``
(:attr:`~reid_core.rng.Stream.TORCH_GLOBAL`), and the learning rate is a pure function of the
step. A checkpoint holds the model, the optimizer state, the step, the AMP scaler, the evaluation
history and the subclass's extra state, so ``--resume`` continues a killed run as if it had not
stopped.

Files in the run folder: ``last.safetensors`` (+ ``.json``): the resumable checkpoint;
``eval_step_NNNNNN.safetensors``: model weights at each evaluation; ``best.safetensors``: the
best by the first metric :meth:`Trainer.evaluate` returns; ``metrics.jsonl``: one JSON line per
evaluation.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from infra.device import resolve_device
from infra.errors import WeightsError
from reid_core.rng import Stream, torch_seed
from reid_core.training.config import OptimConfig, TrainConfig, config_to_dict

__all__ = ["CHECKPOINT_FORMAT", "Trainer", "build_optimizer", "poly_lr_factor"]

CHECKPOINT_FORMAT = "reid-siamese-checkpoint"


def poly_lr_factor(step: int, total: int, power: float, warmup: int) -> float:
    """Learning-rate multiplier at ``step``: linear warm-up, then (1 − step/total)^power."""
    decay = max(0.0, 1.0 - step / total) ** power
    if warmup > 0 and step < warmup:
        return decay * (step + 1) / warmup
    return decay


def build_optimizer(
    groups: Sequence[tuple[Sequence[torch.nn.Parameter], float]], cfg: OptimConfig
) -> torch.optim.Optimizer:
    """The optimizer of ``cfg.name`` over parameter groups ``(params, base learning rate)``.

    Each group remembers its ``base_lr``; :meth:`Trainer.set_lr` scales it by the schedule.
    """
    param_groups = [{"params": list(params), "lr": lr, "base_lr": lr} for params, lr in groups]
    first_lr = groups[-1][1]
    if cfg.name == "sgd":
        return torch.optim.SGD(
            param_groups, lr=first_lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    return torch.optim.AdamW(param_groups, lr=first_lr, weight_decay=cfg.weight_decay)


class Trainer:
    """Owns the loop: steps, learning rate, evaluation, checkpoints, logging, resume.

    Args:
        model: the network (moved to ``device`` here).
        optimizer: over the model's parameters; every group has a ``base_lr``.
        out_dir: run folder.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        amp: float16 autocast with gradient scaling on CUDA (ignored on CPU).
        steps: total steps; the schedule reaches its end here.
        seed: seed of the run (every random draw derives from it and the step).
        lr_factor: step → learning-rate multiplier (a pure function of the step).
        grad_clip_norm: clip the global gradient norm to this; ``None`` = no clipping.
        checkpoint_every_steps, eval_every_steps, log_every_steps: intervals in steps
            (``eval_every_steps`` 0 = evaluate at the end only).
        model_description: JSON description of the architecture; a checkpoint of another one
            is refused on resume.
        run_description: JSON description of the whole recipe, stored in checkpoints.
        weights_description: JSON stored with every weights file written (plus step and metrics).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        out_dir: str | Path,
        device: str,
        amp: bool,
        steps: int,
        seed: int,
        lr_factor: Callable[[int], float],
        grad_clip_norm: float | None,
        checkpoint_every_steps: int,
        eval_every_steps: int,
        log_every_steps: int,
        model_description: Mapping[str, Any],
        run_description: Mapping[str, Any],
        weights_description: Mapping[str, Any],
    ) -> None:
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.optimizer = optimizer
        self.out_dir = Path(out_dir)
        self.steps = int(steps)
        self.seed = int(seed)
        self.lr_factor = lr_factor
        self.grad_clip_norm = grad_clip_norm
        self.checkpoint_every_steps = int(checkpoint_every_steps)
        self.eval_every_steps = int(eval_every_steps)
        self.log_every_steps = int(log_every_steps)
        self.model_description = dict(model_description)
        self.run_description = dict(run_description)
        self.weights_description = dict(weights_description)
        self.step = 0
        self.progress: str | bool | None = "auto"  # infra.progress mode: auto, bar, lines, off
        self.use_amp = bool(amp and self.device.type == "cuda")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {}

    @staticmethod
    def engine_kwargs(cfg: TrainConfig, out_dir: str | Path) -> dict[str, Any]:
        """The engine's keyword arguments from a recipe (the ``from_config`` mapping of this class)."""
        r, o = cfg.run, cfg.optim
        return {
            "out_dir": out_dir,
            "device": r.device,
            "amp": r.amp,
            "steps": r.steps,
            "seed": r.seed,
            "lr_factor": lambda step: poly_lr_factor(step, r.steps, o.poly_power, o.warmup_steps),
            "grad_clip_norm": o.grad_clip_norm,
            "checkpoint_every_steps": r.checkpoint_every_steps,
            "eval_every_steps": r.eval_every_steps,
            "log_every_steps": r.log_every_steps,
            "model_description": config_to_dict(cfg.model),
            "run_description": config_to_dict(cfg),
        }

    # -- override points ------------------------------------------------------------------
    def training_step(self, step: int) -> dict[str, float]:
        """Forward and backward of step ``step`` ending in :meth:`optimizer_step`; returns loss values etc."""
        raise NotImplementedError

    def on_step_start(self, step: int) -> None:
        """Hook before each step (e.g. mining rounds)."""

    def evaluate(self) -> dict[str, float]:
        """Metrics of the current model (``{name: value}``); the first key ranks checkpoints."""
        return {}

    def extra_state(self) -> dict[str, torch.Tensor]:
        """Extra tensors for the checkpoint."""
        return {}

    def load_extra_state(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`extra_state` saved."""

    def pairs_per_step(self) -> int:
        """Pairs per step, for the pairs/s figure."""
        return 0

    # -- one optimisation step --------------------------------------------------------------
    def optimizer_step(self, loss: torch.Tensor) -> None:
        """Backward of ``loss`` (scaled under AMP), gradient clipping, optimizer and scaler step."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.grad_clip_norm is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()

    # -- loop -----------------------------------------------------------------------------
    def set_lr(self, step: int) -> float:
        """Set every group's learning rate to ``base_lr × lr_factor(step)``; returns the factor."""
        f = self.lr_factor(step)
        for g in self.optimizer.param_groups:
            g["lr"] = g["base_lr"] * f
        return f

    def run(self, until: int | None = None) -> dict[str, Any]:
        """Train from ``self.step`` to ``steps`` (or stop early after step ``until``).

        Returns the last evaluation record. Stopping early writes a checkpoint, like a kill
        right after a checkpoint would leave.
        """
        from infra.progress import Progress

        self.out_dir.mkdir(parents=True, exist_ok=True)
        bar = Progress(self.steps, "train", "step", self.progress, interval_s=30.0, initial=self.step)
        t0, s0 = time.perf_counter(), self.step
        avg: dict[str, float] = {}
        stop = self.steps if until is None else min(until, self.steps)
        while self.step < stop:
            step = self.step
            self.on_step_start(step)
            self.set_lr(step)
            torch.manual_seed(torch_seed(self.seed, Stream.TORCH_GLOBAL, step))  # dropout etc.
            out = self.training_step(step)
            if not all(math.isfinite(v) for v in out.values()):
                raise FloatingPointError(f"non-finite loss at step {step}: {out}")
            for k, v in out.items():
                avg[k] = 0.9 * avg.get(k, v) + 0.1 * v
            self.step = step + 1
            bar.update(1)
            rate = (self.step - s0) * self.pairs_per_step() / max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix(loss=f"{avg.get('loss', 0.0):.3f}", pairs_s=f"{rate:.0f}")
            if self.step % self.log_every_steps == 0 or self.step == self.steps:
                parts = " ".join(f"{k}={v:.4f}" for k, v in avg.items())
                lr = self.optimizer.param_groups[-1]["lr"]
                bar.write(f"step {self.step}/{self.steps} {parts} lr_head={lr:.2e} pairs/s={rate:.0f}")
            done = self.step == self.steps
            if (self.eval_every_steps and self.step % self.eval_every_steps == 0) or done:
                self._evaluate_and_record()
            if self.step % self.checkpoint_every_steps == 0 or done or self.step == stop:
                self.save_checkpoint(self.out_dir / "last.safetensors")
        bar.close()
        return self.history[-1] if self.history else {}

    def _evaluate_and_record(self) -> None:
        from reid_core.weights import save_weights

        t = time.perf_counter()
        metrics = self.evaluate()
        rec = {"step": self.step, **{k: round(float(v), 4) for k, v in metrics.items()}}
        rec["eval_s"] = round(time.perf_counter() - t, 1)
        self.history.append(rec)
        with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
        print(f"eval {json.dumps(rec)}", file=sys.stderr, flush=True)
        meta = self.weights_meta(metrics)
        save_weights(self.out_dir / f"eval_step_{self.step:06d}.safetensors", self.model.state_dict(), meta)
        if metrics:
            key = next(iter(metrics))
            if not self.best or metrics[key] > self.best.get(key, -1.0):
                self.best = {"step": self.step, **metrics}
                save_weights(self.out_dir / "best.safetensors", self.model.state_dict(), meta)

    def weights_meta(self, metrics: dict[str, float] | None = None) -> dict[str, Any]:
        """JSON description stored with weights: model config, step, metrics, and the static description."""
        from reid_core.weights import FORMAT

        return {
            "format": FORMAT,
            "version": 1,
            "model": self.model_description,
            "step": self.step,
            "metrics": {k: round(float(v), 4) for k, v in (metrics or {}).items()},
            **self.weights_description,
        }

    # -- checkpoints ----------------------------------------------------------------------
    def save_checkpoint(self, path: Path) -> None:
        """Write a resumable checkpoint (safetensors + JSON; the JSON is also in the header)."""
        from reid_core.weights import save_weights

        tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        osd = self.optimizer.state_dict()
        for idx, st in osd["state"].items():
            for k, v in st.items():
                tensors[f"optim.{idx}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
        for k, v in self.extra_state().items():
            tensors[f"extra.{k}"] = v
        groups = [{k: v for k, v in g.items()} for g in osd["param_groups"]]
        meta = {
            "format": CHECKPOINT_FORMAT,
            "version": 1,
            "step": self.step,
            "model": self.model_description,
            "config": self.run_description,
            "optim_param_groups": groups,
            "scaler": self.scaler.state_dict() if self.use_amp else {},
            "history": self.history,
            "best": self.best,
        }
        save_weights(path, tensors, meta)

    def load_checkpoint(self, path: Path) -> None:
        """Restore model, optimiser, step, history and extra state from :meth:`save_checkpoint`.

        Raises:
            WeightsError: missing or unreadable checkpoint, or one of another architecture.
        """
        from reid_core.weights import _header_metadata, load_into, load_weights

        tensors, _ = load_weights(path)
        try:  # the header copy is atomic with the tensors
            meta = json.loads(_header_metadata(Path(path)).get("reid_meta", ""))
        except ValueError:
            raise WeightsError(
                f"{path}: not a training checkpoint (its 'reid_meta' header is not JSON)"
            ) from None
        if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
            meta = meta if isinstance(meta, dict) else {}
            raise WeightsError(f"{path}: not a training checkpoint (format {str(meta.get('format'))[:40]!r})")
        if meta["model"] != self.model_description:
            raise WeightsError(f"{path}: checkpoint model config differs from the config's 'model' section")
        load_into(self.model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, path)
        state: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, idx, name = k.split(".", 2)
                state.setdefault(int(idx), {})[name] = v.to(self.device) if name != "step" else v
        groups = meta["optim_param_groups"]
        for g in groups:
            if "betas" in g:
                g["betas"] = tuple(g["betas"])
        self.optimizer.load_state_dict({"state": state, "param_groups": groups})
        if self.use_amp and meta.get("scaler"):
            self.scaler.load_state_dict(meta["scaler"])
        self.load_extra_state({k[6:]: v for k, v in tensors.items() if k.startswith("extra.")})
        self.step = int(meta["step"])
        self.history = list(meta.get("history", []))
        self.best = dict(meta.get("best", {}))
        self._rewrite_metrics()

    def _rewrite_metrics(self) -> None:
        """``metrics.jsonl`` = the checkpoint's history: drops the lines of evaluations after it.

        A run killed between an evaluation and the next checkpoint repeats that evaluation on
        resume; without this its line would appear twice.
        """
        from infra.fileio import atomic_write_text

        path = self.out_dir / "metrics.jsonl"
        if path.exists() or self.history:
            atomic_write_text(path, "".join(json.dumps(rec) + "\n" for rec in self.history))
