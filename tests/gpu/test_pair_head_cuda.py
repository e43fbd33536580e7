"""GPU check of the batched pair head the association uses (``Matcher.score_blocks``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available(), reason="no CUDA device on this machine (GPU-only test)"
    ),
]


@pytest.mark.parametrize("blocks", [1, 40, 400])
def test_score_blocks_on_cuda_match_one_call_per_block(blocks: int) -> None:
    """On the CPU the rows are bit-identical (tests/reid_core); cuDNN may pick another algorithm for
    another batch size, so on CUDA the bound is float rounding, far below any decision threshold."""
    from reid_core.inference import load_matcher

    matcher = load_matcher(None, device="cuda")
    rng = np.random.default_rng(0)
    enc = matcher.encode([rng.integers(0, 256, (160, 80, 3), dtype=np.uint8) for _ in range(16)])
    pairs = [(enc[rng.integers(0, 16, 4)], enc[rng.integers(0, 16, 4)]) for _ in range(blocks)]
    for (a, b), scores in zip(pairs, matcher.score_blocks(pairs), strict=True):
        np.testing.assert_allclose(scores, matcher.score(a, b), rtol=0, atol=1e-5)
