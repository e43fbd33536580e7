"""MOT crop builder: a tiny synthetic video + gt.txt in tmp_path, and TUD-Campus from the shared data."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from infra.errors import DatasetError, UserError
from reid_core.data.datasets import load_items
from reid_core.data.mot_crops import GtBox, build_crops, build_video_crops, find_sequences, main, read_gt
from reid_core.data.splits import load_split

W, H, FRAMES = 96, 64, 10


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "seq.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (W, H))
    assert writer.isOpened()
    for f in range(FRAMES):
        frame = np.full((H, W, 3), 20 * f, np.uint8)
        writer.write(frame)
    writer.release()
    return path


def _gt(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "gt.txt"
    path.write_text("\n".join(rows) + "\n")
    return path


# MOT15 rows: frame,id,x,y,w,h,conf,-1,-1,-1 (1-based)
MOT15 = [f"{f},{i},{1 + 10 * i},5,20,40,1,-1,-1,-1" for f in range(1, FRAMES + 1) for i in (1, 2)]


@pytest.mark.parametrize(
    ("kwargs", "num_crops", "frames_used"),
    [
        ({}, 20, 10),
        ({"stride": 3}, 8, 4),  # frames 1, 4, 7, 10
        ({"min_height_px": 41}, 0, 10),
        ({"min_width_px": 20}, 20, 10),
        ({"cam_id": 3, "id_offset": 100}, 20, 10),
    ],
)
def test_crops_in_folder_layout(
    video: Path, tmp_path: Path, kwargs: dict, num_crops: int, frames_used: int
) -> None:
    out = tmp_path / "crops"
    summary = build_crops(video, _gt(tmp_path, MOT15), out, **kwargs)
    assert (summary.num_crops, summary.frames_used) == (num_crops, frames_used)
    files = sorted(out.glob("*.jpg"))
    assert len(files) == num_crops
    if num_crops:
        items = load_items("folder", out)
        pid0 = 1 + kwargs.get("id_offset", 0)
        assert {it.person_id for it in items} == {pid0, pid0 + 1}
        assert {it.camera_id for it in items} == {kwargs.get("cam_id", 0)}
        first = cv2.imread(str(out / f"{pid0}_{kwargs.get('cam_id', 0)}_000001.jpg"))
        assert first.shape == (40, 20, 3)


def test_boxes_are_clipped_to_the_frame(video: Path, tmp_path: Path) -> None:
    gt = _gt(tmp_path, ["2,7,-9,50,30,40,1,-1,-1,-1", "2,8,200,5,20,20,1,-1,-1,-1"])
    summary = build_crops(video, gt, tmp_path / "c")
    assert summary.num_crops == 1
    assert cv2.imread(str(tmp_path / "c" / "7_0_000002.jpg")).shape == (H - 49, 20, 3)


def test_frame_content_is_the_right_frame(video: Path, tmp_path: Path) -> None:
    build_crops(video, _gt(tmp_path, ["6,1,11,11,30,30,1,-1,-1,-1"]), tmp_path / "c")
    crop = cv2.imread(str(tmp_path / "c" / "1_0_000006.jpg"))
    assert abs(float(crop.mean()) - 20 * 5) < 6  # frame 6 = value 100 (JPEG tolerance)


def test_mot17_rows_filter_class_active_and_visibility(tmp_path: Path) -> None:
    gt = _gt(
        tmp_path,
        ["1,1,1,1,10,10,1,1,0.9", "1,2,1,1,10,10,0,1,1.0", "1,3,1,1,10,10,1,7,1.0", "2,1,1,1,10,10,1,1,0.2"],
    )
    assert [b.track_id for b in read_gt(gt)] == [1, 1]
    assert read_gt(gt)[1] == GtBox(2, 1, (1.0, 1.0, 10.0, 10.0), 0.2)
    assert [b.track_id for b in read_gt(gt, classes=(1, 7))] == [1, 3, 1]


def test_min_visibility(video: Path, tmp_path: Path) -> None:
    gt = _gt(tmp_path, ["1,1,1,1,10,10,1,1,0.9", "2,1,1,1,10,10,1,1,0.2"])
    assert build_crops(video, gt, tmp_path / "c", min_visibility=0.5).num_crops == 1


@pytest.mark.parametrize(
    ("rows", "kwargs", "error", "message"),
    [
        (None, {}, DatasetError, "ground-truth file not found"),
        (["1,a,2,3,4,5"], {}, DatasetError, "gt.txt:1: not a MOTChallenge row"),
        (["1,1,2,3"], {}, DatasetError, "gt.txt:1: expected frame,id,x,y,w,h"),
        (["11,1,1,1,10,10,1,-1,-1,-1"], {}, DatasetError, "ended at frame 10"),
        (MOT15, {"stride": 0}, UserError, "stride >= 1"),
        (MOT15, {"id_offset": -5}, UserError, "is negative"),
    ],
)
def test_errors(video: Path, tmp_path: Path, rows, kwargs, error, message) -> None:
    gt = _gt(tmp_path, rows) if rows is not None else tmp_path / "gt.txt"
    with pytest.raises(error, match=message):
        build_crops(video, gt, tmp_path / "c", **kwargs)


def test_uncreatable_output_folder(video: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(UserError, match="cannot create the output folder"):
        build_crops(video, _gt(tmp_path, MOT15), blocker / "crops")


def test_existing_crops_need_overwrite(video: Path, tmp_path: Path) -> None:
    gt = _gt(tmp_path, MOT15[:2])
    build_crops(video, gt, tmp_path / "c")
    with pytest.raises(UserError, match="already exists"):
        build_crops(video, gt, tmp_path / "c")
    assert build_crops(video, gt, tmp_path / "c", overwrite=True).num_crops == 2


def test_cli(video: Path, tmp_path: Path, capsys) -> None:
    gt = _gt(tmp_path, MOT15)
    argv = ["--video", str(video), "--gt", str(gt), "--out", str(tmp_path / "c"), "--stride", "5"]
    assert main(argv) == 0
    assert "wrote 4 crops of 2 identities from 2 frames" in capsys.readouterr().out
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert main(["--video", str(tmp_path / "no.mp4"), "--gt", str(gt), "--out", str(tmp_path / "d")]) == 2
    assert "video file not found" in capsys.readouterr().err


@pytest.mark.integration
def test_tud_campus(shared_data: Path, tmp_path: Path) -> None:
    seq = shared_data / "mot15" / "TUD-Campus"
    summary = build_crops(
        seq / "TUD-Campus.mp4", seq / "gt" / "gt.txt", tmp_path / "c", stride=10, min_height_px=64
    )
    items = load_items("folder", tmp_path / "c")
    assert summary.num_crops == len(items) > 0 and summary.frames_used == 8
    assert summary.num_ids == len({it.person_id for it in items})


# -- time halves and the video_crops data set ----------------------------------------------------


def test_time_halves_give_two_cameras_per_person(video: Path, tmp_path: Path) -> None:
    out = tmp_path / "c"
    build_crops(video, _gt(tmp_path, MOT15), out, time_halves=True)
    items = load_items("folder", out)
    for pid in (1, 2):
        frames = {
            cam: sorted(
                int(it.image_path.stem.split("_")[2])
                for it in items
                if it.person_id == pid and it.camera_id == cam
            )
            for cam in (0, 1)
        }
        assert frames == {0: [1, 2, 3, 4, 5], 1: [6, 7, 8, 9, 10]}


def _sequence(root: Path, name: str, video: Path, rows: list[str], *, as_frames: bool = False) -> None:
    folder = root / name
    (folder / "gt").mkdir(parents=True)
    (folder / "gt" / "gt.txt").write_text("\n".join(rows) + "\n")
    if as_frames:
        cap = cv2.VideoCapture(str(video))
        (folder / "img1").mkdir()
        n = 0
        while True:
            ok, image = cap.read()
            if not ok:
                break
            n += 1
            cv2.imwrite(str(folder / "img1" / f"{n:06d}.jpg"), image)
        cap.release()
    else:
        (folder / f"{name}.avi").write_bytes(video.read_bytes())


def test_find_sequences_needs_frames_and_gt(video: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    _sequence(root, "B-seq", video, MOT15)
    _sequence(root, "A-seq", video, MOT15, as_frames=True)
    (root / "gt-only" / "gt").mkdir(parents=True)
    (root / "gt-only" / "gt" / "gt.txt").write_text(MOT15[0] + "\n")
    found = find_sequences(root)
    assert [s.name for s in found] == ["A-seq", "B-seq"]
    assert found[0].video.name == "%06d.jpg" and found[1].video.suffix == ".avi"


@pytest.mark.parametrize(
    ("val", "train_ids", "val_ids"),
    [
        (["B-seq"], {1, 2}, {4, 5}),  # A-seq ids 1,2 (offset 0); B-seq ids offset by max id 2 + 1
        (["A-seq"], {4, 5}, {1, 2}),
        (["A-seq", "B-seq"], set(), {1, 2, 4, 5}),
    ],
)
def test_build_video_crops_holds_out_sequences(
    video: Path, tmp_path: Path, val: list[str], train_ids: set[int], val_ids: set[int]
) -> None:
    root = tmp_path / "data"
    _sequence(root, "A-seq", video, MOT15, as_frames=True)
    _sequence(root, "B-seq", video, MOT15)
    out = tmp_path / "vc"
    summaries = build_video_crops(root, out, val_sequences=val, stride=1, min_height_px=0)
    assert {k: v.num_crops for k, v in summaries.items()} == {"A-seq": 20, "B-seq": 20}
    ids = {part: {int(p.name.split("_")[0]) for p in (out / part).glob("*.jpg")} for part in ("train", "val")}
    assert ids == {"train": train_ids, "val": val_ids}
    if train_ids:
        split = load_split("video_crops", out)
        assert {it.person_id for it in split.train} == train_ids
        assert {it.person_id for it in split.query} == val_ids == {it.person_id for it in split.gallery}
        assert {it.camera_id for it in split.query} == {0} and {it.camera_id for it in split.gallery} == {1}
        assert len(split.query) + len(split.gallery) == 10 * len(val_ids)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda root: None, DatasetError, "data folder not found"),
        (lambda root: root.mkdir(), DatasetError, "no sequence with frames"),
    ],
)
def test_build_video_crops_errors(tmp_path: Path, make: object, error: type, match: str) -> None:
    root = tmp_path / "data"
    make(root)  # type: ignore[operator]
    with pytest.raises(error, match=match):
        build_video_crops(root, tmp_path / "out", val_sequences=[])


def test_unknown_validation_sequence_is_user_error(video: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    _sequence(root, "A-seq", video, MOT15)
    with pytest.raises(UserError, match=r"Nope not found.*found: A-seq"):
        build_video_crops(root, tmp_path / "out", val_sequences=["Nope"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "o"], "give --video and --gt"),
        (["--out", "o", "--video", "v.mp4", "--gt", "g.txt", "--data-root", "d"], "either --data-root"),
    ],
)
def test_cli_mode_errors(
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_cli_data_root(video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "data"
    _sequence(root, "A-seq", video, MOT15)
    _sequence(root, "B-seq", video, MOT15)
    assert main(["--data-root", str(root), "--out", str(tmp_path / "vc"), "--val-sequences", "B-seq"]) == 0
    out = capsys.readouterr().out
    assert "A-seq: 20 crops of 2 identities" in out and "B-seq: 20 crops of 2 identities" in out
