"""pipeline_look: each effect on and off, determinism, shapes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from reid_core.data.transforms import bgr_to_input, pipeline_look

OFF: dict[str, Any] = {
    "low_res_prob": 0.0,
    "low_res_min_height_px": 20,
    "blur_prob": 0.0,
    "blur_max_px": 9,
    "colour_prob": 0.0,
    "gain_range": (0.5, 0.5),
    "white_balance_frac": 0.0,
    "cutoff_prob": 0.0,
    "cutoff_max_frac": 0.5,
    "erase_prob": 0.0,
    "erase_area_range": (0.2, 0.2),
}


def _batch() -> torch.Tensor:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (3, 160, 80, 3), dtype=np.uint8)  # high-frequency noise
    return bgr_to_input(img)


def _hf_energy(x: torch.Tensor) -> float:
    return float((x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., 1:] - x[..., :-1]).abs().mean())


def test_all_off_is_identity() -> None:
    x = _batch()
    assert torch.equal(pipeline_look(x, torch.Generator().manual_seed(0), **OFF), x)


@pytest.mark.parametrize(
    ("knob", "check"),
    [
        ("low_res_prob", lambda x, y: _hf_energy(y) < 0.8 * _hf_energy(x)),
        ("blur_prob", lambda x, y: _hf_energy(y) < 0.8 * _hf_energy(x)),
        ("colour_prob", lambda x, y: y.mean() < x.mean() - 0.3),  # gain 0.5: darker
        ("cutoff_prob", lambda x, y: not torch.equal(x, y) and y.shape == x.shape),
        ("erase_prob", lambda x, y: 0.1 < (x != y).float().mean() < 0.3),  # 20 % of the area
    ],
)
def test_each_effect(knob: str, check: Any) -> None:
    x = _batch()
    y = pipeline_look(x, torch.Generator().manual_seed(1), **{**OFF, knob: 1.0})
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert check(x, y)
    assert torch.equal(x, _batch())  # the input is not modified


def test_seeded_draws_repeat() -> None:
    on = {**OFF, **{k: 0.5 for k in OFF if k.endswith("_prob")}, "white_balance_frac": 0.2}
    a = pipeline_look(_batch(), torch.Generator().manual_seed(5), **on)
    b = pipeline_look(_batch(), torch.Generator().manual_seed(5), **on)
    c = pipeline_look(_batch(), torch.Generator().manual_seed(6), **on)
    assert torch.equal(a, b) and not torch.equal(a, c)
