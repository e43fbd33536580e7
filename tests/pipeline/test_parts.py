"""pipeline.parts: the re-ID model loaded on a background thread (Ray workers)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from infra.errors import UserError, WeightsError
from pipeline.config import load_config
from pipeline.identities import MATCHERS
from pipeline.parts import BackgroundMatcher, load_matcher_in_background


@pytest.fixture
def loaders(fake_matcher):
    """Registers ``fake`` (records the loading thread) and ``broken`` (a bad weights file)."""
    seen: dict[str, str] = {}

    def fake(weights, device):
        seen["thread"] = threading.current_thread().name
        return fake_matcher

    def broken(weights, device):
        raise WeightsError("bad.safetensors: not a weights file")

    class NoPool:  # a re-ID model that scores crop pairs but cannot average a tracklet's crops
        encode, embed, score = fake_matcher.encode, fake_matcher.embed, fake_matcher.score

    MATCHERS.add("fake", fake)
    MATCHERS.add("broken", broken)
    MATCHERS.add("no-pool", lambda weights, device: NoPool())
    yield fake_matcher, seen
    MATCHERS.remove("fake")
    MATCHERS.remove("broken")
    MATCHERS.remove("no-pool")


def _config(model: str, enabled: bool = True, threads: int = 1):
    cfg = load_config()
    return cfg.replace(
        reid=type(cfg.reid)(model=model, threads=threads),
        association=type(cfg.association)(enabled=enabled),
    )


def test_linking_off_gives_no_model_and_starts_no_load(loaders) -> None:
    _, seen = loaders
    assert load_matcher_in_background(_config("fake", enabled=False)) is None
    assert seen == {}


def test_the_model_loads_on_another_thread_and_calls_reach_it(loaders) -> None:
    fake, seen = loaders
    matcher = load_matcher_in_background(_config("fake"))
    assert isinstance(matcher, BackgroundMatcher)
    assert matcher.result() is fake and seen["thread"].startswith("reid-load")
    enc = matcher.encode([np.full((1, 1, 3), 2, np.uint8), np.full((1, 1, 3), 3, np.uint8)])
    assert enc.codes.tolist() == [2, 3]
    assert matcher.score(enc, enc).shape == (2, 2) and matcher.embed(enc).shape == (2, 8)
    assert matcher.scored_pairs == 4  # other attributes are the loaded matcher's


@pytest.mark.parametrize(
    ("model", "error", "message"),
    [
        ("broken", WeightsError, "bad.safetensors: not a weights file"),
        ("no-such-model", UserError, "reid.model"),
        ("no-pool", UserError, "crop_pooling: mean needs a re-ID model that pools crops; reid.model no-pool"),
    ],
)
def test_a_load_error_is_raised_by_the_first_call(loaders, model: str, error: type, message: str) -> None:
    matcher = load_matcher_in_background(_config(model))
    assert matcher is not None  # the constructor does not wait
    with pytest.raises(error, match=message):
        matcher.encode([np.zeros((1, 1, 3), np.uint8)])


def test_a_model_that_cannot_pool_runs_with_crop_pairs(loaders) -> None:
    cfg = _config("no-pool")
    matcher = load_matcher_in_background(cfg.replace(association=type(cfg.association)(crop_pooling="pairs")))
    assert matcher is not None and len(matcher.encode([np.zeros((1, 1, 3), np.uint8)])) == 1


@pytest.mark.parametrize(("threads", "expected"), [(1, 1), (2, 2), (0, None)])
def test_reid_threads_are_set_on_the_thread_that_uses_the_model(
    loaders, threads: int, expected: int | None
) -> None:
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        matcher = load_matcher_in_background(_config("fake", threads=threads))
        assert matcher is not None
        matcher.encode([np.zeros((1, 1, 3), np.uint8)])
        assert torch.get_num_threads() == (3 if expected is None else expected)
    finally:
        torch.set_num_threads(before)


# -- reid.backend: which library runs the siamese network -----------------------------------
def _backend_config(
    tmp_path,
    backend: str,
    device: str,
    weights: str | None,
    model: str = "siamese",
    camera_norm: bool = False,
):
    cfg = load_config()
    return cfg.replace(
        reid=type(cfg.reid)(model=model, weights=weights, backend=backend, camera_norm=camera_norm),
        runtime=type(cfg.runtime)(device=device),
    )


@pytest.mark.parametrize(
    ("backend", "device", "weights", "camera_norm", "expected"),
    [
        ("auto", "cpu", None, False, "onnxruntime"),  # the shipped weights have current exports
        ("auto", "cpu", None, True, "onnxruntime"),  # camera normalisation too: the moments graph
        ("auto", "cpu", "no-exports", False, "torch"),  # weights without exports: torch
        ("auto", "cuda:0", None, False, "torch"),  # a GPU run stays on torch
        ("torch", "cpu", None, False, "torch"),
        (
            "onnxruntime",
            "cpu",
            "no-exports",
            False,
            "onnxruntime",
        ),  # asked for: its loader says what is missing
    ],
)
def test_reid_backend_resolution(
    tmp_path, backend: str, device: str, weights: str | None, camera_norm: bool, expected: str
) -> None:
    from pipeline.parts import reid_backend

    if weights == "no-exports":
        weights = str(tmp_path / "w.safetensors")
        (tmp_path / "w.safetensors").write_bytes(b"x")
    assert (
        reid_backend(_backend_config(tmp_path, backend, device, weights, camera_norm=camera_norm)) == expected
    )


def test_onnxruntime_backend_errors(tmp_path, loaders) -> None:
    from pipeline.parts import load_matcher, reid_backend

    with pytest.raises(UserError, match="siamese model only"):
        reid_backend(_backend_config(tmp_path, "onnxruntime", "cpu", None, model="fake"))
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"x")
    with pytest.raises(WeightsError, match=r"w\.encode\.onnx: no ONNX export"):
        load_matcher(_backend_config(tmp_path, "onnxruntime", "cpu", str(weights)))


def test_auto_falls_back_to_torch_when_the_export_is_stale(tiny_reid_weights, tmp_path, caplog) -> None:
    import json

    import torch

    from pipeline.parts import load_matcher
    from reid_core.model import ModelConfig, build_model
    from reid_core.onnx_export import export_onnx
    from reid_core.weights import save_weights

    weights = tmp_path / "w.safetensors"
    weights.write_bytes(tiny_reid_weights.read_bytes())
    weights.with_suffix(".json").write_bytes(tiny_reid_weights.with_suffix(".json").read_bytes())
    export_onnx(weights)
    config = _backend_config(tmp_path, "auto", "cpu", str(weights))
    assert type(load_matcher(config)).__name__ == "OnnxMatcher"
    meta = json.loads(weights.with_suffix(".json").read_text(encoding="utf-8"))
    torch.manual_seed(1)  # other weights saved over the exported ones: the exports are stale
    save_weights(weights, build_model(ModelConfig(**meta["model"]), load_imagenet=False).state_dict(), meta)
    assert type(load_matcher(config)).__name__ == "Matcher"
    assert "exported from other weights" in caplog.text and "runs on torch instead" in caplog.text
