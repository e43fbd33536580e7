"""The streaming loop, in two halves: producers (cameras → closed, encoded tracklets) and one consumer.

This is the only module that knows the order of the stages; :mod:`pipeline.parts` builds the
parts, :mod:`pipeline.run` wires a run.

- :class:`CameraGroupProducer` runs decode → detect → track → tracklets → re-ID encoding for a
  group of cameras. Each step takes the next frame of every camera whose next frame is due
  (cameras are kept in step by their timestamps) and detects people in all of them with **one**
  detector call; closed tracklets are encoded (one model call per tracklet) and sent as
  :class:`TrackletBatch` es: the tracklets' boxes and encodings, never frames or crops.
- :class:`AssociationConsumer` merges the batches of any number of producers by **close key**
  (:data:`CloseKey`: the media time at which a tracklet closed) and gives the associator the
  tracklets of one key together, keys in increasing order, once every camera has passed the key.
  The associator's calls therefore depend on the media only, not on how cameras are grouped or
  when batches arrive: a local run and a Ray run (:mod:`pipeline.executors`) give the same answer.
- :class:`StreamLoop` is the local executor: one producer for every camera on the calling thread
  (one reader thread per camera decodes into a bounded queue), the consumer on one worker
  thread, overlapping detection.

A run can end early (:mod:`pipeline.stop`): a stop request (a signal, ``--duration``) or
``max_frames`` per camera end the reading of every camera (or of that camera) as if its source
had ended, so its tracklets still close and are associated. A camera whose reader fails is
reported on one line, its ``end`` is ``"failed"``, and the other cameras go on.
"""

from __future__ import annotations

import heapq
import logging
import math
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from infra.progress import Progress
from pipeline.frames import Frame, FrameSource
from pipeline.frames.reader import FrameReader
from pipeline.identities import Associator, Identity, MatcherLike
from pipeline.identities.scoring import encode_tracklets
from pipeline.records import CameraRecord, GapRecord
from pipeline.stop import Snapshots, StopControl
from pipeline.tracklets import Tracklet, TrackletBuilder
from pipeline.tracks import CameraTrackers
from trackers import Detections

__all__ = [
    "END_OF_STREAM",
    "STAGES",
    "AssociationConsumer",
    "CameraEntry",
    "CameraGroupProducer",
    "CloseKey",
    "Detector",
    "LoopResult",
    "ProducerStats",
    "RunSummary",
    "StreamLoop",
    "TrackletBatch",
    "TrackletEncoder",
    "WorkerStats",
    "queue_frames",
]

log = logging.getLogger("pipeline")

STAGES = ("decode", "detect", "track", "tracklets", "reid", "export")
# batches of closed tracklets that may wait for the association thread before the loop waits too
_MAX_PENDING_LINK_BATCHES = 8


class Detector(Protocol):
    """What the loop needs of a detector: one :class:`trackers.Detections` per frame, any mix of cameras."""

    def detect(self, frames: Sequence[Frame]) -> list[Detections]: ...


@dataclass(frozen=True)
class WorkerStats:
    """One producer's throughput: ``name`` (``local`` or ``ray-N``), its cameras, frames decoded,
    ``wall_s`` seconds from its first frame to its last batch, and ``restarts`` (Ray actor restarts)."""

    name: str
    cam_ids: tuple[str, ...]
    frames: int
    wall_s: float
    restarts: int

    @property
    def fps(self) -> float:
        """Frames (all its cameras) per second of its wall time."""
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


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
        executor: ``local`` or ``ray``.
        workers: per producer (one for a local run, one per Ray actor), its throughput.
        lost: cameras whose worker died for good: their tracklets up to then are kept, the rest is
            missing (reported, never silent).
        stopped: why the reading ended early (``"stopped"`` by a signal, ``"duration"``,
            ``"max_frames"``), ``None`` when every source ended.
        failed: the one-line error of each camera that failed (the others were written).
        frames_dropped: frames dropped per camera to keep up with a live source.
        gaps: outages recorded per camera (reconnects).
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
    executor: str = "local"
    workers: list[WorkerStats] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    stopped: str | None = None
    failed: dict[str, str] = field(default_factory=dict)
    frames_dropped: dict[str, int] = field(default_factory=dict)
    gaps: dict[str, int] = field(default_factory=dict)
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

        def notes(c: str) -> str:
            parts = [
                f"{n} {what}"
                for n, what in (
                    (self.skipped.get(c), "skipped"),
                    (self.frames_dropped.get(c), "dropped to keep up"),
                    (self.gaps.get(c), "gap(s)"),
                )
                if n
            ]
            parts += ["FAILED"] if c in self.failed else []
            return f" ({', '.join(parts)})" if parts else ""

        cams = ", ".join(f"{c} {n}{notes(c)}" for c, n in self.frames.items())
        fps = self.total_frames / self.wall_s if self.wall_s > 0 else 0.0
        stage_fps = self.stage_fps()
        lines = [
            f"frames: {self.total_frames} ({cams})",
            f"tracklets: {self.tracklets} kept, {self.tracklets_dropped} dropped as too short",
            f"identities: {self.identities} ({self.cross_camera_identities} seen by more than one camera)",
            f"wall time: {self.wall_s:.1f} s, {fps:.1f} frames/s end to end on {self.device} "
            f"(frames of all {len(self.frames)} cameras ÷ wall time; "
            f"{fps / max(len(self.frames), 1):.1f} per camera)",
            *([f"detector: {self.detector}"] if self.detector else []),
            *([f"peak RSS: {self._rss()}"] if self.peak_rss_mib and self.frames else []),
            "stage time (frames/s): "
            + ", ".join(
                f"{s} {t:.2f} s" + (f" ({v:.0f})" if (v := stage_fps[s]) is not None else "")
                for s, t in self.stage_s.items()
            ),
            "  (a stage's frames/s = frames of all cameras ÷ that stage's own time; stages overlap)",
        ]
        if self.executor != "local" or len(self.workers) > 1:
            lines.extend(
                f"worker {w.name} ({', '.join(w.cam_ids)}): {w.frames} frames in {w.wall_s:.1f} s, "
                f"{w.fps:.1f} frames/s" + (f", restarted {w.restarts}x" if w.restarts else "")
                for w in self.workers
            )
        if self.lost:
            lines.append(f"LOST cameras (worker died; output incomplete for them): {', '.join(self.lost)}")
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
        skipped: frames per camera that failed to decode.
        lost: cameras whose worker died for good (see :attr:`RunSummary.lost`).
        end: how each camera's reading ended (``pipeline.records.CAMERA_ENDS``).
        errors: the one-line error of each camera that failed.
        gaps: the outages of each live camera.
        frames_dropped: frames dropped per camera to keep up with a live source.
    """

    tracklets: dict[tuple[str, int], Tracklet]
    identities: list[Identity]
    frames: dict[str, int]
    last_index: dict[str, int]
    dropped: int
    skipped: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    end: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    gaps: dict[str, list[GapRecord]] = field(default_factory=dict)
    frames_dropped: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_parts(
        cls, consumer: AssociationConsumer, identities: list[Identity], stats: Sequence[ProducerStats]
    ) -> LoopResult:
        """Join the consumer's tracklets and identities with the producers' counts."""
        frames: dict[str, int] = {}
        last_index: dict[str, int] = {}
        skipped: dict[str, int] = {}
        end: dict[str, str] = {}
        errors: dict[str, str] = {}
        gaps: dict[str, list[GapRecord]] = {}
        frames_dropped: dict[str, int] = {}
        for s in stats:
            frames.update(s.frames)
            last_index.update(s.last_index)
            skipped.update(s.skipped)
            end.update(s.end)
            errors.update(s.errors)
            gaps.update(s.gaps)
            frames_dropped.update(s.frames_dropped)
        for cam_id in consumer.frames:  # a lost camera: what the consumer heard of it
            frames.setdefault(cam_id, consumer.frames[cam_id])
            last_index.setdefault(cam_id, consumer.frames[cam_id] - 1)
            skipped.setdefault(cam_id, 0)
        return cls(
            consumer.finished,
            identities,
            frames,
            last_index,
            sum(s.dropped for s in stats),
            skipped,
            list(consumer.lost),
            end,
            errors,
            gaps,
            frames_dropped,
        )


CloseKey = tuple[float, int]
"""When a tracklet closed, in media time: ``(time_s, phase)``.

``phase`` 0: its tracker deleted it while reading the frame at ``time_s`` (seconds from the start of
the source); 1: the source ended after its last frame, at ``time_s``. Keys order the association:
the tracklets of every camera that closed at one key are linked together, keys in increasing order.
So the association depends on the media only, never on how cameras are grouped or scheduled.
"""

END_OF_STREAM: CloseKey = (math.inf, 1)
"""The watermark of a camera whose source ended (or that was lost): nothing more will come."""


@dataclass
class CameraEntry:
    """Closed tracklets of one camera at one :data:`CloseKey`.

    Attributes:
        cam_id: the camera.
        key: when they closed.
        tracklets: the closed tracklets, encoded (:class:`TrackletEncoder`), crops freed.
        open_start_s: start (seconds) of the camera's oldest tracklet still open after ``key``,
            ``None`` if none is (bounds what the associator must keep, see ``evict_before``).
    """

    cam_id: str
    key: CloseKey
    tracklets: list[Tracklet]
    open_start_s: float | None


@dataclass
class TrackletBatch:
    """What a producer sends to the association: closed tracklets and its progress. Never frames.

    Attributes:
        entries: per camera, in key order (a camera emits an entry when tracklets close or when
            the start of its oldest open tracklet changes).
        watermarks: per camera, the key up to which every entry has been sent
            (:data:`END_OF_STREAM` once its source ended).
        frames: frames decoded so far per camera (for progress lines).
    """

    entries: list[CameraEntry] = field(default_factory=list)
    watermarks: dict[str, CloseKey] = field(default_factory=dict)
    frames: dict[str, int] = field(default_factory=dict)

    @property
    def num_tracklets(self) -> int:
        return sum(len(e.tracklets) for e in self.entries)

    def extend(self, later: TrackletBatch) -> None:
        """Append a later batch of the same producer (one message for several steps)."""
        self.entries.extend(later.entries)
        self.watermarks.update(later.watermarks)
        self.frames.update(later.frames)


@dataclass
class ProducerStats:
    """What a producer counted (summed into :class:`RunSummary` and the per-worker lines).

    Attributes:
        frames: decoded frames per camera; last_index: last decoded frame index per camera (-1 if
        none); skipped: frames per camera that failed to decode; dropped: tracklets shorter than
        ``tracklets.min_length_s``; stage_s: seconds per stage; wall_s: seconds from the first
        frame read to the last tracklet sent; end: how each camera's reading ended; errors: the
        error of each camera that failed; gaps: outages per live camera; frames_dropped: frames
        dropped per camera to keep up with a live source.
    """

    frames: dict[str, int]
    last_index: dict[str, int]
    skipped: dict[str, int]
    dropped: int
    stage_s: dict[str, float]
    wall_s: float
    end: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    gaps: dict[str, list[GapRecord]] = field(default_factory=dict)
    frames_dropped: dict[str, int] = field(default_factory=dict)


class TrackletEncoder:
    """Encodes each closed tracklet's crops with the re-ID model, attaches the encoding and frees the crops.

    One model call **per tracklet**: float results of a batched call depend on what else is in the
    batch, so encoding tracklets one by one makes the numbers independent of which tracklets
    closed together and of how cameras are grouped onto workers (local and Ray runs agree exactly).

    **Camera normalisation** (``camera_norm_crops``; :mod:`reid_core.camera_norm`): each camera's
    tracklets are encoded by a matcher whose trunk BatchNorm moments were measured on that
    camera's own crops. A camera's closed tracklets are *held* (crops kept) until it has
    ``camera_norm_crops`` crops, its source ends, or its first held tracklet has waited
    ``camera_norm_max_wait_s`` media seconds; then the moments are measured once on the held
    crops (at most ``camera_norm_crops``), fixed for the rest of the run, and every held and later
    tracklet of the camera is encoded with them: all of a camera's encodings share one set of
    moments. :meth:`take` says when a camera's tracklets are ready.

    Args:
        matcher: the re-ID model; ``None`` (linking off) only frees the crops.
        crops_per_pair: crops kept per tracklet for pair scores (``association.crops_per_pair``).
        pool: average the kept crops into one encoding (``association.crop_pooling: mean``).
        camera_norm_crops: crops a camera's moments are measured on (``reid.camera_norm_crops``);
            ``None`` = no camera normalisation (also when ``matcher`` cannot: no ``renormalised``).
        camera_norm_max_wait_s: media seconds a camera's first held tracklet waits at most
            (``reid.camera_norm_max_wait_s``); ``None`` = until the crops or the end.
    """

    def __init__(
        self,
        matcher: MatcherLike | None,
        *,
        crops_per_pair: int,
        pool: bool = False,
        camera_norm_crops: int | None = None,
        camera_norm_max_wait_s: float | None = None,
    ) -> None:
        self.matcher = matcher
        self.crops_per_pair = int(crops_per_pair)
        self.pool = bool(pool)
        able = matcher is not None and callable(getattr(matcher, "renormalised", None))
        self.camera_norm_crops = int(camera_norm_crops) if camera_norm_crops and able else None
        self.camera_norm_max_wait_s = camera_norm_max_wait_s
        self.camera_matchers: dict[str, MatcherLike] = {}  # cam_id -> its renormalised matcher, once measured
        self._held: dict[str, list[Tracklet]] = {}
        self._held_crops: dict[str, int] = {}
        self._held_since_s: dict[str, float] = {}

    def __call__(self, tracklets: Sequence[Tracklet]) -> None:
        """Encode now, each with its camera's matcher if measured (else the trained one); free the crops."""
        for tracklet in tracklets:
            self._encode(self.camera_matchers.get(tracklet.cam_id, self.matcher), tracklet)

    def take(self, cam_id: str, tracklets: Sequence[Tracklet], *, now_s: float, final: bool) -> bool:
        """Encode camera ``cam_id``'s tracklets that closed at media second ``now_s``, or hold them.

        Args:
            final: the camera's source ended (nothing more will close): held tracklets are encoded.

        Returns:
            True when every tracklet of the camera given so far is encoded (crops freed); False
            while some are held for the camera's moments.
        """
        if self.camera_norm_crops is None or cam_id in self.camera_matchers:
            self(tracklets)
            return True
        held = self._held.setdefault(cam_id, [])
        held.extend(tracklets)
        if not held:
            return True
        self._held_crops[cam_id] = self._held_crops.get(cam_id, 0) + sum(len(t.crops) for t in tracklets)
        since = self._held_since_s.setdefault(cam_id, now_s)
        waited = self.camera_norm_max_wait_s is not None and now_s - since >= self.camera_norm_max_wait_s
        if not (final or waited or self._held_crops[cam_id] >= self.camera_norm_crops):
            return False
        crops = [crop for t in held for crop in t.crops_bgr()][: self.camera_norm_crops]
        base: Any = self.matcher  # has renormalised (checked when camera_norm_crops was set)
        self.camera_matchers[cam_id] = base.renormalised(crops) if crops else base
        log.info("camera %s: re-ID moments from %d crops of %d tracklets", cam_id, len(crops), len(held))
        self._held_crops.pop(cam_id, None)
        self(self._held.pop(cam_id))
        return True

    def _encode(self, matcher: MatcherLike | None, tracklet: Tracklet) -> None:
        if matcher is not None and not tracklet.encoded:
            tracklet.encoding = encode_tracklets(matcher, [tracklet], self.crops_per_pair, pool=self.pool)[0]
            tracklet.encoded = True
        tracklet.drop_crops()


class CameraGroupProducer:
    """Decode → detect → track → tracklets → re-ID encoding for a group of cameras.

    Yields one :class:`TrackletBatch` per step. Each step takes the next frame of every camera
    whose next frame is due (cameras are kept in step by their timestamps) and detects people in
    all of them with **one** detector call. Runs on the calling thread (a local run) or inside a
    Ray actor (:mod:`pipeline.executors.ray_cluster`), the same code either way.

    Args:
        sources: ``cam_id → FrameSource``, opened (closed by the caller).
        detector: the detector (or replayed detections) for these cameras.
        trackers: one tracker per camera.
        builder: the tracklet builder.
        encoder: encodes closed tracklets (and frees their crops).
        queue_size_frames: decoded frames buffered per camera (at most).
        log_interval_s: seconds between per-camera FPS lines in the log.
        progress: per-camera progress (:class:`infra.progress.Progress` mode: ``auto``, ``bar``,
            ``lines``, ``off``; ``None`` = ``auto``: a bar on a terminal, a plain line otherwise).
        frames_in_flight_mib: bound on the frames buffered by all these cameras together, in MiB
            (:func:`queue_frames`).
        every_n_frames: detect in every n-th frame of each camera (index divisible by n); the
            frames between only extend the open tracklets by prediction
            (:meth:`~pipeline.tracklets.TrackletBuilder.coast`). The trackers must then run at
            ``fps / n``. 1 = detect in every frame.
        stop: ends the reading early (a signal, a duration); ``None`` = read every source to its end.
        max_frames: frames read per camera at most; ``None`` = no limit.
        drop_when_behind: camera ids whose reader drops frames to keep up (live sources).
    """

    def __init__(
        self,
        sources: Mapping[str, FrameSource],
        detector: Detector,
        trackers: CameraTrackers,
        builder: TrackletBuilder,
        encoder: TrackletEncoder,
        *,
        queue_size_frames: int,
        log_interval_s: float,
        progress: bool | str | None,
        frames_in_flight_mib: float,
        every_n_frames: int,
        stop: StopControl | None = None,
        max_frames: int | None = None,
        drop_when_behind: frozenset[str] = frozenset(),
    ) -> None:
        self.sources = dict(sources)
        self.detector = detector
        self.trackers = trackers
        self.builder = builder
        self.encoder = encoder
        self.cam_ids = list(self.sources)
        self.queue_size_frames = {
            c: queue_frames(
                s.info.width * s.info.height * 3, len(sources), queue_size_frames, frames_in_flight_mib
            )
            for c, s in self.sources.items()
        }
        self.every_n_frames = max(1, int(every_n_frames))
        self.log_interval_s = log_interval_s
        self.progress = progress
        self.stop = stop or StopControl()
        self.max_frames = max_frames
        self.drop_when_behind = drop_when_behind
        self.end: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.stage = dict.fromkeys(STAGES, 0.0)
        self.counts = dict.fromkeys(self.cam_ids, 0)
        self.last_index = dict.fromkeys(self.cam_ids, -1)
        self.wall_s = 0.0
        self._last_key: dict[str, CloseKey] = dict.fromkeys(self.cam_ids, (-math.inf, 0))
        self._open_start: dict[str, float | None] = dict.fromkeys(self.cam_ids)
        self._watermark: dict[str, CloseKey] = dict.fromkeys(self.cam_ids, (-math.inf, 0))
        self._waiting: dict[str, list[CameraEntry]] = {c: [] for c in self.cam_ids}
        self._step_s = 0.5 / max(s.info.fps for s in self.sources.values())

    def stats(self) -> ProducerStats:
        return ProducerStats(
            dict(self.counts),
            dict(self.last_index),
            {c: s.skipped for c, s in self.sources.items()},
            self.builder.dropped,
            dict(self.stage),
            self.wall_s,
            dict(self.end),
            dict(self.errors),
            {c: list(s.gaps) for c, s in self.sources.items()},
            {c: s.dropped for c, s in self.sources.items()},
        )

    def camera_records(self) -> tuple[CameraRecord, ...]:
        """The cameras as of now (``end`` ``"running"`` for those still read): for snapshots."""
        return tuple(
            camera_record(
                s,
                self.counts[c],
                self.last_index[c],
                self.end.get(c, "running"),
                self.errors.get(c),
                s.gaps,
                s.dropped,
            )
            for c, s in self.sources.items()
        )

    def batches(self) -> Iterator[TrackletBatch]:
        """Read every source to its end, one batch per step (the last ones carry ``END_OF_STREAM``)."""
        from tqdm.contrib.logging import logging_redirect_tqdm

        readers = {
            c: FrameReader(
                s, queue_size=self.queue_size_frames[c], drop_when_behind=c in self.drop_when_behind
            )
            for c, s in self.sources.items()
        }
        bars = self._progress_bars()
        t_start = time.perf_counter()
        try:
            with logging_redirect_tqdm():  # log lines above the progress bars, not through them
                self.stop.start()
                for reader in readers.values():
                    reader.start()
                heads: dict[str, Frame | None] = {c: self._next(c, readers) for c in self.cam_ids}
                clock = _RateLog(self.cam_ids, self.log_interval_s)
                while heads:
                    if self.stop.should_stop():
                        for cam_id in heads:
                            heads[cam_id] = None
                            self.end.setdefault(cam_id, self.stop.reason or "stopped")
                    batch = TrackletBatch()
                    self._close_ended(heads, batch)
                    if heads:
                        self._step(heads, readers, bars, batch)
                    batch.watermarks = dict(self._watermark)
                    batch.frames = dict(self.counts)
                    self.wall_s = time.perf_counter() - t_start
                    yield batch
                    clock.maybe_log(self.counts, self.builder.num_open, readers)
        finally:
            _close_readers(readers.values())
            for bar in bars.values():
                bar.close()
            for reader in readers.values():
                self.stage["decode"] += reader.decode_s

    def _emit(self, batch: TrackletBatch, cam_id: str, key: CloseKey, closed: list[Tracklet]) -> None:
        key = max(key, self._last_key[cam_id])  # keys never go back, even if a container's clock does
        self._last_key[cam_id] = key
        final = key[1] == 1
        t0 = time.perf_counter()
        ready = self.encoder.take(cam_id, closed, now_s=key[0], final=final)
        self.stage["reid"] += time.perf_counter() - t0
        open_start = None if final else self.builder.earliest_open_start_s(cam_id)
        waiting = self._waiting[cam_id]
        if closed or open_start != self._open_start[cam_id]:
            waiting.append(CameraEntry(cam_id, key, closed, open_start))
            self._open_start[cam_id] = open_start
        if ready:  # entries (and the watermark) wait while the encoder holds the camera's tracklets
            batch.entries.extend(waiting)
            waiting.clear()
            self._watermark[cam_id] = END_OF_STREAM if final else key

    def _close_ended(self, heads: dict[str, Frame | None], batch: TrackletBatch) -> None:
        """Close the tracklets of cameras whose source ended (and forget those cameras)."""
        for cam_id in [c for c, f in heads.items() if f is None]:
            del heads[cam_id]
            t0 = time.perf_counter()
            closed = self.builder.close_camera(cam_id)
            self.stage["tracklets"] += time.perf_counter() - t0
            self._emit(batch, cam_id, (self._last_key[cam_id][0], 1), closed)

    def _step(
        self,
        heads: dict[str, Frame | None],
        readers: Mapping[str, FrameReader],
        bars: dict,
        batch: TrackletBatch,
    ) -> None:
        """Detect in every camera's due frame at once, then track and build tracklets per frame."""
        t_min = min(f.time_s for f in heads.values() if f is not None)
        due = [f for f in heads.values() if f is not None and f.time_s <= t_min + self._step_s]
        detected = [f for f in due if f.index % self.every_n_frames == 0]
        t0 = time.perf_counter()
        dets = iter(self.detector.detect(detected) if detected else [])
        self.stage["detect"] += time.perf_counter() - t0
        for frame in due:
            t0 = time.perf_counter()
            if frame.index % self.every_n_frames:
                self.builder.coast(frame)  # not detected (stride): predicted boxes only, nothing closes
                self.stage["tracklets"] += time.perf_counter() - t0
                closed: list[Tracklet] = []
            else:
                det = next(dets)
                tracks, deleted = self.trackers.update(frame.cam_id, det, frame.time_s)
                t1 = time.perf_counter()
                closed = self.builder.update(frame, det, tracks, deleted)
                self.stage["track"] += t1 - t0
                self.stage["tracklets"] += time.perf_counter() - t1
            self._emit(batch, frame.cam_id, (frame.time_s, 0), closed)
            self.last_index[frame.cam_id] = frame.index
            self.counts[frame.cam_id] += 1
            bars[frame.cam_id].update(frame.index + 1 - bars[frame.cam_id].n)
            heads[frame.cam_id] = self._next(frame.cam_id, readers)

    def _next(self, cam_id: str, readers: Mapping[str, FrameReader]) -> Frame | None:
        """The camera's next frame, or ``None`` when its reading ends (the reason goes in :attr:`end`)."""
        if self.stop.should_stop():
            self.end.setdefault(cam_id, self.stop.reason or "stopped")
            return None
        if self.max_frames is not None and self.counts[cam_id] >= self.max_frames:
            self.end.setdefault(cam_id, "max_frames")
            return None
        try:
            frame = readers[cam_id].get(self.stop.event)
        except Exception as err:  # one camera failing must not lose the others' work
            message = " ".join(str(err).split()) or type(err).__name__
            self.end[cam_id], self.errors[cam_id] = "failed", message
            log.error("%s: camera failed, the other cameras go on: %s", cam_id, message)
            return None
        if frame is None:
            stopped = self.stop.event.is_set()
            self.end.setdefault(cam_id, (self.stop.reason or "stopped") if stopped else "ended")
        return frame

    def _progress_bars(self) -> dict[str, Progress]:
        return {
            c: Progress(
                s.info.num_frames,
                c,
                "frame",
                self.progress,
                interval_s=self.log_interval_s,
                position=k,
            )
            for k, (c, s) in enumerate(self.sources.items())
        }


class AssociationConsumer:
    """Merges the producers' batches in :data:`CloseKey` order and runs the associator.

    A key is *ready* when every camera's watermark has passed it: then the tracklets of every
    camera that closed at that key are given to :meth:`Associator.add` together, and the
    associator may forget what only tracklets older than the oldest still-open one need
    (``evict_before``). Whatever the number of producers and the order their batches arrive in,
    the associator sees the same calls, so the result is the same.

    Entries at or below a camera's watermark are ignored: a producer restarted from the start of
    its files (:mod:`pipeline.executors.ray_cluster`) resends what was already received.

    Args:
        associator: the associator.
        cam_ids: every camera of the run.
        stage_s: where association seconds are added (``reid``).
    """

    def __init__(self, associator: Associator, cam_ids: Sequence[str], stage_s: dict[str, float]) -> None:
        self.associator = associator
        self.stage = stage_s
        self.finished: dict[tuple[str, int], Tracklet] = {}
        self.lost: list[str] = []
        self.frames: dict[str, int] = dict.fromkeys(cam_ids, 0)
        self._watermark: dict[str, CloseKey] = dict.fromkeys(cam_ids, (-math.inf, 0))
        self._open_start: dict[str, float | None] = dict.fromkeys(cam_ids)
        self._pending: dict[CloseKey, list[CameraEntry]] = {}
        self._keys: list[CloseKey] = []  # heap of the pending keys

    @property
    def done(self) -> bool:
        """Every camera ended (or was lost) and every key was associated."""
        return not self._pending and all(w == END_OF_STREAM for w in self._watermark.values())

    def push(self, batch: TrackletBatch) -> None:
        """Take a producer's batch (entries already received are ignored), then associate what is ready."""
        for entry in batch.entries:
            if entry.key <= self._watermark[entry.cam_id]:
                continue  # a restarted producer replaying what was received
            if entry.key not in self._pending:
                self._pending[entry.key] = []
                heapq.heappush(self._keys, entry.key)
            self._pending[entry.key].append(entry)
        for cam_id, key in batch.watermarks.items():
            self._watermark[cam_id] = max(self._watermark[cam_id], key)
        for cam_id, n in batch.frames.items():
            self.frames[cam_id] = max(self.frames[cam_id], n)
        self._drain()

    def lose(self, cam_ids: Sequence[str]) -> None:
        """These cameras will send nothing more (their worker is gone): keep what came, go on without them."""
        for cam_id in cam_ids:
            if self._watermark[cam_id] != END_OF_STREAM:
                self.lost.append(cam_id)
                self._watermark[cam_id] = END_OF_STREAM
        self._drain()

    def finish(self) -> list[Identity]:
        """Every camera ended: the associator's final identities."""
        if not self.done:
            waiting = sorted(c for c, w in self._watermark.items() if w != END_OF_STREAM)
            raise RuntimeError(f"association finished before cameras ended: {waiting}")
        t0 = time.perf_counter()
        identities = self.associator.finish()
        self.stage["reid"] += time.perf_counter() - t0
        return identities

    def _drain(self) -> None:
        ready = min(self._watermark.values())
        while self._keys and self._keys[0] <= ready:
            entries = self._pending.pop(heapq.heappop(self._keys))
            for entry in entries:
                self._open_start[entry.cam_id] = entry.open_start_s
            batch = [t for entry in entries for t in entry.tracklets]
            if not batch:
                continue
            t0 = time.perf_counter()
            self.associator.add(batch)
            oldest = min((t for t in self._open_start.values() if t is not None), default=None)
            if oldest is not None:
                self.associator.evict_before(oldest)
            self.stage["reid"] += time.perf_counter() - t0
            self.finished.update((t.key, t) for t in batch)


class StreamLoop:
    """The local executor: one producer for all cameras on the calling thread, the consumer on a worker.

    Association runs on one worker thread, in submission order, overlapping detection; the loop
    waits when more than ``max_pending_batches`` batches are waiting for it (memory bound).

    Args:
        producer: the cameras' producer.
        consumer: the association.
        summary: where stage times are added (``stage_s``).
        snapshots: periodic snapshots of the outputs (:class:`~pipeline.stop.Snapshots`); ``None`` = none.
    """

    def __init__(
        self,
        producer: CameraGroupProducer,
        consumer: AssociationConsumer,
        summary: RunSummary,
        *,
        max_pending_batches: int = _MAX_PENDING_LINK_BATCHES,
        snapshots: Snapshots | None = None,
    ) -> None:
        self.producer = producer
        self.consumer = consumer
        self.summary = summary
        self.max_pending_batches = max_pending_batches
        self.snapshots = snapshots

    def run(self) -> LoopResult:
        """Read every source to its end; returns the tracklets and the final identities."""
        pending: deque[Future[None]] = deque()
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reid-link")
        try:
            for batch in self.producer.batches():
                pending.append(worker.submit(self.consumer.push, batch))
                if self.snapshots is not None and self.snapshots.due():
                    # on the association thread, after the batches before it: no race on its tracklets
                    cameras = self.producer.camera_records()
                    pending.append(worker.submit(self.snapshots.write, cameras, self.consumer.finished))
                while pending and (pending[0].done() or len(pending) > self.max_pending_batches):
                    pending.popleft().result()
            while pending:
                pending.popleft().result()
            identities = self.consumer.finish()
        finally:
            worker.shutdown(wait=True, cancel_futures=True)
        stats = self.producer.stats()
        _add_stages(self.summary.stage_s, stats.stage_s)
        frames = sum(stats.frames.values())
        self.summary.workers = [WorkerStats("local", tuple(stats.frames), frames, stats.wall_s, 0)]
        return LoopResult.from_parts(self.consumer, identities, [stats])


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


def camera_record(
    source: FrameSource,
    frames: int,
    last_index: int,
    end: str,
    error: str | None,
    gaps: Sequence[GapRecord] = (),
    frames_dropped: int = 0,
) -> CameraRecord:
    """The record of one camera: frames read (a file: up to its last decoded index), how it ended."""
    i = source.info
    num_frames = last_index + 1 if i.rewindable else frames
    return CameraRecord(
        i.cam_id, i.source, i.fps, i.width, i.height, num_frames, tuple(gaps), frames_dropped, end, error
    )


def _close_readers(readers: Iterable[FrameReader], total_wait_s: float = 1.0) -> None:
    """Stop every reader; wait at most ``total_wait_s`` in all (a reader stuck in a read is a daemon)."""
    readers = list(readers)
    for reader in readers:
        reader.stop()
    deadline = time.monotonic() + total_wait_s
    for reader in readers:
        reader.close(timeout_s=max(0.0, deadline - time.monotonic()))


def _add_stages(into: dict[str, float], stage_s: Mapping[str, float]) -> None:
    for stage, seconds in stage_s.items():
        into[stage] = into.get(stage, 0.0) + seconds


class _RateLog:
    """Logs per-camera frames/s every ``interval_s`` seconds."""

    def __init__(self, cam_ids: Sequence[str], interval_s: float) -> None:
        self.cam_ids = list(cam_ids)
        self.interval_s = interval_s
        self.start = time.perf_counter()
        self.next = self.start + interval_s
        self.counts = dict.fromkeys(self.cam_ids, 0)

    def maybe_log(
        self, counts: Mapping[str, int], num_open: int, readers: Mapping[str, FrameReader] | None = None
    ) -> None:
        now = time.perf_counter()
        if now < self.next:
            return
        span = now - self.start
        rates = ", ".join(f"{c} {(counts[c] - self.counts[c]) / span:.1f}" for c in self.cam_ids)
        live = [
            f"{c} {r.latency_s:.2f} s" + (f" ({r.source.dropped} dropped)" if r.source.dropped else "")
            for c, r in (readers or {}).items()
            if r.source.live
        ]
        latency = f" | latency {', '.join(live)}" if live else ""
        log.info("per-camera fps: %s | open tracklets %d%s", rates, num_open, latency)
        self.counts, self.start, self.next = dict(counts), now, now + self.interval_s
