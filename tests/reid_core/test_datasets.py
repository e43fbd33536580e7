"""Readers of ``reid_core.data.datasets`` on tiny layouts built in tmp_path, and on the shared data."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from infra.errors import DatasetError, UserError
from reid_core.data.datasets import UnknownDatasetError, available_datasets, load_items, register_dataset
from reid_core.data.types import ReIDItem


def test_registry_lists_the_six_readers() -> None:
    assert available_datasets() == ["cuhk01", "cuhk03", "folder", "market1501", "video_crops", "viper"]


def test_unknown_name_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(UnknownDatasetError, match="available: cuhk01, cuhk03, folder") as info:
        load_items("cuhk02", tmp_path)
    assert isinstance(info.value, ValueError) and isinstance(info.value, UserError)


def test_duplicate_registration_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("cuhk01", lambda root: [])


@pytest.mark.parametrize(
    ("fixture", "name", "num_items", "num_ids", "cams", "first"),
    [
        ("cuhk01_root", "cuhk01", 48, 12, {0, 1}, ("campus/0001001.png", 1, 0)),
        ("cuhk03_root", "cuhk03", 100, 10, {0, 1}, ("train/0000_00.jpg", 0, 0)),
        ("viper_root", "viper", 20, 10, {0, 1}, ("cam_a/000_45.bmp", 0, 0)),
        (
            "market_root",
            "market1501",
            9,
            5,
            {0, 1, 2, 3, 5},
            ("bounding_box_test/0000_c1s1_000001_01.jpg", 0, 0),
        ),
        ("folder_root", "folder", 32, 8, {1, 2}, ("1_1_000010.jpg", 1, 1)),
    ],
)
def test_reader_on_tiny_layout(
    request: pytest.FixtureRequest,
    fixture: str,
    name: str,
    num_items: int,
    num_ids: int,
    cams: set[int],
    first: tuple[str, int, int],
) -> None:
    root: Path = request.getfixturevalue(fixture)
    items = load_items(name, root)
    assert len(items) == num_items
    assert len({it.person_id for it in items}) == num_ids
    assert {it.camera_id for it in items} == cams
    assert all(isinstance(it, ReIDItem) and it.image_path.is_file() for it in items)
    assert items[0] == ReIDItem(root / first[0], first[1], first[2])
    assert load_items(name, root) == items  # deterministic
    assert [str(it.image_path) for it in items] == sorted(str(it.image_path) for it in items)


def test_cuhk01_cameras_from_the_image_number(cuhk01_root: Path) -> None:
    cams = {it.image_path.name[-7:-4]: it.camera_id for it in load_items("cuhk01", cuhk01_root)}
    assert cams == {"001": 0, "002": 0, "003": 1, "004": 1}


def test_cuhk01_accepts_the_campus_folder_itself(cuhk01_root: Path) -> None:
    assert load_items("cuhk01", cuhk01_root / "campus") == load_items("cuhk01", cuhk01_root)


def test_cuhk03_val_ids_do_not_collide_with_train_ids(cuhk03_root: Path) -> None:
    items = load_items("cuhk03", cuhk03_root)
    train = {it.person_id for it in items if it.image_path.parent.name == "train"}
    val = {it.person_id for it in items if it.image_path.parent.name == "val"}
    assert train == set(range(6)) and val == set(range(6, 10))
    shots = {it.image_path.stem[-2:]: it.camera_id for it in items}
    assert all(cam == (0 if int(ss) <= 4 else 1) for ss, cam in shots.items())


def test_market_skips_junk_and_keeps_distractors(market_root: Path) -> None:
    pids = {it.person_id for it in load_items("market1501", market_root)}
    assert pids == {0, 2, 5, 7, 9}


def test_non_matching_images_are_skipped_with_one_warning(
    cuhk01_root: Path, caplog: pytest.LogCaptureFixture, touch
) -> None:
    touch(cuhk01_root / "campus", ["notes.txt", ".DS_Store", "0001009.png", "photo.png"])
    with caplog.at_level(logging.WARNING):
        items = load_items("cuhk01", cuhk01_root)
    assert len(items) == 48
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "skipped 2 image file(s)" in warnings[0]


@pytest.mark.parametrize(
    ("name", "layout", "target", "message"),
    [
        ("cuhk01", {}, "missing", "data set folder not found"),
        ("cuhk01", {"campus": []}, "campus", "no image named NNNNMMM.png"),
        ("cuhk01", {"campus": ["a.png", "0001005.png"]}, "campus", "no image named"),
        ("cuhk03", {"other": ["x.jpg"]}, "", "expected train/ and val/"),
        ("cuhk03", {"train": ["0000_00.jpg"]}, "val", "folder not found"),
        ("cuhk03", {"train": ["0000_00.jpg"], "val": ["0000_10.jpg"]}, "val", "SS 00-09"),
        ("viper", {"cam_a": ["000_45.bmp"]}, "cam_b", "folder not found"),
        ("market1501", {"bounding_box_train": ["0002_c1s1_000451_03.jpg"], "query": []}, "query", "no image"),
        ("market1501", {"bounding_box_train": ["0002_c1s1_000451_03.jpg"]}, "query", "not found"),
        ("folder", {"": ["readme.md", "person.jpg"]}, "", "PID_CAMID_*.jpg"),
    ],
)
def test_bad_layout_names_the_path(
    tmp_path: Path, touch, name: str, layout: dict[str, list[str]], target: str, message: str
) -> None:
    root = tmp_path / "data"
    for sub, files in layout.items():
        touch(root / sub, files)
    expected_path = tmp_path / "missing" if target == "missing" else root / target
    with pytest.raises(DatasetError, match=re.escape(message)) as info:
        load_items(name, expected_path if target == "missing" else root)
    assert str(expected_path).rstrip("/") in str(info.value)


def test_cuhk03_mat_without_h5py_or_with_it(tmp_path: Path) -> None:
    """The official .mat: a clear error without h5py; with h5py, a tiny v7.3-like file is extracted."""
    h5py = pytest.importorskip("h5py", reason="h5py is not installed (only needed for cuhk-03.mat)")
    import numpy as np

    root = tmp_path / "cuhk03_release"
    root.mkdir()
    with h5py.File(root / "cuhk-03.mat", "w") as f:
        ref_dtype = h5py.special_dtype(ref=h5py.Reference)
        pairs = f.create_dataset("labeled", (1, 2), dtype=ref_dtype)
        for pair in range(2):
            cells = f.create_dataset(f"#refs#/pair{pair}", (10, 3), dtype=ref_dtype)
            for pid in range(3):
                for img in range(10):
                    if img == 9 and pid == 0:
                        data = np.zeros((2,), dtype=np.uint64)  # empty cell (MATLAB stores [0 0])
                    else:
                        data = np.full((3, 6, 8), 10 * pid + img, dtype=np.uint8)  # (3, W, H)
                    cells[img, pid] = f.create_dataset(f"#refs#/p{pair}_{pid}_{img}", data=data).ref
            pairs[0, pair] = cells.ref
    items = load_items("cuhk03", root)
    assert len(items) == 2 * (3 * 10 - 1)
    assert len({it.person_id for it in items}) == 6
    assert {it.camera_id for it in items} == {0, 1, 2, 3}
    assert load_items("cuhk03", root) == items  # second call reads the extracted folder


@pytest.mark.integration
def test_shared_cuhk01(shared_data: Path) -> None:
    items = load_items("cuhk01", shared_data / "reid" / "cuhk01")
    assert len(items) == 3884
    assert len({it.person_id for it in items}) == 971


@pytest.mark.integration
def test_shared_cuhk03_pair1(shared_data: Path) -> None:
    items = load_items("cuhk03", shared_data / "reid" / "cuhk03_labeled_pair1")
    val = [it for it in items if it.image_path.parent.name == "val"]
    assert len(items) == 7239 + 938
    assert len({it.person_id for it in val}) == 100
    assert len({it.person_id for it in items}) == 843
