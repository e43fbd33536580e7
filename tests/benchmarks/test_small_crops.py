"""benchmarks/small_crops.py: same layout, heights drawn in the range, aspect kept; errors."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from small_crops import main, shrink_folder  # noqa: E402


@pytest.mark.parametrize(("lo", "hi"), [(40, 90), (20, 20)])
def test_every_crop_is_scaled_into_the_range_in_the_same_layout(tmp_path: Path, lo: int, hi: int) -> None:
    src = tmp_path / "src"
    for i, (h, w) in enumerate([(160, 60), (246, 100), (122, 50)]):
        (src / "val").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(src / "val" / f"{i}_0_{i:06d}.png"), np.full((h, w, 3), 100 + i, np.uint8))
    assert shrink_folder(src, tmp_path / "dst", lo, hi) == 3
    for path in (src / "val").iterdir():
        out = cv2.imread(str((tmp_path / "dst" / "val" / path.name).with_suffix(".jpg")))
        h, w = cv2.imread(str(path)).shape[:2]
        assert lo <= out.shape[0] <= hi
        assert out.shape[1] == pytest.approx(w * out.shape[0] / h, abs=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--min-px", "0"], "need 1 <= --min-px"), (["--min-px", "50", "--max-px", "40"], "need 1 <= --min-px")],
)
def test_bad_ranges_are_refused(tmp_path: Path, args: list[str], message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        main([str(tmp_path), str(tmp_path / "out"), *args])


def test_a_folder_without_images_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"no \.jpg or \.png images"):
        main([str(tmp_path), str(tmp_path / "out")])


def test_an_unwritable_destination_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    cv2.imwrite(str(tmp_path / "src" / "1_0_000001.png"), np.zeros((100, 40, 3), np.uint8))
    (tmp_path / "dst").write_text("a file, not a folder", encoding="utf-8")
    with pytest.raises(SystemExit, match=r"dst: cannot create"):
        main([str(tmp_path / "src"), str(tmp_path / "dst")])
