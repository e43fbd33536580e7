"""Inference API: Encoded containers, BGR handling, decomposed scoring, load_matcher errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from infra.errors import DatasetError, WeightsError
from reid_core.data.transforms import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, bgr_to_input, stack_bgr
from reid_core.inference import Encoded, Matcher, load_matcher
from reid_core.model import ModelConfig, build_model
from reid_core.shipped import CMC_WEIGHTS
from reid_core.training.config import config_to_dict
from reid_core.weights import DEFAULT_WEIGHTS, save_weights

TINY = ModelConfig(pretrained=False, corr_channels=8, fc_dims=(16, 8), embed_dim=8)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    torch.manual_seed(0)
    model = build_model(TINY)
    model.eval()
    for m in model.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.2, 0.2)
    return Matcher(model, "cpu", batch_size=3, pair_batch_size=7)


def _crops(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = [(160, 80), (97, 41), (300, 120), (20, 10)]
    return [rng.integers(0, 256, (*sizes[i % 4], 3), dtype=np.uint8) for i in range(n)]


# -- colour order ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("bgr_pixel", "rgb_expected"),
    [
        ((255, 0, 0), (0.0, 0.0, 1.0)),  # pure blue in OpenCV order
        ((0, 0, 255), (1.0, 0.0, 0.0)),  # pure red
        ((10, 128, 250), (250 / 255, 128 / 255, 10 / 255)),
    ],
)
def test_bgr_converted_to_rgb_once(bgr_pixel: tuple[int, int, int], rgb_expected: tuple[float, ...]) -> None:
    img = np.zeros((1, 4, 2, 3), np.uint8)
    img[...] = bgr_pixel
    x = bgr_to_input(img)
    want = (torch.tensor(rgb_expected) - torch.tensor(IMAGENET_MEAN_RGB)) / torch.tensor(IMAGENET_STD_RGB)
    torch.testing.assert_close(x[0, :, 0, 0], want.float())


def test_swapping_channels_swaps_the_input_tensor() -> None:
    img = np.random.default_rng(1).integers(0, 256, (2, 8, 4, 3), dtype=np.uint8)
    x, x_swapped = bgr_to_input(img), bgr_to_input(img[..., ::-1].copy())
    mean = torch.tensor(IMAGENET_MEAN_RGB).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD_RGB).view(1, 3, 1, 1)
    raw, raw_swapped = x * std + mean, x_swapped * std + mean
    torch.testing.assert_close(raw_swapped, raw.flip(1))


def test_encode_matches_model_on_rgb_tensor(matcher: Matcher) -> None:
    crop = _crops(1)[0]
    crop = cv2.resize(crop, (80, 160))
    enc = matcher.encode([crop])
    rgb = torch.from_numpy(crop[..., ::-1].copy()).permute(2, 0, 1)[None].float() / 255
    x = (rgb - torch.tensor(IMAGENET_MEAN_RGB).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD_RGB).view(
        1, 3, 1, 1
    )
    with torch.no_grad():
        emb = matcher.model.embed(matcher.model.maps(x))
    torch.testing.assert_close(enc.embedding, emb, rtol=1e-4, atol=1e-5)
    swapped = matcher.encode([crop[..., ::-1].copy()])
    assert not torch.allclose(swapped.embedding, enc.embedding)


# -- Encoded --------------------------------------------------------------------------------
def test_encoded_len_index_concat(matcher: Matcher) -> None:
    enc = matcher.encode(_crops(5))
    assert len(enc) == 5
    assert enc.half_a.shape == (5, 8, 10, 5) and enc.embedding.shape == (5, 8)
    cases = [
        (np.array([4, 0]), [4, 0]),
        ([1, 1, 2], [1, 1, 2]),
        (np.array([True, False, True, False, False]), [0, 2]),
        (slice(1, 3), [1, 2]),
        (3, [3]),
        (np.array([], np.int64), []),
    ]
    for index, rows in cases:
        sub = enc[index]
        assert len(sub) == len(rows)
        torch.testing.assert_close(sub.embedding, enc.embedding[rows])
    both = Encoded.concat([enc[[0, 1]], enc[[2, 3, 4]]])
    torch.testing.assert_close(both.half_b, enc.half_b)
    with pytest.raises(ValueError):
        Encoded.concat([])
    with pytest.raises(IndexError):
        enc[np.array([True, False])]


@pytest.mark.parametrize(("rows_a", "rows_b"), [(4, 3), (1, 2), (1, 1)])
def test_pooled_rows_score_as_the_mean_trunk_map(matcher: Matcher, rows_a: int, rows_b: int) -> None:
    crops_a, crops_b = _crops(rows_a, seed=11), _crops(rows_b, seed=12)
    pooled_a, pooled_b = matcher.pool(matcher.encode(crops_a)), matcher.pool(matcher.encode(crops_b))
    assert len(pooled_a) == 1 and len(pooled_b) == 1
    with torch.no_grad():
        maps = [
            matcher.model.maps(bgr_to_input(stack_bgr(c, matcher.input_size_hw), "cpu")).mean(0, keepdim=True)
            for c in (crops_a, crops_b)
        ]
        logits = matcher.model.head.forward_naive(maps[0], maps[1])
    expected = torch.softmax(logits, dim=1)[0, 1].item()
    np.testing.assert_allclose(matcher.score(pooled_a, pooled_b)[0, 0], expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(pooled_a.embedding.norm(dim=1), torch.ones(1))
    twice = pooled_a.mean()
    torch.testing.assert_close(twice.half_a, pooled_a.half_a)
    torch.testing.assert_close(twice.embedding, pooled_a.embedding)


def test_pool_of_nothing_is_an_error(matcher: Matcher) -> None:
    with pytest.raises(ValueError, match="at least one row"):
        matcher.pool(matcher.encode([]))


def test_encode_empty_and_bad_crop(matcher: Matcher) -> None:
    assert len(matcher.encode([])) == 0
    assert matcher.score(matcher.encode([]), matcher.encode(_crops(2))).shape == (0, 2)
    with pytest.raises(ValueError, match="BGR crop"):
        matcher.encode([np.zeros((10, 10), np.uint8)])


# -- scoring --------------------------------------------------------------------------------
def test_score_decomposed_equals_naive(matcher: Matcher) -> None:
    a, b = _crops(4, seed=2), _crops(5, seed=3)
    s = matcher.score(matcher.encode(a), matcher.encode(b))
    assert s.shape == (4, 5) and s.dtype == np.float32
    assert (s >= 0).all() and (s <= 1).all()
    ia, ib = np.repeat(np.arange(4), 5), np.tile(np.arange(5), 4)
    naive = matcher.score_naive([a[i] for i in ia], [b[j] for j in ib])
    np.testing.assert_allclose(s.reshape(-1), naive, rtol=1e-4, atol=1e-5)


def test_fused_and_plain_matchers_agree(matcher: Matcher) -> None:
    plain = Matcher(matcher.model, "cpu", fuse=False)
    crops = _crops(4, seed=7)
    np.testing.assert_allclose(
        plain.score(plain.encode(crops), plain.encode(crops)),
        matcher.score(matcher.encode(crops), matcher.encode(crops)),
        rtol=1e-4,
        atol=1e-5,
    )


def test_score_pairs_matches_score_and_is_deterministic(matcher: Matcher) -> None:
    ea, eb = matcher.encode(_crops(3)), matcher.encode(_crops(4, seed=5))
    full = matcher.score(ea, eb)
    ia, ib = np.array([0, 2, 1, 2]), np.array([3, 0, 1, 3])
    np.testing.assert_allclose(matcher.score_pairs(ea, ia, eb, ib), full[ia, ib], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(matcher.score(ea, eb), full)
    with pytest.raises(ValueError, match="differ in length"):
        matcher.score_pairs(ea, [0], eb, [0, 1])


def test_embed_is_l2_normalised(matcher: Matcher) -> None:
    e = matcher.embed(matcher.encode(_crops(3)))
    assert e.shape == (3, 8) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-5)


def test_encode_paths(matcher: Matcher, tmp_path: Path) -> None:
    crops = _crops(3)
    paths = []
    for i, c in enumerate(crops):
        p = tmp_path / f"{i}.png"
        cv2.imwrite(str(p), c)
        paths.append(p)
    torch.testing.assert_close(matcher.encode_paths(paths).embedding, matcher.encode(crops).embedding)
    with pytest.raises(DatasetError, match=r"missing\.png"):
        matcher.encode_paths([tmp_path / "missing.png"])


# -- load_matcher ---------------------------------------------------------------------------
def test_load_matcher_round_trip(matcher: Matcher, tmp_path: Path) -> None:
    meta = {"format": "reid-siamese", "version": 1, "model": config_to_dict(TINY)}
    path = save_weights(tmp_path / "w.safetensors", matcher.model.state_dict(), meta)
    loaded = load_matcher(path, device="cpu")
    crops = _crops(3)
    np.testing.assert_allclose(
        loaded.score(loaded.encode(crops), loaded.encode(crops)),
        matcher.score(matcher.encode(crops), matcher.encode(crops)),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        ("missing", "not found"),
        ("garbage", "not a readable safetensors"),
        ("wrong_arch", "do not fit the model"),
        ("bad_model_section", "unknown key"),
    ],
)
def test_load_matcher_bad_weights(matcher: Matcher, tmp_path: Path, setup: str, match: str) -> None:
    path = tmp_path / "w.safetensors"
    if setup == "garbage":
        path.write_bytes(b"garbage")
    elif setup == "wrong_arch":
        meta = {"model": config_to_dict(ModelConfig(pretrained=False, corr_channels=16))}
        save_weights(path, matcher.model.state_dict(), meta)
    elif setup == "bad_model_section":
        save_weights(path, matcher.model.state_dict(), {"model": {"trunk": "mobilenet_v2", "widht": 3}})
    with pytest.raises(WeightsError, match=match) as info:
        load_matcher(path, device="cpu")
    assert "w.safetensors" in str(info.value)


@pytest.mark.parametrize("weights", [None, CMC_WEIGHTS], ids=["default", "cmc"])
def test_shipped_weights_load_and_are_small(weights: Path | None) -> None:
    assert all(p.stat().st_size < 8 * 2**20 for p in (DEFAULT_WEIGHTS, CMC_WEIGHTS))
    m = load_matcher(weights, device="cpu")
    assert m.meta["recipe"] == ("configs/reid/full.yaml" if weights else "configs/reid/default.yaml")
    crops = _crops(2)
    s = m.score(m.encode(crops), m.encode(crops))
    assert s.shape == (2, 2) and np.isfinite(s).all()


@pytest.mark.parametrize(
    "shapes",
    [
        [(3, 4)],  # one block
        [(3, 4), (4, 3), (1, 1), (2, 4)],  # blocks spanning several pair_batch_size chunks (7 rows)
        [(0, 4), (3, 0), (2, 2)],  # empty blocks keep their place and shape
        [(0, 0)],
        [],
    ],
)
def test_score_blocks_equals_one_score_call_per_block(matcher: Matcher, shapes) -> None:
    """Bit for bit: the head computes each crop pair on its own, whatever else is in the batch."""
    enc = matcher.encode(_crops(6, seed=3))
    rng = np.random.default_rng(1)
    blocks = [(enc[rng.integers(0, 6, na)], enc[rng.integers(0, 6, nb)]) for na, nb in shapes]
    got = matcher.score_blocks(blocks)
    assert len(got) == len(blocks)
    for (a, b), scores in zip(blocks, got, strict=True):
        assert scores.shape == (len(a), len(b)) and scores.dtype == np.float32
        np.testing.assert_array_equal(scores, matcher.score(a, b))


@pytest.mark.skipif(not Path(DEFAULT_WEIGHTS).is_file(), reason="the shipped re-ID weights are not installed")
@pytest.mark.parametrize("threads", [1, 2])
def test_score_blocks_of_the_shipped_head_equal_per_block_calls(threads: int) -> None:
    """The association batches every shortlisted pair of a call: the shipped head, 4 x 4 crop
    blocks as the association makes them, 1 and 2 threads. Equal to one call per block up to the
    last float bits: bit for bit on the AMD EPYC (AVX2) this was written on, but on an Intel Xeon
    (AVX-512) oneDNN's kernels round differently by batch size (6e-8 relative seen). Local and Ray
    runs make the same calls (docs/ray.md), so their outputs agree either way."""
    real = load_matcher(device="cpu")
    enc = real.encode(_crops(12, seed=7))
    rng = np.random.default_rng(2)
    blocks = [(enc[rng.integers(0, 12, 4)], enc[rng.integers(0, 12, rng.integers(1, 5))]) for _ in range(40)]
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = real.score_blocks(blocks)
        for (a, b), scores in zip(blocks, got, strict=True):
            np.testing.assert_allclose(scores, real.score(a, b), rtol=0, atol=1e-6)
    finally:
        torch.set_num_threads(before)
