"""One run, wired: build every part from the config, hand them to the loop, give the result to the sinks.

Order of the checks, so that a bad input fails fast and nothing is ever half-written: the
outputs (every sink's :meth:`~pipeline.export.Sink.check`, before any source is opened), the
sources (each opened once), the re-ID weights, the detector. The outputs are written at the end
through one :class:`~infra.fileio.StagedFiles`: all of them or none.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from infra.errors import UserError
from infra.fileio import StagedFiles
from infra.quiet import native_stderr_off
from pipeline.config import PipelineConfig, check_topology_cameras
from pipeline.export import RunResult, Sink, check_sinks
from pipeline.export.interpolation import count_interpolated, interpolate_tracks
from pipeline.frames import CameraSpec, FrameSource
from pipeline.frames.live import LiveSettings
from pipeline.identities import ASSOCIATORS, Assignment, Associator, LinkScore, MatcherLike, resolve_method
from pipeline.loop import AssociationConsumer, LoopResult, RunSummary, StreamLoop, camera_record
from pipeline.parts import (
    build_detector,
    build_producer,
    check_detector_file,
    describe_detector,
    detector_device,
    load_matcher,
    load_matcher_in_background,
    open_sources,
)
from pipeline.records import IdentityRecord, LinkRecord, TrackletRecord, TracksFile
from pipeline.stop import Snapshots, StopControl

__all__ = ["CameraSpec", "RunSummary", "run"]

log = logging.getLogger("pipeline")


def run(
    cams: Sequence[CameraSpec],
    sinks: Sequence[Sink],
    config: PipelineConfig,
    *,
    detections_dir: str | Path | None = None,
    progress: bool | str | None = None,
    stop: StopControl | None = None,
    max_frames: int | None = None,
    allow_pickle_detector: bool = False,
) -> RunSummary:
    """Run the whole pipeline on ``cams`` and give the result to ``sinks``.

    Args:
        cams: the cameras (sources and unique ids).
        sinks: the outputs (checked first; see :mod:`pipeline.export`).
        config: the run's configuration (device and weights already overridden by the CLI).
        detections_dir: replay ``<cam_id>.txt`` MOTChallenge detections instead of running the detector.
        progress: per-camera progress: ``auto`` (``None``; a bar on a terminal, a plain line
            otherwise), ``bar``, ``lines`` or ``off`` (``False``).
        stop: ends the reading early (signals, ``--duration``; :mod:`pipeline.stop`); the outputs
            are still written, from the frames read so far.
        max_frames: frames read per camera at most (``--max-frames``); ``None`` = no limit.
        allow_pickle_detector: load a pickle-based (``.pt``) detector file, which can run code.

    Returns:
        The run's figures; ``summary.stopped`` and ``summary.failed`` say whether it ended early
        or lost a camera (the outputs were written either way).

    Raises:
        UserError: a bad source, output path, weights file or detections file (named); raised
            before anything is written. Also when every camera failed (nothing is written).
    """
    wall_start = time.perf_counter()
    summary = RunSummary()
    _check_unique(cams)
    check_topology_cameras(config, [c.cam_id for c in cams])
    check_sinks(sinks, cams)
    if detections_dir is None:
        check_detector_file(config.detector.weights, allow_pickle=allow_pickle_detector)
    sources = open_sources(cams, config.runtime.default_fps, LiveSettings.from_config(config.runtime))
    staged = StagedFiles()
    try:
        if config.executor.kind == "ray":  # the driver's model loads while the Ray actors start
            matcher = load_matcher_in_background(config, warn=True)
        else:
            matcher = load_matcher(config)  # first: a bad re-ID file is reported before the detector logs
        _log_sources(sources)
        snapshots = _snapshots(sinks, config)
        consumer = AssociationConsumer(
            _build_associator(config, matcher, sources, sinks, snapshots), list(sources), summary.stage_s
        )
        if config.executor.kind == "ray":
            result = _run_on_ray(
                config, cams, sources, matcher, consumer, summary, detections_dir, stop, max_frames
            )
        else:
            with native_stderr_off(not log.isEnabledFor(logging.DEBUG)):  # TFLite's "INFO: Created..."
                detector = build_detector(
                    config, [c.cam_id for c in cams], detections_dir, allow_pickle=allow_pickle_detector
                )
            summary.device = str(getattr(matcher, "device", None) or detector_device(detector, config))
            summary.detector = describe_detector(detector)
            producer = build_producer(
                config, sources, detector, matcher, progress=progress, stop=stop, max_frames=max_frames
            )
            result = StreamLoop(producer, consumer, summary, snapshots=snapshots).run()
        tracks = _interpolated(_tracks_file(sources, result), config, summary)
        _summarise(summary, sources, result, tracks)
        _finish_sinks(sinks, RunResult(tracks, sources, summary, config), staged)
    except BaseException:
        staged.rollback()
        for sink in sinks:
            sink.abort()
        raise
    finally:
        for source in sources.values():
            source.close()
    summary.wall_s = time.perf_counter() - wall_start
    summary.peak_rss_mib = _peak_rss_mib()
    return summary


def _run_on_ray(
    config: PipelineConfig,
    cams: Sequence[CameraSpec],
    sources: Mapping[str, FrameSource],
    matcher: MatcherLike | None,
    consumer: AssociationConsumer,
    summary: RunSummary,
    detections_dir: str | Path | None,
    stop: StopControl | None,
    max_frames: int | None,
) -> LoopResult:
    """The cameras on Ray actors (:mod:`pipeline.executors.ray_cluster`), association here."""
    from pipeline.executors.ray_cluster import run_on_ray

    live = [c for c, s in sources.items() if s.live]
    result, workers = run_on_ray(
        config,
        cams,
        consumer,
        detections_dir=detections_dir,
        live_cams=live,
        stop=stop,
        max_frames=max_frames,
        ready=getattr(matcher, "result", None),
    )
    summary.executor = "ray"
    summary.workers = workers
    summary.device = f"{config.runtime.device} per Ray actor"
    summary.detector = "replayed" if detections_dir is not None else "on the Ray actors"
    return result


def _peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (0 where ``resource`` is missing: Windows)."""
    try:
        import resource
    except ImportError:
        return 0.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _check_unique(cams: Sequence[CameraSpec]) -> None:
    seen: dict[str, str] = {}
    for cam in cams:
        if cam.cam_id in seen:
            raise UserError(
                f"duplicate camera id {cam.cam_id!r} (from {seen[cam.cam_id]} and {cam.source}); "
                "pass --cam-ids"
            )
        seen[cam.cam_id] = cam.source


def _log_sources(sources: Mapping[str, FrameSource]) -> None:
    for cam_id, source in sources.items():
        i = source.info
        frames = i.num_frames if i.num_frames is not None else "?"
        log.info(
            "%s: %s (%s, %dx%d, %.3f fps, %s frames)",
            cam_id,
            i.source,
            i.kind,
            i.width,
            i.height,
            i.fps,
            frames,
        )


def _build_associator(
    config: PipelineConfig,
    matcher: MatcherLike | None,
    sources: Mapping[str, FrameSource],
    sinks: Sequence[Sink],
    snapshots: Snapshots | None = None,
) -> Associator:
    try:
        factory = ASSOCIATORS.get(
            resolve_method(config.association.method, (s.live for s in sources.values()))
        )
    except UserError as err:
        raise UserError(f"{config.source}: association.method: {err}") from None

    def on_assign(assignment: Assignment) -> None:
        for sink in sinks:
            sink.on_assign(assignment)
        if snapshots is not None:
            snapshots.on_assign(assignment)

    cameras = {c: s.info for c, s in sources.items()}
    return factory.from_config(config.association, matcher=matcher, cameras=cameras, on_assign=on_assign)


def _finish_sinks(sinks: Sequence[Sink], result: RunResult, staged: StagedFiles) -> None:
    """Every sink writes its outputs through ``staged`` (timed per stage); then all are renamed together."""
    stage_s = result.summary.stage_s
    try:
        for sink in sinks:
            t0 = time.perf_counter()
            sink.finish(result, staged)
            stage = getattr(sink, "stage", "export")  # a sink not derived from BaseSink counts as export
            stage_s[stage] = stage_s.get(stage, 0.0) + time.perf_counter() - t0
        staged.commit()
    except OSError as err:  # a full disk, a read-only file system...: one line, nothing half-written
        target = staged.target_of(err.filename) if err.filename else None
        where = f"{target or err.filename}: " if err.filename else ""
        raise UserError(f"{where}cannot write the outputs ({err.strerror or err}); none written") from None


def _snapshots(sinks: Sequence[Sink], config: PipelineConfig) -> Snapshots | None:
    """Periodic snapshots through the sinks that can write one (``snapshot(tracks)``), if configured."""
    writers = [w for sink in sinks if (w := getattr(sink, "snapshot", None)) is not None]
    if not writers or config.runtime.snapshot_interval_s is None:
        return None

    def write(tracks: TracksFile) -> None:
        for writer in writers:
            try:
                writer(tracks)
            except OSError as err:  # a snapshot is insurance: the run goes on, the final write will tell
                log.warning("snapshot not written: %s (%s)", err.strerror or err, err.filename)

    return Snapshots(write, config.runtime.snapshot_interval_s)


def _tracks_file(sources: Mapping[str, FrameSource], result: LoopResult) -> TracksFile:
    """The records of the run: cameras (frames read, how each ended) and identities (tracklets in time order).

    A camera that ended with no frame decoded counts as failed; when every camera failed there
    is nothing to write (UserError naming the first).
    """
    errors = dict(result.errors)
    for cam_id, count in result.frames.items():
        if count == 0 and result.end.get(cam_id, "ended") == "ended":
            errors[cam_id] = f"{sources[cam_id].info.source}: no frame could be decoded"
    if errors and len(errors) == len(sources):
        raise UserError(next(iter(errors.values())))
    cameras = tuple(
        camera_record(
            s,
            result.frames[c],
            result.last_index[c],
            "failed" if c in errors else result.end.get(c, "ended"),
            errors.get(c),
            result.gaps.get(c, ()),
            result.frames_dropped.get(c, 0),
        )
        for c, s in sources.items()
    )
    identities = tuple(
        IdentityRecord(
            identity.global_id,
            tuple(
                _with_link(result.tracklets[k].to_record(), identity.links[n] if identity.links else None)
                for n, k in enumerate(identity.members)
            ),
        )
        for identity in result.identities
    )
    complete = not errors and not result.lost and all(c.end != "stopped" for c in cameras)
    return TracksFile(cameras, identities, complete=complete)


def _interpolated(tracks: TracksFile, config: PipelineConfig, summary: RunSummary) -> TracksFile:
    """``tracks`` with the identities' gaps filled when ``export.interpolation`` is on (timed as export)."""
    cfg = config.export.interpolation
    if not cfg.enabled:
        return tracks
    t0 = time.perf_counter()
    out = interpolate_tracks(tracks, max_gap_s=cfg.max_gap_s, smoothing_s=cfg.smoothing_s)
    summary.stage_s["export"] = summary.stage_s.get("export", 0.0) + time.perf_counter() - t0
    log.debug("interpolation: %d boxes filled", count_interpolated(out) - count_interpolated(tracks))
    return out


def _with_link(record: TrackletRecord, link: LinkScore | None) -> TrackletRecord:
    """The record with the associator's link score and margin, when it gave one."""
    if link is None:
        return record
    return dataclasses.replace(record, link=LinkRecord(link.score, link.margin_logodds))


def _summarise(
    summary: RunSummary, sources: Mapping[str, FrameSource], result: LoopResult, tracks: TracksFile
) -> None:
    summary.frames = dict(result.frames)
    summary.skipped = dict(result.skipped)
    summary.lost = list(result.lost)
    summary.frames_dropped = {c.cam_id: c.frames_dropped for c in tracks.cameras}
    summary.gaps = {c.cam_id: len(c.gaps) for c in tracks.cameras}
    summary.failed = {c.cam_id: str(c.error) for c in tracks.cameras if c.end == "failed"}
    ends = {c.end for c in tracks.cameras} - {"ended", "failed"}
    summary.stopped = "stopped" if "stopped" in ends else next(iter(sorted(ends)), None)
    summary.tracklets = len(result.tracklets)
    summary.tracklets_dropped = result.dropped
    summary.identities = len(tracks.identities)
    summary.cross_camera_identities = sum(len({t.cam_id for t in i.tracklets}) > 1 for i in tracks.identities)
