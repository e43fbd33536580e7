"""The ONNX Runtime matcher: same scores as the torch Matcher, torch-free import, checked exports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from infra.errors import WeightsError
from reid_core.inference import Matcher, load_matcher
from reid_core.model import ModelConfig, build_model
from reid_core.onnx_export import export_onnx, main
from reid_core.onnx_inference import ArrayEncoded, OnnxMatcher, load_onnx_matcher, onnx_exports_exist
from reid_core.shipped import CMC_WEIGHTS, DEFAULT_WEIGHTS, onnx_paths
from reid_core.training.config import config_to_dict
from reid_core.weights import save_weights

TINY = ModelConfig(pretrained=False, corr_channels=8, fc_dims=(16, 8), embed_dim=8)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Matcher, OnnxMatcher]:
    """Tiny weights with non-trivial BatchNorm statistics, their exports, and both matchers."""
    torch.manual_seed(0)
    model = build_model(TINY)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.2, 0.2)
    path = tmp_path_factory.mktemp("onnx") / "w.safetensors"
    save_weights(
        path, model.state_dict(), {"format": "reid-siamese", "version": 1, "model": config_to_dict(TINY)}
    )
    export_onnx(path)
    return path, load_matcher(path, device="cpu"), load_onnx_matcher(path, threads=1)


def _crops(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = [(160, 80), (97, 41), (300, 120), (20, 10)]
    return [rng.integers(0, 256, (*sizes[i % 4], 3), dtype=np.uint8) for i in range(n)]


def test_encodings_and_scores_equal_torch_to_rounding(tiny) -> None:
    _, ref, ort = tiny
    crops_a, crops_b = _crops(5, seed=1), _crops(3, seed=2)
    ea, eb, ta, tb = ort.encode(crops_a), ort.encode(crops_b), ref.encode(crops_a), ref.encode(crops_b)
    assert isinstance(ea, ArrayEncoded) and ea.half_a.shape == (5, 8, 10, 5) and ea.embedding.shape == (5, 8)
    np.testing.assert_allclose(ea.half_a, ta.half_a.numpy(), atol=1e-4)
    np.testing.assert_allclose(ea.half_b, ta.half_b.numpy(), atol=1e-4)
    np.testing.assert_allclose(ort.embed(ea), ref.embed(ta), atol=1e-5)
    np.testing.assert_allclose(ort.score(ea, eb), ref.score(ta, tb), atol=1e-5)
    np.testing.assert_allclose(ort.score(ort.pool(ea), eb), ref.score(ref.pool(ta), tb), atol=1e-5)


@pytest.mark.parametrize("shapes", [[(1, 1)], [(2, 3), (1, 4), (3, 1)], [(4, 4)] * 5, [(0, 2), (2, 2)]])
def test_score_blocks_equal_one_score_call_per_block(tiny, shapes) -> None:
    _, _, ort = tiny
    ort.pair_batch_size = 7  # blocks cross chunk borders
    enc = ort.encode(_crops(6, seed=3))
    rng = np.random.default_rng(1)
    blocks = [(enc[rng.integers(0, 6, na)], enc[rng.integers(0, 6, nb)]) for na, nb in shapes]
    for (a, b), got in zip(blocks, ort.score_blocks(blocks), strict=True):
        assert got.shape == (len(a), len(b)) and got.dtype == np.float32
        np.testing.assert_allclose(got, ort.score(a, b), atol=1e-6)


def test_array_encoded_rows(tiny) -> None:
    _, _, ort = tiny
    enc = ort.encode(_crops(4))
    assert len(ort.encode([])) == 0 and ort.encode([]).half_a.shape == (0, 8, 10, 5)
    for index, rows in [
        (np.array([3, 0]), [3, 0]),
        (slice(1, 3), [1, 2]),
        (2, [2]),
        (np.array([1, 0, 0, 1], bool), [0, 3]),
    ]:
        np.testing.assert_array_equal(enc[index].embedding, enc.embedding[rows])
    np.testing.assert_array_equal(ArrayEncoded.concat([enc[[0]], enc[[1, 2, 3]]]).half_b, enc.half_b)
    pooled = enc.mean()
    assert len(pooled) == 1 and np.isclose(np.linalg.norm(pooled.embedding), 1.0)
    np.testing.assert_array_equal(pooled.mean().half_a, pooled.half_a)
    with pytest.raises(ValueError):
        ArrayEncoded.concat([])
    with pytest.raises(ValueError, match="at least one row"):
        enc[np.array([], np.int64)].mean()
    with pytest.raises(IndexError):
        enc[np.array([True, False])]


@pytest.mark.parametrize(
    ("break_it", "needle"),
    [
        ("remove_encode", "no ONNX export"),
        ("remove_moments", "no ONNX export"),
        ("remove_weights", "weights file not found"),
        ("garbage_head", "not a readable ONNX model"),
        ("other_weights", "exported from other weights"),
        ("old_layout", "an export of layout '1', this version reads '2'"),
    ],
)
def test_bad_exports_are_one_line_errors(tiny, tmp_path: Path, break_it: str, needle: str) -> None:
    src, _, _ = tiny
    path = tmp_path / "w.safetensors"
    path.write_bytes(src.read_bytes())
    path.with_suffix(".json").write_bytes(src.with_suffix(".json").read_bytes())
    encode, head, moments = onnx_paths(path)
    for a, b in zip(onnx_paths(src), (encode, head, moments), strict=True):
        b.write_bytes(a.read_bytes())
    if break_it == "remove_encode":
        encode.unlink()
    elif break_it == "remove_moments":  # an export of an older layout had no moments graph
        moments.unlink()
    elif break_it == "remove_weights":
        path.unlink()
    elif break_it == "garbage_head":
        head.write_bytes(b"not an onnx model" * 10)
    elif break_it == "old_layout":
        model = onnx.load(str(head))
        for prop in model.metadata_props:
            if prop.key == "reid_pipeline_onnx":
                prop.value = "1"
        onnx.save(model, str(head))
    else:
        path.write_bytes(path.read_bytes() + b" ")  # the weights changed after the export
    with pytest.raises(WeightsError, match=needle) as info:
        load_onnx_matcher(path, threads=1)
    assert "\n" not in str(info.value)
    assert onnx_exports_exist(path) == (break_it not in ("remove_encode", "remove_moments", "remove_weights"))


@pytest.mark.parametrize("weights", [None, CMC_WEIGHTS], ids=["default", "cmc"])
def test_shipped_exports_are_current_and_score_as_torch(weights: Path | None) -> None:
    assert onnx_exports_exist(weights) and all(p.is_file() for p in onnx_paths(weights or DEFAULT_WEIGHTS))
    ort, ref = load_onnx_matcher(weights, threads=1), load_matcher(weights, device="cpu")
    crops = _crops(12, seed=4)
    eo, et = ort.encode(crops), ref.encode(crops)
    np.testing.assert_allclose(ort.score(eo, eo), ref.score(et, et), atol=1e-5)


def _tinted(n: int, seed: int, tint: tuple[int, int, int]) -> list[np.ndarray]:
    """Crops of one camera: a colour cast on top of noise, so its moments differ from training's."""
    return [
        np.clip(c.astype(np.int16) + np.array(tint, np.int16), 0, 255).astype(np.uint8)
        for c in _crops(n, seed)
    ]


@pytest.mark.parametrize("n_crops", [1, 5, 64, 70, 130])  # one pass, several equal passes, uneven splits
def test_renormalised_equals_torch_renormalised(tiny, n_crops: int) -> None:
    """Camera normalisation on ONNX Runtime: the moments and encodings of reid_core.camera_norm."""
    _, ref, ort = tiny
    camera = _tinted(n_crops, seed=n_crops, tint=(60, -30, 10))
    got, want = ort.renormalised(camera), ref.renormalised(camera)
    trunk_moments = {
        f"trunk.{k}": v.numpy()
        for k, v in want.model.trunk.state_dict().items()
        if k.endswith(("_mean", "_var"))
    }
    measured = ort.moments(camera)
    assert measured.keys() == trunk_moments.keys()
    for name, value in measured.items():
        np.testing.assert_allclose(value, trunk_moments[name], rtol=1e-3, atol=1e-4, err_msg=name)
    probe = _crops(4, seed=99)
    eg, ew, base = got.encode(probe), want.encode(probe), ort.encode(probe)
    # float32 rounding of E[x²] - E[x]² (the moments graph) against torch's running average: up to
    # ~2e-3 in a half-response of this tiny random network, ~1e-5 in a score
    np.testing.assert_allclose(eg.half_a, ew.half_a.numpy(), atol=5e-3)
    np.testing.assert_allclose(got.score(eg, eg), want.score(ew, ew), atol=1e-4)
    assert np.abs(eg.half_a - base.half_a).max() > 1e-2  # the moments changed the encodings
    np.testing.assert_array_equal(ort.encode(probe).half_a, base.half_a)  # the matcher itself is unchanged
    assert got.score(eg, base).shape == (4, 4)  # one head for every camera's encodings


def test_renormalised_edge_cases(tiny) -> None:
    _, _, ort = tiny
    assert ort.renormalised([]) is ort
    with pytest.raises(ValueError, match="at least one crop"):
        ort.moments([])
    bare = OnnxMatcher(ort._encode, ort._head)
    with pytest.raises(ValueError, match="no moments graph"):
        bare.renormalised(_crops(2))


def test_statistics_batch_is_torchs() -> None:
    from reid_core.camera_norm import STATISTICS_BATCH as TORCH_BATCH
    from reid_core.onnx_inference import STATISTICS_BATCH

    assert STATISTICS_BATCH == TORCH_BATCH


def test_importing_the_onnx_matcher_imports_no_torch() -> None:
    code = (
        "import sys, numpy as np; from reid_core.onnx_inference import load_onnx_matcher; "
        "m = load_onnx_matcher(None, threads=1).renormalised([np.full((70, 30, 3), 90, np.uint8)] * 3); "
        "m.score(m.encode([np.zeros((60, 30, 3), np.uint8)]), "
        "m.encode([np.ones((50, 20, 3), np.uint8)])); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_export_command_names_the_files_and_fails_in_one_line(tiny, tmp_path: Path, capsys) -> None:
    src, _, _ = tiny
    path = tmp_path / "copy.safetensors"
    path.write_bytes(src.read_bytes())
    path.with_suffix(".json").write_bytes(src.with_suffix(".json").read_bytes())
    assert main([str(path)]) == 0
    assert capsys.readouterr().out.split() == [str(p) for p in onnx_paths(path)]
    assert main([str(tmp_path / "missing.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "missing.safetensors" in err and len(err.strip().splitlines()) == 1


def test_each_matcher_scores_the_other_backends_encodings(tiny) -> None:
    """A Ray driver on one back end scores tracklets its actors encoded on the other."""
    _, ref, ort = tiny
    crops_a, crops_b = _crops(3, seed=7), _crops(2, seed=8)
    ea, eb, ta, tb = ort.encode(crops_a), ort.encode(crops_b), ref.encode(crops_a), ref.encode(crops_b)
    expected = ref.score(ta, tb)
    np.testing.assert_allclose(ort.score(ta, tb), expected, atol=1e-5)  # torch rows on ONNX Runtime
    np.testing.assert_allclose(ref.score(ea, eb), expected, atol=1e-5)  # NumPy rows on torch
    np.testing.assert_allclose(ref.score_blocks([(ea, tb)])[0], expected, atol=1e-5)
    np.testing.assert_allclose(ort.embed(ta), ref.embed(ea), atol=1e-5)
    assert len(ort.pool(ta)) == 1 and len(ref.pool(ea)) == 1


def test_export_to_an_unwritable_folder_is_one_line(tiny, tmp_path: Path, capsys, monkeypatch) -> None:
    import reid_core.onnx_export as export_mod

    src, _, _ = tiny

    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(export_mod, "atomic_path", refuse)
    assert main([str(src)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "cannot write the ONNX exports" in err[0]
