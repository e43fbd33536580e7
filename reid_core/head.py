"""The paper's pair head (Sections III-B to III-D), with its first conv split in two halves.

For a pair of mid-level maps ``X_A, X_B`` (each (C, 10, 5)) the head computes

    correspondence conv over [X_A; X_B] (2C → C', k3 p1)  → BN → ReLU
    relationship conv (C' → C'', k3 p1) → BN → ReLU → max-pool 2×2 (10×5 → 5×2)
    conv (C'' → C''', k3 p1) → BN → ReLU
    FC → ReLU → dropout → FC → ReLU → dropout → FC → 2 logits (index 1 = "same person")

BatchNorm is optional (``batchnorm=False`` is the paper's head); it is what made training work here.

**Exact decomposition.** The first conv is linear in the concatenation:
``W·[X_A; X_B] + b = (W_A·X_A + b) + W_B·X_B``. :meth:`CorrespondenceHead.halves` computes both
half-responses of a crop once; :meth:`CorrespondenceHead.forward_halves` scores a pair from
``half_a(crop_i) + half_b(crop_j)`` with the rest of the head only. :meth:`forward_naive` is the
textbook form over the concatenation; both give the same logits within float tolerance.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["CorrespondenceHead", "FusedPairHead"]


def _bn2d(channels: int, on: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if on else nn.Identity()


def _bn1d(channels: int, on: bool) -> nn.Module:
    return nn.BatchNorm1d(channels) if on else nn.Identity()


class CorrespondenceHead(nn.Module):
    """Pair head: two maps (C, h, w) → 2 logits.

    Args:
        in_channels: C, channels of the trunk maps.
        corr_channels: C', outputs of the correspondence conv (paper: C).
        rel_channels: C'', outputs of the relationship conv (paper: C).
        pool_channels: C''', outputs of the conv after max-pooling (paper: C).
        fc_dims: widths of the first two fully connected layers.
        dropout: drop probability after the first two FC layers (0..1).
        batchnorm: BatchNorm after each conv and the first two FC layers.
        grid: (h, w) of the trunk maps, (10, 5) for 160 × 80 crops.
    """

    def __init__(
        self,
        in_channels: int,
        corr_channels: int,
        rel_channels: int,
        pool_channels: int,
        fc_dims: tuple[int, int],
        dropout: float,
        batchnorm: bool,
        grid: tuple[int, int],
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.corr_channels = corr_channels
        self.corr = nn.Conv2d(2 * in_channels, corr_channels, 3, padding=1, bias=True)
        self.corr_post = nn.Sequential(_bn2d(corr_channels, batchnorm), nn.ReLU(inplace=True))
        self.relation = nn.Sequential(
            nn.Conv2d(corr_channels, rel_channels, 3, padding=1, bias=not batchnorm),
            _bn2d(rel_channels, batchnorm),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(rel_channels, pool_channels, 3, padding=1, bias=not batchnorm),
            _bn2d(pool_channels, batchnorm),
            nn.ReLU(inplace=True),
        )
        flat = pool_channels * (grid[0] // 2) * (grid[1] // 2)
        self.metric = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, fc_dims[0], bias=not batchnorm),
            _bn1d(fc_dims[0], batchnorm),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(fc_dims[0], fc_dims[1], bias=not batchnorm),
            _bn1d(fc_dims[1], batchnorm),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(fc_dims[1], 2),
        )

    def halves(self, maps: torch.Tensor) -> torch.Tensor:
        """Both half-responses of the correspondence conv for each crop, in one conv.

        Args:
            maps: (N, C, h, w) trunk maps.

        Returns:
            (N, 2C', h, w): channels ``[:C']`` are ``W_A·X + b`` (the crop as first image of a pair),
            channels ``[C':]`` are ``W_B·X`` (the crop as second image).
        """
        c = self.in_channels
        w = self.corr.weight
        weight = torch.cat([w[:, :c], w[:, c:]], dim=0)
        bias = torch.cat([self.corr.bias, torch.zeros_like(self.corr.bias)])
        return F.conv2d(maps, weight, bias, padding=1)

    def forward_halves(self, half_a: torch.Tensor, half_b: torch.Tensor) -> torch.Tensor:
        """Logits (P, 2) of pairs from half-responses ``half_a``, ``half_b``, each (P, C', h, w)."""
        return self.forward_summed(half_a + half_b)

    def forward_summed(self, summed: torch.Tensor) -> torch.Tensor:
        """Logits (P, 2) from ``half_a + half_b`` (P, C', h, w), i.e. the correspondence conv output."""
        return self.metric(self.relation(self.corr_post(summed)))

    def forward_naive(self, maps_a: torch.Tensor, maps_b: torch.Tensor) -> torch.Tensor:
        """Logits (P, 2) of pairs, the textbook way: conv over the concatenation [X_A; X_B] (P, 2C, h, w)."""
        return self.metric(self.relation(self.corr_post(self.corr(torch.cat([maps_a, maps_b], dim=1)))))

    def forward(self, maps_a: torch.Tensor, maps_b: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`forward_naive`."""
        return self.forward_naive(maps_a, maps_b)


class FusedPairHead(nn.Module):
    """Inference copy of a :class:`CorrespondenceHead` with every BatchNorm folded into its layer.

    The BatchNorm after the correspondence conv is affine per channel, so it folds into *both*
    halves: ``BN(W_A·X_A + b + W_B·X_B) = (s·W_A·X_A + s·b + t) + s·W_B·X_B``; scoring a pair is
    then a sum of two cached tensors, a ReLU and the rest of the (fused) head. Same maths as
    ``head.eval()``, fewer passes over memory. Built from a snapshot: later changes to ``head``
    are not seen.
    """

    def __init__(self, head: CorrespondenceHead) -> None:
        super().__init__()
        from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

        head = copy.deepcopy(head).eval()
        c = head.in_channels
        self.corr_channels = head.corr_channels
        w, b = head.corr.weight.detach(), head.corr.bias.detach()
        scale, shift = torch.ones_like(b), torch.zeros_like(b)
        bn = head.corr_post[0]
        if isinstance(bn, nn.BatchNorm2d):
            scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
            shift = bn.bias.detach() - scale * bn.running_mean
        w_ab = torch.cat([w[:, :c], w[:, c:]], dim=0) * torch.cat([scale, scale]).view(-1, 1, 1, 1)
        b_ab = torch.cat([scale * b + shift, torch.zeros_like(b)])
        self.register_buffer("halves_weight", w_ab.contiguous())
        self.register_buffer("halves_bias", b_ab.contiguous())

        def fold(seq: nn.Sequential) -> nn.Sequential:
            layers: list[nn.Module] = []
            mods = list(seq)
            i = 0
            while i < len(mods):
                m = mods[i]
                nxt = mods[i + 1] if i + 1 < len(mods) else None
                if isinstance(m, nn.Conv2d) and isinstance(nxt, nn.BatchNorm2d):
                    layers.append(fuse_conv_bn_eval(m, nxt))
                    i += 2
                elif isinstance(m, nn.Linear) and isinstance(nxt, nn.BatchNorm1d):
                    layers.append(fuse_linear_bn_eval(m, nxt))
                    i += 2
                elif isinstance(m, (nn.Dropout, nn.Identity)):
                    i += 1
                else:
                    layers.append(m)
                    i += 1
            return nn.Sequential(*layers)

        self.relation = fold(head.relation)
        self.metric = fold(head.metric)
        self.eval()

    def halves(self, maps: torch.Tensor) -> torch.Tensor:
        """(N, 2C', h, w) BN-folded half-responses: ``[:C']`` first-image, ``[C':]`` second-image half."""
        return F.conv2d(maps, self.halves_weight, self.halves_bias, padding=1)

    def forward_summed(self, summed: torch.Tensor) -> torch.Tensor:
        """Logits (P, 2) from ``half_a + half_b`` (P, C', h, w) of :meth:`halves`."""
        return self.metric(self.relation(F.relu(summed)))
