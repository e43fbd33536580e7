"""Training of the Siamese correspondence network (``reid-train``).

Layout (house style §4.11): :class:`Trainer` owns the loop (steps, learning-rate schedule,
evaluation, checkpoints, logging, resume); :class:`SiameseTrainer` overrides one method,
:meth:`Trainer.training_step`, plus the per-round hard-identity mining hook.

A step (shared-crop batch, Section IV of the paper with two changes that make it train on a CPU):

1. :class:`~reid_core.data.sampler.CrossCameraSampler` gives P identities × one crop from each
   of two cameras (2P crops; the trunk runs once per crop, not once per pair).
2. Random 2-D affine around the centre + horizontal flip per crop (paper: ×5 offline copies).
3. Trunk maps → both half-responses of the correspondence conv per crop (exact decomposition).
4. Positives: the P cross-camera pairs (in both orders: 2P). Negatives: ``negatives_per_positive``
   × positives from the cross-camera pairs of different identities in the batch; after
   ``mining.start_step`` a fraction of them are the ones the current model scores highest
   (hard negative mining), the rest random.
5. Loss: cross-entropy of the pair head + ``embed_weight`` × a cross-camera InfoNCE loss on the
   shortlist embedding.

Hard-identity rounds: every ``mining.round_every_steps`` (from ``mining.start_step``) the current
model embeds every training identity and each batch takes ``hard_identity_fraction`` of its
identities from their nearest neighbours, so the in-batch negatives are confusable people.

Exact resume: every random draw of step ``s`` is seeded from ``(seed, s)``; a checkpoint
holds the model, the optimizer state, the step, the sampler's neighbour table and the AMP
scaler. The learning rate is a pure function of the step. So ``--resume`` continues a killed
run exactly as if it had not stopped (bit-identical on the same machine and thread count).

Files in ``run.out_dir``: ``last.safetensors`` (+ ``.json``): the resumable checkpoint;
``eval_step_NNNNNN.safetensors``: model weights at each evaluation; ``best.safetensors``: the
best by rank-1 on the first evaluation set; ``metrics.jsonl``: one JSON line per evaluation;
``config.yaml``: the config used.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from infra.device import resolve_device
from infra.errors import ConfigError, DatasetError, UserError, WeightsError
from reid_core.data.sampler import CrossCameraBatch, CrossCameraSampler
from reid_core.data.transforms import bgr_to_input, random_affine
from reid_core.data.types import ReIDItem, Split
from reid_core.model import INPUT_SIZE_HW, ModelConfig, SiameseNet, build_model

__all__ = [
    "AugmentConfig",
    "DataConfig",
    "DatasetSpec",
    "LossConfig",
    "MiningConfig",
    "OptimConfig",
    "RunConfig",
    "SamplerConfig",
    "SiameseTrainer",
    "TrainConfig",
    "Trainer",
    "load_train_config",
    "train",
]

CHECKPOINT_FORMAT = "reid-siamese-checkpoint"


# ------------------------------------------------------------------------------------------
# Config (YAML → frozen dataclasses through infra.yaml_config.load_dataclass)
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetSpec:
    """One training data set: its registry ``name`` (cuhk01, cuhk03, ...) and ``root`` folder."""

    name: str
    root: str


@dataclass(frozen=True)
class DataConfig:
    """Data (YAML section ``data``).

    Attributes:
        train: data sets whose *training* identities are merged (ids made disjoint).
        split_seed: seed of each data set's protocol split (test identities held out).
        num_test_ids: test identities per data set; null = the protocol default (100 for CUHK).
        eval: names of data sets in ``train`` whose test split (single-shot query/gallery) is
            evaluated during training; the first one selects ``best.safetensors``.
        shortlist_k: shortlist length for the "embedding shortlist + pair head" figure.
    """

    train: tuple[DatasetSpec, ...]
    split_seed: int = 0
    num_test_ids: int | None = None
    eval: tuple[str, ...] = ()
    shortlist_k: int = 10


@dataclass(frozen=True)
class SamplerConfig:
    """Batches (YAML section ``sampler``).

    Attributes:
        identities_per_batch: P; the trunk sees 2P crops per step. Higher: more negatives per
            crop and better BatchNorm statistics, slower steps.
        negatives_per_positive: negatives per positive pair (paper: 2).
        both_orders: use each positive pair in both orders (a, b) and (b, a).
    """

    identities_per_batch: int = 33
    negatives_per_positive: float = 2.0
    both_orders: bool = True


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation (YAML section ``augment``): random affine around the centre + flips.

    Attributes:
        flip_prob: probability of a horizontal flip (0..1).
        max_rotation_deg: rotation drawn in ±this, degrees.
        scale_range: zoom drawn in [lo, hi] (unitless factor).
        max_translate_frac: shift drawn in ±this fraction of the crop's width/height.
    """

    flip_prob: float = 0.5
    max_rotation_deg: float = 5.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    max_translate_frac: float = 0.05


@dataclass(frozen=True)
class MiningConfig:
    """Hard negative mining (YAML section ``mining``).

    Attributes:
        start_step: first step (0-based) with mining; before it, negatives are random.
        hard_negative_fraction: fraction of each batch's negatives chosen as those the current
            model scores highest (0 = random negatives only).
        candidates_per_batch: negatives scored per step to pick the hard ones (pairs).
        round_every_steps: steps between hard-identity rounds (0 = no rounds).
        hard_identity_fraction: fraction of each batch's identities drawn from neighbours.
        neighbours_per_identity: neighbour list length per identity.
    """

    start_step: int = 1000
    hard_negative_fraction: float = 0.5
    candidates_per_batch: int = 512
    round_every_steps: int = 1000
    hard_identity_fraction: float = 0.5
    neighbours_per_identity: int = 10


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser (YAML section ``optim``).

    Attributes:
        name: ``adamw`` (default, trains) or ``sgd`` (the paper's; stalled here with mobilenet_v2).
        lr_head: learning rate of head and embedding at step 0 (per step, before decay).
        lr_trunk: learning rate of the trunk at step 0.
        weight_decay: decoupled (AdamW) or L2 (SGD) weight decay.
        momentum: SGD momentum (unused by AdamW).
        poly_power: lr(step) = lr · (1 − step / steps) ^ poly_power.
        warmup_steps: linear warm-up steps from 0 to lr.
        grad_clip_norm: clip the global gradient norm to this; null = no clipping.
    """

    name: str = "adamw"
    lr_head: float = 1e-3
    lr_trunk: float = 1e-4
    weight_decay: float = 2e-4
    momentum: float = 0.9
    poly_power: float = 0.9
    warmup_steps: int = 100
    grad_clip_norm: float | None = 5.0

    def __post_init__(self) -> None:
        if self.name not in ("adamw", "sgd"):
            raise ValueError(f"optim.name: unknown optimizer {self.name!r}; available: adamw, sgd")


@dataclass(frozen=True)
class LossConfig:
    """Loss weights (YAML section ``loss``).

    Attributes:
        embed_weight: weight of the shortlist embedding's InfoNCE loss (0 = pair loss only).
        embed_temperature: InfoNCE temperature (cosine units; lower = sharper).
    """

    embed_weight: float = 0.5
    embed_temperature: float = 0.1


@dataclass(frozen=True)
class RunConfig:
    """Run control (YAML section ``run``).

    Attributes:
        steps: total optimisation steps (the poly decay reaches 0 here).
        seed: seed of every random draw (sampler, augmentation, dropout).
        checkpoint_every_steps: write ``last.safetensors`` every this many steps (and at the end).
        eval_every_steps: evaluate on the ``data.eval`` splits every this many steps; 0 = only at the end.
        log_every_steps: one log line every this many steps.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        amp: mixed precision (float16 autocast + grad scaling) on CUDA; ignored on CPU.
        num_threads: torch CPU threads; null = torch's default.
        out_dir: run folder (checkpoints, metrics); ``--out`` overrides it.
    """

    steps: int = 6000
    seed: int = 0
    checkpoint_every_steps: int = 100
    eval_every_steps: int = 500
    log_every_steps: int = 20
    device: str = "auto"
    amp: bool = True
    num_threads: int | None = None
    out_dir: str = "runs/default"


@dataclass(frozen=True)
class TrainConfig:
    """A whole training recipe (one YAML file in ``configs/reid/``)."""

    data: DataConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    mining: MiningConfig = field(default_factory=MiningConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        names = [d.name for d in self.data.train]
        for e in self.data.eval:
            if e not in names:
                raise ValueError(f"data.eval: {e!r} is not one of data.train ({', '.join(names)})")
        if self.run.steps <= 0:
            raise ValueError(f"run.steps must be > 0, got {self.run.steps}")


def load_train_config(path: str | Path) -> TrainConfig:
    """Read a training YAML; relative data/weights paths are taken relative to the current folder.

    Raises:
        ConfigError: unknown key, wrong type or bad value (names the file and key).
    """
    from infra.yaml_config import load_dataclass

    return load_dataclass(TrainConfig, path)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A config dataclass as plain JSON-able dicts/lists."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


# ------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------
@dataclass
class TrainData:
    """Training items and their decoded crops, plus the evaluation splits.

    Attributes:
        items: merged training items (ids 0..N-1 across data sets).
        images_bgr: (len(items), 160, 80, 3) uint8 BGR crops, decoded once.
        eval_splits: name → split whose query/gallery are evaluated.
    """

    items: tuple[ReIDItem, ...]
    images_bgr: np.ndarray
    eval_splits: dict[str, Split]


def load_train_data(cfg: DataConfig) -> TrainData:
    """Protocol splits of ``cfg.train`` (test identities held out), merged and decoded.

    Raises:
        DatasetError: a data set that is missing, empty or unreadable (names its path).
    """
    from reid_core.data.loader import read_crops_bgr
    from reid_core.data.splits import load_split, merge_train

    if not cfg.train:
        raise ConfigError("data.train: no training data sets given")
    splits = {}
    for spec in cfg.train:
        splits[spec.name] = load_split(
            spec.name, spec.root, seed=cfg.split_seed, num_test_ids=cfg.num_test_ids
        )
    items = merge_train(*splits.values())
    roots = ", ".join(d.root for d in cfg.train)
    if not items:
        raise DatasetError(f"{roots}: no training images after holding out the test identities")
    images = read_crops_bgr([it.image_path for it in items], INPUT_SIZE_HW)
    return TrainData(items, images, {name: splits[name] for name in cfg.eval})


# ------------------------------------------------------------------------------------------
# Engine
# ------------------------------------------------------------------------------------------
def poly_lr_factor(step: int, total: int, power: float, warmup: int) -> float:
    """Learning-rate multiplier at ``step``: linear warm-up, then (1 − step/total)^power."""
    decay = max(0.0, 1.0 - step / total) ** power
    if warmup > 0 and step < warmup:
        return decay * (step + 1) / warmup
    return decay


def _step_seed(seed: int, step: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, stream, step]).generate_state(1, np.uint64)[0] % (2**63 - 1))


class Trainer:
    """Owns the loop: steps, learning rate, evaluation, checkpoints, logging, resume.

    Subclasses override :meth:`training_step` (and optionally :meth:`on_step_start`,
    :meth:`evaluate`, :meth:`extra_state`/:meth:`load_extra_state`).

    Args:
        cfg: the recipe.
        model: the network (moved to the device here).
        out_dir: run folder.
    """

    def __init__(self, cfg: TrainConfig, model: SiameseNet, out_dir: str | Path) -> None:
        self.cfg = cfg
        self.device = resolve_device(cfg.run.device)
        self.model = model.to(self.device)
        self.out_dir = Path(out_dir)
        self.step = 0
        self.use_amp = bool(cfg.run.amp and self.device.type == "cuda")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        trunk_params = list(model.trunk.parameters())
        trunk_ids = {id(p) for p in trunk_params}
        head_params = [p for p in model.parameters() if id(p) not in trunk_ids]
        groups = [
            {"params": trunk_params, "lr": cfg.optim.lr_trunk, "base_lr": cfg.optim.lr_trunk},
            {"params": head_params, "lr": cfg.optim.lr_head, "base_lr": cfg.optim.lr_head},
        ]
        if cfg.optim.name == "sgd":
            self.optimizer: torch.optim.Optimizer = torch.optim.SGD(
                groups, lr=cfg.optim.lr_head, momentum=cfg.optim.momentum, weight_decay=cfg.optim.weight_decay
            )
        else:
            self.optimizer = torch.optim.AdamW(
                groups, lr=cfg.optim.lr_head, weight_decay=cfg.optim.weight_decay
            )
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {}

    # -- override points ------------------------------------------------------------------
    def training_step(self, step: int) -> dict[str, float]:
        """Forward, backward and optimiser step for step ``step``; returns loss values etc."""
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

    # -- loop -----------------------------------------------------------------------------
    def set_lr(self, step: int) -> float:
        o = self.cfg.optim
        f = poly_lr_factor(step, self.cfg.run.steps, o.poly_power, o.warmup_steps)
        for g in self.optimizer.param_groups:
            g["lr"] = g["base_lr"] * f
        return f

    def run(self, until: int | None = None) -> dict[str, Any]:
        """Train from ``self.step`` to ``cfg.run.steps`` (or stop early after step ``until``).

        Returns the last evaluation record. Stopping early writes a checkpoint, like a kill
        right after a checkpoint would leave.
        """
        from tqdm import tqdm

        r = self.cfg.run
        self.out_dir.mkdir(parents=True, exist_ok=True)
        bar = tqdm(
            total=r.steps, initial=self.step, desc="train", mininterval=5.0, file=sys.stderr, ascii=True
        )
        t0, s0 = time.perf_counter(), self.step
        avg: dict[str, float] = {}
        stop = r.steps if until is None else min(until, r.steps)
        while self.step < stop:
            step = self.step
            self.on_step_start(step)
            self.set_lr(step)
            torch.manual_seed(_step_seed(r.seed, step, 3))  # dropout etc.
            out = self.training_step(step)
            if not all(math.isfinite(v) for v in out.values()):
                raise FloatingPointError(f"non-finite loss at step {step}: {out}")
            for k, v in out.items():
                avg[k] = 0.9 * avg.get(k, v) + 0.1 * v
            self.step = step + 1
            bar.update(1)
            rate = (self.step - s0) * self.pairs_per_step() / max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix(loss=f"{avg.get('loss', 0.0):.3f}", pairs_s=f"{rate:.0f}", refresh=False)
            if self.step % r.log_every_steps == 0 or self.step == r.steps:
                parts = " ".join(f"{k}={v:.4f}" for k, v in avg.items())
                lr = self.optimizer.param_groups[-1]["lr"]
                bar.write(
                    f"step {self.step}/{r.steps} {parts} lr_head={lr:.2e} pairs/s={rate:.0f}", file=sys.stderr
                )
            done = self.step == r.steps
            if (r.eval_every_steps and self.step % r.eval_every_steps == 0) or done:
                self._evaluate_and_record()
            if self.step % r.checkpoint_every_steps == 0 or done or self.step == stop:
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
        """JSON description stored with weights: model config, step, metrics, data."""
        from reid_core.weights import FORMAT

        return {
            "format": FORMAT,
            "version": 1,
            "model": config_to_dict(self.cfg.model),
            "step": self.step,
            "metrics": {k: round(float(v), 4) for k, v in (metrics or {}).items()},
            "train_data": [dataclasses.asdict(d) for d in self.cfg.data.train],
            "split_seed": self.cfg.data.split_seed,
            "input_size_hw": list(INPUT_SIZE_HW),
            "input_colour": "BGR uint8 crops, converted to RGB inside",
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
            "model": config_to_dict(self.cfg.model),
            "config": config_to_dict(self.cfg),
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
        meta = json.loads(
            _header_metadata(Path(path))["reid_meta"]
        )  # the header copy is atomic with the tensors
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise WeightsError(f"{path}: not a training checkpoint (format {meta.get('format')!r})")
        if meta["model"] != config_to_dict(self.cfg.model):
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


class SiameseTrainer(Trainer):
    """Pair training with shared-crop batches, hard negative mining and hard-identity rounds.

    Args:
        cfg: the recipe.
        model: the network.
        data: decoded training crops and evaluation splits.
        out_dir: run folder.
    """

    def __init__(self, cfg: TrainConfig, model: SiameseNet, data: TrainData, out_dir: str | Path) -> None:
        super().__init__(cfg, model, out_dir)
        self.data = data
        pids = np.array([it.person_id for it in data.items], np.int64)
        cams = np.array([it.camera_id for it in data.items], np.int64)
        try:
            self.sampler = CrossCameraSampler(
                pids,
                cams,
                cfg.sampler.identities_per_batch,
                seed=cfg.run.seed,
                hard_fraction=cfg.mining.hard_identity_fraction,
            )
        except ValueError as err:
            roots = ", ".join(d.root for d in cfg.data.train)
            raise DatasetError(f"{roots}: cannot build training pairs ({err})") from None
        self._images = torch.from_numpy(data.images_bgr)  # (N, 160, 80, 3) uint8 BGR, CPU

    def pairs_per_step(self) -> int:
        p = self.sampler.P
        pos = p * (2 if self.cfg.sampler.both_orders else 1)
        return pos + round(self.cfg.sampler.negatives_per_positive * pos)

    # -- mining rounds --------------------------------------------------------------------
    def on_step_start(self, step: int) -> None:
        m = self.cfg.mining
        if m.round_every_steps <= 0 or m.hard_identity_fraction <= 0 or step < m.start_step:
            return
        if (step - m.start_step) % m.round_every_steps == 0:
            self.sampler.set_neighbours(self._identity_neighbours())

    @torch.no_grad()
    def _identity_neighbours(self) -> np.ndarray:
        """Each identity's ``neighbours_per_identity`` most similar identities (current model)."""
        t = time.perf_counter()
        idx = self.sampler.representatives()  # (num_ids, 2): first crop of the first two cameras
        rows = idx.shape[0]
        emb = self._embed_items(idx.reshape(-1)).view(rows, 2, -1).mean(1)
        emb = F.normalize(emb, dim=1)
        sim = emb @ emb.T
        sim.fill_diagonal_(-2.0)
        k = min(self.cfg.mining.neighbours_per_identity, rows - 1)
        nb = sim.topk(k, dim=1).indices.cpu().numpy()
        print(
            f"mining round at step {self.step}: neighbours of {rows} identities in "
            f"{time.perf_counter() - t:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        return nb

    def _embed_items(self, idx: np.ndarray, chunk: int = 128) -> torch.Tensor:
        was = self.model.training
        self.model.eval()
        out = []
        for s in range(0, len(idx), chunk):
            x = bgr_to_input(self._images[idx[s : s + chunk]], self.device)
            with torch.autocast(self.device.type, enabled=self.use_amp):
                out.append(self.model.embed(self.model.maps(x)).float())
        self.model.train(was)
        return torch.cat(out)

    def extra_state(self) -> dict[str, torch.Tensor]:
        nb = self.sampler.neighbours
        return {} if nb is None else {"sampler_neighbours": torch.from_numpy(nb)}

    def load_extra_state(self, tensors: dict[str, torch.Tensor]) -> None:
        nb = tensors.get("sampler_neighbours")
        self.sampler.set_neighbours(None if nb is None else nb.numpy())

    # -- one step -------------------------------------------------------------------------
    def _pairs(
        self,
        batch: CrossCameraBatch,
        halves_a: torch.Tensor,
        halves_b: torch.Tensor,
        step: int,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs of the step as crop indices ``u`` (first image), ``v`` (second) and labels (1 = same).

        Crops 0..P-1 are the batch's camera-'a' crops, P..2P-1 its camera-'b' crops. Hard negatives
        are scored by the head in eval mode (running BatchNorm statistics, no dropout) on detached
        half-responses, so picking them changes no state.
        """
        p = len(batch.pids)
        ar = np.arange(p)
        pos_u, pos_v = [ar], [ar + p]
        if self.cfg.sampler.both_orders:
            pos_u.append(ar + p)
            pos_v.append(ar)
        pu, pv = np.concatenate(pos_u), np.concatenate(pos_v)
        # cross-camera negatives: (a_i, b_j) and, with both orders, (b_i, a_j), i != j
        i, j = np.nonzero(batch.pids[:, None] != batch.pids[None, :])
        cu, cv = [i], [j + p]
        if self.cfg.sampler.both_orders:
            cu.append(i + p)
            cv.append(j)
        nu, nv = np.concatenate(cu), np.concatenate(cv)
        n_neg = min(len(nu), round(self.cfg.sampler.negatives_per_positive * len(pu)))
        m = self.cfg.mining
        n_hard = round(m.hard_negative_fraction * n_neg) if step >= m.start_step else 0
        order = rng.permutation(len(nu))
        chosen: np.ndarray
        if n_hard > 0:
            cand = order[: max(n_hard, min(m.candidates_per_batch, len(nu)))]
            was = self.model.training
            self.model.head.eval()
            with torch.no_grad():
                cu_t = torch.as_tensor(nu[cand], device=self.device)
                cv_t = torch.as_tensor(nv[cand], device=self.device)
                logits = self.model.head.forward_summed(halves_a[cu_t].detach() + halves_b[cv_t].detach())
                score = (logits[:, 1] - logits[:, 0]).float().cpu().numpy()
            self.model.head.train(was)
            hard = cand[np.argsort(-score, kind="stable")[:n_hard]]
            rest = np.setdiff1d(order, hard, assume_unique=True)
            rest = rest[rng.permutation(len(rest))][: n_neg - n_hard]
            chosen = np.concatenate([hard, rest])
        else:
            chosen = order[:n_neg]
        u = np.concatenate([pu, nu[chosen]])
        v = np.concatenate([pv, nv[chosen]])
        y = np.concatenate([np.ones(len(pu), np.int64), np.zeros(len(chosen), np.int64)])
        return u, v, y

    def training_step(self, step: int) -> dict[str, float]:
        cfg = self.cfg
        batch = self.sampler.batch(step)
        gen = torch.Generator().manual_seed(_step_seed(cfg.run.seed, step, 4))
        rng = np.random.default_rng([cfg.run.seed, 5, step])
        idx = np.concatenate([batch.idx_a, batch.idx_b])
        x = bgr_to_input(self._images[idx], self.device)
        a = cfg.augment
        x = random_affine(
            x,
            gen,
            max_rotation_deg=a.max_rotation_deg,
            scale_range=tuple(a.scale_range),  # type: ignore[arg-type]
            max_translate_frac=a.max_translate_frac,
            flip_prob=a.flip_prob,
        )
        self.model.train()
        with torch.autocast(self.device.type, enabled=self.use_amp):
            maps = self.model.maps(x)
            halves = self.model.head.halves(maps)
            c = self.model.head.corr_channels
            ha, hb = halves[:, :c], halves[:, c:]
            u, v, y = self._pairs(batch, ha, hb, step, rng)
            ut = torch.as_tensor(u, device=self.device)
            vt = torch.as_tensor(v, device=self.device)
            logits = self.model.head.forward_summed(ha[ut] + hb[vt]).float()
            yt = torch.as_tensor(y, device=self.device)
            pair_loss = F.cross_entropy(logits, yt)
            loss = pair_loss
            emb_loss = torch.zeros((), device=self.device)
            if cfg.loss.embed_weight > 0:
                emb = self.model.embed(maps).float()
                p = len(batch.pids)
                sim = emb[:p] @ emb[p:].T / cfg.loss.embed_temperature
                target = torch.arange(p, device=self.device)
                emb_loss = 0.5 * (F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target))
                loss = loss + cfg.loss.embed_weight * emb_loss
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if cfg.optim.grad_clip_norm is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        with torch.no_grad():
            acc = (logits.argmax(1) == yt).float().mean().item()
        return {
            "loss": float(loss.item()),
            "pair_loss": float(pair_loss.item()),
            "embed_loss": float(emb_loss.item()),
            "pair_acc": acc,
        }

    # -- evaluation -----------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        """Single-shot CMC on each ``data.eval`` split: pair head, embedding, shortlist + head."""
        from reid_core.inference import Matcher

        matcher = Matcher(self.model, self.device)
        out: dict[str, float] = {}
        try:
            for name, split in self.data.eval_splits.items():
                out.update(evaluate_cmc(matcher, split, name, self.cfg.data.shortlist_k))
        finally:
            self.model.train()
        return out


def evaluate_cmc(matcher: Any, split: Split, name: str, shortlist_k: int) -> dict[str, float]:
    """Rank-1/5/10 (percent) of ``split`` by the pair head, the embedding, and shortlist + head.

    Uses :func:`reid_core.evaluate.cmc_map` (same-person-same-camera gallery items excluded).
    Keys: ``{name}_r1`` … (pair head), ``{name}_emb_r1`` …, ``{name}_sl{k}_r1`` … and ``{name}_mAP``.
    """
    from reid_core.evaluate import cmc_map, shortlist_scores

    qp = np.array([it.person_id for it in split.query])
    qc = np.array([it.camera_id for it in split.query])
    gp = np.array([it.person_id for it in split.gallery])
    gc = np.array([it.camera_id for it in split.gallery])
    enc_q = matcher.encode_paths([it.image_path for it in split.query])
    enc_g = matcher.encode_paths([it.image_path for it in split.gallery])
    exclude = (qp[:, None] == gp[None]) & (qc[:, None] == gc[None])
    out: dict[str, float] = {}
    pair = cmc_map(matcher.score(enc_q, enc_g), qp, gp, qc, gc, max_rank=20, higher_is_better=True)
    emb = cmc_map(
        matcher.embed(enc_q) @ matcher.embed(enc_g).T, qp, gp, qc, gc, max_rank=20, higher_is_better=True
    )
    sl = shortlist_scores(matcher, enc_q, enc_g, shortlist_k, exclude=exclude)
    short = cmc_map(sl, qp, gp, qc, gc, max_rank=20, higher_is_better=True)
    for tag, res in (("", pair), ("_emb", emb), (f"_sl{shortlist_k}", short)):
        for k in (1, 5, 10):
            out[f"{name}{tag}_r{k}"] = 100.0 * res.rank(k)
    out[f"{name}_mAP"] = 100.0 * pair.mAP
    return out


def train(cfg: TrainConfig, *, out_dir: str | Path | None = None, resume: bool = False) -> dict[str, Any]:
    """Train per ``cfg``; write checkpoints and weights to ``out_dir`` (default ``cfg.run.out_dir``).

    Args:
        cfg: the recipe.
        out_dir: run folder (created).
        resume: continue from ``out_dir/last.safetensors`` (error if absent).

    Returns:
        The last evaluation record (``{"step": ..., "<set>_r1": ...}``).

    Raises:
        DatasetError: empty or broken training data (names the path).
        WeightsError: ``resume`` without a readable checkpoint.
    """
    from infra.fileio import atomic_write_text

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
    torch.manual_seed(cfg.run.seed)
    data = load_train_data(cfg.data)
    model = build_model(cfg.model, load_imagenet=None if not resume else False)
    trainer = SiameseTrainer(cfg, model, data, out)
    if resume:
        trainer.load_checkpoint(ckpt)
        print(f"resumed from {ckpt} at step {trainer.step}", file=sys.stderr, flush=True)
    else:
        import yaml

        atomic_write_text(out / "config.yaml", yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    print(
        f"training on {len(data.items)} crops of {trainer.sampler.num_identities} identities, "
        f"{trainer.pairs_per_step()} pairs/step from {2 * trainer.sampler.P} crops, device {trainer.device}",
        file=sys.stderr,
        flush=True,
    )
    return trainer.run()
