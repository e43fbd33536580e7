"""The Siamese correspondence network: shared trunk + pair head + cheap shortlist embedding.

:class:`ModelConfig` is the YAML-facing description (also stored in every weights file's JSON so
that :func:`build_model` can rebuild the network without the training config).

Shapes for the default 160 × 80 (H × W) input:

====================  ===============================  ====================
stage                 output                            notes
====================  ===============================  ====================
trunk                 (N, C, 10, 5)                     C = 96 or 832
head.halves           (N, 2C', 10, 5)                   per crop, cached
head (per pair)       (P, 2) logits                     softmax[:, 1] = P(same)
embed                 (N, D) L2-normalised              shortlist signal
====================  ===============================  ====================
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from reid_core.backbones import Trunk, available_trunks, build_trunk, trunk_channels
from reid_core.data.crops import INPUT_SIZE_HW
from reid_core.head import CorrespondenceHead

__all__ = ["INPUT_SIZE_HW", "ModelConfig", "SiameseNet", "build_model"]

"""Crop size the network sees, (height, width) in pixels (the paper's 160 × 80)."""


MAX_WIDTH = 1 << 16  # widest layer a model description may ask for (1e12 would exhaust memory)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the Siamese network (YAML section ``model``).

    Attributes:
        trunk: trunk name, one of ``googlenet`` (832 maps) or ``mobilenet_v2`` (96 maps).
        pretrained: start the trunk from ImageNet weights (file below, else torchvision's API,
            else random init with a warning).
        trunk_weights: path of torchvision's ImageNet state dict for the trunk (``.pth``), or null.
        corr_channels: outputs of the correspondence conv; null = trunk channels (paper).
            Higher: more capacity, head cost grows ~quadratically.
        rel_channels: outputs of the relationship conv; null = ``corr_channels``.
        pool_channels: outputs of the conv after max-pooling; null = ``rel_channels``.
        fc_dims: widths of the first two FC layers of the metric network.
        dropout: dropout probability after FC1 and FC2 (0..1).
        batchnorm: BatchNorm in the head (false = the paper's head; it stalled in training here).
        embed_dim: width of the shortlist embedding (linear layer over pooled trunk maps);
            0 = use the pooled trunk maps themselves (C wide, untrained signal).
    """

    trunk: str = "mobilenet_v2"
    pretrained: bool = True
    trunk_weights: str | None = None
    corr_channels: int | None = None
    rel_channels: int | None = None
    pool_channels: int | None = None
    fc_dims: tuple[int, int] = (512, 128)
    dropout: float = 0.5
    batchnorm: bool = True
    embed_dim: int = 128

    def __post_init__(self) -> None:
        if self.trunk not in available_trunks():
            raise ValueError(
                f"model.trunk: unknown trunk {self.trunk!r}; available: {', '.join(available_trunks())}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if self.embed_dim < 0:
            raise ValueError(f"model.embed_dim must be >= 0, got {self.embed_dim}")
        for key in ("corr_channels", "rel_channels", "pool_channels"):
            v = getattr(self, key)
            if v is not None and not 0 < v <= MAX_WIDTH:
                raise ValueError(f"model.{key} must be 1 to {MAX_WIDTH} or null, got {str(v)[:30]}")
        if self.embed_dim > MAX_WIDTH:
            raise ValueError(f"model.embed_dim must be at most {MAX_WIDTH}, got {str(self.embed_dim)[:30]}")
        if any(not 0 < d <= MAX_WIDTH for d in self.fc_dims):
            raise ValueError(f"model.fc_dims must be 1 to {MAX_WIDTH} each, got {str(self.fc_dims)[:60]}")


class SiameseNet(nn.Module):
    """Shared trunk, pair head and shortlist embedding.

    Inputs are (N, 3, 160, 80) float tensors, RGB, ImageNet-normalised (see
    :func:`reid_core.data.transforms.bgr_to_input`).
    """

    def __init__(self, trunk: Trunk, head: CorrespondenceHead, embed_dim: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = head
        self.embed_dim = embed_dim if embed_dim > 0 else trunk.channels
        self.embed_proj: nn.Module = nn.Linear(trunk.channels, embed_dim) if embed_dim > 0 else nn.Identity()

    def maps(self, x: torch.Tensor) -> torch.Tensor:
        """Trunk maps (N, C, 10, 5) of crops ``x`` (N, 3, 160, 80)."""
        return self.trunk(x)

    def embed(self, maps: torch.Tensor) -> torch.Tensor:
        """Shortlist embedding (N, D), L2-normalised, from trunk maps (N, C, h, w)."""
        return F.normalize(self.embed_proj(maps.mean(dim=(2, 3))), dim=1)

    def forward(self, x_a: torch.Tensor, x_b: torch.Tensor) -> torch.Tensor:
        """Logits (N, 2) of the pairs (x_a[i], x_b[i]); the naive (reference) path."""
        return self.head.forward_naive(self.trunk(x_a), self.trunk(x_b))


def build_model(cfg: ModelConfig, *, load_imagenet: bool | None = None) -> SiameseNet:
    """Build the network described by ``cfg``.

    Args:
        cfg: architecture.
        load_imagenet: override ``cfg.pretrained`` (``False`` when the weights come from a file
            anyway, e.g. in :func:`reid_core.inference.load_matcher`).

    Raises:
        ValueError: unknown trunk (lists the valid names).
        WeightsError: ``cfg.trunk_weights`` given but missing or not this trunk's state dict.
    """
    pretrained = cfg.pretrained if load_imagenet is None else load_imagenet
    trunk = build_trunk(
        cfg.trunk, pretrained=pretrained, weights_path=cfg.trunk_weights if pretrained else None
    )
    c = trunk_channels(cfg.trunk)
    corr = cfg.corr_channels or c
    rel = cfg.rel_channels or corr
    pool = cfg.pool_channels or rel
    grid = (INPUT_SIZE_HW[0] // 16, INPUT_SIZE_HW[1] // 16)
    head = CorrespondenceHead(c, corr, rel, pool, tuple(cfg.fc_dims), cfg.dropout, cfg.batchnorm, grid)  # type: ignore[arg-type]
    return SiameseNet(trunk, head, cfg.embed_dim)
