"""Atomic file output: write to a temporary file beside the target, then rename.

A crash or an error never leaves a half-written file at the target path.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from infra.errors import UserError

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "check_writable"]


def check_writable(path: str | Path, overwrite: bool = False) -> Path:
    """Check *before any work* that ``path`` can be written; raise UserError naming it if not."""
    path = Path(path)
    if path.exists() and path.is_dir():
        raise UserError(f"{path}: is a directory, expected a file path")
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
