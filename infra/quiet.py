"""Keep native libraries' own lines off stderr (they print past Python's logging).

TFLite prints ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` on every interpreter it
builds, straight to file descriptor 2. :func:`native_stderr_off` points that descriptor at
``/dev/null`` for the duration of a block (Python's own ``sys.stderr`` is flushed first and works
again afterwards); callers skip it at ``--log-level debug``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["native_stderr_off"]


@contextlib.contextmanager
def native_stderr_off(enabled: bool = True) -> Iterator[None]:
    """Inside the block, writes to file descriptor 2 are dropped (when ``enabled``).

    Not for long blocks: other threads' stderr lines are dropped too while it lasts.
    """
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
