"""Build a run's parts from the config: the re-ID model, the detector, the sources and a cameras' producer.

Shared by the local run (:mod:`pipeline.run`) and the Ray workers
(:mod:`pipeline.executors.ray_cluster`), which build the same producer for their cameras from the
same config, so the two paths cannot drift.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from infra.device import resolve_device, surely_cpu
from infra.errors import UserError
from pipeline.config import PipelineConfig
from pipeline.detections import ReplayDetector
from pipeline.detections import build_detector as build_detector_backend
from pipeline.frames import CameraSpec, FrameSource, open_source
from pipeline.frames.live import LiveSettings
from pipeline.identities import MATCHERS, MatcherLike
from pipeline.loop import CameraGroupProducer, Detector, TrackletEncoder
from pipeline.stop import StopControl
from pipeline.tracklets import TrackletBuilder
from pipeline.tracks import CameraTrackers

__all__ = [
    "PICKLE_SUFFIXES",
    "BackgroundMatcher",
    "build_detector",
    "build_producer",
    "check_detector_file",
    "describe_detector",
    "detector_device",
    "load_matcher",
    "load_matcher_in_background",
    "open_sources",
    "reid_backend",
]

log = logging.getLogger("pipeline")


def open_sources(
    cams: Sequence[CameraSpec], default_fps: float, live: LiveSettings | None = None
) -> dict[str, FrameSource]:
    """Open every camera once (all closed again if one fails); ``live``: timeouts of live sources."""
    sources: dict[str, FrameSource] = {}
    try:
        for cam in cams:
            sources[cam.cam_id] = open_source(cam, default_fps, live)
    except BaseException:
        for source in sources.values():
            source.close()
        raise
    return sources


def load_matcher(config: PipelineConfig, *, warn: bool = True) -> MatcherLike | None:
    """The re-ID model, or ``None`` when linking is off (or the default weights are not installed)."""
    if _linking_off(config, warn=warn):
        return None
    matcher = _load(config)
    _set_reid_threads(config, matcher)
    return matcher


def load_matcher_in_background(config: PipelineConfig, *, warn: bool = False) -> MatcherLike | None:
    """:func:`load_matcher` on a background thread: ``None`` at once when linking is off, else a
    :class:`BackgroundMatcher` (a Ray worker reads and detects its first frames meanwhile; the
    Ray driver starts the actors meanwhile)."""
    if _linking_off(config, warn=warn):
        return None
    return BackgroundMatcher(config)


class BackgroundMatcher:
    """The re-ID model of ``config``, loaded (torch imported, weights read) on a background thread.

    A Ray worker needs the model only when its first tracklet closes, seconds after its first
    frame: loading it meanwhile takes it off the worker's start-up. Every call waits for the
    load (and raises its error, e.g. a bad weights file, as a one-line :class:`UserError`); the
    first call also sets ``reid.threads`` on the calling thread (torch's CPU thread count is
    per thread with OpenMP, so it must be set where the model runs). Anything else (``device``,
    ``score_blocks``) is the loaded matcher's.
    """

    def __init__(self, config: PipelineConfig) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._config = config
        pool = ThreadPoolExecutor(1, thread_name_prefix="reid-load")
        self._future = pool.submit(_load, config)
        pool.shutdown(wait=False)
        self._threads_set = False

    def result(self) -> MatcherLike:
        """The loaded matcher (waits for the load)."""
        matcher = self._future.result()
        if not self._threads_set:
            _set_reid_threads(self._config, matcher)
            self._threads_set = True
        return matcher

    def encode(self, crops_bgr: Sequence[Any]) -> Any:
        return self.result().encode(crops_bgr)

    def embed(self, enc: Any) -> Any:
        return self.result().embed(enc)

    def score(self, enc_a: Any, enc_b: Any) -> Any:
        return self.result().score(enc_a, enc_b)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.result(), name)


def _linking_off(config: PipelineConfig, *, warn: bool) -> bool:
    if not config.association.enabled:
        return True
    if config.reid.weights is None and config.reid.model == "siamese" and not _default_reid_weights_exist():
        # A checkout without the shipped re-ID weights: say so loudly, track per camera only.
        if warn:
            log.warning(
                "re-ID default weights are not installed (reid_core/weights/): cross-camera linking is "
                "off; pass --reid-weights PATH to link identities across cameras"
            )
        return True
    return False


def _load(config: PipelineConfig) -> MatcherLike:
    if reid_backend(config) == "onnxruntime":  # the siamese network without importing torch
        from reid_core.onnx_inference import load_onnx_matcher

        try:
            return load_onnx_matcher(config.reid.weights, threads=config.reid.threads)
        except UserError as err:
            if config.reid.backend == "onnxruntime":
                raise
            log.warning("%s; re-ID runs on torch instead", err)
    try:
        loader = MATCHERS.get(config.reid.model)
    except UserError as err:
        raise UserError(f"{config.source}: reid.model: {err}") from None
    matcher = loader(config.reid.weights, config.runtime.device)
    if config.association.crop_pooling == "mean" and not callable(getattr(matcher, "pool", None)):
        raise UserError(
            f"{config.source}: association.crop_pooling: mean needs a re-ID model that pools crops; "
            f"reid.model {config.reid.model} cannot: set association.crop_pooling: pairs"
        )
    return matcher


def reid_backend(config: PipelineConfig) -> str:
    """What runs the re-ID network: ``onnxruntime`` or ``torch`` (``reid.backend``, ``auto`` resolved).

    ``auto`` takes ONNX Runtime for the ``siamese`` model when the run is on the CPU
    (``runtime.device: cpu``, or ``auto`` on a machine without an NVIDIA driver: the check needs
    no torch) and the weights have current ONNX exports beside them (camera normalisation runs
    on them too), else torch.
    """
    backend = config.reid.backend
    if backend == "onnxruntime" and config.reid.model != "siamese":
        raise UserError(f"{config.source}: reid.backend: onnxruntime runs the siamese model only")
    if backend != "auto":
        return backend
    if config.reid.model != "siamese" or not surely_cpu(config.runtime.device):
        return "torch"
    import importlib.util

    from reid_core.onnx_inference import onnx_exports_exist

    if importlib.util.find_spec("onnxruntime") is None:
        return "torch"
    if not onnx_exports_exist(config.reid.weights):
        weights = config.reid.weights or "the default weights"
        log.debug(
            "re-ID runs on torch: %s has no ONNX exports (python -m reid_core.onnx_export %s makes them: "
            "faster start-up and crops on the CPU)",
            weights,
            config.reid.weights or "",
        )
        return "torch"
    return "onnxruntime"


def _set_reid_threads(config: PipelineConfig, matcher: MatcherLike) -> None:
    if config.reid.threads > 0 and str(getattr(matcher, "device", "cpu")) == "cpu":
        import torch

        torch.set_num_threads(config.reid.threads)  # detection uses its own threads


def _default_reid_weights_exist() -> bool:
    try:
        from reid_core.shipped import DEFAULT_WEIGHTS
    except ImportError:
        return False
    return Path(DEFAULT_WEIGHTS).is_file()


PICKLE_SUFFIXES = (".pt", ".pth", ".pkl")  # torch/pickle files: loading one can run code in it


def check_detector_file(weights: str | None, *, allow_pickle: bool) -> None:
    """Refuse a pickle-based detector file unless ``allow_pickle`` (``--allow-pickle-detector``).

    ultralytics loads ``.pt`` files with ``torch.load(weights_only=False)``: a crafted file runs
    its payload while loading. Safe formats hold no code.

    Raises:
        UserError: ``weights`` is a pickle and it was not allowed (one line naming the file).
    """
    if weights is None or allow_pickle or Path(weights).suffix.lower() not in PICKLE_SUFFIXES:
        return
    raise UserError(
        f"{weights}: a {Path(weights).suffix} detector is a Python pickle, and loading one runs any code it "
        "holds; export it to a safe format (.onnx, .tflite, an OpenVINO folder, a TensorRT .engine) or, "
        "if you trust the file, pass --allow-pickle-detector"
    )


def build_detector(
    config: PipelineConfig,
    cam_ids: Sequence[str],
    detections_dir: str | Path | None,
    *,
    allow_pickle: bool = False,
) -> Detector:
    """Replayed detections (``detections_dir``/``<cam_id>.txt``) or the configured detector.

    A pickle-based detector file (``.pt``) is refused unless ``allow_pickle`` (see
    :func:`check_detector_file`).
    """
    if detections_dir is not None:
        return ReplayDetector(detections_dir, cam_ids, conf_threshold=config.detector.conf_threshold)
    check_detector_file(config.detector.weights, allow_pickle=allow_pickle)
    return build_detector_backend(config.detector, device=config.runtime.device, source=config.source)


def detector_device(detector: Detector, config: PipelineConfig) -> str:
    device = getattr(detector, "device", None)
    return str(device) if device is not None else str(resolve_device(config.runtime.device))


def describe_detector(detector: Detector) -> str:
    """The summary's detector line (``describe()`` of the back end, else its class name)."""
    describe = getattr(detector, "describe", None)
    return str(describe()) if callable(describe) else type(detector).__name__


def build_producer(
    config: PipelineConfig,
    sources: Mapping[str, FrameSource],
    detector: Detector,
    matcher: MatcherLike | None,
    *,
    progress: bool | str | None,
    stop: StopControl | None = None,
    max_frames: int | None = None,
) -> CameraGroupProducer:
    """The producer of ``sources`` (opened): their trackers, a tracklet builder, the encoder.

    ``stop`` and ``max_frames`` end the reading early (:mod:`pipeline.stop`); live sources drop
    frames to keep up when ``runtime.when_behind`` says so.
    """
    policy = config.runtime.when_behind
    drops = frozenset(c for c, s in sources.items() if policy == "drop" or (policy == "auto" and s.live))
    n = config.detector.every_n_frames  # a tracker sees every n-th frame: its frame rate is fps / n
    fps = {c: s.info.fps / n for c, s in sources.items()}
    return CameraGroupProducer(
        sources,
        detector,
        CameraTrackers.from_config(
            config.tracker, fps, config.source, {c: s.info.frame_wh for c, s in sources.items()}
        ),
        TrackletBuilder.from_config(config.tracklets),
        TrackletEncoder(
            matcher,
            crops_per_pair=config.association.crops_per_pair,
            pool=config.association.crop_pooling == "mean",
            camera_norm_crops=config.reid.camera_norm_crops if config.reid.camera_norm else None,
            camera_norm_max_wait_s=config.reid.camera_norm_max_wait_s,
        ),
        queue_size_frames=config.runtime.queue_size_frames,
        log_interval_s=config.runtime.log_interval_s,
        progress=progress,
        frames_in_flight_mib=config.runtime.frames_in_flight_mib,
        every_n_frames=n,
        stop=stop,
        max_frames=max_frames,
        drop_when_behind=drops,
    )
