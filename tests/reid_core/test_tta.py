"""Test-time flip: mean log-odds of the plain and mirrored pair, invariance to mirroring, errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from infra.errors import DatasetError
from reid_core.inference import Matcher, load_matcher
from reid_core.tta import TTA_MODES, FlipAveraged, FlipEncoded, with_tta
from reid_core.weights import DEFAULT_WEIGHTS


@pytest.fixture(scope="module")
def inner() -> Matcher:
    """The shipped weights (a random tiny model scores every pair alike)."""
    return load_matcher(DEFAULT_WEIGHTS, device="cpu")


def _crops(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (120 + 10 * i, 50, 3), dtype=np.uint8) for i in range(n)]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def test_score_is_the_mean_logodds_of_plain_and_mirrored(inner: Matcher) -> None:
    a, b = _crops(3, 0), _crops(4, 1)
    flip = FlipAveraged(inner)
    got = flip.score(flip.encode(a), flip.encode(b))
    plain = inner.score(inner.encode(a), inner.encode(b))
    mirrored = inner.score(inner.encode([c[:, ::-1] for c in a]), inner.encode([c[:, ::-1] for c in b]))
    want = 1 / (1 + np.exp(-(_logit(plain) + _logit(mirrored)) / 2))
    assert got.shape == (3, 4) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert not np.allclose(_logit(got), _logit(plain), atol=1e-3)  # the mirrored view counts


def test_mirroring_every_crop_changes_nothing(inner: Matcher) -> None:
    a, b = _crops(3, 2), _crops(2, 3)
    flip = FlipAveraged(inner)
    seen = flip.score(flip.encode(a), flip.encode(b))
    mirrored = flip.score(flip.encode([c[:, ::-1] for c in a]), flip.encode([c[:, ::-1] for c in b]))
    np.testing.assert_allclose(seen, mirrored, atol=1e-5)


def test_score_pairs_and_embed_agree_with_score(inner: Matcher) -> None:
    flip = FlipAveraged(inner)
    ea, eb = flip.encode(_crops(3, 4)), flip.encode(_crops(3, 5))
    full = flip.score(ea, eb)
    ia, ib = np.array([0, 2, 1, 2]), np.array([1, 0, 1, 2])
    np.testing.assert_allclose(flip.score_pairs(ea, ia, eb, ib), full[ia, ib], atol=1e-6)
    emb = flip.embed(ea)
    assert emb.shape == (3, inner.model.embed_dim) and len(ea) == 3
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_encode_paths_reads_bgr_files_and_names_a_bad_one(inner: Matcher, tmp_path: Path) -> None:
    crops = _crops(2, 6)
    paths = [tmp_path / f"{i}.png" for i in range(2)]
    for path, crop in zip(paths, crops, strict=True):
        cv2.imwrite(str(path), crop)
    flip = FlipAveraged(inner)
    np.testing.assert_allclose(
        flip.score(flip.encode_paths(paths), flip.encode_paths(paths)),
        flip.score(flip.encode(crops), flip.encode(crops)),
        atol=1e-6,
    )
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match=r"bad\.png: not a readable image"):
        flip.encode_paths([tmp_path / "bad.png"])


@pytest.mark.parametrize(
    ("mode", "wrapped", "error"),
    [("none", False, None), ("flip", True, None), ("five-crop", False, "unknown test-time augmentation")],
)
def test_with_tta(inner: Matcher, mode: str, wrapped: bool, error: str | None) -> None:
    if error:
        with pytest.raises(ValueError, match=error):
            with_tta(inner, mode)
        return
    out = with_tta(inner, mode)
    assert isinstance(out, FlipAveraged) is wrapped and (out is inner) is not wrapped
    assert set(TTA_MODES) == {"flip", "none"}


def test_rows_pool_and_score_blocks_as_the_pipeline_uses_them(inner: Matcher) -> None:
    """Indexing, pooling and batched blocks (pipeline.identities.scoring) agree with :meth:`score`."""
    flip = FlipAveraged(inner)
    ea, eb = flip.encode(_crops(4, 7)), flip.encode(_crops(3, 8))
    rows = np.array([3, 0])
    np.testing.assert_allclose(flip.score(ea[rows], eb), flip.score(ea, eb)[rows], atol=1e-6)
    pooled = flip.pool(ea)
    assert len(pooled) == 1
    by_view = FlipEncoded(inner.pool(ea.plain), inner.pool(ea.mirrored))
    np.testing.assert_allclose(flip.score(pooled, eb), flip.score(by_view, eb), atol=1e-6)
    blocks = [(ea, eb), (eb, ea[rows]), (pooled, pooled)]
    for got, (a, b) in zip(flip.score_blocks(blocks), blocks, strict=True):
        np.testing.assert_allclose(got, flip.score(a, b), atol=1e-5)
