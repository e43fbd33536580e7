"""The training recipe: one YAML file in ``configs/reid/`` parsed once into frozen dataclasses.

These dataclasses are the **only** place where a default of a training setting is written. The
classes that do the work (:class:`~reid_core.training.engine.Trainer`,
:class:`~reid_core.training.siamese.SiameseTrainer`, the sampler, the augmentation, the head) take
plain values; their ``from_config`` class methods (detectron2's pattern) map a config onto them.

Every knob states its unit and which way to turn it; ``configs/reid/*.yaml`` repeat that in comments.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reid_core.data.colour import MODES as COLOUR_MODES
from reid_core.model import ModelConfig

__all__ = [
    "AdaptConfig",
    "AugmentConfig",
    "DataConfig",
    "DatasetSpec",
    "LossConfig",
    "MiningConfig",
    "OptimConfig",
    "RunConfig",
    "SamplerConfig",
    "TrainConfig",
    "config_to_dict",
    "load_train_config",
]


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
        dataset_weights: share of each batch's anchor identities per data set of
            ``data.train`` (same order; unitless, normalised; higher = that data set seen more
            often). null = no balancing: identities drawn uniformly over all data sets.
        camera_norm: per-camera BatchNorm statistics in training (camera-based BatchNorm): each
            camera's crops of a batch (a camera = one camera of one data set) pass the trunk
            together, so every camera is normalised by its own moments, as
            ``reid.camera_norm`` / ``reid-eval cmc --camera-norm`` do at test time. false = one
            pass for the whole batch.
    """

    identities_per_batch: int = 33
    negatives_per_positive: float = 2.0
    both_orders: bool = True
    dataset_weights: tuple[float, ...] | None = None
    camera_norm: bool = False


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation (YAML section ``augment``): random affine (box jitter) + flips, then the
    pipeline's look (:func:`reid_core.data.transforms.pipeline_look`; every ``*_prob`` 0 = off).

    Attributes:
        flip_prob: probability of a horizontal flip (0..1).
        max_rotation_deg: rotation drawn in ±this, degrees.
        scale_range: zoom drawn in [lo, hi] (unitless factor).
        max_translate_frac: shift drawn in ±this fraction of the crop's width/height.
        low_res_prob: probability of a down- then up-scale (0..1; higher = more small crops).
        low_res_min_height_px: smallest height scaled down to (pixels of the 160-px input).
        blur_prob: probability of a motion blur (0..1).
        blur_max_px: longest blur (pixels; >= 2 to have any).
        colour_prob: probability of a gain/white-balance change (0..1).
        gain_range: brightness gain drawn in [lo, hi] (unitless factor).
        white_balance_frac: each channel × (1 ± up to this) (unitless; 0 = no tint).
        cutoff_prob: probability of cutting one side off (0..1).
        cutoff_max_frac: up to this fraction of that side cut (0..1).
        erase_prob: probability of random erasing (0..1).
        erase_area_range: erased area as a fraction of the crop, [lo, hi].
    """

    flip_prob: float = 0.5
    max_rotation_deg: float = 5.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    max_translate_frac: float = 0.05
    low_res_prob: float = 0.0
    low_res_min_height_px: int = 40
    blur_prob: float = 0.0
    blur_max_px: int = 7
    colour_prob: float = 0.0
    gain_range: tuple[float, float] = (0.6, 1.5)
    white_balance_frac: float = 0.15
    cutoff_prob: float = 0.0
    cutoff_max_frac: float = 0.2
    erase_prob: float = 0.0
    erase_area_range: tuple[float, float] = (0.02, 0.25)


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
class AdaptConfig:
    """Self-supervised adaptation (YAML section ``adapt``; used by ``reid-train --adapt`` only).

    Attributes:
        crops_per_tracklet: crops cut per tracklet, evenly spaced over its boxes (more = more
            views of each person, slower to decode).
        min_crops: tracklets with fewer usable boxes are not used (higher = fewer, safer
            pseudo-identities).
        min_height_px: boxes smaller than this (pixels of the source video) are not used.
        cross_camera_negatives: two tracklets of different cameras at the same time are different
            people. True only when the cameras' views do not overlap; set false for cameras that
            see the same place.
        conflict_fraction: share of each batch's identities drawn from the anchors' cannot-link
            partners (0..1; higher = more negatives per batch).
        source_share: share of each batch's identities taken from the recipe's labelled
            ``data.train`` data sets (0..1; 0 = tracklets only). Labelled people bring
            cross-camera positives, which the tracklets lack (their positives are all from one
            camera), and keep the pair head calibrated; two labelled people, and a labelled
            person and a tracklet, are negatives.
        align_scores: after adapting, map the head's log-odds linearly onto the start weights'
            scale (matching the upper quantiles of both heads' scores on pairs of linkable
            tracklets; ``reid_core/training/alignment.py``), so the pipeline's calibration, fitted
            for the start weights, still means P(same person). False keeps the trained scores.
            ``None`` (the default) = on without ``camera_norm``, off with it: what the tuning cuts
            chose each time (docs/reid.md, "Adapting with camera normalisation").
        crop_colour: ``grey_world`` corrects each camera's crops by its running mean frame
            colour, as the pipeline does with ``tracklets.crop_colour: grey_world``
            (:class:`reid_core.data.colour.GreyWorld`); ``as_seen`` keeps them as cut. Set it as
            the pipeline that will use the adapted weights does.
        crop_colour_window_s: seconds of frames in that running mean (the pipeline's
            ``tracklets.crop_colour_window_s``).
        camera_norm: train and align as the pipeline's camera normalisation encodes
            (``reid.camera_norm``): in every batch each camera's crops pass the trunk together, so
            its BatchNorm layers normalise them by that camera's own statistics (camera-based
            BatchNorm, Zhuang et al., ECCV 2020), and the score alignment encodes each camera's
            crops with the trunk's moments measured on that camera. Set it as the pipeline that
            will use the adapted weights does (its ``reid.camera_norm`` is on by default).
    """

    crops_per_tracklet: int = 16
    min_crops: int = 4
    min_height_px: int = 32
    cross_camera_negatives: bool = True
    conflict_fraction: float = 0.5
    source_share: float = 0.0
    align_scores: bool | None = None
    crop_colour: str = "grey_world"
    crop_colour_window_s: float = 60.0
    camera_norm: bool = True

    @property
    def aligns_scores(self) -> bool:
        """Whether the adapted head's scores are aligned (``align_scores``, ``None`` resolved)."""
        return (not self.camera_norm) if self.align_scores is None else self.align_scores

    def __post_init__(self) -> None:
        if self.crop_colour not in COLOUR_MODES:
            modes = ", ".join(COLOUR_MODES)
            raise ValueError(f"adapt.crop_colour must be one of {modes}, got {self.crop_colour!r}")
        if not self.crop_colour_window_s > 0:
            window = self.crop_colour_window_s
            raise ValueError(f"adapt.crop_colour_window_s must be > 0 seconds, got {window}")
        if not 0.0 <= self.source_share < 1.0:
            raise ValueError(f"adapt.source_share must be in [0, 1), got {self.source_share}")
        if not 0.0 <= self.conflict_fraction < 1.0:
            raise ValueError(f"adapt.conflict_fraction must be in [0, 1), got {self.conflict_fraction}")


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
        num_threads: torch CPU threads; null = torch's default (the number of cores).
        deterministic: run with ``torch.use_deterministic_algorithms`` (true: two runs of the
            same recipe and seed give bit-identical weights on the same machine and thread
            count, CPU or CUDA; false: multi-threaded CPU scatter-adds and CUDA's cuBLAS and cuDNN
            make them differ by rounding, and mining turns that into other batches).
        out_dir: run folder (checkpoints, metrics); ``--out`` overrides it.
        init_weights: start from these re-ID weights (``.safetensors`` of the same model
            config, e.g. the shipped ones) instead of ImageNet; null = ImageNet trunk, new head.
    """

    steps: int = 6000
    seed: int = 0
    checkpoint_every_steps: int = 100
    eval_every_steps: int = 500
    log_every_steps: int = 20
    device: str = "auto"
    amp: bool = True
    num_threads: int | None = None
    deterministic: bool = True
    out_dir: str = "runs/default"
    init_weights: str | None = None


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
    adapt: AdaptConfig = field(default_factory=AdaptConfig)

    def __post_init__(self) -> None:
        names = [d.name for d in self.data.train]
        for e in self.data.eval:
            if e not in names:
                raise ValueError(f"data.eval: {e!r} is not one of data.train ({', '.join(names)})")
        w = self.sampler.dataset_weights
        if w is not None and (len(w) != len(names) or min(w) < 0 or sum(w) <= 0):
            raise ValueError(
                f"sampler.dataset_weights: need {len(names)} values >= 0 (one per data.train), "
                f"not all 0; got {list(w)}"
            )
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
