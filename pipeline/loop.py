"""The streaming loop: frames → detections → tracks → tracklets → identities, until every source ends.

This is the only module that knows the order of the stages; :mod:`pipeline.run` builds the parts
and hands them over.

Threads: one reader per camera (:class:`~pipeline.frames.reader.FrameReader`) decodes into a
bounded queue; detection, tracking and tracklets run on the calling thread; association runs on
one worker thread, in submission order (so its decisions are those of an inline run),
overlapping detection. Each step takes the next frame of every camera whose next frame is due
(cameras are kept in step by their timestamps), detects people in all of them with **one**
detector call, updates each camera's tracker and tracklets, and hands the tracklets that closed
to the associator. When every source has ended, the remaining tracklets close and the
associator gives its final identities.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from pipeline.frames import Frame, FrameSource
from pipeline.frames.reader import FrameReader
from pipeline.identities import Associator, Identity
from pipeline.tracklets import Tracklet, TrackletBuilder
from pipeline.tracks import CameraTrackers
from trackers import Detections

__all__ = ["STAGES", "Detector", "LoopResult", "RunSummary", "StreamLoop", "queue_frames"]

log = logging.getLogger("pipeline")

STAGES = ("decode", "detect", "track", "tracklets", "reid", "export")
# batches of closed tracklets that may wait for the association thread before the loop waits too
_MAX_PENDING_LINK_BATCHES = 8


class Detector(Protocol):
    """What the loop needs of a detector: one :class:`trackers.Detections` per frame, any mix of cameras."""

    def detect(self, frames: Sequence[Frame]) -> list[Detections]: ...


@dataclass
class RunSummary:
    """Figures of a finished run (printed by the CLI).

    Attributes:
        frames: decoded frames per camera.
        skipped: frames per camera that failed to decode and were skipped.
        tracklets: tracklets kept (linked and exported).
        tracklets_dropped: tracklets shorter than ``tracklets.min_length_s``.
        identities: global identities.
        cross_camera_identities: identities seen by more than one camera.
        wall_s: wall-clock seconds of the whole run (models loaded to outputs written).
        stage_s: seconds spent per stage (``decode`` summed over reader threads).
        device: the device the models ran on.
        detector: the detector back end, its threads and device (``Detector.describe()``).
        peak_rss_mib: the process's peak resident memory in MiB (0 where unknown).
    """

    frames: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    tracklets: int = 0
    tracklets_dropped: int = 0
    identities: int = 0
    cross_camera_identities: int = 0
    wall_s: float = 0.0
    stage_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    device: str = "cpu"
    detector: str = ""
    peak_rss_mib: float = 0.0

    @property
    def total_frames(self) -> int:
        return sum(self.frames.values())

    def stage_fps(self) -> dict[str, float | None]:
        """Frames (all cameras) per second of each stage's own time; ``None`` for an unmeasured stage."""
        return {s: (self.total_frames / t if t > 0 else None) for s, t in self.stage_s.items()}

    def _rss(self) -> str:
        return f"{self.peak_rss_mib:.0f} MiB ({self.peak_rss_mib / len(self.frames):.0f} per camera)"

    def format(self) -> str:
        """A few human-readable lines."""
        cams = ", ".join(
            f"{c} {n}" + (f" ({self.skipped[c]} skipped)" if self.skipped.get(c) else "")
            for c, n in self.frames.items()
        )
        fps = self.total_frames / self.wall_s if self.wall_s > 0 else 0.0
        stage_fps = self.stage_fps()
        lines = [
            f"frames: {self.total_frames} ({cams})",
            f"tracklets: {self.tracklets} kept, {self.tracklets_dropped} dropped as too short",
            f"identities: {self.identities} ({self.cross_camera_identities} seen by more than one camera)",
            f"wall time: {self.wall_s:.1f} s, {fps:.1f} frames/s end to end on {self.device}",
            *([f"detector: {self.detector}"] if self.detector else []),
            *([f"peak RSS: {self._rss()}"] if self.peak_rss_mib and self.frames else []),
            "stage time (frames/s): "
            + ", ".join(
                f"{s} {t:.2f} s" + (f" ({v:.0f})" if (v := stage_fps[s]) is not None else "")
                for s, t in self.stage_s.items()
            ),
        ]
        return "\n".join(lines)


@dataclass
class LoopResult:
    """What the loop leaves for the outputs.

    Attributes:
        tracklets: every tracklet kept, by ``(cam_id, track_id)`` (crops already freed).
        identities: the associator's final identities.
        frames: decoded frames per camera.
        last_index: the last decoded frame index per camera (-1 if none).
        dropped: tracklets dropped as shorter than ``tracklets.min_length_s``.
    """

    tracklets: dict[tuple[str, int], Tracklet]
    identities: list[Identity]
    frames: dict[str, int]
    last_index: dict[str, int]
    dropped: int


class StreamLoop:
    """Runs the stages over every camera until all sources end.

    Args:
        sources: ``cam_id → FrameSource``, opened.
        detector: the detector (or replayed detections).
        trackers: one tracker per camera.
        builder: the tracklet builder.
        associator: the associator (runs on one worker thread).
        summary: where stage times are added (``stage_s``).
        queue_size_frames: decoded frames buffered per camera (at most).
        frames_in_flight_mib: bound on the frames buffered by all cameras together, in MiB
            (:func:`queue_frames`).
        log_interval_s: seconds between per-camera FPS lines in the log.
        progress: per-camera progress bars; ``None`` = only when stderr is a terminal.
        every_n_frames: detect in every n-th frame of each camera (index divisible by n); the
            frames between only extend the open tracklets by prediction
            (:meth:`~pipeline.tracklets.TrackletBuilder.coast`). The trackers must then run at
            ``fps / n``. 1 = detect in every frame.
    """

    def __init__(
        self,
        sources: Mapping[str, FrameSource],
        detector: Detector,
        trackers: CameraTrackers,
        builder: TrackletBuilder,
        associator: Associator,
        summary: RunSummary,
        *,
        queue_size_frames: int,
        frames_in_flight_mib: float,
        log_interval_s: float,
        progress: bool | None,
        every_n_frames: int = 1,
    ) -> None:
        self.sources = dict(sources)
        self.detector = detector
        self.trackers = trackers
        self.builder = builder
        self.associator = associator
        self.stage = summary.stage_s
        self.log_interval_s = log_interval_s
        self.progress = progress
        self.every_n_frames = max(1, int(every_n_frames))
        self.cam_ids = list(self.sources)
        frames = {
            c: queue_frames(
                s.info.width * s.info.height * 3, len(sources), queue_size_frames, frames_in_flight_mib
            )
            for c, s in self.sources.items()
        }
        self.readers = {c: FrameReader(s, queue_size=frames[c]) for c, s in self.sources.items()}
        self.counts = dict.fromkeys(self.cam_ids, 0)
        self.last_index = dict.fromkeys(self.cam_ids, -1)
        self.finished: dict[tuple[str, int], Tracklet] = {}
        self._pending: deque[Future[float]] = deque()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reid-link")
        self._step_s = 0.5 / max(s.info.fps for s in self.sources.values())

    def run(self) -> LoopResult:
        """Read every source to its end; returns the tracklets and the final identities."""
        from tqdm.contrib.logging import logging_redirect_tqdm

        bars = self._progress_bars()
        try:
            with logging_redirect_tqdm():  # log lines above the progress bars, not through them
                self._loop(bars)
                while self._pending:
                    self.stage["reid"] += self._pending.popleft().result()
                t0 = time.perf_counter()
                identities = self.associator.finish()
                self.stage["reid"] += time.perf_counter() - t0
        finally:
            self._worker.shutdown(wait=True, cancel_futures=True)
            for reader in self.readers.values():
                reader.close()
            for bar in bars.values():
                bar.close()
        for reader in self.readers.values():
            self.stage["decode"] += reader.decode_s
        return LoopResult(
            self.finished, identities, dict(self.counts), dict(self.last_index), self.builder.dropped
        )

    def _loop(self, bars: dict) -> None:
        for reader in self.readers.values():
            reader.start()
        heads: dict[str, Frame | None] = {c: self.readers[c].get() for c in self.cam_ids}
        clock = _RateLog(self.cam_ids, self.log_interval_s)
        while True:
            closed = self._close_ended(heads)
            if heads:
                closed.extend(self._step(heads, bars))
            self._submit(closed)
            if not heads and self.builder.num_open == 0:
                return
            clock.maybe_log(self.counts, self.builder.num_open, self.associator.num_identities)

    def _close_ended(self, heads: dict[str, Frame | None]) -> list[Tracklet]:
        """Close the tracklets of cameras whose source ended (and forget those cameras)."""
        closed: list[Tracklet] = []
        for cam_id in [c for c, f in heads.items() if f is None]:
            del heads[cam_id]
            t0 = time.perf_counter()
            closed.extend(self.builder.close_camera(cam_id))
            self.stage["tracklets"] += time.perf_counter() - t0
        return closed

    def _step(self, heads: dict[str, Frame | None], bars: dict) -> list[Tracklet]:
        """Detect in every camera's due frame at once, then track and build tracklets per frame."""
        t_min = min(f.time_s for f in heads.values() if f is not None)
        batch = [f for f in heads.values() if f is not None and f.time_s <= t_min + self._step_s]
        detected = [f for f in batch if f.index % self.every_n_frames == 0]
        t0 = time.perf_counter()
        dets = iter(self.detector.detect(detected) if detected else [])
        self.stage["detect"] += time.perf_counter() - t0
        closed: list[Tracklet] = []
        for frame in batch:
            t0 = time.perf_counter()
            if frame.index % self.every_n_frames:
                self.builder.coast(frame)  # not detected: predicted boxes only
                self.stage["tracklets"] += time.perf_counter() - t0
            else:
                det = next(dets)
                tracks, deleted = self.trackers.update(frame.cam_id, det)
                t1 = time.perf_counter()
                closed.extend(self.builder.update(frame, det, tracks, deleted))
                self.stage["track"] += t1 - t0
                self.stage["tracklets"] += time.perf_counter() - t1
            self.last_index[frame.cam_id] = frame.index
            self.counts[frame.cam_id] += 1
            bars[frame.cam_id].update(frame.index + 1 - bars[frame.cam_id].n)
            heads[frame.cam_id] = self.readers[frame.cam_id].get()
        return closed

    def _submit(self, closed: list[Tracklet]) -> None:
        """Hand closed tracklets to the association thread; collect finished batches (re-raising
        their errors) and wait when too far behind (memory bound)."""
        if closed:
            oldest_open = self.builder.earliest_open_start_s()
            self._pending.append(self._worker.submit(self._associate, closed, oldest_open))
            self.finished.update((t.key, t) for t in closed)
        while self._pending and (self._pending[0].done() or len(self._pending) > _MAX_PENDING_LINK_BATCHES):
            self.stage["reid"] += self._pending.popleft().result()

    def _associate(self, batch: list[Tracklet], oldest_open_s: float | None) -> float:
        t0 = time.perf_counter()
        self.associator.add(batch)
        if oldest_open_s is not None:
            self.associator.evict_before(oldest_open_s)
        return time.perf_counter() - t0

    def _progress_bars(self) -> dict:
        from tqdm import tqdm

        return {
            c: tqdm(
                total=s.info.num_frames,
                desc=c,
                unit="frame",
                position=k,
                leave=True,
                disable=None if self.progress is None else not self.progress,
                dynamic_ncols=True,
            )
            for k, (c, s) in enumerate(self.sources.items())
        }


def queue_frames(frame_bytes: int, cameras: int, most_frames: int, budget_mib: float) -> int:
    """Frames one camera may buffer: its share of ``budget_mib`` over ``cameras``, in ``[2, most_frames]``.

    Example:
        >>> queue_frames(1920 * 1080 * 3, 16, 16, 256.0)  # 16 cameras of 1080p share 256 MiB
        2
        >>> queue_frames(640 * 360 * 3, 2, 16, 256.0)
        16
    """
    share = int(budget_mib * 2**20 / max(1, cameras) / max(1, frame_bytes))
    return max(min(2, most_frames), min(most_frames, share))


class _RateLog:
    """Logs per-camera frames/s every ``interval_s`` seconds."""

    def __init__(self, cam_ids: Sequence[str], interval_s: float) -> None:
        self.cam_ids = list(cam_ids)
        self.interval_s = interval_s
        self.start = time.perf_counter()
        self.next = self.start + interval_s
        self.counts = dict.fromkeys(self.cam_ids, 0)

    def maybe_log(self, counts: Mapping[str, int], num_open: int, num_identities: int) -> None:
        now = time.perf_counter()
        if now < self.next:
            return
        span = now - self.start
        rates = ", ".join(f"{c} {(counts[c] - self.counts[c]) / span:.1f}" for c in self.cam_ids)
        log.info("fps: %s | open tracklets %d, identities %d", rates, num_open, num_identities)
        self.counts, self.start, self.next = dict(counts), now, now + self.interval_s
