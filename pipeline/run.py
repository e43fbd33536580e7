"""The run: frames → detections → tracks → tracklets → identities → export.

This is the only module that knows the order of the stages.

Threads: one reader per camera (:class:`pipeline.frames.FrameReader`) decodes into a bounded
queue; everything stateful (detection, tracking, tracklets, association) runs on the calling
thread. Each step takes the next frame of every camera whose next frame is due (cameras are
kept in step by their timestamps), detects people in all of them with **one** detector call,
updates each camera's tracker and tracklets, and links the tracklets that closed to global
identities at once (streamed to ``--events``). At the end the remaining tracklets close, and the
outputs are written, each atomically: ``--out`` JSON, ``--mot-dir`` MOTChallenge files,
``--save-video`` videos (a second pass over each source).

Every output path is checked before the first frame is read; every source is opened and
checked, and every model loaded, before any output is written.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from infra.device import resolve_device
from infra.errors import UserError
from infra.fileio import check_writable
from pipeline.config import PipelineConfig, resolve_tracker_params
from pipeline.detections import ReplayDetector, YoloDetector
from pipeline.events import EventWriter
from pipeline.export import CameraRecord, IdentityRecord, TracksFile, write_tracks_json
from pipeline.frames import FrameReader, FrameSource, open_source
from pipeline.identities import IdentityLinker
from pipeline.tracklets import Tracklet, TrackletBuilder
from pipeline.tracks import CameraTrackers

__all__ = ["CameraSpec", "RunOutputs", "RunSummary", "check_outputs", "run"]

log = logging.getLogger("pipeline")

STAGES = ("decode", "detect", "track", "tracklets", "reid", "export")
# batches of closed tracklets that may wait for the linking thread before the main loop waits too
_MAX_PENDING_LINK_BATCHES = 8


@dataclass(frozen=True, slots=True)
class CameraSpec:
    """One ``--cams`` entry: ``source`` (path, URL or webcam index) and its ``cam_id``."""

    source: str
    cam_id: str


@dataclass(frozen=True)
class RunOutputs:
    """Where a run writes. ``out`` is required; the rest are optional.

    Attributes:
        out: the tracks JSON file.
        mot_dir: folder for one MOTChallenge file per camera, ``<cam_id>.txt`` (global ids).
        save_video_dir: folder for one annotated video per camera, ``<cam_id>.mp4``.
        events: JSON-lines file of identity assignments, written as they happen.
        overwrite: replace existing output files.
    """

    out: Path
    mot_dir: Path | None = None
    save_video_dir: Path | None = None
    events: Path | None = None
    overwrite: bool = False


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

    @property
    def total_frames(self) -> int:
        return sum(self.frames.values())

    def stage_fps(self) -> dict[str, float | None]:
        """Frames (all cameras) per second of each stage's own time; ``None`` for an unmeasured stage."""
        return {s: (self.total_frames / t if t > 0 else None) for s, t in self.stage_s.items()}

    def format(self) -> str:
        """A few human-readable lines."""
        cams = ", ".join(
            f"{c} {n}" + (f" ({self.skipped[c]} skipped)" if self.skipped.get(c) else "")
            for c, n in self.frames.items()
        )
        fps = self.total_frames / self.wall_s if self.wall_s > 0 else 0.0
        lines = [
            f"frames: {self.total_frames} ({cams})",
            f"tracklets: {self.tracklets} kept, {self.tracklets_dropped} dropped as too short",
            f"identities: {self.identities} ({self.cross_camera_identities} seen by more than one camera)",
            f"wall time: {self.wall_s:.1f} s, {fps:.1f} frames/s end to end on {self.device}",
            "stage time (frames/s): "
            + ", ".join(
                f"{s} {t:.2f} s" + (f" ({v:.0f})" if (v := self.stage_fps()[s]) is not None else "")
                for s, t in self.stage_s.items()
            ),
        ]
        return "\n".join(lines)


def check_outputs(outputs: RunOutputs, cam_ids: Sequence[str]) -> None:
    """Check, before any work, that every output can be written; raise UserError naming the first that cannot.

    Folders (``mot_dir``, ``save_video_dir``) may exist or not; when missing, their parent must be
    a writable folder (they are created only when the run writes them).
    """
    check_writable(outputs.out, overwrite=outputs.overwrite)
    if outputs.events is not None:
        if Path(outputs.events).resolve() == Path(outputs.out).resolve():
            raise UserError(f"{outputs.events}: --events and --out name the same file")
        check_writable(outputs.events, overwrite=outputs.overwrite)
    for folder, suffix, flag in (
        (outputs.mot_dir, ".txt", "--mot-dir"),
        (outputs.save_video_dir, ".mp4", "--save-video"),
    ):
        if folder is None:
            continue
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise UserError(f"{folder}: {flag} must be a folder, it is a file")
        if not folder.exists():
            check_writable(folder, overwrite=False)  # parent exists and is writable
            continue
        for cam_id in cam_ids:
            check_writable(folder / f"{cam_id}{suffix}", overwrite=outputs.overwrite)


def _open_sources(cams: Sequence[CameraSpec], default_fps: float) -> dict[str, FrameSource]:
    seen: dict[str, str] = {}
    for cam in cams:
        if cam.cam_id in seen:
            raise UserError(
                f"duplicate camera id {cam.cam_id!r} (from {seen[cam.cam_id]} and {cam.source}); "
                "pass --cam-ids"
            )
        seen[cam.cam_id] = cam.source
    return {cam.cam_id: open_source(cam.source, cam.cam_id, default_fps=default_fps) for cam in cams}


def _identity_records(
    linker: IdentityLinker, finished: dict[tuple[str, int], Tracklet]
) -> list[IdentityRecord]:
    records = []
    for gid, keys in linker.identities().items():
        tracklets = tuple(finished[k].to_record() for k in keys)
        records.append(IdentityRecord(gid, tracklets))
    return records


def _write_mot(
    folder: Path, identities: Sequence[IdentityRecord], cam_ids: Sequence[str], overwrite: bool
) -> None:
    from infra.motchallenge import MotRows, write_mot

    folder.mkdir(parents=False, exist_ok=True)
    for cam_id in cam_ids:
        frames, ids, boxes, scores = [], [], [], []
        for identity in identities:
            for tracklet in identity.tracklets:
                if tracklet.cam_id != cam_id:
                    continue
                for box in tracklet.boxes:
                    x1, y1, x2, y2 = box.xyxy
                    frames.append(box.frame + 1)  # MOTChallenge frames are 1-based
                    ids.append(identity.global_id)
                    boxes.append((x1, y1, x2 - x1, y2 - y1))
                    scores.append(1.0 if box.score is None else box.score)
        rows = MotRows(
            np.asarray(frames, np.int64),
            np.asarray(ids, np.int64),
            np.asarray(boxes, np.float64).reshape(-1, 4),
            np.asarray(scores, np.float64),
        )
        write_mot(folder / f"{cam_id}.txt", rows, overwrite=overwrite)


def _default_reid_weights_exist() -> bool:
    try:
        from reid_core.weights import DEFAULT_WEIGHTS
    except ImportError:
        return False
    return Path(DEFAULT_WEIGHTS).is_file()


def run(
    cams: Sequence[CameraSpec],
    outputs: RunOutputs,
    config: PipelineConfig,
    *,
    detections_dir: str | Path | None = None,
    progress: bool | None = None,
) -> RunSummary:
    """Run the whole pipeline on ``cams`` and write ``outputs``.

    Args:
        cams: the cameras (sources and unique ids).
        outputs: where to write (checked first).
        config: the run's configuration (device and weights already overridden by the CLI).
        detections_dir: replay ``<cam_id>.txt`` MOTChallenge detections instead of running the detector.
        progress: per-camera progress bars; ``None`` = only when stderr is a terminal.

    Returns:
        The :class:`RunSummary`.

    Raises:
        UserError: a bad source, output path, weights file or detections file (named); raised
            before anything is written.
    """
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    wall_start = time.perf_counter()
    summary = RunSummary()
    cam_ids = [c.cam_id for c in cams]

    # -- checks and set-up: nothing is written before all of these pass
    check_outputs(outputs, cam_ids)
    sources = _open_sources(cams, config.runtime.default_fps)
    if outputs.save_video_dir is not None:
        for src in sources.values():
            if not src.info.rewindable:
                raise UserError(
                    f"{src.info.source}: --save-video needs a video file or folder, "
                    f"not a live {src.info.kind}"
                )
    tracker_params = resolve_tracker_params(config.tracker, source=config.source)
    # the re-ID weights first: a bad file is reported before the detector loads (and logs)
    assoc = config.association
    matcher = None
    link_enabled = assoc.enabled
    if link_enabled and config.reid.weights is None and not _default_reid_weights_exist():
        # A checkout without the shipped re-ID weights: say so loudly, track per camera only.
        log.warning(
            "re-ID default weights are not installed (reid_core/weights/): cross-camera linking is "
            "off; pass --reid-weights PATH to link identities across cameras"
        )
        link_enabled = False
    if link_enabled:
        from reid_core.inference import load_matcher

        matcher = load_matcher(config.reid.weights, device=config.runtime.device)
    det_cfg = config.detector
    if detections_dir is not None:
        detector: ReplayDetector | YoloDetector = ReplayDetector(
            detections_dir, cam_ids, det_cfg.conf_threshold
        )
    else:
        detector = YoloDetector(
            det_cfg.weights,
            conf_threshold=det_cfg.conf_threshold,
            classes=det_cfg.classes,
            imgsz_px=det_cfg.imgsz_px,
            device=config.runtime.device,
            batch_frames=det_cfg.batch_frames,
        )
    summary.device = (
        detector.device if isinstance(detector, YoloDetector) else str(resolve_device(config.runtime.device))
    )
    summary.device = str(getattr(matcher, "device", summary.device))  # re-ID's device when it runs
    try:
        trackers = CameraTrackers(
            {c: s.info.fps for c, s in sources.items()}, config.tracker.name, tracker_params
        )
    except (TypeError, ValueError) as err:
        raise UserError(f"{config.source}: tracker {config.tracker.name!r}: {err}") from None
    # config sections mirror the constructors' parameters (kept equal by tests/pipeline/test_config.py)
    builder = TrackletBuilder(**dataclasses.asdict(config.tracklets))
    events = EventWriter(outputs.events) if outputs.events is not None else None
    linker = IdentityLinker(
        matcher, **{**dataclasses.asdict(assoc), "enabled": link_enabled}, on_assign=events
    )
    for cam_id, src in sources.items():
        i = src.info
        log.info(
            "%s: %s (%s, %dx%d, %.3f fps, %s frames)",
            cam_id,
            i.source,
            i.kind,
            i.width,
            i.height,
            i.fps,
            i.num_frames if i.num_frames is not None else "?",
        )

    # -- the loop
    readers = {c: FrameReader(s, config.runtime.queue_size_frames) for c, s in sources.items()}
    bars = {
        c: tqdm(
            total=s.info.num_frames,
            desc=c,
            unit="frame",
            position=k,
            leave=True,
            disable=None if progress is None else not progress,
            dynamic_ncols=True,
        )
        for k, (c, s) in enumerate(sources.items())
    }
    finished: dict[tuple[str, int], Tracklet] = {}
    last_index = dict.fromkeys(cam_ids, -1)
    counts = dict.fromkeys(cam_ids, 0)
    stage = summary.stage_s
    step_s = 0.5 / max(s.info.fps for s in sources.values())
    next_log = time.perf_counter() + config.runtime.log_interval_s
    log_counts = dict(counts)
    log_start = time.perf_counter()
    redirect = logging_redirect_tqdm()  # log lines above the progress bars, not through them
    redirect.__enter__()
    # Cross-camera linking runs on one worker thread, in submission order (so decisions are the
    # same as inline), overlapping detection: the bundled TFLite detector uses one core.
    link_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reid-link")
    pending: deque[Future[float]] = deque()

    def link(batch: list[Tracklet], oldest_open_s: float | None) -> float:
        t0 = time.perf_counter()
        linker.add(batch)
        if oldest_open_s is not None:
            linker.evict_before(oldest_open_s)
        return time.perf_counter() - t0

    try:
        if events is not None:
            events.open()
        for reader in readers.values():
            reader.start()
        heads = {c: readers[c].get() for c in cam_ids}
        while True:
            closed: list[Tracklet] = []
            for cam_id in [c for c, f in heads.items() if f is None]:
                del heads[cam_id]
                t0 = time.perf_counter()
                closed.extend(builder.close_camera(cam_id))
                stage["tracklets"] += time.perf_counter() - t0
            if heads:
                t_min = min(f.time_s for f in heads.values() if f is not None)
                batch = [f for f in heads.values() if f is not None and f.time_s <= t_min + step_s]
                t0 = time.perf_counter()
                dets = detector.detect(batch)
                stage["detect"] += time.perf_counter() - t0
                for frame, det in zip(batch, dets, strict=True):
                    t0 = time.perf_counter()
                    tracks, deleted = trackers.update(frame.cam_id, det)
                    t1 = time.perf_counter()
                    closed.extend(builder.update(frame, det, tracks, deleted))
                    stage["track"] += t1 - t0
                    stage["tracklets"] += time.perf_counter() - t1
                    last_index[frame.cam_id] = frame.index
                    counts[frame.cam_id] += 1
                    bars[frame.cam_id].update(frame.index + 1 - bars[frame.cam_id].n)
                    heads[frame.cam_id] = readers[frame.cam_id].get()
            if closed:
                pending.append(link_worker.submit(link, closed, builder.earliest_open_start_s()))
                finished.update((t.key, t) for t in closed)
            # collect finished linking (re-raising its errors); wait when too far behind (memory bound)
            while pending and (pending[0].done() or len(pending) > _MAX_PENDING_LINK_BATCHES):
                stage["reid"] += pending.popleft().result()
            if not heads and builder.num_open == 0:
                break
            now = time.perf_counter()
            if now >= next_log:
                span = now - log_start
                log.info(
                    "fps: "
                    + ", ".join(f"{c} {(counts[c] - log_counts[c]) / span:.1f}" for c in cam_ids)
                    + f" | open tracklets {builder.num_open}, identities {linker.num_identities}"
                )
                log_counts, log_start, next_log = dict(counts), now, now + config.runtime.log_interval_s
        while pending:
            stage["reid"] += pending.popleft().result()
    finally:
        link_worker.shutdown(wait=True, cancel_futures=True)
        for reader in readers.values():
            reader.close()
        for bar in bars.values():
            bar.close()
        redirect.__exit__(None, None, None)
        if events is not None:
            events.close()
    for cam_id, reader in readers.items():
        stage["decode"] += reader.decode_s
        summary.frames[cam_id] = counts[cam_id]
        summary.skipped[cam_id] = sources[cam_id].skipped
        if counts[cam_id] == 0:
            raise UserError(f"{sources[cam_id].info.source}: no frame could be decoded")

    # -- outputs
    t0 = time.perf_counter()
    identities = _identity_records(linker, finished)
    cameras = tuple(
        CameraRecord(
            c,
            s.info.source,
            s.info.fps,
            s.info.width,
            s.info.height,
            last_index[c] + 1 if s.info.rewindable else counts[c],
        )
        for c, s in sources.items()
    )
    write_tracks_json(outputs.out, TracksFile(cameras, tuple(identities)))
    if outputs.mot_dir is not None:
        _write_mot(Path(outputs.mot_dir), identities, cam_ids, outputs.overwrite)
    stage["export"] += time.perf_counter() - t0
    if outputs.save_video_dir is not None:
        from pipeline.video_out import write_identity_video

        folder = Path(outputs.save_video_dir)
        folder.mkdir(parents=False, exist_ok=True)
        for cam_id, src in sources.items():
            t0 = time.perf_counter()
            write_identity_video(src, identities, folder / f"{cam_id}.mp4")
            stage.setdefault("video", 0.0)
            stage["video"] += time.perf_counter() - t0

    summary.tracklets = len(finished)
    summary.tracklets_dropped = builder.dropped
    summary.identities = len(identities)
    summary.cross_camera_identities = sum(len({t.cam_id for t in i.tracklets}) > 1 for i in identities)
    summary.wall_s = time.perf_counter() - wall_start
    return summary
