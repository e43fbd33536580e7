"""Trunks, head and the exact decomposition of the correspondence conv."""

from __future__ import annotations

import warnings

import pytest
import torch

from infra.errors import WeightsError
from reid_core.backbones import available_trunks, build_trunk
from reid_core.head import CorrespondenceHead, FusedPairHead
from reid_core.model import ModelConfig, build_model


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("mobilenet_v2", (2, 96, 10, 5)),
        ("googlenet", (2, 832, 10, 5)),
    ],
)
def test_trunk_output_shapes(name: str, shape: tuple[int, ...]) -> None:
    trunk = build_trunk(name, pretrained=False).eval()
    with torch.no_grad():
        out = trunk(torch.randn(2, 3, 160, 80))
    assert tuple(out.shape) == shape
    assert trunk.channels == shape[1]


def test_unknown_trunk_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown trunk 'resnet'; available: googlenet, mobilenet_v2"):
        build_trunk("resnet")
    assert available_trunks() == ["googlenet", "mobilenet_v2"]


def test_unknown_trunk_in_model_config() -> None:
    with pytest.raises(ValueError, match="available: googlenet, mobilenet_v2"):
        ModelConfig(trunk="vgg")


def test_pretrained_unavailable_warns_once_and_keeps_random_init(monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision.models import MobileNet_V2_Weights

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("no network")

    monkeypatch.setattr(type(MobileNet_V2_Weights.IMAGENET1K_V1), "get_state_dict", offline)
    with pytest.warns(UserWarning, match="ImageNet weights unavailable.*random initialisation"):
        build_trunk("mobilenet_v2", pretrained=True)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "not found"),
        (b"not a torch file", "cannot read trunk weights"),
    ],
)
def test_bad_trunk_weights_file(tmp_path, content: bytes | None, match: str) -> None:
    path = tmp_path / "trunk.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(WeightsError, match=match):
        build_trunk("mobilenet_v2", pretrained=True, weights_path=path)


def test_trunk_weights_of_wrong_model(tmp_path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"foo.weight": torch.zeros(3)}, path)
    with pytest.raises(WeightsError, match="tensors match"):
        build_trunk("mobilenet_v2", pretrained=True, weights_path=path)


def test_trunk_weights_from_local_file(tmp_path) -> None:
    from torchvision.models import mobilenet_v2

    ref = mobilenet_v2()
    path = tmp_path / "mnv2.pth"
    torch.save(ref.state_dict(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trunk = build_trunk("mobilenet_v2", pretrained=True, weights_path=path)
    assert torch.equal(trunk.body[0][0].weight, ref.features[0][0].weight)


@pytest.mark.parametrize(
    ("in_ch", "corr", "batchnorm"),
    [
        (8, 8, True),
        (8, 12, False),
        (16, 4, True),
    ],
)
def test_decomposed_equals_naive(in_ch: int, corr: int, batchnorm: bool) -> None:
    torch.manual_seed(0)
    head = CorrespondenceHead(
        in_ch, corr, corr, corr, (16, 8), dropout=0.5, batchnorm=batchnorm, grid=(10, 5)
    ).eval()
    if batchnorm:  # non-trivial running statistics
        for m in head.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    xa, xb = torch.randn(5, in_ch, 10, 5), torch.randn(5, in_ch, 10, 5)
    with torch.no_grad():
        naive = head.forward_naive(xa, xb)
        ha, hb = head.halves(xa)[:, :corr], head.halves(xb)[:, corr:]
        fast = head.forward_halves(ha, hb)
        fused = FusedPairHead(head)
        fused_logits = fused.forward_summed(fused.halves(xa)[:, :corr] + fused.halves(xb)[:, corr:])
    assert naive.shape == (5, 2)
    torch.testing.assert_close(fast, naive, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fused_logits, naive, rtol=1e-4, atol=1e-5)


def test_model_widths_from_config() -> None:
    cfg = ModelConfig(
        pretrained=False, corr_channels=16, rel_channels=8, pool_channels=4, fc_dims=(32, 16), embed_dim=24
    )
    model = build_model(cfg).eval()
    with torch.no_grad():
        maps = model.maps(torch.randn(3, 3, 160, 80))
        assert model.head.halves(maps).shape == (3, 32, 10, 5)
        assert model(torch.randn(2, 3, 160, 80), torch.randn(2, 3, 160, 80)).shape == (2, 2)
        emb = model.embed(maps)
    assert emb.shape == (3, 24)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(3))


def test_embed_dim_zero_uses_pooled_maps() -> None:
    model = build_model(ModelConfig(pretrained=False, corr_channels=8, embed_dim=0)).eval()
    with torch.no_grad():
        assert model.embed(model.maps(torch.randn(2, 3, 160, 80))).shape == (2, 96)
