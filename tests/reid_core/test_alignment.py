"""reid_core.training.alignment: the adapted head's log-odds put back on the start head's scale."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reid_core.training.alignment import (
    ScoreAlignment,
    fit_score_alignment,
    fold_into_head,
    linkable_crop_pairs,
)


class _FakeMatcher:
    """encode = crop indices; P(same) of a pair = sigmoid(f(latent[a] + latent[b]))."""

    def __init__(self, latent: np.ndarray, transform) -> None:  # type: ignore[no-untyped-def]
        self.latent, self.transform = latent, transform

    def encode(self, crops):  # type: ignore[no-untyped-def]
        return np.arange(len(crops))

    def score_pairs(self, enc_a, idx_a, enc_b, idx_b):  # type: ignore[no-untyped-def]
        logit = self.transform(self.latent[np.asarray(idx_a)] + self.latent[np.asarray(idx_b)])
        return 1.0 / (1.0 + np.exp(-logit))


def _scene(n_tracklets: int = 40, crops_each: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    crop_tracklet = np.repeat(np.arange(n_tracklets), crops_each)
    latent = rng.normal(0.0, 1.5, len(crop_tracklet))
    cannot = np.zeros((n_tracklets, n_tracklets), bool)
    if n_tracklets > 1:
        cannot[0, 1] = cannot[1, 0] = True
    return crop_tracklet, latent, cannot


@pytest.mark.parametrize(("scale", "shift"), [(1.0, 0.0), (0.5, -2.0), (2.0, 1.5)])
def test_the_fit_recovers_a_known_drift(scale: float, shift: float) -> None:
    crop_tracklet, latent, cannot = _scene()
    start = _FakeMatcher(latent, lambda x: x)
    adapted = _FakeMatcher(latent, lambda x: (x - shift) / scale)  # start = scale * adapted + shift
    crops = np.zeros((len(crop_tracklet), 8, 4, 3), np.uint8)
    fit = fit_score_alignment(start, adapted, crops, crop_tracklet, cannot)  # type: ignore[arg-type]
    assert fit is not None and fit.pairs > 1000
    assert fit.scale == pytest.approx(scale, rel=1e-3) and fit.shift == pytest.approx(shift, abs=1e-2)


@pytest.mark.parametrize(
    ("n_tracklets", "transform", "why"),
    [
        (1, lambda x: x, "one tracklet: no linkable pair"),
        (40, lambda x: -x, "a head that disagrees with its start is no calibration"),
        (40, lambda x: 0.0 * x, "a constant head has no scale"),
    ],
)
def test_no_fit_when_it_would_mean_nothing(n_tracklets: int, transform, why: str) -> None:  # type: ignore[no-untyped-def]
    crop_tracklet, latent, cannot = _scene(n_tracklets)
    crops = np.zeros((len(crop_tracklet), 8, 4, 3), np.uint8)
    start, adapted = _FakeMatcher(latent, lambda x: x), _FakeMatcher(latent, transform)
    assert fit_score_alignment(start, adapted, crops, crop_tracklet, cannot) is None, why  # type: ignore[arg-type]


def test_pairs_join_two_linkable_tracklets_only() -> None:
    crop_tracklet, _, cannot = _scene(5, 3)
    a, b = linkable_crop_pairs(crop_tracklet, cannot, 500, seed=0)
    assert len(a) > 100
    ta, tb = crop_tracklet[a], crop_tracklet[b]
    assert (ta != tb).all() and not cannot[ta, tb].any()
    assert linkable_crop_pairs(crop_tracklet[:1], cannot, 500, seed=0)[0].size == 0


def test_folding_maps_the_logit_difference() -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(6, 2)
    x = torch.randn(32, 6)
    before = layer(x)
    fold_into_head(layer, ScoreAlignment(scale=0.7, shift=-1.3, pairs=10))
    after = layer(x)
    d_before, d_after = before[:, 1] - before[:, 0], after[:, 1] - after[:, 0]
    torch.testing.assert_close(d_after, 0.7 * d_before - 1.3, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layer", [torch.nn.Linear(6, 3), torch.nn.Linear(6, 2, bias=False)])
def test_folding_refuses_a_layer_that_is_not_the_pair_logits(layer: torch.nn.Linear) -> None:
    with pytest.raises(ValueError, match="Linear"):
        fold_into_head(layer, ScoreAlignment(1.0, 0.0, 1))


def test_per_camera_encoding_uses_each_cameras_moments() -> None:
    """crop_cameras: each camera's crops encoded by the matcher renormalised on that camera's crops."""
    from reid_core.inference import Matcher
    from reid_core.model import ModelConfig, build_model
    from reid_core.training.alignment import _encode

    torch.manual_seed(0)
    matcher = Matcher(
        build_model(ModelConfig(pretrained=False, corr_channels=8, fc_dims=(16, 8), embed_dim=8))
    )
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (60, 30, 3), dtype=np.uint8) for _ in range(7)]
    cameras = np.array([1, 0, 1, 2, 0, 1, 2])
    got = _encode(matcher, np.stack(crops), cameras)
    for cam in (0, 1, 2):
        rows = np.flatnonzero(cameras == cam)
        want = matcher.renormalised([crops[i] for i in rows]).encode([crops[i] for i in rows])
        torch.testing.assert_close(got.half_a[rows], want.half_a)
        torch.testing.assert_close(got.embedding[rows], want.embedding)
    plain = _encode(matcher, np.stack(crops), None)
    assert not torch.allclose(plain.half_a, got.half_a)  # the moments made a difference
