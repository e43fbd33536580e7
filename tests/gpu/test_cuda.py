"""GPU checks: the same results on CUDA as on the CPU. Run on a machine with a CUDA device."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reid_core.inference import matcher_from_model
from reid_core.model import ModelConfig, build_model

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available(), reason="no CUDA device on this machine (GPU-only test)"
    ),
]


@pytest.mark.parametrize("trunk", ["mobilenet_v2", "googlenet"])
def test_matcher_scores_on_cuda_equal_cpu(trunk: str) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(trunk=trunk, pretrained=False, fc_dims=(64, 32), embed_dim=16))
    rng = np.random.default_rng(0)
    heights = rng.integers(60, 200, size=12)
    crops = [rng.integers(0, 256, size=(int(h), 50, 3), dtype=np.uint8) for h in heights]

    results = {}
    for device in ("cpu", "cuda"):
        matcher = matcher_from_model(model, device)
        enc = matcher.encode(crops)
        results[device] = (matcher.score(enc, enc), matcher.embed(enc), enc.half_a.cpu().numpy())

    np.testing.assert_allclose(results["cuda"][0], results["cpu"][0], atol=2e-3)
    np.testing.assert_allclose(results["cuda"][1], results["cpu"][1], atol=2e-3)
    np.testing.assert_allclose(results["cuda"][2], results["cpu"][2], rtol=1e-3, atol=1e-3)


def test_default_matcher_runs_on_cuda() -> None:
    from reid_core.inference import load_matcher

    matcher = load_matcher(None, device="cuda")
    assert matcher.device.type == "cuda"
    crops = [np.full((160, 80, 3), value, dtype=np.uint8) for value in (0, 128, 255)]
    scores = matcher.score(matcher.encode(crops), matcher.encode(crops))
    assert scores.shape == (3, 3)
    assert np.all((scores >= 0) & (scores <= 1))
