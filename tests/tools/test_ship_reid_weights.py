"""tools/ship_reid_weights.py: a run's checkpoint becomes float16 weights with provenance and ONNX exports."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from ship_reid_weights import main  # noqa: E402

from reid_core.model import ModelConfig, build_model  # noqa: E402
from reid_core.onnx_inference import load_onnx_matcher  # noqa: E402
from reid_core.training.config import config_to_dict  # noqa: E402
from reid_core.weights import load_weights, save_weights  # noqa: E402

TINY = ModelConfig(pretrained=False, corr_channels=8, fc_dims=(16, 8), embed_dim=8)
RECIPE = ROOT / "configs" / "reid" / "full.yaml"


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """An evaluation checkpoint as ``reid-train`` writes it: float32, metrics, step."""
    torch.manual_seed(0)
    path = tmp_path / "run" / "eval_step_000500.safetensors"
    path.parent.mkdir()
    meta = {"format": "reid-siamese", "version": 1, "model": config_to_dict(TINY), "step": 500}
    save_weights(path, build_model(TINY).state_dict(), {**meta, "metrics": {"cuhk01_r1": 12.0}})
    return path


def test_ships_float16_with_provenance_and_usable_exports(checkpoint: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "shipped" / "w.safetensors"
    out.parent.mkdir()
    assert main([str(checkpoint), "--recipe", str(RECIPE), "--out", str(out)]) == 0
    written = capsys.readouterr().out.split()
    stem = str(out.with_suffix(""))
    assert written == [str(out), stem + ".encode.onnx", stem + ".head.onnx"]
    tensors, meta = load_weights(out)
    original, _ = load_weights(checkpoint)
    floats = [k for k, v in original.items() if v.is_floating_point()]
    assert floats and all(tensors[k].dtype == torch.float16 for k in floats)
    torch.testing.assert_close(tensors[floats[0]].float(), original[floats[0]], atol=1e-3, rtol=1e-3)
    assert meta["recipe"] == str(RECIPE) and meta["metrics"] == {"cuhk01_r1": 12.0}
    assert meta["source"] == "run/eval_step_000500.safetensors (step 500), stored as float16"
    load_onnx_matcher(out, threads=1)  # the exports belong to these weights (sha256 checked)


@pytest.mark.parametrize(
    ("break_it", "needle"),
    [
        pytest.param("missing_checkpoint", "weights file not found", id="missing-checkpoint"),
        pytest.param("missing_recipe", "full-typo.yaml", id="missing-recipe"),
    ],
)
def test_bad_inputs_are_one_line_errors(
    checkpoint: Path, tmp_path: Path, capsys, break_it: str, needle: str
) -> None:
    recipe = RECIPE.with_name("full-typo.yaml") if break_it == "missing_recipe" else RECIPE
    if break_it == "missing_checkpoint":
        checkpoint.unlink()
    out = tmp_path / "w.safetensors"
    assert main([str(checkpoint), "--recipe", str(recipe), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err and err.count("\n") == 1
    assert not out.exists()
