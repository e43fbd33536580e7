"""benchmarks/pipeline_versions.py: identities that hold one person in two places are split before scoring."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import pipeline_versions as pv  # noqa: E402

from pipeline.records import CameraRecord, IdentityRecord, TrackletRecord, TracksFile  # noqa: E402


def _t(cam: str, track_id: int, start: int, end: int) -> TrackletRecord:
    return TrackletRecord(cam, track_id, start, end, start / 25, end / 25)


def _tracks(*identities: tuple[TrackletRecord, ...]) -> TracksFile:
    cams = tuple(CameraRecord(cam, f"{cam}.mp4", 25.0, 640, 480, 100) for cam in ("a", "b"))
    return TracksFile(cams, tuple(IdentityRecord(g + 1, ts) for g, ts in enumerate(identities)))


@pytest.mark.parametrize(
    ("identities", "split", "groups"),
    [
        # one camera, one after the other (re-entry): valid, kept
        (((_t("a", 1, 0, 10), _t("a", 2, 20, 30)),), 0, [[1, 2]]),
        # two cameras at the same time: a cross-camera link, kept (views may overlap)
        (((_t("a", 1, 0, 10), _t("b", 1, 5, 15)),), 0, [[1, 1]]),
        # one camera, overlapping: the shorter one becomes its own identity
        (((_t("a", 1, 0, 10), _t("a", 2, 5, 40), _t("b", 3, 50, 60)),), 1, [[2, 3], [1]]),
        # sharing only the end frame counts as overlapping
        (((_t("a", 1, 0, 10), _t("a", 2, 10, 12)),), 1, [[1], [2]]),
        # two conflicts in two identities, new ids after the largest
        (
            ((_t("a", 1, 0, 10), _t("a", 2, 0, 5)), (_t("b", 1, 0, 10), _t("b", 2, 3, 4))),
            2,
            [[1], [1], [2], [2]],
        ),
    ],
)
def test_split_conflicts_table(identities, split: int, groups: list[list[int]]) -> None:
    tracks, n = pv.split_conflicts(_tracks(*identities))
    assert n == split
    assert [[t.track_id for t in i.tracklets] for i in tracks.identities] == groups
    ids = [i.global_id for i in tracks.identities]
    assert len(set(ids)) == len(ids)
    assert sum(len(i.tracklets) for i in tracks.identities) == sum(len(i) for i in identities)
