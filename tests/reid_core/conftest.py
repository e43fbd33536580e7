"""Fixtures that build tiny re-ID data sets in ``tmp_path`` (empty files named right: readers never decode).

``shared_data`` points at ``../shared/data`` beside the repo root and skips the test, with the
reason, when that folder is absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def touch_all(folder: Path, names: Iterable[str]) -> Path:
    """Create empty files ``folder/name`` (and the folder); return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).touch()
    return folder


@pytest.fixture
def touch() -> Callable[[Path, Iterable[str]], Path]:
    """The :func:`touch_all` helper, as a fixture (test modules do not import conftest)."""
    return touch_all


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data set folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture
def cuhk01_root(tmp_path: Path) -> Path:
    """CUHK01: 12 identities (0001..0012) × 4 images; camera A = 001-002, B = 003-004."""
    root = tmp_path / "cuhk01"
    touch_all(root / "campus", [f"{pid:04d}{m:03d}.png" for pid in range(1, 13) for m in range(1, 5)])
    return root


@pytest.fixture
def cuhk03_root(tmp_path: Path) -> Path:
    """CUHK03 folder export: train 6 ids × 10 shots, val 4 ids × 10 shots (ids from 0 in each)."""
    root = tmp_path / "cuhk03"
    touch_all(root / "train", [f"{pid:04d}_{s:02d}.jpg" for pid in range(6) for s in range(10)])
    touch_all(root / "val", [f"{pid:04d}_{s:02d}.jpg" for pid in range(4) for s in range(10)])
    return root


@pytest.fixture
def viper_root(tmp_path: Path) -> Path:
    """VIPeR: 10 identities numbered 0, 2, 4, … one image per camera."""
    root = tmp_path / "viper"
    touch_all(root / "cam_a", [f"{pid:03d}_45.bmp" for pid in range(0, 20, 2)])
    touch_all(root / "cam_b", [f"{pid:03d}_90.bmp" for pid in range(0, 20, 2)])
    return root


@pytest.fixture
def market_root(tmp_path: Path) -> Path:
    """Market-1501: train ids 2, 7; test ids 5, 9; a junk (-1) and a distractor (0000) box in the gallery."""
    root = tmp_path / "market1501"
    touch_all(
        root / "bounding_box_train",
        [
            "0002_c1s1_000451_03.jpg",
            "0002_c2s1_000551_01.jpg",
            "0007_c3s1_000101_01.jpg",
            "0007_c6s2_000101_01.jpg",
        ],
    )
    touch_all(root / "query", ["0005_c1s1_001051_00.jpg", "0009_c2s1_000301_00.jpg"])
    touch_all(
        root / "bounding_box_test",
        [
            "0005_c2s1_001101_01.jpg",
            "0009_c4s1_000401_02.jpg",
            "0000_c1s1_000001_01.jpg",
            "-1_c3s1_000002_01.jpg",
        ],
    )
    return root


@pytest.fixture
def folder_root(tmp_path: Path) -> Path:
    """Generic folder: 8 identities × cameras 1, 2 × 2 frames, ``PID_CAMID_FRAME.jpg``."""
    root = tmp_path / "folder"
    touch_all(root, [f"{pid}_{cam}_{f:06d}.jpg" for pid in range(1, 9) for cam in (1, 2) for f in (10, 20)])
    return root
