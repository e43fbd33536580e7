"""How a run stops early and keeps its work: signals, ``--duration``, and periodic snapshots.

A live source never ends, so a live run ends by a signal or a limit:

- the **first** SIGINT (Ctrl-C) or SIGTERM asks the loop to stop reading (:class:`StopControl`);
  the open tracklets close, association finishes and **every output is written** from the frames
  read so far (``tracks.json`` says ``"complete": false`` and each camera's ``end`` is
  ``"stopped"``); the command then exits with code 0 and one line on stderr saying it stopped
  early (the outputs are complete for what was read; ``"complete": false`` in ``tracks.json`` is
  how a script tells it from a run whose sources ended);
- a **second** signal aborts: the temporary files are removed, nothing is written, exit 130;
- ``--duration SECONDS`` (wall clock, from the first frame) and ``--max-frames N`` (per camera)
  end a run normally (exit 0, ``"complete": true``, ``end`` ``"duration"``/``"max_frames"``).

:class:`Snapshots` writes the tracks file atomically every ``runtime.snapshot_interval_s`` while
the run goes on (``"complete": false``, ``end`` ``"running"``), so a crash or a SIGKILL loses at
most that much: identities as assigned so far, tracklets that have closed.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pipeline.identities import Assignment
from pipeline.records import CameraRecord, IdentityRecord, TrackletRecord, TracksFile
from pipeline.tracklets import Tracklet

_Closed = Mapping[tuple[str, int], Tracklet | TrackletRecord]  # closed tracklets by (cam_id, track_id)

__all__ = ["STOP_EXIT_CODE", "Snapshots", "StopControl"]

log = logging.getLogger("pipeline")

STOP_EXIT_CODE = 0  # a run stopped by its first signal, every output written (the abort is 130)


class StopControl:
    """When the loop stops reading: a signal, the ``duration_s`` limit, or never (sources end).

    Thread-safe: :meth:`request` may be called from any thread; the loop polls :meth:`should_stop`.

    Args:
        duration_s: wall-clock seconds of reading (from :meth:`start`); ``None`` = no limit.

    Attributes:
        reason: why the loop stops (``"stopped"`` for a signal, ``"duration"``), ``None`` while going.
        signal_name: the first signal received (``"SIGINT"``), ``None`` if none.
        event: set once a stop is requested (readers wait on it).
    """

    def __init__(self, duration_s: float | None = None) -> None:
        if duration_s is not None and not duration_s > 0:
            raise ValueError(f"duration must be > 0 seconds, got {duration_s}")
        self.duration_s = duration_s
        self.reason: str | None = None
        self.signal_name: str | None = None
        self.event = threading.Event()
        self._deadline: float | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """The first frame is about to be read: the duration counts from now."""
        if self.duration_s is not None and self._deadline is None:
            self._deadline = time.monotonic() + self.duration_s

    def request(self, reason: str) -> None:
        """Ask the loop to stop reading (the first reason given is kept)."""
        with self._lock:
            if self.reason is None:
                self.reason = reason
            self.event.set()

    def should_stop(self) -> bool:
        """Whether to stop reading now (checks the duration deadline)."""
        if self._deadline is not None and not self.event.is_set() and time.monotonic() >= self._deadline:
            log.info("--duration %.6g s reached: stopping", self.duration_s)
            self.request("duration")
        return self.event.is_set()

    @property
    def by_signal(self) -> bool:
        """Whether a signal stopped the run."""
        return self.signal_name is not None

    def _on_signal(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.signal_name is not None:
            raise KeyboardInterrupt  # the second signal: abort, temporary files are removed
        self.signal_name = name
        self.request("stopped")
        log.warning("%s received: stopping and writing the outputs (send it again to abort)", name)

    @contextlib.contextmanager
    def signals(self) -> Iterator[StopControl]:
        """Handle SIGINT and SIGTERM as stop requests while inside (main thread only; else a no-op)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class Snapshots:
    """Writes the tracks file every ``interval_s`` seconds during a run (atomically, ``complete: false``).

    The loop asks :meth:`due` on its thread and then calls :meth:`write` on the association
    thread (after the batches before it), with the cameras as of then and the tracklets associated
    so far; the identities come from the associator's decisions (:meth:`on_assign`).

    Args:
        write: writes a :class:`~pipeline.records.TracksFile` atomically (the sinks' ``snapshot``).
        interval_s: seconds between snapshots; ``None`` = never.
    """

    def __init__(self, write: Callable[[TracksFile], None], interval_s: float | None) -> None:
        self._write = write
        self.interval_s = interval_s
        self.written = 0
        self._global_ids: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._next = time.monotonic() + interval_s if interval_s is not None else math.inf

    def on_assign(self, assignment: Assignment) -> None:
        with self._lock:
            self._global_ids[(assignment.cam_id, assignment.track_id)] = assignment.global_id

    def due(self) -> bool:
        """Whether a snapshot is due now (the next one is then due ``interval_s`` later)."""
        now = time.monotonic()
        if self.interval_s is None or now < self._next:
            return False
        self._next = now + self.interval_s
        return True

    def tracks(
        self,
        cameras: tuple[CameraRecord, ...],
        tracklets: Mapping[tuple[str, int], Tracklet | TrackletRecord],
    ) -> TracksFile:
        """The run so far: assigned tracklets grouped by identity (the others wait for the next one)."""
        with self._lock:
            global_ids = dict(self._global_ids)
        members: dict[int, list[TrackletRecord]] = {}
        for key, gid in global_ids.items():
            t = tracklets.get(key)
            if t is not None:
                members.setdefault(gid, []).append(t if isinstance(t, TrackletRecord) else t.to_record())
        identities = tuple(
            IdentityRecord(gid, tuple(sorted(ts, key=lambda t: (t.t_start_s, t.cam_id, t.track_id))))
            for gid, ts in sorted(members.items())
        )
        return TracksFile(cameras, identities, complete=False)

    def write(
        self,
        cameras: tuple[CameraRecord, ...],
        tracklets: Mapping[tuple[str, int], Tracklet | TrackletRecord],
    ) -> None:
        """Write a snapshot now."""
        self._write(self.tracks(cameras, tracklets))
        self.written += 1
        log.debug("snapshot %d written", self.written)
