"""MobileNetV2 in plain torch, module for module torchvision's (``torchvision.models.mobilenet_v2``).

Importing torchvision costs about 1.8 s of a pipeline run's start (it pulls in its ops and
``torch._dynamo``) and only this network is needed at inference time, so the trunk is built
here. The module tree, parameter names and shapes, the construction order (hence the random
initialisation for a given seed) and the forward pass are torchvision's, so its ImageNet state
dicts and every saved ``reid_core`` weights file load unchanged
(``tests/reid_core/test_mobilenet.py`` compares the two).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MobileNetV2"]

# expansion t, output channels c, repeats n, first stride s (the paper's Table 2)
_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class _ConvBNReLU6(nn.Sequential):
    """Conv (no bias, "same" padding) → BatchNorm → ReLU6, as ``Conv2dNormActivation``."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, dilation=1, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )
        self.out_channels = cout


class _InvertedResidual(nn.Module):
    """1×1 expansion (if t > 1) → 3×3 depthwise → 1×1 linear projection; residual when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = round(cin * expand_ratio)
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = [] if expand_ratio == 1 else [_ConvBNReLU6(cin, hidden, kernel=1)]
        layers += [
            _ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, 1, 0, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (width 1.0): ``features`` (19 stages, (N, 3, H, W) → (N, 1280, H/32, W/32)) and
    ``classifier`` (dropout 0.2, 1280 → ``num_classes``), initialised as torchvision does."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        cin = 32
        features: list[nn.Module] = [_ConvBNReLU6(3, cin, stride=2)]
        for t, c, n, s in _SETTING:
            for i in range(n):
                features.append(_InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        features.append(_ConvBNReLU6(cin, 1280, kernel=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=0.2), nn.Linear(1280, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))
