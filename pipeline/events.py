"""``--events``: identity assignments streamed as JSON lines while the run goes on.

One JSON object per line, appended and flushed as each decision is made, e.g.::

    {"event": "assign", "cam_id": "cam_a", "track_id": 3, "global_id": 1, "new_identity": true,
     "score": null, "t_start_s": 0.4, "t_end_s": 3.8}

``score`` is the aggregated P(same person) of a link to an existing identity, ``null`` for a new
identity. Unlike ``--out`` this file grows during the run (that is its purpose); a crash leaves
the lines written so far, each complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from pipeline.identities import Assignment

__all__ = ["EventWriter"]


class EventWriter:
    """Appends :class:`~pipeline.identities.Assignment` s to a JSON-lines file, one flushed line each.

    Args:
        path: the file; created (or truncated, when the caller allowed overwriting) on :meth:`open`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._handle: IO[str] | None = None
        self.count = 0

    def open(self) -> EventWriter:
        self._handle = self.path.open("w", encoding="utf-8")
        return self

    def write(self, record: dict[str, Any]) -> None:
        """Write one event object as a line and flush it."""
        if self._handle is None:
            self.open()
        assert self._handle is not None
        self._handle.write(json.dumps(record, allow_nan=False) + "\n")
        self._handle.flush()
        self.count += 1

    def __call__(self, assignment: Assignment) -> None:
        self.write(assignment.to_dict())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> EventWriter:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()
