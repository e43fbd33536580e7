"""Atomic file output: write to a temporary file beside the target, then rename.

A crash or an error never leaves a half-written file at the target path. :class:`StagedFiles`
extends this to several files (a run's outputs): all are written under temporary names, then
renamed together, or none is.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from infra.errors import UserError

__all__ = [
    "StagedFiles",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_writable",
    "file_sha256",
    "read_text_bounded",
    "short_repr",
]


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def short_repr(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters (error messages never print a huge value).

    >>> short_repr("x" * 1000, 12)
    "'xxxxxxx...(1002 chars)"
    """
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 4]}...({len(text)} chars)"


def read_text_bounded(path: str | Path, max_bytes: int, what: str) -> str:
    """The UTF-8 text of ``path``, reading at most ``max_bytes`` (a device or a huge file is refused).

    Raises:
        FileNotFoundError: ``path`` does not exist (callers word their own message).
        UserError: unreadable, larger than ``max_bytes``, or not UTF-8; one line naming ``path``.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise
    except OSError as err:
        raise UserError(f"{path}: cannot read {what} ({err.strerror or err})") from None
    if len(data) > max_bytes:
        raise UserError(f"{path}: {what} is larger than {max_bytes} bytes; is it the right file?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: {what} is not UTF-8 text (byte {err.start})") from None


def check_writable(path: str | Path, overwrite: bool = False) -> Path:
    """Check *before any work* that ``path`` can be written; raise UserError naming it if not."""
    path = Path(path)
    if path.is_symlink():
        raise UserError(f"{path}: is a symbolic link; refusing to write through it (give the real path)")
    if path.exists() and path.is_dir():
        raise UserError(f"{path}: is a directory, expected a file path")
    if path.exists() and not path.is_file():
        raise UserError(
            f"{path}: exists and is not a regular file (a device, pipe or socket); refusing to replace it"
        )
    if path.exists() and not overwrite:
        raise UserError(f"{path}: already exists (pass --overwrite to replace it)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{path}: parent folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UserError(f"{path}: folder {parent} is not writable")
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it onto ``path``.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the mode open() would
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # again: a writer may have replaced the file (safetensors' save_file leaves 0600)
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)


class StagedFiles:
    """Several output files written under temporary names, then renamed onto their targets together.

    :meth:`path` hands out a new temporary file beside each target (created exclusively, with a
    unique name); :meth:`commit` renames them all; :meth:`rollback` removes them (and any folder
    :meth:`folder` created), so a failure in one output leaves none behind.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> staged = StagedFiles()
        >>> staged.path(root / "a.txt").write_text("a")
        1
        >>> staged.commit(); sorted(p.name for p in root.iterdir())
        ['a.txt']
    """

    def __init__(self) -> None:
        self._files: list[tuple[Path, Path]] = []
        self._folders: list[Path] = []

    def folder(self, path: str | Path) -> Path:
        """Make sure folder ``path`` exists (its parent must); a folder made here goes on rollback."""
        path = Path(path)
        if not path.is_dir():
            path.mkdir(parents=False)
            self._folders.append(path)
        return path

    def path(self, target: str | Path, suffix: str = ".tmp") -> Path:
        """A new, empty temporary file in ``target``'s folder, renamed onto ``target`` at commit.

        ``suffix`` ends the temporary name (a video writer chooses its container by it).
        """
        target = Path(target)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:64]}.", suffix=suffix, dir=target.parent or ".")
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())
        self._files.append((Path(tmp), target))
        return Path(tmp)

    def target_of(self, path: str | Path) -> Path | None:
        """The target a temporary file of :meth:`path` stands for (``None`` if not one of them)."""
        for tmp, target in self._files:
            if Path(path) == tmp:
                return target
        return None

    def commit(self) -> None:
        """Rename every temporary file onto its target (a target that is not a regular file is refused)."""
        for _, target in self._files:
            if target.is_symlink() or (target.exists() and not target.is_file()):
                self.rollback()
                raise UserError(f"{target}: exists and is not a regular file; refusing to replace it")
        for tmp, target in self._files:
            os.replace(tmp, target)
        self._files.clear()
        self._folders.clear()

    def rollback(self) -> None:
        """Remove the temporary files and the folders made for them; targets stay as they were."""
        for tmp, _ in self._files:
            with contextlib.suppress(OSError):
                tmp.unlink()
        for folder in reversed(self._folders):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        self._files.clear()
        self._folders.clear()
