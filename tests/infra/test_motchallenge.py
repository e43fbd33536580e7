"""MOTChallenge text I/O: round trips, conversions, and bad files named with their line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from infra.errors import UserError
from infra.motchallenge import MotRows, format_mot, read_mot, read_seqinfo, write_mot

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "mot15"


def sample_rows() -> MotRows:
    return MotRows(
        frame=np.array([2, 1, 1, 3]),
        track_id=np.array([1, 2, 1, 1]),
        tlwh=np.array([[10.5, 20.25, 30, 60], [100, 200, 40, 80], [10, 20, 30, 60], [11, 21, 30.75, 60]]),
        score=np.array([0.9, 1.0, 0.5, 0.25]),
    )


def test_write_read_round_trip(tmp_path: Path) -> None:
    rows = sample_rows()
    path = tmp_path / "pred.txt"
    write_mot(path, rows)
    back = read_mot(path)
    order = np.lexsort((rows.track_id, rows.frame))
    np.testing.assert_array_equal(back.frame, rows.frame[order])
    np.testing.assert_array_equal(back.track_id, rows.track_id[order])
    np.testing.assert_allclose(back.tlwh, rows.tlwh[order], atol=0.005)
    np.testing.assert_allclose(back.score, rows.score[order], atol=1e-4)
    assert path.read_text().splitlines()[0] == "1,1,10.00,20.00,30.00,60.00,0.5,-1,-1,-1"


def test_write_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "pred.txt"
    write_mot(path, sample_rows())
    with pytest.raises(UserError, match="already exists"):
        write_mot(path, MotRows.empty())
    write_mot(path, MotRows.empty(), overwrite=True)
    assert path.read_text() == "" and len(read_mot(path)) == 0
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file left behind"


def test_write_into_missing_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        write_mot(tmp_path / "nope" / "pred.txt", sample_rows())


def test_conversions_and_by_frame() -> None:
    rows = sample_rows()
    np.testing.assert_allclose(rows.to_xyxy()[1], [100, 200, 140, 280])
    frames = [(f, r.track_id.tolist()) for f, r in rows.by_frame()]
    assert frames == [(1, [2, 1]), (2, [1]), (3, [1])]
    assert list(MotRows.empty().by_frame()) == []
    assert len(MotRows.concat([rows, rows])) == 8 and len(MotRows.concat([])) == 0


@pytest.mark.parametrize(
    ("text", "expected_rows"),
    [
        ("1,1,10,20,30,40,0.9,-1,-1,-1\n", 1),
        ("1,1,10,20,30,40\n", 1),  # 6 columns: conf reads as 1
        ("1, 1, 10, 20, 30, 40, 1, 1, 0.5\n\n2,1,10,20,30,40,1,1,0.5\n", 2),  # MOT16 gt, blank line
        ("", 0),
    ],
)
def test_read_accepts(tmp_path: Path, text: str, expected_rows: int) -> None:
    path = tmp_path / "gt.txt"
    path.write_text(text)
    rows = read_mot(path)
    assert len(rows) == expected_rows
    if expected_rows:
        assert rows.score[0] == pytest.approx(0.9 if "0.9" in text else 1.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,1,10,20,30\n", r"gt\.txt:1: expected 6 to 10 comma-separated values .* got 5"),
        ("1,1,10,20,30,40,1\n1,2,a,20,30,40,1\n", r"gt\.txt:2: non-numeric"),
        ("0,1,10,20,30,40,1\n", r"gt\.txt:1: frame must be an integer from 1 \(1-based\)"),
        ("1e19,1,10,20,30,40,1\n", r"gt\.txt:1: frame must be an integer from 1 .* to 2147483647, got 1e19"),
        ("1,-1e19,10,20,30,40,1\n", r"gt\.txt:1: id must be an integer of at most"),
        ("1,1,1e308,20,30,40,1\n", r"gt\.txt:1: box values must be at most 1e\+06 pixels"),
        ("1,1,10,20,1e308,1e308,1\n", r"gt\.txt:1: box values must be at most"),
        ("1,1,10,20,30,40,1\n" + "1,x" * 100 + "\n", r"gt\.txt:2: expected 6 to 10"),
        ("1.5,1,10,20,30,40,1\n", r"gt\.txt:1: frame must be an integer"),
        ("1,1.5,10,20,30,40,1\n", r"gt\.txt:1: id must be an integer"),
        ("1,1,10,20,-30,40,1\n", r"gt\.txt:1: width and height must be >= 0"),
        ("1,1,nan,20,30,40,1\n", r"gt\.txt:1: NaN or infinite"),
        ("1 1 10 20 30 40 1\n", r"gt\.txt:1: expected 6 to 10"),
    ],
)
def test_read_rejects_bad_lines(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "gt.txt"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        read_mot(path)


def test_read_is_bounded_and_needs_utf8(tmp_path: Path, monkeypatch) -> None:
    import infra.motchallenge as mc

    monkeypatch.setattr(mc, "MAX_MOT_BYTES", 100)
    with pytest.raises(UserError, match=r"/dev/zero: MOT file is larger than 100 bytes"):
        read_mot("/dev/zero")
    path = tmp_path / "gt.txt"
    path.write_bytes(b"1,1,10,20,30,40,1\n\xff\xfe\n")
    with pytest.raises(UserError, match=r"gt\.txt: MOT file is not UTF-8 text"):
        read_mot(path)


@pytest.mark.parametrize("rate", ["1e-320", "0", "-25", "1e9", "nan"])
def test_seqinfo_frame_rate_out_of_range(tmp_path: Path, rate: str) -> None:
    path = tmp_path / "seqinfo.ini"
    path.write_text(f"[Sequence]\nname=x\nframeRate={rate}\n")
    with pytest.raises(UserError, match=r"seqinfo\.ini: frameRate must be 0\.001 to 1000 frames per second"):
        read_seqinfo(path)


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"missing\.txt: MOT file not found"):
        read_mot(tmp_path / "missing.txt")


def test_motrows_validation() -> None:
    with pytest.raises(ValueError, match="1-based"):
        MotRows(np.array([0]), np.array([1]), np.zeros((1, 4)), np.ones(1))
    with pytest.raises(ValueError, match=r"tlwh must have shape \(N, 4\)"):
        MotRows(np.array([1]), np.array([1]), np.zeros((1, 3)), np.ones(1))


def test_seqinfo(tmp_path: Path) -> None:
    path = tmp_path / "seqinfo.ini"
    path.write_text("[Sequence]\nname=X\nframeRate=29.97\nseqLength=10\nimWidth=640\nimHeight=480\n")
    info = read_seqinfo(path)
    assert (info.name, info.fps, info.num_frames, info.width_px) == ("X", 29.97, 10, 640)
    path.write_text("[Sequence]\nname=X\n")
    with pytest.raises(UserError, match=r"seqinfo\.ini: missing section or key 'frameRate'"):
        read_seqinfo(path)
    with pytest.raises(UserError, match="not found"):
        read_seqinfo(tmp_path / "none.ini")


@pytest.mark.integration
@pytest.mark.skipif(not DATA.is_dir(), reason=f"MOT15 ground truth not found at {DATA}")
def test_reads_every_mot15_ground_truth() -> None:
    for gt_path in sorted(DATA.glob("*/gt/gt.txt")):
        rows = read_mot(gt_path)
        info = read_seqinfo(gt_path.parent.parent / "seqinfo.ini")
        assert len(rows) == len(gt_path.read_text().splitlines())
        assert rows.frame.min() >= 1 and rows.frame.max() <= info.num_frames
        assert set(np.unique(rows.score)) <= {0.0, 1.0}
        assert format_mot(rows).count("\n") == len(rows)
