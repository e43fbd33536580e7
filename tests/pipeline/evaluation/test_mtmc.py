"""``reid-eval mtmc``: cross-camera identity measures on hand-built tables, and its bad inputs.

Scene used by most cases: person A walks through cam_a (gt frames 1–10) then cam_b (21–30),
person B is in cam_a (1–10). Boxes move 25 px per frame (20 px wide), so a box one frame off
never overlaps its ground truth. 30 ground-truth boxes in all.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from infra.errors import UserError, cli_entry
from infra.motchallenge import MotRows, read_mot
from pipeline.evaluation import mtmc
from pipeline.export.tracks_json import write_tracks_json
from pipeline.records import (
    BoxRecord,
    CameraRecord,
    IdentityRecord,
    TrackletRecord,
    TracksFile,
    json_frame_to_mot,
    to_mot_rows,
)

SAMPLE = Path(__file__).resolve().parents[3] / "sample_videos"

A_A = [(f, 1) for f in range(1, 11)]  # (gt frame, person) of A in cam_a
A_B = [(f, 1) for f in range(21, 31)]
B_A = [(f, 2) for f in range(1, 11)]


def _xyxy(gt_frame: int, person: int) -> tuple[float, float, float, float]:
    x = 25.0 * gt_frame
    y = 100.0 * person
    return (x, y, x + 20.0, y + 50.0)


def _gt() -> dict[str, MotRows]:
    out = {}
    for cam, rows in (("cam_a", A_A + B_A), ("cam_b", A_B)):
        frame = np.array([f for f, _ in rows])
        ids = np.array([p for _, p in rows])
        xyxy = np.array([_xyxy(f, p) for f, p in rows])
        tlwh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        out[cam] = MotRows(frame, ids, tlwh, np.ones(len(rows)))
    return out


# A prediction: (global id, cam, [(gt frame of the box, person whose box it is)]); json frame = gt frame - 1.
Pred = Sequence[tuple[int, str, Sequence[tuple[int, int]]]]


def _tracks(pred: Pred, frame_offset: int = -1, dx: float = 0.0) -> TracksFile:
    identities: dict[int, list[TrackletRecord]] = {}
    for track_id, (gid, cam, boxes) in enumerate(pred, start=1):
        recs = tuple(
            BoxRecord(
                f + frame_offset,
                (f + frame_offset) / 25.0,
                tuple(v + (dx if i % 2 == 0 else 0.0) for i, v in enumerate(_xyxy(f, p))),
                0.9,
            )
            for f, p in boxes
        )
        tracklet = TrackletRecord(
            cam, track_id, recs[0].frame, recs[-1].frame, recs[0].time_s, recs[-1].time_s, recs
        )
        identities.setdefault(gid, []).append(tracklet)
    cams = (
        CameraRecord("cam_a", "cam_a.mp4", 25.0, 640, 480, 40),
        CameraRecord("cam_b", "cam_b.mp4", 25.0, 640, 480, 40),
    )
    return TracksFile(cams, tuple(IdentityRecord(g, tuple(t)) for g, t in sorted(identities.items())))


PERFECT: Pred = [(1, "cam_a", A_A), (1, "cam_b", A_B), (2, "cam_a", B_A)]
SPLIT: Pred = [(1, "cam_a", A_A), (3, "cam_b", A_B), (2, "cam_a", B_A)]
RELABELLED: Pred = [(7, "cam_a", A_A), (7, "cam_b", A_B), (5, "cam_a", B_A)]
# id switch in cam_a at frame 6: global 1 follows A then B, global 2 follows B then A.
SWITCH: Pred = [
    (1, "cam_a", A_A[:5] + B_A[5:]),
    (2, "cam_a", B_A[:5] + A_A[5:]),
    (1, "cam_b", A_B),
]
NO_CAM_B: Pred = [(1, "cam_a", A_A), (2, "cam_a", B_A)]
EXTRA_FP: Pred = [*PERFECT, (9, "cam_b", [(f, 3) for f in range(1, 11)])]


@pytest.mark.parametrize(
    ("pred", "idtp", "idfp", "idfn", "idf1"),
    [
        pytest.param(PERFECT, 30, 0, 0, 1.0, id="perfect"),
        # A split into global ids 1 (cam_a) and 3 (cam_b): A↔1 keeps 10 of A's 20 boxes.
        pytest.param(SPLIT, 20, 10, 10, 20 / 30, id="split-across-cameras"),
        pytest.param(RELABELLED, 30, 0, 0, 1.0, id="other-id-numbers"),
        # A↔1: 5 (cam_a) + 10 (cam_b); B↔2: 5.
        pytest.param(SWITCH, 20, 10, 10, 20 / 30, id="id-switch"),
        # nothing predicted in cam_b: A's 10 boxes there are missed.
        pytest.param(NO_CAM_B, 20, 0, 10, 20 / 25, id="missing-camera"),
        pytest.param(EXTRA_FP, 30, 10, 0, 30 / 35, id="extra-identity"),
        pytest.param([], 0, 0, 30, 0.0, id="empty-result"),
    ],
)
def test_identity_measures_table(pred: Pred, idtp: int, idfp: int, idfn: int, idf1: float) -> None:
    result = mtmc.evaluate_mtmc(_tracks(pred), _gt(), per_camera=False)
    assert (result.idtp, result.idfp, result.idfn) == (idtp, idfp, idfn)
    assert result.idf1 == pytest.approx(idf1)
    assert result.idp == pytest.approx(idtp / max(1, idtp + idfp))
    assert result.idr == pytest.approx(idtp / (idtp + idfn))
    assert result.num_gt_ids == 2


def test_linking_beats_splitting_by_the_computed_amount() -> None:
    linked = mtmc.evaluate_mtmc(_tracks(PERFECT), _gt(), per_camera=False)
    split = mtmc.evaluate_mtmc(_tracks(SPLIT), _gt(), per_camera=False)
    # IDF1 = 2·IDTP / (2·IDTP + IDFP + IDFN): 60/60 linked, 40/60 split.
    assert linked.idf1 - split.idf1 == pytest.approx(1 / 3)
    assert (linked.num_pred_ids, split.num_pred_ids) == (2, 3)


def test_json_frames_are_zero_based_and_converted_once() -> None:
    assert json_frame_to_mot(0) == 1
    assert json_frame_to_mot(178) == 179
    rows = to_mot_rows(_tracks(PERFECT))
    assert rows["cam_a"].frame.min() == 1
    # Boxes written with the gt frame number as the json frame (no conversion) match nothing.
    unconverted = mtmc.evaluate_mtmc(_tracks(PERFECT, frame_offset=0), _gt(), per_camera=False)
    assert unconverted.idtp == 0


@pytest.mark.parametrize(
    ("dx", "iou", "matched"),
    [
        pytest.param(5.0, 0.5, True, id="iou-0.6"),  # 15/25 overlap → IoU 0.6
        pytest.param(10.0, 0.5, False, id="iou-0.33-at-0.5"),  # 10/30
        pytest.param(10.0, 0.3, True, id="iou-0.33-at-0.3"),
    ],
)
def test_iou_threshold(dx: float, iou: float, matched: bool) -> None:
    result = mtmc.evaluate_mtmc(_tracks(PERFECT, dx=dx), _gt(), iou_threshold=iou, per_camera=False)
    assert result.idtp == (30 if matched else 0)


def test_ignored_gt_rows_and_result_cameras_without_gt() -> None:
    gt = _gt()
    rows = gt["cam_b"]
    gt["cam_b"] = MotRows(rows.frame, rows.track_id, rows.tlwh, np.zeros(len(rows)))  # conf 0 = ignore
    result = mtmc.evaluate_mtmc(
        _tracks(NO_CAM_B), {"cam_a": gt["cam_a"], "cam_b": gt["cam_b"]}, per_camera=False
    )
    assert result.idf1 == 1.0
    only_a = mtmc.evaluate_mtmc(_tracks(PERFECT), {"cam_a": _gt()["cam_a"]}, per_camera=False)
    assert only_a.ignored_cameras == ("cam_b",)
    assert only_a.idf1 == 1.0  # cam_b's predictions are not scored


def test_duplicate_id_in_one_frame_is_a_user_error() -> None:
    pred: Pred = [(1, "cam_a", A_A), (1, "cam_a", A_A[:1])]
    with pytest.raises(UserError, match="more than one box in camera cam_a frame 1"):
        mtmc.evaluate_mtmc(_tracks(pred), _gt(), per_camera=False)


# --- the command line -------------------------------------------------------------------------


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="reid-eval mtmc")
    mtmc.add_arguments(parser)
    return cli_entry(lambda a: mtmc.run(parser.parse_args(a)), argv)


def _write_inputs(tmp_path: Path, pred: Pred = PERFECT) -> tuple[Path, list[str]]:
    result = tmp_path / "tracks.json"
    write_tracks_json(result, _tracks(pred))
    gt_args = []
    for cam, rows in _gt().items():
        path = tmp_path / f"gt_{cam}.txt"
        lines = [
            f"{f},{i},{x},{y},{w},{h},1,-1,-1,-1"
            for f, i, (x, y, w, h) in zip(
                rows.frame.tolist(), rows.track_id.tolist(), rows.tlwh.tolist(), strict=True
            )
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        gt_args += ["--gt", f"{cam}={path}"]
    return result, gt_args


def test_cli_prints_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result, gt_args = _write_inputs(tmp_path, SPLIT)
    out_json = tmp_path / "m.json"
    code = _cli(["--result", str(result), *gt_args, "--no-per-camera", "--json", str(out_json)])
    assert code == 0
    assert "IDF1  66.7" in capsys.readouterr().out
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert data["idtp"] == 20 and data["cameras"] == ["cam_a", "cam_b"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing-result", "file not found"),
        ("missing-gt", "MOT file not found"),
        ("spec-no-equals", "expected CAM_ID=PATH"),
        ("spec-empty-cam", "expected CAM_ID=PATH"),
        ("spec-empty-path", "expected CAM_ID=PATH"),
        ("cam-not-in-result", "camera 'cam_z' of --gt is not in the result"),
        ("cam-twice", "camera 'cam_a' given twice"),
        ("bad-iou", "--iou 0.0: must be in (0, 1]"),
        ("not-json", "invalid JSON"),
        ("schema", "not a valid tracks file"),
        ("bad-gt-line", "expected 6 to 10 comma-separated values"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    result, gt_args = _write_inputs(tmp_path)
    gt_a = gt_args[1].split("=", 1)[1]
    argv = ["--result", str(result), *gt_args]
    if case == "missing-result":
        argv[1] = str(tmp_path / "nope.json")
    elif case == "missing-gt":
        argv[-1] = f"cam_b={tmp_path / 'nope.txt'}"
    elif case == "spec-no-equals":
        argv[-1] = "cam_b"
    elif case == "spec-empty-cam":
        argv[-1] = f"={gt_a}"
    elif case == "spec-empty-path":
        argv[-1] = "cam_b="
    elif case == "cam-not-in-result":
        argv[-1] = f"cam_z={gt_a}"
    elif case == "cam-twice":
        argv[-1] = f"cam_a={gt_a}"
    elif case == "bad-iou":
        argv += ["--iou", "0"]
    elif case == "not-json":
        result.write_text("{not json", encoding="utf-8")
    elif case == "schema":
        result.write_text(json.dumps({"schema_version": 1, "cameras": []}), encoding="utf-8")
    elif case == "bad-gt-line":
        Path(gt_a).write_text("1,2,3\n", encoding="utf-8")
    code = _cli([*argv, "--no-per-camera"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err


# --- the committed sample ---------------------------------------------------------------------


def _sample_gt() -> dict[str, MotRows]:
    return {cam: read_mot(SAMPLE / f"gt_{cam[-1]}.txt") for cam in ("cam_a", "cam_b")}


def _oracle(gt: dict[str, MotRows], link: bool) -> TracksFile:
    """Ground truth as a result; ``link=False`` gives each (camera, person) its own global id."""
    tracklets: dict[tuple[str, int], list[BoxRecord]] = {}
    for cam, rows in gt.items():
        for f, i, (x, y, w, h) in zip(
            rows.frame.tolist(), rows.track_id.tolist(), rows.tlwh.tolist(), strict=True
        ):
            tracklets.setdefault((cam, i), []).append(
                BoxRecord(f - 1, (f - 1) / 25.0, (x, y, x + w, y + h), 1.0)
            )
    identities: dict[int, list[TrackletRecord]] = {}
    for n, ((cam, person), boxes) in enumerate(sorted(tracklets.items()), start=1):
        tr = TrackletRecord(
            cam, person, boxes[0].frame, boxes[-1].frame, boxes[0].time_s, boxes[-1].time_s, tuple(boxes)
        )
        identities.setdefault(person if link else n, []).append(tr)
    cams = (
        CameraRecord("cam_a", "cam_a.mp4", 25.0, 360, 480, 179),
        CameraRecord("cam_b", "cam_b.mp4", 25.0, 240, 480, 179),
    )
    return TracksFile(cams, tuple(IdentityRecord(g, tuple(t)) for g, t in sorted(identities.items())))


@pytest.mark.parametrize(
    ("link", "idtp", "idf1"),
    [
        pytest.param(True, 1099, 1.0, id="linked"),
        # persons 2, 7, 9 are in both views; unlinked, each keeps only its longer view.
        pytest.param(False, 975, 975 / 1099, id="not-linked"),
    ],
)
def test_sample_ground_truth_as_result(link: bool, idtp: int, idf1: float) -> None:
    gt = _sample_gt()
    result = mtmc.evaluate_mtmc(_oracle(gt, link), gt, per_camera=False)
    assert result.idtp == idtp
    assert result.idf1 == pytest.approx(idf1)
    assert result.num_gt_ids == 10


@pytest.mark.parametrize(
    ("pred", "mtmc_idf1", "per_camera_idf1"),
    [
        pytest.param(PERFECT, 1.0, {"cam_a": 1.0, "cam_b": 1.0}, id="perfect"),
        # splitting across cameras costs nothing per camera, only in the cross-camera figure
        pytest.param(SPLIT, 20 / 30, {"cam_a": 1.0, "cam_b": 1.0}, id="split"),
        pytest.param(NO_CAM_B, 20 / 25, {"cam_a": 1.0, "cam_b": 0.0}, id="missing-camera"),
    ],
)
def test_per_camera_metrics(pred: Pred, mtmc_idf1: float, per_camera_idf1: dict[str, float]) -> None:
    result = mtmc.evaluate_mtmc(_tracks(pred), _gt())
    assert result.idf1 == pytest.approx(mtmc_idf1)
    assert {cam: m["IDF1"] for cam, m in result.per_camera.items()} == pytest.approx(per_camera_idf1)
    assert set(result.per_camera["cam_a"]) == {"HOTA", "MOTA", "IDF1"}
    if pred is PERFECT:
        assert result.per_camera["cam_a"]["HOTA"] == pytest.approx(1.0)
        assert result.per_camera["cam_b"]["MOTA"] == pytest.approx(1.0)


def test_reid_eval_dispatcher_runs_mtmc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.evaluation.cli import main

    result, gt_args = _write_inputs(tmp_path)
    assert main(["mtmc", "--result", str(result), *gt_args]) == 0
    out = capsys.readouterr().out
    assert "IDF1 100.0" in out and "cam_b" in out
    assert main(["mtmc", "--result", str(result), "--gt", "cam_a"]) == 2
    assert capsys.readouterr().err.startswith("error: --gt 'cam_a': expected CAM_ID=PATH")


@pytest.mark.parametrize(
    "pred", [PERFECT, SPLIT, SWITCH, EXTRA_FP], ids=["perfect", "split", "switch", "extra"]
)
def test_one_camera_equals_single_camera_idf1(pred: Pred) -> None:
    """With one camera, the cross-camera measure is the ordinary IDF1 (same TrackEval metric)."""
    result = mtmc.evaluate_mtmc(_tracks(pred), {"cam_a": _gt()["cam_a"]})
    assert result.idf1 == pytest.approx(result.per_camera["cam_a"]["IDF1"])
