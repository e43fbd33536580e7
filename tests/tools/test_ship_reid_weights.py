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
    recipe = _recipe_of_tiny(tmp_path, RECIPE)
    assert main([str(checkpoint), "--recipe", str(recipe), "--out", str(out)]) == 0
    written = capsys.readouterr().out.split()
    stem = str(out.with_suffix(""))
    assert written == [str(out), stem + ".encode.onnx", stem + ".head.onnx", stem + ".moments.onnx"]
    tensors, meta = load_weights(out)
    original, _ = load_weights(checkpoint)
    floats = [k for k, v in original.items() if v.is_floating_point()]
    assert floats and all(tensors[k].dtype == torch.float16 for k in floats)
    torch.testing.assert_close(tensors[floats[0]].float(), original[floats[0]], atol=1e-3, rtol=1e-3)
    assert meta["recipe"] == str(recipe) and meta["metrics"] == {"cuhk01_r1": 12.0}
    assert meta["source"] == "run/eval_step_000500.safetensors (step 500), stored as float16"
    load_onnx_matcher(out, threads=1)  # the exports belong to these weights (sha256 checked)
    assert not list(out.parent.glob(".ship-*"))  # the scratch folder is gone


@pytest.mark.parametrize(
    ("break_it", "needle"),
    [
        pytest.param("missing_checkpoint", "weights file not found", id="missing-checkpoint"),
        pytest.param("missing_recipe", "full-typo.yaml", id="missing-recipe"),
        pytest.param("training_checkpoint", "not evaluation weights", id="last-safetensors"),
        pytest.param("other_model", "its model section is not the model of", id="recipe-of-another-model"),
        pytest.param("missing_out_folder", "cannot write the weights", id="out-folder-missing"),
    ],
)
def test_bad_inputs_are_one_line_errors(
    checkpoint: Path, tmp_path: Path, capsys, break_it: str, needle: str
) -> None:
    recipe = RECIPE.with_name("full-typo.yaml") if break_it == "missing_recipe" else RECIPE
    if break_it == "missing_checkpoint":
        checkpoint.unlink()
    if break_it in ("training_checkpoint", "other_model"):
        tensors, meta = load_weights(checkpoint)
        meta["format" if break_it == "training_checkpoint" else "model"] = (
            "reid-siamese-checkpoint"
            if break_it == "training_checkpoint"
            else {**meta["model"], "fc_dims": [4, 4]}
        )
        save_weights(checkpoint, tensors, meta)
    if break_it != "other_model":  # the tiny model is not the recipe's: only that case keeps the mismatch
        recipe = _recipe_of_tiny(tmp_path, recipe)
    out = tmp_path / ("nowhere" if break_it == "missing_out_folder" else "") / "w.safetensors"
    assert main([str(checkpoint), "--recipe", str(recipe), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err and err.count("\n") == 1
    assert not out.exists() and not list(tmp_path.glob(".ship-*"))


def test_a_failed_export_leaves_the_shipped_files_as_they_were(
    checkpoint: Path, tmp_path: Path, monkeypatch
) -> None:
    out = tmp_path / "w.safetensors"
    out.write_bytes(b"the weights shipped before")
    import reid_core.onnx_export

    def fail(path: Path) -> list[Path]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(reid_core.onnx_export, "export_onnx", fail)
    assert main([str(checkpoint), "--recipe", str(_recipe_of_tiny(tmp_path, RECIPE)), "--out", str(out)]) == 2
    assert out.read_bytes() == b"the weights shipped before" and not list(tmp_path.glob(".ship-*"))


def _recipe_of_tiny(tmp_path: Path, recipe: Path) -> Path:
    """``recipe`` with the tiny test model as its model section (a missing recipe stays missing)."""
    if not recipe.is_file():
        return recipe
    import yaml

    data = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    data["model"] = config_to_dict(TINY)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path
