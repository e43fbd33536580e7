"""CMC rank-k and mAP for re-ID ranking, and ranking a :class:`Split` with a matcher.

Protocol (torchreid's ``eval_market1501``): for each query, gallery items with the same
person **and** the same camera as the query are removed before ranking (a match must be a
cross-camera match); a query whose identity has no remaining gallery item is skipped and
counted in ``num_skipped_queries``. CMC at rank k is the fraction of valid queries whose
first correct match is among the first k gallery items; AP is the mean over the query's
correct matches of the precision at their positions; mAP averages AP over valid queries.

Ties are pessimistic and deterministic: among gallery items with exactly equal scores, the
wrong matches rank *before* the correct ones. A constant score matrix therefore gives the
worst possible CMC, never a lucky one.

Example:
    >>> import numpy as np
    >>> r = cmc_map(np.array([[0.9, 0.1], [0.2, 0.8]]), [1, 2], [1, 2], [0, 0], [1, 1], max_rank=2)
    >>> r.cmc.tolist(), r.mAP, r.num_valid_queries
    ([1.0, 1.0], 1.0, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike

from reid_core.data.types import Split

__all__ = [
    "RANKINGS",
    "CMCResult",
    "Matcher",
    "calibration_summary",
    "cmc_map",
    "evaluate_rankings",
    "evaluate_split",
    "pair_scores",
    "shortlist_scores",
]


@dataclass(frozen=True)
class CMCResult:
    """CMC curve and mAP of one evaluation.

    Attributes:
        cmc: ``(max_rank,)`` float64 in [0, 1]; ``cmc[k-1]`` is the rank-k accuracy.
        mAP: mean average precision in [0, 1].
        num_valid_queries: queries that had at least one correct cross-camera gallery item.
        num_skipped_queries: queries skipped because their identity was absent from the gallery
            (after the same-camera exclusion).
    """

    cmc: np.ndarray
    mAP: float
    num_valid_queries: int
    num_skipped_queries: int = 0

    def rank(self, k: int) -> float:
        """Rank-k accuracy in [0, 1] (``k`` is 1-based)."""
        if not 1 <= k <= len(self.cmc):
            raise ValueError(f"rank {k} outside 1..{len(self.cmc)}")
        return float(self.cmc[k - 1])


def cmc_map(
    scores: ArrayLike,
    q_pids: ArrayLike,
    g_pids: ArrayLike,
    q_camids: ArrayLike,
    g_camids: ArrayLike,
    *,
    max_rank: int = 20,
    higher_is_better: bool = True,
) -> CMCResult:
    """CMC and mAP of a query × gallery score (or distance) matrix.

    Args:
        scores: ``(Q, G)`` similarity (``higher_is_better=True``, e.g. P(same)) or distance
            (``higher_is_better=False``) of each query to each gallery item. No NaN.
        q_pids, q_camids: ``(Q,)`` integer person / camera ids of the queries.
        g_pids, g_camids: ``(G,)`` integer person / camera ids of the gallery.
        max_rank: length of the CMC curve. If fewer than ``max_rank`` gallery items remain for a
            query, its curve stays at its last value (1 once the match is found).
        higher_is_better: whether a larger entry means a better match.

    Returns:
        :class:`CMCResult`.

    Raises:
        ValueError: shapes that do not agree, NaN scores, ``max_rank`` < 1, or no valid query.
    """
    s = np.asarray(scores, dtype=np.float64)
    q_pids, g_pids = np.asarray(q_pids).ravel(), np.asarray(g_pids).ravel()
    q_camids, g_camids = np.asarray(q_camids).ravel(), np.asarray(g_camids).ravel()
    if s.ndim != 2 or s.shape != (len(q_pids), len(g_pids)):
        raise ValueError(f"scores must be (Q, G) = ({len(q_pids)}, {len(g_pids)}), got {s.shape}")
    if len(q_camids) != len(q_pids) or len(g_camids) != len(g_pids):
        raise ValueError(
            f"camera ids must match the pids: q {len(q_camids)} vs {len(q_pids)}, "
            f"g {len(g_camids)} vs {len(g_pids)}"
        )
    if max_rank < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    if not higher_is_better:
        s = -s

    curves: list[np.ndarray] = []
    aps: list[float] = []
    skipped = 0
    for i in range(len(q_pids)):
        keep = ~((g_pids == q_pids[i]) & (g_camids == q_camids[i]))
        row = s[i, keep]
        match = (g_pids[keep] == q_pids[i]).astype(np.int64)
        if not match.any():
            skipped += 1
            continue
        # Primary key: score, descending; on ties wrong matches (0) first — pessimistic.
        order = np.lexsort((match, -row))
        hits = match[order]
        first = int(np.argmax(hits))
        curve = np.zeros(max_rank)
        curve[first:] = 1.0
        curves.append(curve)
        positions = np.flatnonzero(hits)  # 0-based ranks of the correct matches
        precision = np.arange(1, len(positions) + 1) / (positions + 1)
        aps.append(float(precision.mean()))
    if not curves:
        raise ValueError(f"no valid query: all {len(q_pids)} queries have no cross-camera gallery match")
    return CMCResult(
        cmc=np.mean(curves, axis=0),
        mAP=float(np.mean(aps)),
        num_valid_queries=len(curves),
        num_skipped_queries=skipped,
    )


class Matcher(Protocol):
    """The inference API used here (implemented by :func:`reid_core.inference.load_matcher`)."""

    def encode_paths(self, paths: Sequence[Any]) -> Any:
        """Encode images (file paths) once; the result feeds the other methods."""
        ...

    def embed(self, enc: Any) -> np.ndarray:
        """``(N, D)`` float32 L2-normalised shortlist embeddings."""
        ...

    def score(self, enc_q: Any, enc_g: Any) -> np.ndarray:
        """``(Nq, Ng)`` P(same person) in [0, 1] from the pair head."""
        ...

    def score_pairs(self, enc_a: Any, idx_a: np.ndarray, enc_b: Any, idx_b: np.ndarray) -> np.ndarray:
        """``(P,)`` P(same) of the pairs ``(enc_a[idx_a[p]], enc_b[idx_b[p]])``."""
        ...


def shortlist_scores(
    matcher: Matcher,
    enc_q: Any,
    enc_g: Any,
    shortlist_k: int,
    *,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """Ranking scores: embedding cosine shortlist, top-k re-ranked by the pair head.

    Per query the ``shortlist_k`` gallery items of highest embedding cosine (ties by gallery
    index; items masked by ``exclude`` never take a slot) are scored by the pair head and
    placed first, in pair-score order; all other items keep their cosine order below them.

    Args:
        matcher: see :class:`Matcher`.
        enc_q, enc_g: encodings of Q queries and G gallery items.
        shortlist_k: shortlist length (>= 1); ``>= G`` re-ranks everything.
        exclude: optional ``(Q, G)`` bool, True for pairs that will be excluded from ranking
            (same person and camera); they get the lowest score.

    Returns:
        ``(Q, G)`` float64 scores, higher is better: ``2 + P(same)`` in [2, 3] on the shortlist,
        the cosine in [-1, 1] elsewhere, -10 for excluded pairs.
    """
    if shortlist_k < 1:
        raise ValueError(f"shortlist_k must be >= 1, got {shortlist_k}")
    emb_q = np.asarray(matcher.embed(enc_q), dtype=np.float64)
    emb_g = np.asarray(matcher.embed(enc_g), dtype=np.float64)
    cos = emb_q @ emb_g.T
    if exclude is not None:
        cos = np.where(exclude, -10.0, cos)
    num_q, num_g = cos.shape
    k = min(shortlist_k, num_g)
    top = np.argsort(-cos, axis=1, kind="stable")[:, :k]  # (Q, k)
    if exclude is not None:
        valid = ~np.take_along_axis(exclude, top, axis=1)
    else:
        valid = np.ones_like(top, dtype=bool)
    idx_q = np.broadcast_to(np.arange(num_q)[:, None], top.shape)[valid]
    idx_g = top[valid]
    out = cos.copy()
    if len(idx_q):
        pair = np.asarray(matcher.score_pairs(enc_q, idx_q, enc_g, idx_g), dtype=np.float64).ravel()
        if pair.shape != idx_q.shape:
            raise ValueError(f"score_pairs returned {pair.shape}, expected {idx_q.shape}")
        out[idx_q, idx_g] = 2.0 + pair
    return out


#: The rankings :func:`evaluate_rankings` knows: the pair head over the whole gallery, the
#: embedding cosine alone, and the embedding shortlist re-ranked by the pair head.
RANKINGS = ("pair", "embedding", "shortlist")


def evaluate_rankings(
    matcher: Matcher,
    split: Split,
    rankings: Sequence[str],
    *,
    shortlist_k: int | None = None,
) -> dict[str, CMCResult]:
    """Rank ``split.gallery`` for each query in several ways from one encoding; CMC (max rank 20) and mAP.

    Args:
        matcher: see :class:`Matcher`.
        split: only ``query`` and ``gallery`` are used.
        rankings: names out of :data:`RANKINGS`: ``"pair"`` (pair head over the whole gallery),
            ``"embedding"`` (embedding cosine), ``"shortlist"`` (the top ``shortlist_k`` by
            embedding cosine re-ranked by the pair head, see :func:`shortlist_scores`).
        shortlist_k: shortlist length; required with ``"shortlist"``.

    Returns:
        ranking name → :class:`CMCResult` with ``max_rank=20``, in the order of ``rankings``.

    Raises:
        ValueError: an unknown ranking, ``"shortlist"`` without ``shortlist_k``, empty query or
            gallery, or no query with a cross-camera match.
    """
    unknown = [r for r in rankings if r not in RANKINGS]
    if unknown:
        raise ValueError(f"unknown ranking {unknown[0]!r}; available: {', '.join(RANKINGS)}")
    if "shortlist" in rankings and shortlist_k is None:
        raise ValueError("the shortlist ranking needs shortlist_k")
    if not split.query or not split.gallery:
        raise ValueError(f"empty split: {len(split.query)} queries, {len(split.gallery)} gallery items")
    q_pids = np.array([it.person_id for it in split.query])
    q_cams = np.array([it.camera_id for it in split.query])
    g_pids = np.array([it.person_id for it in split.gallery])
    g_cams = np.array([it.camera_id for it in split.gallery])
    enc_q = matcher.encode_paths([it.image_path for it in split.query])
    enc_g = matcher.encode_paths([it.image_path for it in split.gallery])
    out: dict[str, CMCResult] = {}
    for ranking in rankings:
        if ranking == "pair":
            scores = np.asarray(matcher.score(enc_q, enc_g), dtype=np.float64)
        elif ranking == "embedding":
            scores = np.asarray(matcher.embed(enc_q) @ matcher.embed(enc_g).T, dtype=np.float64)
        else:
            exclude = (q_pids[:, None] == g_pids[None, :]) & (q_cams[:, None] == g_cams[None, :])
            scores = shortlist_scores(matcher, enc_q, enc_g, int(shortlist_k), exclude=exclude)  # type: ignore[arg-type]
        out[ranking] = cmc_map(scores, q_pids, g_pids, q_cams, g_cams, max_rank=20, higher_is_better=True)
    return out


def evaluate_split(matcher: Matcher, split: Split, *, shortlist_k: int | None = None) -> CMCResult:
    """Rank ``split.gallery`` for each query of ``split.query`` with ``matcher``; CMC (max rank 20) and mAP.

    Args:
        matcher: see :class:`Matcher`.
        split: only ``query`` and ``gallery`` are used.
        shortlist_k: ``None`` ranks by the pair head over the whole gallery; an integer takes
            that many candidates per query by embedding cosine and re-ranks them with the pair
            head (see :func:`shortlist_scores`).

    Returns:
        :class:`CMCResult` with ``max_rank=20``.

    Raises:
        ValueError: empty query or gallery, or no query with a cross-camera match.
    """
    ranking = "pair" if shortlist_k is None else "shortlist"
    return evaluate_rankings(matcher, split, [ranking], shortlist_k=shortlist_k)[ranking]


def pair_scores(matcher: Matcher, split: Split) -> tuple[np.ndarray, np.ndarray]:
    """The pair head's P(same person) for every (query, gallery) pair of ``split``, and the truth.

    Returns:
        ``(scores, same)``: (Q·G,) float64 in [0, 1] (row-major over query × gallery) and (Q·G,)
        bool, True where the two images show one person. Input for calibrating the head's
        probability (e.g. by the association stage).
    """
    q_pids = np.array([it.person_id for it in split.query])
    g_pids = np.array([it.person_id for it in split.gallery])
    enc_q = matcher.encode_paths([it.image_path for it in split.query])
    enc_g = matcher.encode_paths([it.image_path for it in split.gallery])
    scores = np.asarray(matcher.score(enc_q, enc_g), dtype=np.float64)
    return scores.reshape(-1), (q_pids[:, None] == g_pids[None, :]).reshape(-1)


def calibration_summary(scores: np.ndarray, same: np.ndarray, bins: int = 10) -> dict[str, float]:
    """How well probabilities ``scores`` match the outcomes ``same``.

    Returns:
        ``positives``/``negatives`` (counts), ``pos_mean``/``neg_mean`` (mean score of each),
        ``auc`` (ROC AUC, ties count half), ``ece`` (expected calibration error over ``bins``
        equal-width probability bins, weighted by pair count: 0 = calibrated),
        ``ece_balanced`` (the same with positives and negatives weighted equally overall, as
        association sees them when it decides link-or-not on a balanced prior), ``brier``.

    Raises:
        ValueError: different lengths, or no positive or no negative pair.
    """
    s = np.asarray(scores, np.float64)
    y = np.asarray(same, bool)
    if s.shape != y.shape:
        raise ValueError(f"scores {s.shape} and labels {y.shape} differ in shape")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"need positive and negative pairs, got {n_pos} and {n_neg}")
    order = np.argsort(s, kind="stable")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    # average ranks for ties
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    auc = (ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)

    def ece(weights: np.ndarray) -> float:
        idx = np.minimum((s * bins).astype(int), bins - 1)
        total = weights.sum()
        err = 0.0
        for b in range(bins):
            m = idx == b
            w = weights[m].sum()
            if w > 0:
                err += w / total * abs(float((weights[m] * s[m]).sum() / w - (weights[m] * y[m]).sum() / w))
        return err

    balanced = np.where(y, 0.5 / n_pos, 0.5 / n_neg)
    return {
        "positives": float(n_pos),
        "negatives": float(n_neg),
        "pos_mean": float(s[y].mean()),
        "neg_mean": float(s[~y].mean()),
        "auc": float(auc),
        "ece": ece(np.ones(len(s))),
        "ece_balanced": ece(balanced),
        "brier": float(np.mean((s - y) ** 2)),
    }
