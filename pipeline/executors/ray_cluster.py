"""The Ray executor: camera groups on Ray actors, association and outputs in the driver.

Each actor (:class:`ProducerWorker`) opens its cameras and runs the same
:class:`~pipeline.loop.CameraGroupProducer` as a local run (decode → detect → track → tracklets →
re-ID encoding, its cameras batched into one detector call) and sends :class:`~pipeline.loop.TrackletBatch`
es, closed tracklets with their encodings and never frames, to the driver, whose
:class:`~pipeline.loop.AssociationConsumer` merges them by close key: the answer is the local run's.

- **Back-pressure**: the driver asks each actor for its next batch of ``steps_per_batch`` steps and
  keeps at most ``max_inflight_batches`` requests per actor outstanding, so an actor never runs
  more than that ahead of the association (memory bound at both ends).
- **Faults**: a dead actor is restarted by Ray (``max_restarts``) and its cameras start again from
  the start of their files; the consumer skips what it already received (entries at or below the
  camera's watermark), so the output is that of a run without the fault. A live source cannot be
  read again, so an actor with one is not restarted. An actor dead for good has its cameras
  reported lost (:attr:`~pipeline.loop.RunSummary.lost`, the log, the summary): what they sent is
  kept, the other cameras are written as usual. Never a silent loss.
- Paths (videos, ``--detections-dir``, weights) must be readable on every node under the same
  name, and every node needs this package installed (docs/ray.md).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from infra.errors import UserError
from pipeline.config import PipelineConfig
from pipeline.executors import group_cameras
from pipeline.frames import CameraSpec, FrameSource
from pipeline.loop import AssociationConsumer, LoopResult, ProducerStats, TrackletBatch, WorkerStats
from pipeline.parts import build_detector, build_producer, load_matcher_in_background, open_sources
from pipeline.stop import StopControl

__all__ = ["CRASH_ENV", "ProducerWorker", "import_ray", "run_on_ray"]

log = logging.getLogger("pipeline")

CRASH_ENV = "REID_PIPELINE_TEST_CRASH"
"""Test hook: ``MARKER:CAM_ID:N`` makes the actor holding ``CAM_ID`` exit after sending ``N``
batches, once (it creates the file ``MARKER`` first, so the restarted actor does not exit again)."""


def import_ray() -> Any:
    """The ``ray`` module, or a one-line :class:`UserError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UserError(
            "--executor ray needs Ray, which is not installed: pip install 'reid-pipeline[ray]'"
        ) from None
    return ray


class ProducerWorker:
    """The body of one Ray actor: the producer of a group of cameras (``ray.remote`` wraps it).

    Built again from the same arguments when Ray restarts the actor, so a restarted worker reads
    its cameras from the start. A construction error (bad file) is kept and raised by
    :meth:`next_batch`, so the driver reports it in one line. The re-ID model loads on a
    background thread while the first frames are read and detected
    (:class:`~pipeline.parts.BackgroundMatcher`; a load error is raised by the first encoding,
    in :meth:`next_batch` too).

    Args:
        config: the run's configuration.
        cams: this actor's cameras.
        detections_dir: replayed detections (``<cam_id>.txt``), or ``None`` to run the detector.
    """

    def __init__(
        self,
        config: PipelineConfig,
        cams: Sequence[CameraSpec],
        detections_dir: Path | None,
        keep_batches: int,
        duration_s: float | None = None,
        max_frames: int | None = None,
    ) -> None:
        self.error: Exception | None = None
        self.sources: dict[str, FrameSource] = {}
        self.computed = 0  # batches computed so far (by this incarnation)
        self.recent: deque[tuple[TrackletBatch, ProducerStats | None]] = deque(maxlen=keep_batches)
        self.crash = _crash_plan(os.environ.get(CRASH_ENV), [c.cam_id for c in cams])
        try:
            matcher = load_matcher_in_background(config)  # loads while the first frames are read
            self.sources = open_sources(cams, config.runtime.default_fps)
            detector = build_detector(config, [c.cam_id for c in cams], detections_dir)
            stop = StopControl(duration_s=duration_s)
            self.producer = build_producer(
                config, self.sources, detector, matcher, progress=False, stop=stop, max_frames=max_frames
            )
            self.steps = self.producer.batches()
        except Exception as err:
            self.error = err
            self.close()

    def next_batch(self, seq: int, max_steps: int) -> tuple[TrackletBatch, ProducerStats | None]:
        """Batch number ``seq`` (``max_steps`` steps each; the stats once every camera ended, else ``None``).

        Batches are numbered from 0 and are the same in every incarnation (the producer is
        deterministic for files), so a request is safe to repeat: the last ``keep_batches`` are
        kept, and a restarted actor asked for batch ``seq`` computes the ones before it first
        (its files are read again from the start).
        """
        if self.error is not None:
            raise self.error
        while self.computed <= seq:
            if self.crash is not None and self.computed >= self.crash[1] and not self.crash[0].exists():
                self.crash[0].write_text("crashed once\n", encoding="utf-8")
                os._exit(1)  # the test hook: die as a killed worker would
            self.recent.append(self._compute(max_steps))
            self.computed += 1
        back = self.computed - 1 - seq
        if back >= len(self.recent):
            raise RuntimeError(f"batch {seq} is no longer kept (computed {self.computed})")
        return self.recent[-1 - back]

    def _compute(self, max_steps: int) -> tuple[TrackletBatch, ProducerStats | None]:
        batch = TrackletBatch()
        for _ in range(max_steps):
            step = next(self.steps, None)
            if step is None:
                self.close()
                return batch, self.producer.stats()
            batch.extend(step)
        _encodings_to_cpu(batch)
        return batch, None

    def has_live_source(self) -> bool:
        return any(s.live for s in self.sources.values())

    def close(self) -> None:
        for source in self.sources.values():
            source.close()


def _crash_plan(value: str | None, cam_ids: Sequence[str]) -> tuple[Path, int] | None:
    if not value:
        return None
    marker, cam_id, after = value.rsplit(":", 2)
    return (Path(marker), int(after)) if cam_id in cam_ids else None


def _encodings_to_cpu(batch: TrackletBatch) -> None:
    """Move an actor's GPU encodings to the CPU before they travel (the driver may have no GPU)."""
    for entry in batch.entries:
        for tracklet in entry.tracklets:
            enc = tracklet.encoding
            if enc is not None and dataclasses.is_dataclass(enc.encoded):
                tracklet.encoding = dataclasses.replace(enc, encoded=_tensors_to(enc.encoded, "cpu"))


def _tensors_to(obj: Any, device: str) -> Any:
    """A copy of dataclass ``obj`` with every tensor field on ``device`` (``obj`` itself if none moves)."""
    changes = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if hasattr(value, "device") and hasattr(value, "to") and str(value.device) != device:
            changes[f.name] = value.to(device)
    return dataclasses.replace(obj, **changes) if changes else obj


@dataclasses.dataclass(eq=False)
class _Actor:
    """The driver's view of one actor: its handle, its outstanding requests (in order), its state."""

    name: str
    cam_ids: list[str]
    handle: Any
    pending: deque = dataclasses.field(default_factory=deque)  # (seq, epoch, ref), in seq order
    next_seq: int = 0
    epoch: int = 0  # incremented at each death: errors of requests sent before it do not count again
    deaths: int = 0
    healthy: bool = True  # false from a death to the next batch received
    max_restarts: int = 0
    stats: ProducerStats | None = None
    lost: bool = False

    @property
    def active(self) -> bool:
        return self.stats is None and not self.lost


def run_on_ray(
    config: PipelineConfig,
    cams: Sequence[CameraSpec],
    consumer: AssociationConsumer,
    *,
    detections_dir: str | Path | None,
    live_cams: Sequence[str] = (),
    stop: StopControl | None = None,
    max_frames: int | None = None,
    ready: Callable[[], object] | None = None,
) -> tuple[LoopResult, list[WorkerStats]]:
    """Run the cameras' producers on Ray actors and feed ``consumer``; returns the result and per-actor stats.

    Joins ``executor.ray.address`` (or starts a local Ray instance, stopped afterwards) unless Ray
    is already initialised in this process (then that instance is used and left running).
    ``max_frames`` and ``stop.duration_s`` are applied by each actor (its duration counts from its
    own first frame); a stop by signal ends the run with what the association received (the
    actors' still-open tracklets are not flushed; those cameras end ``"stopped"``). A camera lost
    with its actor ends ``"failed"`` with its error. ``ready`` (e.g. the driver's re-ID model
    loading in the background, :meth:`~pipeline.parts.BackgroundMatcher.result`) is awaited once
    the actors are started, before the first batch: its error (a bad weights file) ends the run
    before anything is written.

    Raises:
        UserError: Ray not installed, the cluster unreachable, or a worker's one-line error (bad
            file, bad weights), raised before anything is written.
    """
    ray = import_ray()
    rc = config.executor.ray
    started = not ray.is_initialized()
    if started:
        _init(ray, rc.address, rc.local_num_cpus)
    actors: list[_Actor] = []
    try:
        duration_s = None if stop is None else stop.duration_s
        actors = _start_actors(ray, config, cams, detections_dir, live_cams, duration_s, max_frames)
        if ready is not None:
            ready()  # the actors start meanwhile
        stopped = _drive(
            ray,
            actors,
            consumer,
            rc.steps_per_batch,
            rc.max_inflight_batches,
            config.runtime.log_interval_s,
            stop,
        )
        identities = consumer.finish()
    finally:
        for actor in actors:
            ray.kill(actor.handle, no_restart=True)
        if started:
            ray.shutdown()
    workers = [
        WorkerStats(
            a.name,
            tuple(a.cam_ids),
            sum(a.stats.frames.values()) if a.stats else sum(consumer.frames[c] for c in a.cam_ids),
            a.stats.wall_s if a.stats else 0.0,
            a.deaths,
        )
        for a in actors
    ]
    stats = [a.stats for a in actors if a.stats is not None]
    lost = [c for a in actors if a.lost for c in a.cam_ids if c not in stopped]
    for cam_id in stopped:
        consumer.lost.remove(cam_id)
    for s in stats:  # the actors' stage seconds, summed (CPU seconds across actors, not wall time)
        for stage, seconds in s.stage_s.items():
            consumer.stage[stage] = consumer.stage.get(stage, 0.0) + seconds
    result = LoopResult.from_parts(consumer, identities, stats)
    for cam_id in lost:
        result.end[cam_id] = "failed"
        result.errors[cam_id] = f"its Ray worker died (executor.ray.max_restarts {rc.max_restarts} used up)"
    for cam_id in stopped:
        result.end[cam_id] = (stop.reason if stop is not None else None) or "stopped"
    return result, workers


def _init(ray: Any, address: str | None, num_cpus: int | None) -> None:
    kwargs: dict[str, Any] = {"include_dashboard": False, "configure_logging": False, "log_to_driver": True}
    try:
        if address is None:
            ray.init(num_cpus=num_cpus, **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = address or "a local instance"
        raise UserError(
            f"--executor ray: cannot start or join Ray at {where}: {str(err).splitlines()[0]}"
        ) from None


def _start_actors(
    ray: Any,
    config: PipelineConfig,
    cams: Sequence[CameraSpec],
    detections_dir: str | Path | None,
    live_cams: Sequence[str],
    duration_s: float | None,
    max_frames: int | None,
) -> list[_Actor]:
    rc = config.executor.ray
    remote = ray.remote(ProducerWorker)
    spec = {c.cam_id: c for c in cams}
    env = {CRASH_ENV: os.environ[CRASH_ENV]} if os.environ.get(CRASH_ENV) else None
    actors = []
    for k, group in enumerate(group_cameras([c.cam_id for c in cams], config.executor.cams_per_worker)):
        restarts = 0 if set(group) & set(live_cams) else rc.max_restarts  # a stream cannot be read again
        options: dict[str, Any] = {
            "num_cpus": rc.num_cpus_per_actor,
            "num_gpus": rc.num_gpus_per_actor,
            "max_restarts": restarts,
            "max_task_retries": 0,
        }
        if env is not None:
            options["runtime_env"] = {"env_vars": env}
        handle = remote.options(**options).remote(
            config,
            [spec[c] for c in group],
            None if detections_dir is None else Path(detections_dir),
            rc.max_inflight_batches + 1,
            duration_s,
            max_frames,
        )
        actors.append(_Actor(f"ray-{k}", list(group), handle, max_restarts=restarts))
    log.info(
        "ray: %d actors (%s), %.2g CPU and %.2g GPU each",
        len(actors),
        "; ".join(f"{a.name}: {', '.join(a.cam_ids)}" for a in actors),
        rc.num_cpus_per_actor,
        rc.num_gpus_per_actor,
    )
    return actors


def _drive(
    ray: Any,
    actors: list[_Actor],
    consumer: AssociationConsumer,
    steps_per_batch: int,
    max_inflight: int,
    log_interval_s: float,
    stop: StopControl | None,
) -> list[str]:
    """Pull batches from every actor (at most ``max_inflight`` outstanding each), in each actor's order.

    Returns the cameras cut short by a stop signal (empty when every actor finished).
    """

    def fill(actor: _Actor) -> None:
        while actor.active and len(actor.pending) < max_inflight:
            ref = actor.handle.next_batch.remote(actor.next_seq, steps_per_batch)
            actor.pending.append((actor.next_seq, actor.epoch, ref))
            actor.next_seq += 1

    for actor in actors:
        fill(actor)
    next_log = time.perf_counter() + log_interval_s
    if stop is not None:
        stop.start()
    while any(a.active for a in actors):
        if stop is not None and stop.by_signal:
            cut = [c for a in actors if a.active for c in a.cam_ids]
            for actor in actors:
                actor.lost = actor.lost or actor.active  # no more requests
            consumer.lose(cut)
            log.warning("ray: stopped by %s: cameras %s end with what was received", stop.signal_name, cut)
            return cut
        heads = {a.pending[0][2]: a for a in actors if a.active and a.pending}
        ready, _ = ray.wait(list(heads), num_returns=1, timeout=log_interval_s)
        for ref in ready:
            actor = heads[ref]
            seq, epoch, _ = actor.pending.popleft()
            _receive(ray, actor, seq, epoch, ref, consumer)
            fill(actor)
        if time.perf_counter() >= next_log:
            next_log = time.perf_counter() + log_interval_s
            log.info("ray: frames %s", ", ".join(f"{c} {n}" for c, n in consumer.frames.items()))
    return []


def _receive(ray: Any, actor: _Actor, seq: int, epoch: int, ref: Any, consumer: AssociationConsumer) -> None:
    """Hand one result to the consumer; on an error, ask again from ``seq`` (or lose the actor)."""
    try:
        batch, stats = ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        cause = getattr(err, "cause", None)
        if isinstance(cause, UserError):
            raise UserError(str(cause)) from None
        raise
    except ray.exceptions.RayActorError as err:
        actor.pending.clear()  # later requests are asked again: batches are numbered, repeats are safe
        actor.next_seq = seq
        if isinstance(err, ray.exceptions.ActorUnavailableError) and not actor.healthy:
            time.sleep(0.2)  # still restarting: ask again
        elif epoch == actor.epoch:  # one count per death, not per request it failed
            _died(actor, consumer)
        return
    actor.healthy = True
    consumer.push(batch)
    if stats is not None:
        actor.stats = stats
        actor.pending.clear()  # requests beyond the end return nothing new


def _died(actor: _Actor, consumer: AssociationConsumer) -> None:
    actor.healthy = False
    actor.epoch += 1
    actor.deaths += 1
    if actor.deaths > actor.max_restarts:
        actor.lost = True
        consumer.lose(actor.cam_ids)
        log.error(
            "ray: worker %s died %d time(s) (max_restarts %d): cameras %s LOST from here on; "
            "the other cameras are still written",
            actor.name,
            actor.deaths,
            actor.max_restarts,
            ", ".join(actor.cam_ids),
        )
    else:
        log.warning(
            "ray: worker %s died; restarted (%d of %d): cameras %s resume from the start of their files",
            actor.name,
            actor.deaths,
            actor.max_restarts,
            ", ".join(actor.cam_ids),
        )
