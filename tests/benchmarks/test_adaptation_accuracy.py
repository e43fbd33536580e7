"""benchmarks/adaptation_accuracy.py: undoing a folded score alignment."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import adaptation_accuracy as aa  # noqa: E402

from reid_core.training.alignment import ScoreAlignment, fold_into_head  # noqa: E402
from reid_core.weights import load_weights, save_weights  # noqa: E402


@pytest.mark.parametrize(
    ("alignment", "written"),
    [
        (ScoreAlignment(scale=0.931, shift=3.435, pairs=100), True),
        (ScoreAlignment(scale=2.006, shift=-0.161, pairs=100), True),
        (None, False),  # nothing folded in: nothing to undo, no file
    ],
)
def test_unaligned_copy_inverts_the_fold(
    tmp_path: Path, alignment: ScoreAlignment | None, written: bool
) -> None:
    torch.manual_seed(0)
    last = torch.nn.Linear(6, 2)
    original = {
        "head.metric.9.weight": last.weight.detach().clone(),
        "head.metric.9.bias": last.bias.detach().clone(),
    }
    tensors = {
        "head.metric.1.weight": torch.randn(2, 3),
        "head.metric.1.num_batches_tracked": torch.tensor(3),
    }
    meta: dict[str, object] = {"model": {"trunk": "test"}}
    if alignment is not None:
        fold_into_head(last, alignment)
        meta["score_alignment"] = alignment.to_dict()
    tensors |= {"head.metric.9.weight": last.weight.detach(), "head.metric.9.bias": last.bias.detach()}
    save_weights(tmp_path / "aligned.safetensors", tensors, meta)

    out = tmp_path / "unaligned.safetensors"
    assert aa._unaligned_copy(tmp_path / "aligned.safetensors", out) is written
    assert out.is_file() is written
    if written:
        undone, undone_meta = load_weights(out)
        assert undone_meta["score_alignment"] is None
        for key, value in original.items():
            torch.testing.assert_close(undone[key], value, rtol=0, atol=1e-5)
        torch.testing.assert_close(undone["head.metric.1.weight"], tensors["head.metric.1.weight"])
