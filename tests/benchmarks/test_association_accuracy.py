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


def _tracks(boxes: list[tuple[int, tuple[float, float, float, float]]]) -> Any:
    from pipeline.records import BoxRecord, CameraRecord, IdentityRecord, TrackletRecord, TracksFile

    records = tuple(BoxRecord(f, f / 25.0, xyxy) for f, xyxy in boxes)
    tracklet = TrackletRecord(
        "cam_a", 1, boxes[0][0], boxes[-1][0], boxes[0][0] / 25.0, boxes[-1][0] / 25.0, records
    )
    return TracksFile(
        (CameraRecord("cam_a", "a.mp4", 25.0, 100, 100, 10),), (IdentityRecord(1, (tracklet,)),)
    )


@pytest.mark.parametrize(
    ("box", "kept"),
    [
        ((0.0, 0.0, 10.0, 40.0), False),  # on the ignored person only: dropped
        ((50.0, 0.0, 60.0, 40.0), True),  # on the counted person: kept
        ((80.0, 50.0, 90.0, 90.0), True),  # on nobody: a false positive, kept
        ((1.0, 0.0, 11.0, 40.0), False),  # IoU 0.82 with the ignored box
    ],
)
def test_drop_ignored_removes_only_boxes_of_ignored_people(box: tuple[float, ...], kept: bool) -> None:
    import numpy as np

    from infra.motchallenge import MotRows

    gt = {"cam_a": MotRows(np.array([1]), np.array([7]), np.array([[50.0, 0.0, 10.0, 40.0]]), np.ones(1))}
    ignore = {"cam_a": np.array([[1, 9, 0.0, 0.0, 10.0, 40.0, 1, -1, -1, -1]], np.float64)}
    tracks = _tracks([(0, box), (1, (50.0, 0.0, 60.0, 40.0))])  # frame 0 = ground-truth frame 1
    out = aa.drop_ignored(tracks, gt, ignore)
    frames = [b.frame for t in out.identities[0].tracklets for b in t.boxes]
    assert frames == ([0, 1] if kept else [1])


def test_drop_ignored_drops_tracklets_left_empty() -> None:
    import numpy as np

    from infra.motchallenge import MotRows

    gt = {"cam_a": MotRows.empty()}
    ignore = {"cam_a": np.array([[1, 9, 0.0, 0.0, 10.0, 40.0, 1, -1, -1, -1]], np.float64)}
    out = aa.drop_ignored(_tracks([(0, (0.0, 0.0, 10.0, 40.0))]), gt, ignore)
    assert out.identities == ()
