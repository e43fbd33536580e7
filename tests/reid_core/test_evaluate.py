"""CMC / mAP on hand-built tables, and split ranking with a fake matcher (the model is not under test)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from reid_core.data.types import ReIDItem, Split
from reid_core.evaluate import CMCResult, cmc_map, evaluate_rankings, evaluate_split, shortlist_scores

# Each case: scores (Q, G), q_pids, g_pids, q_cams, g_cams, max_rank, higher_is_better,
#            expected cmc, expected mAP, expected (valid, skipped)
CASES = {
    "perfect ranking": (
        [[0.9, 0.1, 0.2], [0.1, 0.8, 0.3], [0.0, 0.1, 0.7]],
        [1, 2, 3], [1, 2, 3], [0, 0, 0], [1, 1, 1], 3, True,
        [1.0, 1.0, 1.0], 1.0, (3, 0),
    ),
    "match at rank 2 and 3": (
        [[0.5, 0.9, 0.1], [0.9, 0.85, 0.8]],
        [1, 3], [1, 2, 3], [0, 0], [1, 1, 1], 3, True,
        [0.0, 0.5, 1.0], (1 / 2 + 1 / 3) / 2, (2, 0),
    ),
    "distances: lower is better": (
        [[0.1, 0.9], [0.02, 0.05]],
        [1, 2], [1, 2], [0, 0], [1, 1], 2, False,
        [0.5, 1.0], (1 + 1 / 2) / 2, (2, 0),
    ),
    "absent identity is skipped and counted": (
        [[0.9, 0.1], [0.5, 0.4]],
        [1, 7], [1, 2], [0, 0], [1, 1], 2, True,
        [1.0, 1.0], 1.0, (1, 1),
    ),
    "same-camera match excluded": (
        # gallery 0 is the query's person in the query's own camera: removed; true match is gallery 2
        [[0.99, 0.5, 0.4]],
        [1], [1, 2, 1], [0], [0, 1, 1], 2, True,
        [0.0, 1.0], 0.5, (1, 0),
    ),
    "only same-camera match → skipped": (
        [[0.99, 0.5], [0.1, 0.9]],
        [1, 2], [1, 2], [0, 0], [0, 1], 2, True,
        [1.0, 1.0], 1.0, (1, 1),
    ),
    "same person, other camera kept": (
        [[0.2, 0.9]],
        [1], [1, 1], [0], [0, 2], 1, True,
        [1.0], 1.0, (1, 0),
    ),
    "tie: true match ranks after equal wrong ones (pessimistic)": (
        [[0.5, 0.5, 0.5, 0.1]],
        [1], [2, 1, 3, 4], [0], [1, 1, 1, 1], 4, True,
        [0.0, 0.0, 1.0, 1.0], 1 / 3, (1, 0),
    ),
    "tie with distances too": (
        [[0.3, 0.3]],
        [1], [1, 2], [0], [1, 1], 2, False,
        [0.0, 1.0], 0.5, (1, 0),
    ),
    "two true matches: AP averages precisions": (
        [[0.9, 0.8, 0.7, 0.6]],
        [1], [1, 2, 1, 3], [0], [1, 1, 2, 1], 4, True,
        [1.0, 1.0, 1.0, 1.0], (1 / 1 + 2 / 3) / 2, (1, 0),
    ),
    "gallery shorter than max_rank": (
        [[0.1, 0.9]],
        [1], [1, 2], [0], [1, 1], 5, True,
        [0.0, 1.0, 1.0, 1.0, 1.0], 0.5, (1, 0),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_cmc_map_table(case: tuple) -> None:
    scores, qp, gp, qc, gc, max_rank, higher, cmc, m_ap, (valid, skipped) = case
    result = cmc_map(np.array(scores), qp, gp, qc, gc, max_rank=max_rank, higher_is_better=higher)
    np.testing.assert_allclose(result.cmc, cmc)
    assert result.mAP == pytest.approx(m_ap)
    assert (result.num_valid_queries, result.num_skipped_queries) == (valid, skipped)
    assert result.cmc.shape == (max_rank,)


def test_constant_scores_give_the_worst_ranking() -> None:
    n = 10
    result = cmc_map(np.zeros((n, n)), range(n), range(n), [0] * n, [1] * n, max_rank=n)
    np.testing.assert_allclose(result.cmc, [0.0] * (n - 1) + [1.0])


def test_rank_accessor() -> None:
    result = CMCResult(cmc=np.array([0.5, 0.75, 1.0]), mAP=0.6, num_valid_queries=4)
    assert (result.rank(1), result.rank(3)) == (0.5, 1.0)
    with pytest.raises(ValueError, match=r"outside 1\.\.3"):
        result.rank(4)


@pytest.mark.parametrize(
    ("scores", "qp", "gp", "qc", "gc", "kwargs", "message"),
    [
        ([[0.1, 0.2]], [1], [1, 2, 3], [0], [1, 1, 1], {}, "scores must be"),
        ([[0.1, 0.2]], [1], [1, 2], [0, 1], [1, 1], {}, "camera ids must match"),
        ([[np.nan, 0.2]], [1], [1, 2], [0], [1, 1], {}, "NaN"),
        ([[0.1, 0.2]], [1], [1, 2], [0], [1, 1], {"max_rank": 0}, "max_rank"),
        ([[0.1, 0.2]], [5], [1, 2], [0], [1, 1], {}, "no valid query"),
    ],
)
def test_cmc_map_errors(scores, qp, gp, qc, gc, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        cmc_map(np.array(scores), qp, gp, qc, gc, **kwargs)


class FakeMatcher:
    """Test double of ``reid_core.inference`` matchers: an image's "features" are given per path.

    ``embed`` returns the stored unit vectors; the pair head scores ``sigmoid(10 * <a, b'>)``
    with ``b'`` the stored *head* vector, so embedding and pair orders can differ on purpose.
    """

    def __init__(self, emb: dict[str, np.ndarray], head: dict[str, np.ndarray]) -> None:
        self.emb, self.head = emb, head
        self.pair_calls = 0

    def encode_paths(self, paths: Sequence[Path]) -> list[str]:
        return [Path(p).name for p in paths]

    def embed(self, enc: list[str]) -> np.ndarray:
        e = np.array([self.emb[n] for n in enc], dtype=np.float32)
        return e / np.linalg.norm(e, axis=1, keepdims=True)

    def score(self, enc_q: list[str], enc_g: list[str]) -> np.ndarray:
        hq = np.array([self.head[n] for n in enc_q])
        hg = np.array([self.head[n] for n in enc_g])
        return 1 / (1 + np.exp(-10 * hq @ hg.T))

    def score_pairs(
        self, enc_a: list[str], idx_a: np.ndarray, enc_b: list[str], idx_b: np.ndarray
    ) -> np.ndarray:
        self.pair_calls += len(idx_a)
        full = self.score(enc_a, enc_b)
        return full[np.asarray(idx_a), np.asarray(idx_b)]


def _toy(num: int = 6) -> tuple[Split, FakeMatcher]:
    """Pair head perfect; embedding puts each query's true match second (after the next id's image)."""
    rng = np.random.default_rng(0)
    base = np.linalg.qr(rng.normal(size=(16, 16)))[0][:num]  # orthonormal rows
    query = tuple(ReIDItem(Path(f"q{i}.jpg"), i, 0) for i in range(num))
    gallery = tuple(ReIDItem(Path(f"g{i}.jpg"), i, 1) for i in range(num))
    head = {f"q{i}.jpg": base[i] for i in range(num)} | {f"g{i}.jpg": base[i] for i in range(num)}
    emb = {f"q{i}.jpg": base[i] for i in range(num)}
    emb |= {f"g{i}.jpg": 0.9 * base[(i - 1) % num] + 0.5 * base[i] for i in range(num)}
    return Split((), query, gallery), FakeMatcher(emb, head)


def test_evaluate_split_full_pair_ranking() -> None:
    split, matcher = _toy()
    result = evaluate_split(matcher, split)
    assert result.rank(1) == 1.0 and result.mAP == 1.0 and result.cmc.shape == (20,)


@pytest.mark.parametrize(("k", "rank1_at_least"), [(1, 0.0), (2, 1.0), (6, 1.0), (100, 1.0)])
def test_evaluate_split_shortlist(k: int, rank1_at_least: float) -> None:
    split, matcher = _toy()
    embedding_only = cmc_map(
        matcher.embed([f"q{i}.jpg" for i in range(6)]) @ matcher.embed([f"g{i}.jpg" for i in range(6)]).T,
        range(6), range(6), [0] * 6, [1] * 6,
    )  # fmt: skip
    result = evaluate_split(matcher, split, shortlist_k=k)
    assert result.rank(1) >= rank1_at_least
    assert matcher.pair_calls == 6 * min(k, 6)
    if k == 1:  # nothing to re-rank: the embedding order
        np.testing.assert_allclose(result.cmc, embedding_only.cmc)


def test_shortlist_keeps_the_embedding_order_below_the_reranked_items() -> None:
    class Const(FakeMatcher):
        def score_pairs(self, enc_a, idx_a, enc_b, idx_b):
            return np.full(len(idx_a), 0.5)

    emb = {"q": np.array([1.0, 0.0])} | {f"g{i}": np.array([np.cos(i / 4), np.sin(i / 4)]) for i in range(5)}
    matcher = Const(emb, {})
    scores = shortlist_scores(matcher, ["q"], [f"g{i}" for i in range(5)], 2)
    assert scores.shape == (1, 5)
    np.testing.assert_allclose(scores[0, :2], 2.5)
    assert list(np.argsort(-scores[0], kind="stable")) == [0, 1, 2, 3, 4]


def test_shortlist_never_spends_a_slot_on_an_excluded_pair() -> None:
    split, matcher = _toy(3)
    split = Split((), split.query, (*split.gallery, ReIDItem(Path("q0.jpg"), 0, 0)))  # same id + camera
    result = evaluate_split(matcher, split, shortlist_k=1)
    assert matcher.pair_calls == 3 and result.num_valid_queries == 3


def test_evaluate_split_errors() -> None:
    _, matcher = _toy()
    with pytest.raises(ValueError, match="empty split"):
        evaluate_split(matcher, Split((), (), ()))
    with pytest.raises(ValueError, match="shortlist_k"):
        evaluate_split(matcher, _toy()[0], shortlist_k=0)


def test_evaluate_rankings_agree_with_the_single_rankings() -> None:
    split, matcher = _toy()
    res = evaluate_rankings(matcher, split, ("pair", "embedding", "shortlist"), shortlist_k=2)
    assert list(res) == ["pair", "embedding", "shortlist"]
    np.testing.assert_array_equal(res["pair"].cmc, evaluate_split(matcher, split).cmc)
    np.testing.assert_array_equal(res["shortlist"].cmc, evaluate_split(matcher, split, shortlist_k=2).cmc)
    assert res["pair"].rank(1) == 1.0 and res["embedding"].rank(1) == 0.0  # the toy's embedding is off by one
    assert res["embedding"].rank(2) == 1.0


@pytest.mark.parametrize(
    ("rankings", "shortlist_k", "message"),
    [
        (("pair", "cosine"), None, "unknown ranking 'cosine'; available: pair, embedding, shortlist"),
        (("shortlist",), None, "needs shortlist_k"),
        (("shortlist",), 0, "shortlist_k must be >= 1"),
    ],
)
def test_evaluate_rankings_errors(rankings: tuple[str, ...], shortlist_k: int | None, message: str) -> None:
    split, matcher = _toy()
    with pytest.raises(ValueError, match=message):
        evaluate_rankings(matcher, split, rankings, shortlist_k=shortlist_k)


@pytest.mark.parametrize(
    ("scores", "same", "expected"),
    [
        # perfectly separated and calibrated at the extremes
        ([1.0, 1.0, 0.0, 0.0], [True, True, False, False], {"auc": 1.0, "ece": 0.0, "brier": 0.0}),
        # inverted
        ([0.0, 1.0], [True, False], {"auc": 0.0, "ece": 1.0, "brier": 1.0}),
        # all tied: AUC one half; P 0.5 for half positives is calibrated
        ([0.5, 0.5, 0.5, 0.5], [True, False, True, False], {"auc": 0.5, "ece": 0.0, "brier": 0.25}),
        # over-confident: 0.9 for pairs of which 1 in 2 is the same person: (0.4 + 0.1) / 2
        ([0.9, 0.9, 0.1, 0.1], [True, False, False, False], {"auc": 5 / 6, "ece": 0.25}),
    ],
)
def test_calibration_summary(scores: list[float], same: list[bool], expected: dict[str, float]) -> None:
    from reid_core.evaluate import calibration_summary

    got = calibration_summary(np.array(scores), np.array(same))
    for k, v in expected.items():
        assert got[k] == pytest.approx(v), k
    assert got["positives"] == sum(same)


@pytest.mark.parametrize(
    ("scores", "same", "match"),
    [
        ([0.1, 0.2], [True], "differ in shape"),
        ([0.1, 0.2], [True, True], "need positive and negative"),
    ],
)
def test_calibration_summary_errors(scores: list[float], same: list[bool], match: str) -> None:
    from reid_core.evaluate import calibration_summary

    with pytest.raises(ValueError, match=match):
        calibration_summary(np.array(scores), np.array(same))
