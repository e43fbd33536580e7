"""benchmarks/ray_scale.py: the synthetic stream's camera count and the head-free matcher."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import ray_scale  # noqa: E402


@pytest.mark.parametrize(
    ("rate", "fixed", "expected"),
    [
        (1.8, None, 2),  # the sample: two cameras
        (0.5, None, 2),  # never fewer than the sample's
        (20.0, None, 23),  # 20 / 0.908 tracklets per camera and second
        (180.0, None, 199),  # 100x the sample: about 200 sample-like cameras
        (180.0, 8, 8),  # fixed by --assoc-cams
    ],
)
def test_cameras_grow_with_the_rate(rate: float, fixed: int | None, expected: int) -> None:
    assert ray_scale.assoc_cameras(rate, fixed) == expected


class _Inner:
    def encode(self, crops):
        return np.arange(len(crops))

    def embed(self, enc):
        return np.ones((len(enc), 2), np.float32)

    def score(self, a, b):  # pragma: no cover - must not be called
        raise AssertionError("the instant head must not call the real head")


def test_the_instant_head_encodes_with_the_model_and_scores_a_constant() -> None:
    head = ray_scale.InstantHead(_Inner())
    enc = head.encode([0, 0, 0])
    assert head.embed(enc).shape == (3, 2)
    np.testing.assert_array_equal(head.score(enc, enc[:2]), np.full((3, 2), 0.1, np.float32))
    blocks = head.score_blocks([(enc, enc[:1]), (enc[:0], enc)])
    assert [b.shape for b in blocks] == [(3, 1), (0, 3)]
