"""safetensors weights + JSON sidecar: round trip, fp16, and the errors users see."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from infra.errors import WeightsError
from reid_core.weights import load_into, load_weights, read_meta, save_weights, sidecar_path

META = {"format": "reid-siamese", "version": 1, "model": {"trunk": "mobilenet_v2"}, "step": 7}


def _tensors() -> dict[str, torch.Tensor]:
    return {
        "a.weight": torch.randn(4, 3),
        "a.bias": torch.randn(4),
        "bn.num_batches_tracked": torch.tensor(5),
    }


@pytest.mark.parametrize(("half", "dtype"), [(False, torch.float32), (True, torch.float16)])
def test_round_trip(tmp_path: Path, half: bool, dtype: torch.dtype) -> None:
    src = _tensors()
    path = save_weights(tmp_path / "w.safetensors", src, META, half=half)
    assert sidecar_path(path).is_file()
    tensors, meta = load_weights(path)
    assert meta == META
    assert tensors["a.weight"].dtype == dtype
    assert tensors["bn.num_batches_tracked"].dtype == torch.int64
    torch.testing.assert_close(tensors["a.weight"].float(), src["a.weight"], rtol=1e-3, atol=1e-3)


def test_meta_from_header_when_sidecar_lost(tmp_path: Path) -> None:
    path = save_weights(tmp_path / "w.safetensors", _tensors(), META)
    sidecar_path(path).unlink()
    assert read_meta(path) == META


def test_load_into_model_round_trip(tmp_path: Path) -> None:
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    path = save_weights(tmp_path / "w.safetensors", net.state_dict(), META, half=True)
    other = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    tensors, _ = load_weights(path)
    load_into(other, tensors, path)
    torch.testing.assert_close(other[0].weight, net[0].weight, rtol=1e-3, atol=1e-3)
    assert other[0].weight.dtype == torch.float32


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        ("missing", "weights file not found"),
        ("garbage", "not a readable safetensors file"),
        ("truncated", "not a readable safetensors file"),
        ("no_meta", "no JSON sidecar"),
        ("bad_sidecar", "unreadable weights description"),
        ("huge_sidecar", "weights description is larger than"),
        ("dir", "not a file"),
        ("header_not_json", "the 'reid_meta' header is not JSON"),
        ("model_is_list", "'model' must be a mapping, got list"),
        ("sidecar_model_is_list", "'model' must be a mapping, got list"),
    ],
)
def test_bad_weights_file_is_weights_error_naming_it(tmp_path: Path, setup: str, match: str) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "bad.safetensors"
    if setup == "garbage":
        path.write_bytes(b"\x00\x01 this is not safetensors")
    elif setup == "truncated":
        save_weights(path, _tensors(), META)
        path.write_bytes(path.read_bytes()[:-8])
    elif setup == "no_meta":
        save_file({"x": torch.zeros(2)}, str(path))
    elif setup == "bad_sidecar":
        save_weights(path, _tensors(), META)
        sidecar_path(path).write_text("{not json")
    elif setup == "huge_sidecar":
        save_weights(path, _tensors(), META)
        sidecar_path(path).write_text(json.dumps({**META, "pad": "x" * (2 << 20)}))
    elif setup == "dir":
        path.mkdir()
    elif setup == "header_not_json":
        save_file({"x": torch.zeros(2)}, str(path), metadata={"reid_meta": "{not json"})
    elif setup == "model_is_list":
        save_file(
            {"x": torch.zeros(2)}, str(path), metadata={"reid_meta": json.dumps({**META, "model": [1]})}
        )
    elif setup == "sidecar_model_is_list":
        save_weights(path, _tensors(), META)
        sidecar_path(path).write_text(json.dumps({**META, "model": ["trunk"]}))
    with pytest.raises(WeightsError, match=match) as info:
        load_weights(path)
    assert "bad." in str(info.value)


def test_load_into_reports_mismatch(tmp_path: Path) -> None:
    net = torch.nn.Linear(3, 4)
    with pytest.raises(WeightsError, match=r"w.safetensors: weights do not fit the model: 1 missing"):
        load_into(net, {"weight": torch.zeros(4, 3)}, tmp_path / "w.safetensors")
    with pytest.raises(WeightsError, match="wrong shape"):
        load_into(net, {"weight": torch.zeros(5, 3), "bias": torch.zeros(4)}, "w.safetensors")


def test_sidecar_is_small_json(tmp_path: Path) -> None:
    path = save_weights(tmp_path / "w.safetensors", _tensors(), META)
    assert json.loads(sidecar_path(path).read_text()) == META


@pytest.mark.parametrize(
    ("model", "match"),
    [
        ({"fc_dims": [1000000000000, 8]}, "model.fc_dims must be 1 to 65536 each"),
        ({"embed_dim": 10**12}, "model.embed_dim must be at most 65536"),
        ({"corr_channels": 10**12}, "model.corr_channels must be 1 to 65536 or null"),
    ],
)
def test_huge_layer_widths_are_one_line_errors(tmp_path: Path, model: dict, match: str) -> None:
    """A weights description asking for absurd layers: one line naming the file, no allocation tried."""
    from reid_core.inference import load_matcher

    path = tmp_path / "huge.safetensors"
    save_weights(path, _tensors(), {**META, "model": {"pretrained": False, **model}})
    with pytest.raises(WeightsError, match=match) as info:
        load_matcher(path, device="cpu")
    assert "huge.safetensors" in str(info.value) and len(str(info.value)) < 300


def test_weights_get_the_mode_of_the_json_sidecar(tmp_path: Path) -> None:
    """The .safetensors file is readable as widely as its JSON (was 0600 while the JSON was 0644)."""
    import os
    import stat

    path = save_weights(tmp_path / "w.safetensors", {"a": torch.zeros(2)}, META)
    modes = {p.suffix: stat.S_IMODE(os.stat(p).st_mode) for p in (path, sidecar_path(path))}
    umask = os.umask(0)
    os.umask(umask)
    assert modes == {".safetensors": 0o666 & ~umask, ".json": 0o666 & ~umask}
