"""The Siamese step: shared-crop batches, pair loss, hard negative mining and hard-identity rounds.

A step (Section IV of the paper, with two changes that make it train on a CPU):

1. :class:`~reid_core.data.sampler.CrossCameraSampler` gives P identities × one crop from each
   of two cameras (2P crops; the trunk runs once per crop, not once per pair).
2. Augmentation per crop (the paper makes ×5 copies offline; here a fresh draw every time).
3. Trunk maps → both half-responses of the correspondence conv per crop (exact decomposition).
4. Positives: the P cross-camera pairs (in both orders: 2P). Negatives: ``negatives_per_positive``
   × positives from the cross-camera pairs of different identities in the batch; from
   ``mining_start_step`` a fraction of them are the ones the current model scores highest
   (hard negative mining), the rest random.
5. Loss: cross-entropy of the pair head + ``embed_weight`` × a cross-camera InfoNCE loss on the
   shortlist embedding.

Hard-identity rounds: every ``mining_round_every_steps`` (from ``mining_start_step``) the
current model embeds every training identity and each batch takes the sampler's
``hard_fraction`` of its identities from their nearest neighbours, so the in-batch negatives are
confusable people.

Random draws per step come from the streams of :mod:`reid_core.rng` (augmentation:
``AUGMENT``; negative choice: ``PAIRS``; batches: the sampler's two streams).
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from infra.errors import DatasetError
from reid_core.data.sampler import CrossCameraBatch, CrossCameraSampler
from reid_core.data.transforms import bgr_to_input, pipeline_look, random_affine
from reid_core.data.types import Split
from reid_core.model import INPUT_SIZE_HW, SiameseNet
from reid_core.rng import Stream, numpy_rng, torch_seed
from reid_core.training.config import AugmentConfig, TrainConfig
from reid_core.training.data import TrainData
from reid_core.training.engine import Trainer, build_optimizer

__all__ = ["SiameseTrainer", "build_augment", "cmc_metrics"]

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
"""(N, 3, H, W) model inputs and a seeded generator → augmented inputs of the same shape."""


class SiameseTrainer(Trainer):
    """Pair training with shared-crop batches, hard negative mining and hard-identity rounds.

    Build it from a recipe with :meth:`from_config`.

    Args:
        model: the network.
        optimizer: over the model's parameters (see :func:`~reid_core.training.engine.build_optimizer`).
        sampler: the batches.
        images_bgr: (N, 160, 80, 3) uint8 BGR crops, indexed by the sampler's item indices.
        eval_splits: name → split evaluated by :meth:`evaluate` (the first selects ``best``).
        augment: augmentation of a batch of model inputs.
        both_orders: positives as (a, b) and (b, a).
        negatives_per_positive: negatives per positive pair.
        hard_negative_fraction: share of negatives chosen as the current model's highest scored.
        hard_negative_candidates: negatives scored per step to find them (pairs).
        mining_start_step: first step with hard negatives and hard-identity rounds.
        mining_round_every_steps: steps between hard-identity rounds (0 = none).
        neighbours_per_identity: neighbour list length of a round.
        embed_weight: weight of the embedding's InfoNCE loss (0 = pair loss only).
        embed_temperature: InfoNCE temperature.
        shortlist_k: shortlist length of the "shortlist + pair head" figure.
        cannot_link: (I, I) bool over identity labels: negatives are only the pairs marked
            True (self-supervised adaptation: tracklets known to be different people); None =
            every pair of different identities is a negative.
        norm_groups: (N,) int camera of each crop of ``images_bgr``: a batch's crops pass the
            trunk in one group per camera, so every BatchNorm normalises them by their camera's
            statistics (camera-based BatchNorm); None = the whole batch together.
        **engine: the :class:`~reid_core.training.engine.Trainer` arguments.
    """

    def __init__(
        self,
        model: SiameseNet,
        optimizer: torch.optim.Optimizer,
        sampler: CrossCameraSampler,
        images_bgr: np.ndarray,
        eval_splits: dict[str, Split],
        *,
        augment: Augment,
        both_orders: bool,
        negatives_per_positive: float,
        hard_negative_fraction: float,
        hard_negative_candidates: int,
        mining_start_step: int,
        mining_round_every_steps: int,
        neighbours_per_identity: int,
        embed_weight: float,
        embed_temperature: float,
        shortlist_k: int,
        cannot_link: np.ndarray | None = None,
        norm_groups: np.ndarray | None = None,
        **engine: Any,
    ) -> None:
        super().__init__(model, optimizer, **engine)
        self.model: SiameseNet = self.model  # type: ignore[assignment]
        self.sampler = sampler
        self._images = torch.from_numpy(images_bgr)  # (N, 160, 80, 3) uint8 BGR, CPU
        self.eval_splits = eval_splits
        self.augment = augment
        self.both_orders = both_orders
        self.negatives_per_positive = negatives_per_positive
        self.hard_negative_fraction = hard_negative_fraction
        self.hard_negative_candidates = hard_negative_candidates
        self.mining_start_step = mining_start_step
        self.mining_round_every_steps = mining_round_every_steps
        self.neighbours_per_identity = neighbours_per_identity
        self.embed_weight = embed_weight
        self.embed_temperature = embed_temperature
        self.shortlist_k = shortlist_k
        self.cannot_link = cannot_link
        self.norm_groups = None if norm_groups is None else np.asarray(norm_groups, np.int64)

    @classmethod
    def from_config(
        cls, cfg: TrainConfig, model: SiameseNet, data: TrainData, out_dir: str | Path
    ) -> SiameseTrainer:
        """A trainer for recipe ``cfg`` on ``data`` (the one mapping of config values to arguments).

        Raises:
            DatasetError: data that cannot make a pair batch (names the roots).
        """
        pids = np.array([it.person_id for it in data.items], np.int64)
        cams = np.array([it.camera_id for it in data.items], np.int64)
        try:
            sampler = CrossCameraSampler(
                pids,
                cams,
                cfg.sampler.identities_per_batch,
                seed=cfg.run.seed,
                hard_fraction=cfg.mining.hard_identity_fraction,
                groups=data.groups if cfg.sampler.dataset_weights is not None else None,
                group_weights=cfg.sampler.dataset_weights,
            )
        except ValueError as err:
            roots = ", ".join(d.root for d in cfg.data.train)
            raise DatasetError(f"{roots}: cannot build training pairs ({err})") from None
        # a camera of one data set is not the same camera of another: (data set, camera) pairs
        norm_groups = data.groups * (int(cams.max()) + 1) + cams if cfg.sampler.camera_norm else None
        model = model.to(_device(cfg))
        trunk_params = list(model.trunk.parameters())
        trunk_ids = {id(p) for p in trunk_params}
        head_params = [p for p in model.parameters() if id(p) not in trunk_ids]
        optimizer = build_optimizer(
            [(trunk_params, cfg.optim.lr_trunk), (head_params, cfg.optim.lr_head)], cfg.optim
        )
        m = cfg.mining
        augment = build_augment(cfg.augment)
        return cls(
            model,
            optimizer,
            sampler,
            data.images_bgr,
            data.eval_splits,
            augment=augment,
            both_orders=cfg.sampler.both_orders,
            negatives_per_positive=cfg.sampler.negatives_per_positive,
            hard_negative_fraction=m.hard_negative_fraction,
            hard_negative_candidates=m.candidates_per_batch,
            mining_start_step=m.start_step,
            mining_round_every_steps=m.round_every_steps,
            neighbours_per_identity=m.neighbours_per_identity,
            embed_weight=cfg.loss.embed_weight,
            embed_temperature=cfg.loss.embed_temperature,
            shortlist_k=cfg.data.shortlist_k,
            norm_groups=norm_groups,
            weights_description={
                "train_data": [{"name": d.name, "root": d.root} for d in cfg.data.train],
                "camera_norm": cfg.sampler.camera_norm,
                "split_seed": cfg.data.split_seed,
                "input_size_hw": list(INPUT_SIZE_HW),
                "input_colour": "BGR uint8 crops, converted to RGB inside",
            },
            **Trainer.engine_kwargs(cfg, out_dir),
        )

    def pairs_per_step(self) -> int:
        pos = self.sampler.P * (2 if self.both_orders else 1)
        return pos + round(self.negatives_per_positive * pos)

    # -- mining rounds --------------------------------------------------------------------
    def on_step_start(self, step: int) -> None:
        if (
            self.mining_round_every_steps <= 0
            or self.sampler.hard_fraction <= 0
            or step < self.mining_start_step
        ):
            return
        if (step - self.mining_start_step) % self.mining_round_every_steps == 0:
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
        k = min(self.neighbours_per_identity, rows - 1)
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
        if self.both_orders:
            pos_u.append(ar + p)
            pos_v.append(ar)
        pu, pv = np.concatenate(pos_u), np.concatenate(pos_v)
        # cross-camera negatives: (a_i, b_j) and, with both orders, (b_i, a_j), i != j
        i, j = np.nonzero(self._negative_mask(batch.pids))
        cu, cv = [i], [j + p]
        if self.both_orders:
            cu.append(i + p)
            cv.append(j)
        nu, nv = np.concatenate(cu), np.concatenate(cv)
        n_neg = min(len(nu), round(self.negatives_per_positive * len(pu)))
        n_hard = round(self.hard_negative_fraction * n_neg) if step >= self.mining_start_step else 0
        order = rng.permutation(len(nu))
        chosen: np.ndarray
        if n_hard > 0:
            cand = order[: max(n_hard, min(self.hard_negative_candidates, len(nu)))]
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

    def _maps(self, x: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        """Trunk maps of the batch ``x`` (rows = crops ``idx``); one pass per camera with ``norm_groups``."""
        if self.norm_groups is None:
            return self.model.maps(x)
        from reid_core.camera_norm import per_camera

        def maps(_: int, rows: np.ndarray) -> torch.Tensor:
            return self.model.maps(x[torch.as_tensor(rows, device=x.device)])

        return per_camera(self.norm_groups[idx], maps, torch.cat)

    def _negative_mask(self, pids: np.ndarray) -> np.ndarray:
        """(P, P) bool: which (i, j) of the batch's identities may be used as a negative pair."""
        if self.cannot_link is None:
            return pids[:, None] != pids[None, :]
        return self.cannot_link[pids[:, None], pids[None, :]]

    def training_step(self, step: int) -> dict[str, float]:
        batch = self.sampler.batch(step)
        gen = torch.Generator().manual_seed(torch_seed(self.seed, Stream.AUGMENT, step))
        rng = numpy_rng(self.seed, Stream.PAIRS, step)
        idx = np.concatenate([batch.idx_a, batch.idx_b])
        x = self.augment(bgr_to_input(self._images[idx], self.device), gen)
        self.model.train()
        with torch.autocast(self.device.type, enabled=self.use_amp):
            maps = self._maps(x, idx)
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
            if self.embed_weight > 0:
                emb = self.model.embed(maps).float()
                p = len(batch.pids)
                sim = emb[:p] @ emb[p:].T / self.embed_temperature
                if self.cannot_link is not None:  # only known-different identities compete
                    keep = self._negative_mask(batch.pids) | np.eye(p, dtype=bool)
                    sim = sim.masked_fill(~torch.as_tensor(keep, device=self.device), float("-inf"))
                target = torch.arange(p, device=self.device)
                emb_loss = 0.5 * (F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target))
                loss = loss + self.embed_weight * emb_loss
        self.optimizer_step(loss)
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
        """Single-shot CMC on each evaluation split: pair head, embedding, shortlist + head."""
        from reid_core.inference import Matcher

        matcher = Matcher(self.model, self.device)
        out: dict[str, float] = {}
        try:
            for name, split in self.eval_splits.items():
                out.update(cmc_metrics(matcher, split, name, self.shortlist_k))
        finally:
            self.model.train()
        return out


def cmc_metrics(matcher: Any, split: Split, name: str, shortlist_k: int) -> dict[str, float]:
    """Rank-1/5/10 (percent) of ``split`` by the pair head, the embedding, and shortlist + head.

    One evaluation, :func:`reid_core.evaluate.evaluate_rankings`, under the names of the
    training records: ``{name}_r1`` … (pair head), ``{name}_emb_r1`` …, ``{name}_sl{k}_r1`` …
    and ``{name}_mAP`` (pair head).
    """
    from reid_core.evaluate import evaluate_rankings

    res = evaluate_rankings(matcher, split, ("pair", "embedding", "shortlist"), shortlist_k=shortlist_k)
    out: dict[str, float] = {}
    for tag, ranking in (("", "pair"), ("_emb", "embedding"), (f"_sl{shortlist_k}", "shortlist")):
        for k in (1, 5, 10):
            out[f"{name}{tag}_r{k}"] = 100.0 * res[ranking].rank(k)
    out[f"{name}_mAP"] = 100.0 * res["pair"].mAP
    return out


def build_augment(a: AugmentConfig) -> Augment:
    """The augmentation of recipe section ``a``: random affine + flip, then the pipeline's look."""
    affine = functools.partial(
        random_affine,
        max_rotation_deg=a.max_rotation_deg,
        scale_range=tuple(a.scale_range),
        max_translate_frac=a.max_translate_frac,
        flip_prob=a.flip_prob,
    )
    probs = (a.low_res_prob, a.blur_prob, a.colour_prob, a.cutoff_prob, a.erase_prob)
    if not any(p > 0 for p in probs):
        return affine
    look = functools.partial(
        pipeline_look,
        low_res_prob=a.low_res_prob,
        low_res_min_height_px=a.low_res_min_height_px,
        blur_prob=a.blur_prob,
        blur_max_px=a.blur_max_px,
        colour_prob=a.colour_prob,
        gain_range=tuple(a.gain_range),
        white_balance_frac=a.white_balance_frac,
        cutoff_prob=a.cutoff_prob,
        cutoff_max_frac=a.cutoff_max_frac,
        erase_prob=a.erase_prob,
        erase_area_range=tuple(a.erase_area_range),
    )

    def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return look(affine(x, gen), gen)

    return augment


def _device(cfg: TrainConfig) -> torch.device:
    from infra.device import resolve_device

    return resolve_device(cfg.run.device)
