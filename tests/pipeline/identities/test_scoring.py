"""Pair scoring helpers: the vectorised transition check and batched tracklet-pair scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.identities.scoring import (
    EncodedTracklet,
    cross_camera_gap_ok,
    cross_camera_gaps_ok,
    score_blocks,
    tracklet_pair_score,
    tracklet_pair_scores,
)

GAPS = np.array([-5.0, -0.5, -0.3, 0.0, 0.2, 1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("min_transition_s", "overlapping_views"),
    [(0.0, False), (-0.5, False), (1.0, False), (0.0, True), (2.0, True), (-1.0, True)],
)
def test_cross_camera_gaps_ok_is_the_scalar_check_per_gap(
    min_transition_s: float, overlapping_views: bool
) -> None:
    expected = [cross_camera_gap_ok(float(g), min_transition_s, overlapping_views) for g in GAPS]
    assert cross_camera_gaps_ok(GAPS, min_transition_s, overlapping_views).tolist() == expected


class RandomMatcher:
    """Crop codes -> a fixed random P(same) per (first, second) code pair (not symmetric)."""

    def __init__(self, seed: int = 0) -> None:
        self.table = np.random.default_rng(seed).random((20, 20)).astype(np.float32)
        self.calls = 0

    def encode(self, crops):  # pragma: no cover - not used here
        raise NotImplementedError

    def embed(self, enc):  # pragma: no cover - not used here
        raise NotImplementedError

    def score(self, enc_a: np.ndarray, enc_b: np.ndarray) -> np.ndarray:
        self.calls += 1
        return self.table[np.ix_(enc_a, enc_b)]


class BatchedMatcher(RandomMatcher):
    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.batched_calls = 0

    def score_blocks(self, blocks):
        self.batched_calls += 1
        return [self.table[np.ix_(a, b)] for a, b in blocks]


def _tracklet(codes: list[int]) -> EncodedTracklet:
    return EncodedTracklet(np.asarray(codes, np.int64), np.ones(4, np.float32) / 2)


PAIRS = [
    ([1, 2, 3], [4, 5]),
    ([6], [6]),
    ([1, 2, 3, 4], [1, 2, 3, 4]),
    ([7, 8], []),  # no crop pair: nan
]


@pytest.mark.parametrize("matcher_type", [RandomMatcher, BatchedMatcher])
@pytest.mark.parametrize("top_fraction", [0.5, 1.0])
def test_tracklet_pair_scores_equal_one_pair_at_a_time(matcher_type, top_fraction: float) -> None:
    matcher = matcher_type()
    pairs = [(_tracklet(a), _tracklet(b)) for a, b in PAIRS]
    got = tracklet_pair_scores(matcher, pairs, top_fraction)
    expected = [tracklet_pair_score(matcher, a, b, top_fraction) for a, b in pairs]
    assert len(got) == len(pairs)
    for g, e in zip(got, expected, strict=True):
        assert (math.isnan(g) and math.isnan(e)) or g == e  # exactly, not approximately


def test_a_matcher_with_score_blocks_is_called_once_for_all_pairs() -> None:
    matcher = BatchedMatcher()
    tracklet_pair_scores(matcher, [(_tracklet(a), _tracklet(b)) for a, b in PAIRS], 0.5)
    assert (matcher.batched_calls, matcher.calls) == (1, 0)
    plain = RandomMatcher()
    assert len(score_blocks(plain, [(np.array([1]), np.array([2, 3]))] * 3)) == 3 and plain.calls == 3


def test_no_pairs_no_call() -> None:
    matcher = BatchedMatcher()
    assert tracklet_pair_scores(matcher, [], 0.5) == [] and matcher.calls == 0


# -- crop pooling (association.crop_pooling: mean) ---------------------------------------------
@pytest.fixture(scope="module")
def tiny_matcher():
    torch = pytest.importorskip("torch")
    from reid_core.inference import Matcher
    from reid_core.model import ModelConfig, build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(pretrained=False, corr_channels=8, fc_dims=(16, 8), embed_dim=8))
    return Matcher(model.eval(), "cpu")


def _crop_tracklet(n_crops: int, seed: int):
    from pipeline.tracklets import Crop, Tracklet

    rng = np.random.default_rng(seed)
    crops = [Crop(i, 0.1 * i, 0.9, rng.integers(0, 256, (96, 40, 3), dtype=np.uint8)) for i in range(n_crops)]
    return Tracklet("cam", seed, crops=crops)


@pytest.mark.parametrize(("n_crops", "crops_per_pair"), [(6, 4), (3, 4), (1, 4), (5, 1)])
def test_pooled_encoding_is_the_mean_of_the_kept_crops(
    tiny_matcher, n_crops: int, crops_per_pair: int
) -> None:
    import torch

    from pipeline.identities.scoring import encode_tracklets, pool_encoded

    plain = encode_tracklets(tiny_matcher, [_crop_tracklet(n_crops, 1)], crops_per_pair)[0]
    pooled = encode_tracklets(tiny_matcher, [_crop_tracklet(n_crops, 1)], crops_per_pair, pool=True)[0]
    assert len(plain.encoded) == min(n_crops, crops_per_pair) and len(pooled.encoded) == 1
    torch.testing.assert_close(pooled.encoded.half_a, plain.encoded.half_a.mean(0, keepdim=True))
    np.testing.assert_array_equal(pooled.embedding, plain.embedding)  # the shortlist embedding is unchanged
    again = pool_encoded(tiny_matcher, pooled)
    torch.testing.assert_close(again.encoded.half_b, pooled.encoded.half_b)


def test_attached_encodings_are_pooled_when_asked(tiny_matcher) -> None:
    from pipeline.identities.scoring import encode_tracklets

    attached = _crop_tracklet(5, 2)
    attached.encoding = encode_tracklets(tiny_matcher, [attached], 4)[0]
    attached.encoded = True
    fresh = _crop_tracklet(4, 3)
    got = encode_tracklets(tiny_matcher, [attached, fresh], 4, pool=True)
    assert [len(e.encoded) for e in got] == [1, 1]
    assert len(encode_tracklets(tiny_matcher, [attached], 4)[0].encoded) == 4  # without pool: as attached


def test_a_matcher_without_pool_cannot_pool() -> None:
    from pipeline.identities.scoring import pool_encoded

    with pytest.raises(TypeError, match="crop_pooling: pairs"):
        pool_encoded(RandomMatcher(), _tracklet([1, 2]))
