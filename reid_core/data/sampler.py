"""P × K sampling for pair training: P identities, one crop from each of two of their cameras.

Each batch of :class:`CrossCameraSampler` holds ``2P`` crops: ``idx_a[i]`` and ``idx_b[i]`` are
crops of identity ``pids[i]`` from two different cameras. A pair trainer builds from them the
positives ``(a_i, b_i)`` and negatives ``(a_i, b_j)``, ``i != j``: 2P crops through the trunk
give P positives and up to P(P−1) negatives (the "shared-crop batch").

Hard identity batches: after :meth:`set_neighbours` with each identity's most similar
identities (from the current model), a fraction of every batch is filled with neighbours of
the batch's other identities, so the negatives inside a batch are hard ones.

Data-set balance: with ``groups`` (the data set of each item) and ``group_weights``, each batch
takes ``round(P · w_g / Σw)`` of its anchor identities from data set ``g`` (at least one, at most
all of its identities), each data set cycling through its own epochs. Without it, identities are
drawn uniformly, so a data set of 8 people next to one of 1,600 would appear in 1 batch of 6.

Determinism: batch ``step`` depends only on ``(seed, step)`` and the neighbour table (streams
:attr:`~reid_core.rng.Stream.SAMPLER_EPOCH` and :attr:`~reid_core.rng.Stream.SAMPLER_STEP`), so a
resumed run draws exactly the batches the killed run would have drawn.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reid_core.rng import Stream, numpy_rng

__all__ = ["CrossCameraBatch", "CrossCameraSampler"]


@dataclass(frozen=True)
class CrossCameraBatch:
    """One batch: ``idx_a``, ``idx_b`` (P,) int64 item indices; ``pids`` (P,) identity labels."""

    idx_a: np.ndarray
    idx_b: np.ndarray
    pids: np.ndarray


class CrossCameraSampler:
    """Identity-balanced batches of cross-camera crop pairs.

    Args:
        person_ids: (N,) identity of each item.
        camera_ids: (N,) camera of each item.
        identities_per_batch: P (>= 2).
        seed: base seed.
        hard_fraction: fraction of each batch's identities taken from neighbour lists
            (0 = random identities; only used after :meth:`set_neighbours`).
        groups: (N,) data-set index of each item (0..G-1; one per identity), or None.
        group_weights: (G,) share of each data set in a batch's anchors (>= 0, not all 0);
            None with ``groups`` = equal shares.

    Raises:
        ValueError: fewer than 2 identities seen by >= 2 cameras, or P < 2, or bad groups.
    """

    def __init__(
        self,
        person_ids: Sequence[int] | np.ndarray,
        camera_ids: Sequence[int] | np.ndarray,
        identities_per_batch: int,
        *,
        seed: int,
        hard_fraction: float,
        groups: Sequence[int] | np.ndarray | None = None,
        group_weights: Sequence[float] | None = None,
    ) -> None:
        pids = np.asarray(person_ids, np.int64)
        cams = np.asarray(camera_ids, np.int64)
        if pids.shape != cams.shape:
            raise ValueError("person_ids and camera_ids differ in length")
        crops: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
        for i, (p, c) in enumerate(zip(pids.tolist(), cams.tolist(), strict=True)):
            crops[p][c].append(i)
        self.identities = np.array(sorted(p for p, by_cam in crops.items() if len(by_cam) >= 2), np.int64)
        if len(self.identities) < 2:
            raise ValueError(f"need >= 2 identities seen by >= 2 cameras, found {len(self.identities)}")
        if identities_per_batch < 2:
            raise ValueError(f"identities_per_batch must be >= 2, got {identities_per_batch}")
        if not 0.0 <= hard_fraction < 1.0:
            raise ValueError(f"hard_fraction must be in [0, 1), got {hard_fraction}")
        self._crops = {
            p: {c: np.array(v, np.int64) for c, v in sorted(crops[p].items())}
            for p in self.identities.tolist()
        }
        self.P = min(int(identities_per_batch), len(self.identities))
        self.seed = int(seed)
        self.hard_fraction = float(hard_fraction)
        self.neighbours: np.ndarray | None = None  # (num_identities, k) rows into self.identities
        self._group_rows: list[np.ndarray] | None = None
        self._group_weights = np.zeros(0)
        if groups is not None:
            g = np.asarray(groups, np.int64)
            if g.shape != pids.shape:
                raise ValueError("groups and person_ids differ in length")
            group_of = {int(p): int(q) for p, q in zip(pids.tolist(), g.tolist(), strict=True)}
            n_groups = int(g.max()) + 1 if len(g) else 0
            w = np.ones(n_groups) if group_weights is None else np.asarray(group_weights, np.float64)
            if len(w) != n_groups or (w < 0).any() or w.sum() <= 0:
                raise ValueError(f"group_weights must be {n_groups} values >= 0, not all 0; got {list(w)}")
            rows = [
                np.array([r for r, p in enumerate(self.identities.tolist()) if group_of[p] == k], np.int64)
                for k in range(n_groups)
            ]
            self._group_rows = rows
            self._group_weights = np.where([len(r) > 0 for r in rows], w, 0.0)

    @property
    def num_identities(self) -> int:
        return len(self.identities)

    def _anchors_per_batch(self) -> int:
        if self.neighbours is None or self.hard_fraction == 0.0:
            return self.P
        return max(1, self.P - round(self.hard_fraction * self.P))

    def _group_slots(self, n: int) -> list[int]:
        """Anchor identities per data set in a batch of ``n`` anchors (sums to ``n``)."""
        assert self._group_rows is not None
        w = self._group_weights / self._group_weights.sum()
        size = [len(r) for r in self._group_rows]
        k = [min(size[g], max(1, round(n * w[g]))) if w[g] > 0 else 0 for g in range(len(w))]
        while sum(k) > n:  # too many: take from the data set most over its share
            g = max(range(len(k)), key=lambda g: (k[g] - n * w[g], g) if k[g] > 1 else (-np.inf, g))
            k[g] -= 1
        while sum(k) < n:  # too few: give to the data set most under its share that has people left
            open_ = [g for g in range(len(k)) if k[g] < size[g] and w[g] > 0]
            if not open_:
                break
            g = max(open_, key=lambda g: (n * w[g] - k[g], -g))
            k[g] += 1
        return k

    def _anchor_rows(self, step: int, n_anchor: int) -> list[int]:
        """Rows of ``self.identities`` that anchor batch ``step``."""
        if self._group_rows is None:
            per_epoch = self.batches_per_epoch()
            epoch, pos = divmod(int(step), per_epoch)
            perm = numpy_rng(self.seed, Stream.SAMPLER_EPOCH, epoch).permutation(self.num_identities)
            return [int(r) for r in perm[pos * n_anchor : (pos + 1) * n_anchor]]
        rows: list[int] = []
        n_groups = len(self._group_rows)
        for g, k in enumerate(self._group_slots(n_anchor)):
            if k == 0:
                continue
            members = self._group_rows[g]
            epoch, pos = divmod(int(step), max(1, len(members) // k))
            perm = numpy_rng(self.seed, Stream.SAMPLER_EPOCH, epoch * n_groups + g).permutation(len(members))
            rows += [int(members[r]) for r in perm[pos * k : (pos + 1) * k]]
        return rows

    def batches_per_epoch(self) -> int:
        """Batches until every identity was an anchor once (with the current neighbour table)."""
        return max(1, self.num_identities // self._anchors_per_batch())

    def set_neighbours(self, neighbours: np.ndarray | None) -> None:
        """Hard identities: ``neighbours[r]`` = rows of ``self.identities`` most similar to row ``r``."""
        if neighbours is not None:
            neighbours = np.asarray(neighbours, np.int64)
            if neighbours.ndim != 2 or neighbours.shape[0] != self.num_identities:
                raise ValueError(f"neighbours must be ({self.num_identities}, k), got {neighbours.shape}")
        self.neighbours = neighbours

    def representatives(self) -> np.ndarray:
        """(num_identities, 2) item indices: the first crop of each identity's first two cameras."""
        return np.array(
            [[int(v[0]) for v in list(self._crops[p].values())[:2]] for p in self.identities.tolist()]
        )

    def batch(self, step: int) -> CrossCameraBatch:
        """The batch of training step ``step`` (deterministic in ``(seed, step, neighbours)``)."""
        n_anchor = self._anchors_per_batch()
        rows = self._anchor_rows(step, n_anchor)
        rng = numpy_rng(self.seed, Stream.SAMPLER_STEP, int(step))
        chosen = set(rows)
        if self.neighbours is not None and n_anchor < self.P:
            for r in list(rows):
                if len(rows) >= self.P:
                    break
                cands = [c for c in self.neighbours[r].tolist() if c not in chosen]
                if cands:
                    c = cands[int(rng.integers(len(cands)))]
                    rows.append(c)
                    chosen.add(c)
        while len(rows) < self.P:  # fill up with random identities
            c = int(rng.integers(self.num_identities))
            if c not in chosen:
                rows.append(c)
                chosen.add(c)
        pids = self.identities[np.array(rows, np.int64)]
        idx_a = np.empty(self.P, np.int64)
        idx_b = np.empty(self.P, np.int64)
        for i, p in enumerate(pids.tolist()):
            by_cam = self._crops[p]
            cams = list(by_cam)
            ca, cb = sorted(rng.choice(len(cams), size=2, replace=False).tolist())
            a, b = by_cam[cams[ca]], by_cam[cams[cb]]
            idx_a[i] = a[int(rng.integers(len(a)))]
            idx_b[i] = b[int(rng.integers(len(b)))]
        return CrossCameraBatch(idx_a, idx_b, pids)
