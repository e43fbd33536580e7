"""benchmarks/association_accuracy.py: method variants and config overrides (no data needed)."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import association_accuracy as aa  # noqa: E402

from pipeline.config import load_config  # noqa: E402


class _NoMatcher:
    """Never called: building an associator only keeps the matcher."""


@pytest.mark.parametrize(
    ("method", "attribute", "expected"),
    [
        ("online", "motion", True),  # the defaults
        ("online", "zone_prior_links", 5.0),
        ("online", "threshold", 0.4),
        ("online:nomotion", "motion", False),
        ("offline:nomotion", "motion", False),
        ("online:nozones", "zone_prior_links", None),
        ("online:zp=2", "zone_prior_links", 2.0),
        ("online:m=0.9", "min_margin_logodds", 0.9),  # the default is 0.3
        ("online:t=0.35,nomotion", "threshold", 0.35),
        ("nolink", "enabled", False),
    ],
)
def test_variants_set_what_they_name(method: str, attribute: str, expected: Any) -> None:
    associator = aa.build_associator(method, load_config(None), _NoMatcher(), {})
    assert getattr(associator, attribute) == expected


def test_an_unknown_variant_is_an_error() -> None:
    with pytest.raises(SystemExit, match="unknown variant 'bogus' of online"):
        aa.build_associator("online:bogus", load_config(None), _NoMatcher(), {})


@pytest.mark.parametrize(
    ("items", "section", "key", "expected"),
    [
        (["detector.conf_threshold=0.1"], "detector", "conf_threshold", 0.1),
        (["tracker.params={low_score_threshold: 0.05}"], "tracker", "params", {"low_score_threshold": 0.05}),
        (["association.motion=false"], "association", "motion", False),
    ],
)
def test_overrides_reach_the_config(items: list[str], section: str, key: str, expected: Any) -> None:
    config = aa.parse_overrides(load_config(None), items)
    assert getattr(getattr(config, section), key) == expected


@pytest.mark.parametrize(
    ("made", "asked", "error"),
    [
        (None, aa.Camera(), False),  # made before cameras were recorded: as recorded sources
        (aa.Camera(0.3, 3), aa.Camera(0.3, 3), False),
        (aa.Camera(), aa.Camera(0.3), True),
        (aa.Camera(0.3, 3), aa.Camera(0.3, 1), True),
    ],
)
def test_cut_videos_made_for_another_camera_are_refused(
    tmp_path: Path, made: Any, asked: Any, error: bool
) -> None:
    cut = aa.CUTS["campus-2cam-320-360"]
    folder = tmp_path / "cuts" / cut.name
    folder.mkdir(parents=True)
    for cam in cut.cams:
        (folder / f"{cam}.mp4").write_bytes(b"")
    if made is not None:
        (folder / "camera.json").write_text(json.dumps(dataclasses.asdict(made)))
    if error:
        with pytest.raises(SystemExit, match=f"made with {re.escape(str(made or aa.Camera()))}, not"):
            aa.cut_folder(cut, tmp_path / "no-data", tmp_path, asked)
    else:
        assert aa.cut_folder(cut, tmp_path / "no-data", tmp_path, asked) == folder
