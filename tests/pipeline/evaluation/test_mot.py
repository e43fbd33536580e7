"""``reid-eval mot`` and ``evaluate_mot`` on tiny hand-made sequences (TrackEval does the maths)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from infra.motchallenge import MotRows, read_mot, write_mot
from pipeline.evaluation.cli import main
from pipeline.evaluation.mot import COMBINED, evaluate_mot, evaluate_mot_sequences

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "mot15"


def two_people(n_frames: int = 10) -> MotRows:
    """Person 1 walks right, person 2 stands; both visible in every frame."""
    frame, ids, tlwh = [], [], []
    for t in range(1, n_frames + 1):
        frame += [t, t]
        ids += [1, 2]
        tlwh += [[10.0 * t, 0, 40, 100], [500, 50, 40, 100]]
    return MotRows(np.array(frame), np.array(ids), np.array(tlwh), np.ones(len(frame)))


def relabel(rows: MotRows, new_ids: np.ndarray) -> MotRows:
    return MotRows(rows.frame, new_ids, rows.tlwh, rows.score)


def id_switch(rows: MotRows) -> MotRows:
    """Person 1 gets a new id (9) from frame 6 on."""
    return relabel(rows, np.where((rows.track_id == 1) & (rows.frame >= 6), 9, rows.track_id))


@pytest.mark.parametrize(
    ("make_pred", "expected"),
    [
        (lambda gt: relabel(gt, gt.track_id + 100), {"HOTA": 100, "MOTA": 100, "IDF1": 100, "IDSW": 0}),
        (id_switch, {"MOTA": 95.0, "IDF1": 75.0, "IDSW": 1, "FP": 0, "FN": 0}),
        (lambda gt: gt[gt.track_id == 2], {"MOTA": 50.0, "IDF1": 100 * 10 / 15, "FN": 10, "IDSW": 0}),
        (lambda gt: MotRows.empty(), {"HOTA": 0, "MOTA": 0, "IDF1": 0, "FN": 20}),
    ],
    ids=["perfect", "one-id-switch", "half-missed", "empty-prediction"],
)
def test_evaluate_mot(make_pred, expected: dict[str, float]) -> None:
    gt = two_people()
    metrics = evaluate_mot(gt, make_pred(gt))
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value), key


def test_zero_marked_ground_truth_is_ignored() -> None:
    gt = two_people()
    marked = MotRows(gt.frame, gt.track_id, gt.tlwh, np.where(gt.track_id == 2, 0.0, 1.0))
    metrics = evaluate_mot(marked, gt[gt.track_id == 1])
    assert metrics["MOTA"] == pytest.approx(100) and metrics["GT_IDs"] == 1


def test_duplicate_ids_in_a_frame_are_refused() -> None:
    gt = two_people()
    with pytest.raises(ValueError, match="more than once"):
        evaluate_mot(gt, relabel(gt, np.ones(len(gt), np.int64)))


def test_combined_sums_counts_over_sequences() -> None:
    gt = two_people()
    results = evaluate_mot_sequences({"a": (gt, gt, None), "b": (gt, id_switch(gt), 12)})
    assert list(results) == ["a", "b", COMBINED]
    assert results[COMBINED]["IDSW"] == 1
    assert results["a"]["IDF1"] == pytest.approx(100)
    assert results["b"]["IDF1"] < results[COMBINED]["IDF1"] < 100


def write(path: Path, rows: MotRows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_mot(path, rows)
    return path


def test_cli_pairs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt = two_people()
    gt_path = write(tmp_path / "seqA" / "gt" / "gt.txt", gt)
    perfect = write(tmp_path / "perfect.txt", gt)
    switched = write(tmp_path / "switched.txt", id_switch(gt))
    assert main(["mot", "--gt", str(gt_path), str(gt_path), "--pred", str(perfect), str(switched)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["sequence", "HOTA", "MOTA", "IDF1", "IDSW", "FP", "FN"]
    assert lines[1].split() == ["1:seqA", "100.0", "100.0", "100.0", "0", "0", "0"]
    assert lines[2].split()[0] == "2:seqA" and lines[2].split()[4] == "1"
    assert lines[3].split()[0] == COMBINED


def test_cli_dirs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt = two_people()
    for seq in ("s1", "s2"):
        write(tmp_path / "gt" / seq / "gt" / "gt.txt", gt)
        write(tmp_path / "pred" / f"{seq}.txt", gt)
    (tmp_path / "gt" / "s1" / "seqinfo.ini").write_text(
        "[Sequence]\nname=s1\nframeRate=25\nseqLength=12\nimWidth=640\nimHeight=480\n"
    )
    assert main(["mot", "--gt-dir", str(tmp_path / "gt"), "--pred-dir", str(tmp_path / "pred")]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["s1", "s2", COMBINED]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gt", "{gt}", "--pred", "{tmp}/missing.txt"], "missing.txt: MOT file not found"),
        (["--gt", "{gt}", "{gt}", "--pred", "{gt}"], "--gt has 2 files but --pred has 1"),
        (["--gt", "{gt}"], "give --gt and --pred"),
        (["--gt-dir", "{tmp}"], "--gt-dir and --pred-dir go together"),
        (["--gt-dir", "{tmp}/nope", "--pred-dir", "{tmp}"], "is not a folder"),
        (["--gt-dir", "{tmp}", "--pred-dir", "{tmp}"], "no <seq>/gt/gt.txt"),
        (["--gt", "{gt}", "--pred", "{bad}"], "bad.txt:2: expected 6 to 10"),
        (["--gt", "{gt}", "--pred", "{dup}"], "dup.txt: id 1 occurs more than once in frame 1"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    gt_path = write(tmp_path / "g.txt", two_people())
    (tmp_path / "bad.txt").write_text("1,1,10,20,30,40,1\n1,2,3\n")
    (tmp_path / "dup.txt").write_text("1,1,10,20,30,40,1\n1,1,10,20,30,40,1\n")
    fill = {
        "gt": str(gt_path),
        "tmp": str(tmp_path),
        "bad": str(tmp_path / "bad.txt"),
        "dup": str(tmp_path / "dup.txt"),
    }
    assert main(["mot", *(a.format(**fill) for a in args)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: ")
    assert message in captured.err


@pytest.mark.integration
@pytest.mark.skipif(not DATA.is_dir(), reason=f"MOT15 ground truth not found at {DATA}")
def test_mot15_ground_truth_against_itself_is_perfect() -> None:
    gt = read_mot(DATA / "TUD-Campus" / "gt" / "gt.txt")
    metrics = evaluate_mot(gt, gt)
    assert metrics["HOTA"] == pytest.approx(100) and metrics["IDF1"] == pytest.approx(100)
