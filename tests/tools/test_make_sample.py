"""tools/make_two_camera_sample.py: the visibility rule, a tiny end-to-end cut, and the committed sample."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from make_two_camera_sample import View, make_sample, split_ground_truth  # noqa: E402

cv2 = pytest.importorskip("cv2")

VIEWS = (View("cam_a", 0, 300), View("cam_b", 340, 640))


@pytest.mark.parametrize(
    ("x", "w", "expect_a", "expect_b"),
    [
        # (x, w) of a 100-px-high box in a 640×480 frame -> kept (x, w) in cam_a, cam_b, or None
        pytest.param(10, 50, (10, 50), None, id="inside-a"),
        pytest.param(400, 50, None, (60, 50), id="inside-b"),
        pytest.param(310, 20, None, None, id="in-blind-strip"),
        pytest.param(270, 50, (270, 30), None, id="60pct-in-a"),
        pytest.param(280, 50, None, None, id="40pct-in-a-rest-in-strip"),
        pytest.param(320, 50, None, (0, 30), id="60pct-in-b"),
        pytest.param(250, 100, (250, 50), None, id="exactly-half-in-a"),
        pytest.param(620, 40, None, (280, 20), id="half-outside-frame-counts-in-frame-part"),
        pytest.param(-15, 20, None, None, id="5px-visible-too-narrow"),
    ],
)
def test_visibility_rule(
    x: float, w: float, expect_a: tuple[float, float] | None, expect_b: tuple[float, float] | None
) -> None:
    gt = np.array([[1, 7, x, 50, w, 100, 1, -1, -1, -1]], dtype=float)
    out = split_ground_truth(gt, VIEWS, 640, 480)
    for name, expect in (("cam_a", expect_a), ("cam_b", expect_b)):
        rows = out[name]
        if expect is None:
            assert len(rows) == 0, name
        else:
            assert len(rows) == 1, name
            assert rows[0, 1] == 7  # the global id is kept
            assert tuple(rows[0, [2, 4]]) == pytest.approx(expect)
            assert tuple(rows[0, [3, 5]]) == pytest.approx((50, 100))


def _tiny_sequence(folder: Path, frames: int = 6) -> Path:
    """A 160×120 MOT sequence (img1 JPEGs) with one person walking left to right, 8 px per frame."""
    (folder / "img1").mkdir(parents=True)
    (folder / "gt").mkdir()
    (folder / "seqinfo.ini").write_text(
        f"[Sequence]\nname=tiny\nframeRate=25\nseqLength={frames}\nimWidth=160\nimHeight=120\nimExt=.jpg\n",
        encoding="utf-8",
    )
    rng = np.random.default_rng(1)
    lines = []
    for f in range(1, frames + 1):
        image = rng.integers(0, 255, size=(120, 160, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / "img1" / f"{f:06d}.jpg"), image)
        lines.append(f"{f},1,{40 + 8 * f},20,20,60,1,-1,-1,-1")
    (folder / "gt" / "gt.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_tiny_cut_is_deterministic_and_readable(tmp_path: Path) -> None:
    seq = _tiny_sequence(tmp_path / "tiny")
    first = make_sample(seq, tmp_path / "one", (80, 96), seed=3)
    make_sample(seq, tmp_path / "two", (80, 96), seed=3)
    for name in ("cam_a.mp4", "cam_b.mp4", "gt_a.txt", "gt_b.txt", "split.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    for name, width in (("cam_a", 80), ("cam_b", 64)):
        cap = cv2.VideoCapture(str(tmp_path / "one" / f"{name}.mp4"))
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
        assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == width
        count = 0
        while cap.read()[0]:
            count += 1
        cap.release()
        assert count == 6
    # person 1 walks from x 48 to 88 (20 wide): seen in cam_a first, then in cam_b
    assert first.ids_in_both == [1]
    gt_a = np.loadtxt(tmp_path / "one" / "gt_a.txt", delimiter=",", ndmin=2)
    gt_b = np.loadtxt(tmp_path / "one" / "gt_b.txt", delimiter=",", ndmin=2)
    assert gt_a[:, 0].max() < gt_b[:, 0].min()
    assert json.loads((tmp_path / "one" / "split.json").read_text())["views"][1] == {
        "name": "cam_b",
        "x0": 96,
        "x1": 160,
    }


def test_bad_split_is_refused(tmp_path: Path) -> None:
    seq = _tiny_sequence(tmp_path / "tiny", frames=1)
    with pytest.raises(SystemExit, match="need 0 < left <= right < 160"):
        make_sample(seq, tmp_path / "out", (100, 200))


def test_committed_sample_matches_its_readme() -> None:
    sample = ROOT / "sample_videos"
    split = json.loads((sample / "split.json").read_text(encoding="utf-8"))
    assert split["ids_in_both"] == [2, 7, 9]
    assert split["boxes_per_view"] == {"cam_a": 381, "cam_b": 718}
    for view in split["views"]:
        cap = cv2.VideoCapture(str(sample / f"{view['name']}.mp4"))
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 179
        assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == view["x1"] - view["x0"]
        cap.release()
        gt = np.loadtxt(sample / f"gt_{view['name'][-1]}.txt", delimiter=",", ndmin=2)
        assert gt[:, 2].min() >= 0 and (gt[:, 2] + gt[:, 4]).max() <= view["x1"] - view["x0"] + 1e-6
        assert gt[:, 0].min() >= 1 and gt[:, 0].max() <= 179
