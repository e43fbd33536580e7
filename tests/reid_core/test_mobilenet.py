"""reid_core.mobilenet: the plain-torch MobileNetV2 is torchvision's, name for name and number for number."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from reid_core.mobilenet import MobileNetV2


@pytest.mark.parametrize("seed", [0, 3])
def test_same_parameters_initialisation_and_output_as_torchvision(seed: int) -> None:
    from torchvision.models import mobilenet_v2

    torch.manual_seed(seed)
    ours = MobileNetV2().eval()
    torch.manual_seed(seed)
    theirs = mobilenet_v2(weights=None).eval()
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)  # same names in the same order: state dicts load both ways
    for name in a:
        assert torch.equal(a[name], b[name]), name  # same random initialisation for a seed
    x = torch.rand(2, 3, 160, 80)
    with torch.no_grad():
        assert torch.equal(ours.features[:14](x), theirs.features[:14](x))
        assert torch.equal(ours(x), theirs(x))


def test_building_the_default_trunk_does_not_import_torchvision() -> None:
    code = (
        "import sys; from reid_core.backbones import build_trunk; build_trunk('mobilenet_v2'); "
        "print('torchvision' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
