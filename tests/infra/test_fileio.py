"""infra.fileio: writability checks before the work, staged outputs renamed together or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from infra.errors import UserError
from infra.fileio import StagedFiles, check_writable


@pytest.mark.parametrize(
    ("make", "overwrite", "match"),
    [
        (lambda p: p.mkdir(), True, "is a directory"),
        (lambda p: p.write_text("old"), False, "already exists"),
        (lambda p: os.mkfifo(p), True, "not a regular file"),
        (lambda p: None, False, None),
        (lambda p: p.write_text("old"), True, None),
    ],
)
def test_check_writable(tmp_path: Path, make, overwrite: bool, match: str | None) -> None:
    path = tmp_path / "out.json"
    make(path)
    if match is None:
        assert check_writable(path, overwrite=overwrite) == path
    else:
        with pytest.raises(UserError, match=match):
            check_writable(path, overwrite=overwrite)


def test_missing_parent_is_named(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"parent folder .* does not exist"):
        check_writable(tmp_path / "nope" / "out.json")


def test_staged_files_are_renamed_together(tmp_path: Path) -> None:
    staged = StagedFiles()
    folder = staged.folder(tmp_path / "mot")
    staged.path(tmp_path / "a.json").write_text("a", encoding="utf-8")
    staged.path(folder / "cam.txt", suffix=".txt").write_text("b", encoding="utf-8")
    assert not (tmp_path / "a.json").exists()  # nothing at the targets before the commit
    staged.commit()
    assert (tmp_path / "a.json").read_text() == "a" and (folder / "cam.txt").read_text() == "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "mot"]


def test_rollback_removes_temporaries_and_made_folders_and_keeps_old_targets(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("old", encoding="utf-8")
    staged = StagedFiles()
    staged.path(tmp_path / "a.json").write_text("new", encoding="utf-8")
    staged.path(staged.folder(tmp_path / "mot") / "cam.txt").write_text("x", encoding="utf-8")
    staged.rollback()
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    assert (tmp_path / "a.json").read_text() == "old"


def test_commit_refuses_to_replace_what_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    staged = StagedFiles()
    staged.path(fifo).write_text("x", encoding="utf-8")
    with pytest.raises(UserError, match="not a regular file"):
        staged.commit()
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"] and not fifo.is_file()


def test_temporary_names_are_unique(tmp_path: Path) -> None:
    staged = StagedFiles()
    a, b = staged.path(tmp_path / "x.json"), staged.path(tmp_path / "x.json")
    assert a != b and a.parent == b.parent == tmp_path and a.name.startswith(".x.json.")
    staged.rollback()
