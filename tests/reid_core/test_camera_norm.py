"""Camera normalisation: BatchNorm moments measured on one camera's crops; per-camera encoding of files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from reid_core.camera_norm import CameraNormalised, camera_normalised, per_camera, renormalised
from reid_core.data.crops import stack_bgr
from reid_core.data.transforms import bgr_to_input
from reid_core.inference import Matcher
from reid_core.model import INPUT_SIZE_HW, ModelConfig, build_model
from reid_core.tta import FlipEncoded, with_tta

TINY = ModelConfig(pretrained=False, corr_channels=8, fc_dims=(16, 8), embed_dim=8)


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(TINY, load_imagenet=False).eval()


def _crops(n: int, seed: int, tint: tuple[int, int, int] = (0, 0, 0)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = [(160, 80), (90, 40), (220, 100)]
    out = []
    for i in range(n):
        img = rng.integers(0, 200, (*shapes[i % 3], 3)).astype(np.int16) + np.array(tint, np.int16)
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


def _norms(module: torch.nn.Module) -> list[torch.nn.modules.batchnorm._BatchNorm]:
    return [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def test_first_layer_moments_are_those_of_the_crops(model) -> None:
    crops = _crops(6, seed=1, tint=(40, 0, 0))
    out = renormalised(model, crops)
    images = stack_bgr(crops, INPUT_SIZE_HW)
    x = bgr_to_input(images)
    first_conv = next(m for m in out.trunk.modules() if isinstance(m, torch.nn.Conv2d))
    with torch.no_grad():
        y = first_conv(x)
    first = _norms(out.trunk)[0]
    torch.testing.assert_close(first.running_mean, y.mean(dim=(0, 2, 3)), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(first.running_var, y.var(dim=(0, 2, 3)), atol=1e-3, rtol=1e-3)
    assert not out.training and not out.trunk.training


@pytest.mark.parametrize(
    ("crops", "trunk_changes"),
    [
        (_crops(4, seed=2), True),
        (_crops(2, seed=3), True),  # two crops are enough to measure
        ([], False),  # nothing to measure: an unchanged copy
    ],
)
def test_only_the_trunk_statistics_change(model, crops: list[np.ndarray], trunk_changes: bool) -> None:
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = renormalised(model, crops, batch_size=3)
    for key, value in model.state_dict().items():  # the input model is untouched
        assert torch.equal(value, before[key]), key
    for key, value in out.state_dict().items():
        moved = key.startswith("trunk.") and key.endswith(
            ("running_mean", "running_var", "num_batches_tracked")
        )
        same = torch.equal(value, before[key])
        assert same != (moved and trunk_changes), key


def test_matcher_renormalised_keeps_its_settings(model) -> None:
    base = Matcher(model, "cpu", batch_size=3, pair_batch_size=5, meta={"name": "tiny"})
    cam = base.renormalised(_crops(5, seed=4, tint=(0, 50, 0)))
    assert (cam.batch_size, cam.pair_batch_size, cam.meta) == (3, 5, {"name": "tiny"})
    crops = _crops(3, seed=5)
    a, b = base.encode(crops), cam.encode(crops)
    assert not torch.allclose(a.half_a, b.half_a)  # other moments, other encodings
    # one head: either matcher scores the other's encodings alike
    np.testing.assert_allclose(base.score(a, b), cam.score(a, b), rtol=1e-6)


def _write(folder: Path, n: int, tint: tuple[int, int, int], seed: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, img in enumerate(_crops(n, seed, tint)):
        paths.append(folder / f"{i}.png")
        cv2.imwrite(str(paths[-1]), img)
    return paths


@pytest.mark.parametrize("tta", ["none", "flip"])
def test_each_file_is_encoded_by_its_cameras_matcher(model, tmp_path: Path, tta: str) -> None:
    base = Matcher(model, "cpu", batch_size=4)
    cam0 = _write(tmp_path / "c0", 3, (60, 0, 0), seed=6)
    cam1 = _write(tmp_path / "c1", 4, (0, 0, 60), seed=7)
    images = [(p, 0) for p in cam0] + [(p, 1) for p in cam1]
    per_camera = camera_normalised(base, images, lambda m: with_tta(m, tta))
    assert isinstance(per_camera, CameraNormalised) and set(per_camera.matchers) == {0, 1}
    mixed = [cam1[0], cam0[2], cam1[3], cam0[0]]
    enc = per_camera.encode_paths(mixed)
    assert len(enc) == 4
    for row, (path, cam) in enumerate([(cam1[0], 1), (cam0[2], 0), (cam1[3], 1), (cam0[0], 0)]):
        alone = per_camera.matchers[cam].encode_paths([path])
        got = enc[np.array([row])]
        plain = (got.plain, alone.plain) if isinstance(got, FlipEncoded) else (got, alone)
        torch.testing.assert_close(plain[0].half_a, plain[1].half_a)
    scores = per_camera.score(enc, enc)
    assert scores.shape == (4, 4) and np.all((scores >= 0) & (scores <= 1))
    with pytest.raises(KeyError):
        per_camera.encode_paths([tmp_path / "unknown.png"])


def test_camera_normalised_needs_a_camera() -> None:
    with pytest.raises(ValueError, match="at least one camera"):
        CameraNormalised({}, {})


@pytest.mark.parametrize(
    "cameras",
    [[0], [3, 3, 3], [2, 0, 2, 1, 0], [1, 0, 1, 0, 1, 0]],
    ids=["one-row", "one-camera", "three-cameras", "alternating"],
)
def test_per_camera_puts_rows_back_in_input_order(cameras: list[int]) -> None:
    calls: list[tuple[int, list[int]]] = []

    def run(cam: int, rows: np.ndarray) -> np.ndarray:
        calls.append((cam, rows.tolist()))
        return np.array([[cam, r] for r in rows])  # each row knows its camera and its input index

    out = per_camera(np.array(cameras), run)
    assert out[:, 0].tolist() == cameras and out[:, 1].tolist() == list(range(len(cameras)))
    assert sorted(cam for cam, _ in calls) == sorted(set(cameras))  # one call per camera


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine (GPU-only test)")
def test_renormalised_on_cuda_equals_the_cpu(model) -> None:
    """Moments measured on CUDA give the CPU's encodings and scores (float rounding apart)."""
    crops, probe = _crops(9, seed=6, tint=(0, 0, 60)), _crops(4, seed=7)
    results = []
    for device in ("cpu", "cuda"):
        cam = Matcher(model, device, batch_size=4).renormalised(crops)
        enc = cam.encode(probe)
        results.append((enc.half_a.cpu().numpy(), cam.score(enc, enc)))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=0, atol=1e-3)
