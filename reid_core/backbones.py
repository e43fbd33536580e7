"""Trunks of the Siamese network: crops (N, 3, 160, 80) → mid-level maps (N, C, 10, 5).

A registry of named trunks, as in torchreid's ``build_model``: :func:`build_trunk` with an
unknown name raises ``ValueError`` listing the valid names. Both trunks keep the paper's
10 × 5 grid of cells for a 160 × 80 (H × W) input (stride 16).

=================  =====================================  ==============  ===========================
name               torchvision layers                     maps (C×H×W)    ImageNet weights
=================  =====================================  ==============  ===========================
``googlenet``      GoogLeNet ``conv1`` … ``inception4e``  832 × 10 × 5    torchvision API or a file
``mobilenet_v2``   MobileNetV2 ``features[:14]``          96 × 10 × 5     torchvision API or a file
=================  =====================================  ==============  ===========================

ImageNet initialisation (``pretrained=True``) takes a local state-dict file when one is given
(torchvision's own ``.pth``, loaded with ``weights_only=True``, never unpickled), otherwise
torchvision's weights API (its cache, or a download). If neither works the trunk keeps its random
initialisation and a one-line warning says so: never a silent fallback.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from infra.errors import WeightsError

__all__ = ["TRUNKS", "Trunk", "TrunkSpec", "available_trunks", "build_trunk"]


class Trunk(nn.Module):
    """A feature extractor with a known number of output channels.

    Input: (N, 3, H, W) float, RGB, ImageNet-normalised. Output: (N, channels, H/16, W/16).
    """

    def __init__(self, body: nn.Module, channels: int, name: str) -> None:
        super().__init__()
        self.body = body
        self.channels = channels
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@dataclass(frozen=True)
class TrunkSpec:
    """A registry entry: how to build a trunk and where torchvision keeps its ImageNet weights."""

    build: Callable[[], tuple[nn.Module, nn.Module]]  # () -> (full torchvision model, trunk body)
    channels: int
    torchvision_weights: Callable[[], object]  # () -> torchvision WeightsEnum member


class _GoogLeNetInput(nn.Module):
    """torchvision's ``transform_input``: ImageNet-normalised → the (x - 0.5) / 0.5 scaling its
    GoogLeNet ImageNet weights were trained with (parameter-free; always applied, so the state-dict
    keys do not depend on the initialisation)."""

    def __init__(self) -> None:
        super().__init__()
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        self.register_buffer("scale", std / 0.5, persistent=False)
        self.register_buffer("shift", (mean - 0.5) / 0.5, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


def _googlenet() -> tuple[nn.Module, nn.Module]:
    from torchvision.models import googlenet

    full = googlenet(weights=None, aux_logits=False, init_weights=True, transform_input=False)
    body = nn.Sequential(
        _GoogLeNetInput(),
        full.conv1, full.maxpool1, full.conv2, full.conv3, full.maxpool2,
        full.inception3a, full.inception3b, full.maxpool3,
        full.inception4a, full.inception4b, full.inception4c, full.inception4d, full.inception4e,
    )  # fmt: skip
    return full, body


def _mobilenet_v2() -> tuple[nn.Module, nn.Module]:
    from reid_core.mobilenet import MobileNetV2  # torchvision's network without importing torchvision

    full = MobileNetV2()
    return full, full.features[:14]


def _googlenet_weights() -> object:
    from torchvision.models import GoogLeNet_Weights

    return GoogLeNet_Weights.IMAGENET1K_V1


def _mobilenet_v2_weights() -> object:
    from torchvision.models import MobileNet_V2_Weights

    return MobileNet_V2_Weights.IMAGENET1K_V1


TRUNKS: dict[str, TrunkSpec] = {
    "googlenet": TrunkSpec(_googlenet, 832, _googlenet_weights),
    "mobilenet_v2": TrunkSpec(_mobilenet_v2, 96, _mobilenet_v2_weights),
}


def available_trunks() -> list[str]:
    """Names accepted by :func:`build_trunk`, sorted."""
    return sorted(TRUNKS)


def _spec(name: str) -> TrunkSpec:
    if name not in TRUNKS:
        raise ValueError(f"unknown trunk {name!r}; available: {', '.join(available_trunks())}")
    return TRUNKS[name]


def trunk_channels(name: str) -> int:
    """Channels C of the maps that trunk ``name`` produces (832 for googlenet, 96 for mobilenet_v2)."""
    return _spec(name).channels


def build_trunk(name: str, pretrained: bool = False, weights_path: str | Path | None = None) -> Trunk:
    """Build trunk ``name``, optionally with ImageNet weights.

    Args:
        name: one of :func:`available_trunks`.
        pretrained: load ImageNet weights (from ``weights_path`` if given, else torchvision's API);
            if that fails the trunk stays randomly initialised and a ``UserWarning`` says why.
        weights_path: a torchvision ImageNet state dict (``.pth``) for the *whole* torchvision model,
            e.g. ``mobilenet_v2-b0353104.pth``. A missing or mismatching file is a WeightsError.

    Returns:
        A :class:`Trunk` mapping (N, 3, 160, 80) to (N, C, 10, 5).

    Raises:
        ValueError: unknown ``name`` (the message lists the valid names).
        WeightsError: ``weights_path`` missing, unreadable or not a state dict of this model.
    """
    spec = _spec(name)
    full, body = spec.build()
    if pretrained:
        if weights_path is not None:
            full.load_state_dict(_read_state_dict(Path(weights_path), full), strict=False)
        else:
            try:
                state = spec.torchvision_weights().get_state_dict(progress=False)  # type: ignore[attr-defined]
                full.load_state_dict(state, strict=False)
            except Exception as err:  # offline, no cache: say so, keep the random init
                reason = " ".join(str(err).split())[:160]
                warnings.warn(
                    f"trunk {name!r}: ImageNet weights unavailable ({type(err).__name__}: {reason}); "
                    "using random initialisation",
                    UserWarning,
                    stacklevel=2,
                )
    return Trunk(body, spec.channels, name)


def _read_state_dict(path: Path, model: nn.Module) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError(f"{path}: trunk weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise WeightsError(f"{path}: cannot read trunk weights ({type(err).__name__})") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: not a state dict")
    own = model.state_dict()
    matched = [k for k, v in state.items() if k in own and own[k].shape == v.shape]
    if len(matched) < len(own) // 2:
        raise WeightsError(
            f"{path}: only {len(matched)} of {len(own)} tensors match {type(model).__name__}; wrong file?"
        )
    return {k: state[k] for k in matched}
