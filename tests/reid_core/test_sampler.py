"""CrossCameraSampler: cross-camera pairs, determinism, data-set balance."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from reid_core.data.sampler import CrossCameraSampler


def _items(num_ids: int, first_id: int = 0) -> tuple[list[int], list[int]]:
    pids = [first_id + p for p in range(num_ids) for _ in range(4)]
    cams = [c for _ in range(num_ids) for c in (0, 0, 1, 1)]
    return pids, cams


def test_pairs_are_cross_camera_and_deterministic() -> None:
    pids, cams = _items(20)
    s = CrossCameraSampler(pids, cams, 6, seed=3, hard_fraction=0.0)
    b1, b2 = s.batch(7), s.batch(7)
    assert np.array_equal(b1.idx_a, b2.idx_a) and np.array_equal(b1.idx_b, b2.idx_b)
    assert len(set(b1.pids.tolist())) == 6
    for a, b, p in zip(b1.idx_a, b1.idx_b, b1.pids, strict=True):
        assert pids[a] == pids[b] == p and cams[a] != cams[b]


@pytest.mark.parametrize(
    ("weights", "P", "expected_small"),
    [
        (None, 8, 4),  # equal shares: 4 of 8 anchors from the 5-person data set
        ([3.0, 1.0], 8, 2),
        ([1.0, 1.0], 20, 5),  # capped at the 5 people it has; the rest from the big one
        ([1.0, 0.0], 8, 0),
        ([0.0, 1.0], 8, 5),  # all 5, then the batch is filled with random identities of the other
    ],
)
def test_dataset_balance(weights: list[float] | None, P: int, expected_small: int) -> None:
    big_p, big_c = _items(200)
    small_p, small_c = _items(5, first_id=1000)
    groups = [0] * len(big_p) + [1] * len(small_p)
    s = CrossCameraSampler(
        big_p + small_p, big_c + small_c, P, seed=0, hard_fraction=0.0, groups=groups, group_weights=weights
    )
    counts = Counter()
    for step in range(30):
        b = s.batch(step)
        assert len(set(b.pids.tolist())) == P
        n_small = int((b.pids >= 1000).sum())
        assert n_small == expected_small
        counts.update(b.pids[b.pids >= 1000].tolist())
    if expected_small:
        assert set(counts) == set(range(1000, 1005))  # every small-set person comes round


def test_without_groups_a_small_dataset_is_rare() -> None:
    big_p, big_c = _items(200)
    small_p, small_c = _items(5, first_id=1000)
    s = CrossCameraSampler(big_p + small_p, big_c + small_c, 8, seed=0, hard_fraction=0.0)
    share = np.mean([(s.batch(k).pids >= 1000).mean() for k in range(50)])
    assert share < 0.1


@pytest.mark.parametrize(
    ("groups", "weights", "match"),
    [
        ([0] * 7, None, "differ in length"),
        ([0] * 8, [1.0, 1.0], "group_weights must be 1 values"),
        ([0] * 4 + [1] * 4, [0.0, 0.0], "not all 0"),
        ([0] * 4 + [1] * 4, [1.0, -1.0], ">= 0"),
    ],
)
def test_group_errors(groups: list[int], weights: list[float] | None, match: str) -> None:
    pids, cams = _items(2)
    with pytest.raises(ValueError, match=match):
        CrossCameraSampler(pids, cams, 2, seed=0, hard_fraction=0.0, groups=groups, group_weights=weights)
