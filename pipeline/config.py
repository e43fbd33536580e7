"""Every knob of a run, as frozen dataclasses loaded once from ``configs/pipeline.yaml``.

The YAML file is the one place where a run is configured; the CLI's flags only override a few
values (device, weights). Unknown keys and wrong types are :class:`~infra.errors.ConfigError`
naming the file and the key (strict loading by :mod:`infra.yaml_config`).

**One default per setting**: these dataclasses are the only place a default is written. The
parts' constructors take every setting as a required keyword argument and a ``from_config``
class method builds them from their section (``TrackletBuilder.from_config(cfg.tracklets)``).

The default config ships twice with identical text: ``configs/pipeline.yaml`` (what users read
and copy) and ``pipeline/pipeline.yaml`` (package data, so the command works after a plain
``pip install``); a test keeps the two identical.

Example:
    >>> cfg = load_config()  # the shipped defaults
    >>> cfg.tracker.name, cfg.detector.classes, cfg.association.method
    ('bytetrack', (0,), 'online')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from infra.errors import ConfigError
from infra.yaml_config import load_yaml_mapping, parse_dataclass
from reid_core.data.colour import MODES as COLOUR_MODES

__all__ = [
    "CROP_POOLINGS",
    "REID_BACKENDS",
    "AssociationConfig",
    "CameraPairConfig",
    "CameraTopologyConfig",
    "DetectorConfig",
    "ExecutorConfig",
    "ExportConfig",
    "InterpolationConfig",
    "PipelineConfig",
    "RayExecutorConfig",
    "ReIDConfig",
    "ReportConfig",
    "RuntimeConfig",
    "TopologyConfig",
    "TrackerConfig",
    "TrackletConfig",
    "check_topology_cameras",
    "default_config_text",
    "load_config",
    "resolve_tracker_params",
]

CROP_POOLINGS = ("pairs", "mean")
"""Values of ``association.crop_pooling``."""
REID_BACKENDS = ("auto", "onnxruntime", "torch")
"""Values of ``reid.backend``."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class DetectorConfig:
    """The person detector (a YOLO detect model) and how it runs.

    Attributes:
        backend: the back end (registry ``pipeline.detections.DETECTORS``): ``litert`` runs a
            ``.tflite`` file on LiteRT interpreters, one per core; ``ultralytics`` runs any
            ultralytics model file (GPU batching for ``.pt``/``.onnx``/``.engine``); ``auto`` =
            ``litert`` for a ``.tflite`` file, else ``ultralytics``. The summary names it.
        weights: an ultralytics model file (``.pt``, ``.onnx``, ``.tflite``…); ``None`` = the bundled
            TFLite YOLOv8n int8 (CPU, AGPL-3.0). ``--detector`` overrides it.
        conf_threshold: smallest detector score kept, in [0, 1]. Lower finds more people (and more
            false boxes); ByteTrack uses the low-score boxes, SORT mostly does not.
        classes: detector class ids kept (COCO person = 0).
        imgsz_px: network input size in pixels (the bundled TFLite model is fixed at 640).
        batch_frames: most frames per predict call; the frames of several cameras go in one call.
            Higher amortises per-call overhead on a GPU; the bundled TFLite model still runs its
            network one frame at a time (its graph has batch 1). ``ultralytics`` back end only.
        threads: CPU threads for detection in all (``litert``); 0 = every core the process may
            use. Lower leaves cores to other work.
        parallelism: frames detected at once (``litert``: interpreters, each with
            ``threads / parallelism`` threads); 0 = one per thread, the fastest split measured
            on the bundled model (docs/speed.md).
        every_n_frames: detection stride: detect in every n-th frame of each camera; the frames
            between get boxes predicted at constant velocity (no crops). n cuts detection cost
            about n times and costs accuracy (docs/speed.md measures it); 1 = every frame.
        fp16: run a torch/ONNX/TensorRT model in half precision on a GPU (``ultralytics`` back
            end; ignored on the CPU). Faster on GPUs; boxes may move by a pixel.
    """

    backend: str = "auto"
    weights: str | None = None
    conf_threshold: float = 0.25
    classes: tuple[int, ...] = (0,)
    imgsz_px: int = 640
    batch_frames: int = 8
    threads: int = 0
    parallelism: int = 0
    every_n_frames: int = 1
    fp16: bool = False

    def __post_init__(self) -> None:
        _check(
            0.0 <= self.conf_threshold <= 1.0,
            f"detector.conf_threshold must be in [0, 1], got {self.conf_threshold}",
        )
        _check(
            self.imgsz_px >= 32 and self.imgsz_px % 32 == 0,
            f"detector.imgsz_px must be a multiple of 32 >= 32, got {self.imgsz_px}",
        )
        _check(self.batch_frames >= 1, f"detector.batch_frames must be >= 1, got {self.batch_frames}")
        _check(len(self.classes) >= 1, "detector.classes must name at least one class id")
        _check(self.threads >= 0, f"detector.threads must be >= 0 (0 = every core), got {self.threads}")
        _check(self.every_n_frames >= 1, f"detector.every_n_frames must be >= 1, got {self.every_n_frames}")
        _check(
            self.parallelism >= 0,
            f"detector.parallelism must be >= 0 (0 = one per thread), got {self.parallelism}",
        )


@dataclass(frozen=True)
class TrackerConfig:
    """The per-camera tracker.

    Attributes:
        name: a registered tracker (``sort``, ``bytetrack``).
        params_file: a ``configs/trackers/<name>.yaml`` holding that tracker's parameters, relative
            to this config file's folder; ``None`` = the tracker's built-in defaults.
        params: inline overrides of that tracker's constructor parameters (units in their names:
            ``max_age_s``, ``iou_threshold``…); applied on top of ``params_file``.
    """

    name: str = "bytetrack"
    params_file: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrackletConfig:
    """Per-camera tracklets and the crops kept for re-identification.

    Attributes:
        max_crops: most crops kept per tracklet (spread in time, best first). Higher gives re-ID
            more views of a person; costs memory and encoding time linearly.
        min_crop_height_px: crops shorter than this are never kept (too small to re-identify).
        border_margin_px: a box closer than this to the frame border counts as cut by the border
            and is kept only when nothing better exists.
        max_overlap_iou: a box overlapping another detection more than this (IoU) is occluded and
            kept only when nothing better exists.
        crop_max_height_px: stored crops are scaled down to at most this height (memory bound).
        min_length_s: tracklets shorter than this are dropped from the output (mostly false
            positives). Higher removes more clutter, and more short true tracks.
        crop_colour: ``grey_world``: each camera's crops are corrected by the gains that map its
            mean frame colour onto ImageNet's mean (undoes a camera's colour cast and exposure,
            :class:`reid_core.data.colour.GreyWorld`); ``as_seen``: crops keep the camera's colours.
        crop_colour_window_s: seconds of frames averaged into a camera's mean colour. Longer is
            steadier; shorter follows changing light.
    """

    max_crops: int = 8
    min_crop_height_px: int = 40
    border_margin_px: int = 4
    max_overlap_iou: float = 0.3
    crop_max_height_px: int = 256
    min_length_s: float = 0.3
    crop_colour: str = "grey_world"
    crop_colour_window_s: float = 60.0

    def __post_init__(self) -> None:
        _check(self.max_crops >= 1, f"tracklets.max_crops must be >= 1, got {self.max_crops}")
        _check(self.min_crop_height_px >= 1, "tracklets.min_crop_height_px must be >= 1")
        _check(
            self.crop_max_height_px >= self.min_crop_height_px,
            "tracklets.crop_max_height_px must be >= tracklets.min_crop_height_px",
        )
        _check(0.0 <= self.max_overlap_iou <= 1.0, "tracklets.max_overlap_iou must be in [0, 1]")
        _check(self.min_length_s >= 0, "tracklets.min_length_s must be >= 0 seconds")
        _check(
            self.crop_colour in COLOUR_MODES,
            f"tracklets.crop_colour must be one of {', '.join(COLOUR_MODES)}, got {self.crop_colour!r}",
        )
        _check(self.crop_colour_window_s > 0, "tracklets.crop_colour_window_s must be > 0 seconds")


@dataclass(frozen=True)
class CameraTopologyConfig:
    """One camera's clock in ``association.topology.cameras``.

    Attributes:
        start_offset_s: seconds after the common clock's zero at which this camera's video
            started (a camera that started 2 s after the others: 2.0; may be negative). Its
            tracklet times are shifted by this before any time comparison of association; the
            outputs keep each source's own clock.
    """

    start_offset_s: float = 0.0


@dataclass(frozen=True)
class CameraPairConfig:
    """The rules for one pair of cameras in ``association.topology.pairs`` (order does not matter).

    Attributes:
        cameras: the two camera ids (as ``--cams`` names them: file stems or ``--cam-ids``).
        reachable: false = a person seen by one is never the person seen by the other (never linked).
        min_transition_s: seconds; shortest gap between a person's tracklets in the two cameras
            (negative tolerates that much overlap); ``None`` = ``association.min_transition_s``.
        max_transition_s: seconds; longest such gap; ``None`` = ``association.max_transition_s``.
        overlapping_views: whether the two views overlap (one person in both at once);
            ``None`` = ``association.overlapping_views``.
    """

    cameras: tuple[str, ...]
    reachable: bool = True
    min_transition_s: float | None = None
    max_transition_s: float | None = None
    overlapping_views: bool | None = None

    def __post_init__(self) -> None:
        _check(
            len(self.cameras) == 2 and self.cameras[0] != self.cameras[1],
            f"association.topology.pairs: cameras must be two different camera ids, got {list(self.cameras)}",
        )
        pair = "/".join(self.cameras)
        _check(
            self.max_transition_s is None or self.max_transition_s >= 0,
            f"association.topology.pairs {pair}: max_transition_s must be >= 0 seconds or null",
        )
        _check(
            self.min_transition_s is None
            or self.max_transition_s is None
            or self.min_transition_s <= self.max_transition_s,
            f"association.topology.pairs {pair}: min_transition_s must be <= max_transition_s",
        )


@dataclass(frozen=True)
class TopologyConfig:
    """Optional camera topology (``association.topology``); empty = the global rules for every pair.

    Attributes:
        cameras: per camera id, its clock (:class:`CameraTopologyConfig`); a camera not listed
            starts at 0.
        pairs: per camera pair, its rules (:class:`CameraPairConfig`); a pair not listed follows
            ``association.min_transition_s``, ``max_transition_s`` and ``overlapping_views``.

    Every camera id named must be a camera of the run (checked when the run starts,
    :func:`check_topology_cameras`). Example: ``configs/topology.example.yaml``.
    """

    cameras: dict[str, CameraTopologyConfig] = field(default_factory=dict)
    pairs: tuple[CameraPairConfig, ...] = ()

    def __post_init__(self) -> None:
        seen: set[frozenset[str]] = set()
        for pair in self.pairs:
            key = frozenset(pair.cameras)
            _check(key not in seen, f"association.topology.pairs: {'/'.join(pair.cameras)} is given twice")
            seen.add(key)

    def camera_ids(self) -> list[tuple[str, str]]:
        """``(key, camera id)`` of every camera named, in file order (``key`` names where)."""
        out = [(f"association.topology.cameras.{c}", c) for c in self.cameras]
        for n, pair in enumerate(self.pairs):
            out.extend((f"association.topology.pairs[{n}].cameras", c) for c in pair.cameras)
        return out


@dataclass(frozen=True)
class AssociationConfig:
    """Cross-camera association of closed tracklets into global identities.

    Attributes:
        method: the associator (registry ``pipeline.identities.ASSOCIATORS``): ``online``
            (default) links each tracklet as it closes; ``offline`` clusters every tracklet when
            the input ends; ``auto`` = ``offline`` when every source is finite (files, frame
            folders), ``online`` when any is live (streams, webcams). Online stays the default:
            offline did not beat it on every tuning source (docs/association.md).
        enabled: false gives every tracklet its own identity (per-camera tracking only).
        threshold: smallest aggregated P(same person) to link a tracklet to an identity, in [0, 1].
            Higher: fewer wrong merges, more split identities. The shipped head is confident on
            most pairs (its scores crowd near 1), hence the high default; re-tune it with new
            weights (docs/pipeline.md, "Tuning").
        min_margin_logodds: a link also needs the best identity to beat the second-best scored
            identity by this many log-odds (natural log; 1.0 = 2.7 times the odds); 0 = off.
            Higher: fewer wrong links between look-alikes, more split identities.
        overlapping_views: whether the cameras' views overlap; false (default) means one person
            cannot be in two cameras at the same time.
        max_transition_s: longest gap, in seconds, between a tracklet and an identity's nearest
            tracklet for a link (between cameras and for re-entry into the same camera); ``None``
            = no limit (memory then grows with the number of tracklets).
        min_transition_s: shortest gap, in seconds, between tracklets of one identity in two
            different cameras (the walking time across a blind area); negative tolerates that much
            overlap in time (views that touch, clocks not quite synchronised; with
            ``overlapping_views`` any overlap is allowed anyway).
        allow_reentry: whether a person may leave and re-enter the same camera (links tracklets of
            one camera that do not overlap in time; repairs track fragmentation).
        motion: add motion support to two tracklets of one camera: the later one starting where the
            earlier one's motion led (``pipeline.identities.spacetime.motion_logodds``, ≥ 0 log-odds;
            never a penalty, since a person who left may come back anywhere). Both associators.
        shortlist_k: closed tracklets per new tracklet scored by the pair head, chosen by
            embedding cosine. Higher is more thorough and slower.
        crops_per_pair: crops per tracklet used when scoring a pair of tracklets (so up to
            ``crops_per_pair**2`` crop pairs).
        top_pairs_fraction: the tracklet score is the mean log-odds of this top fraction of its
            crop-pair scores, in (0, 1]. Lower trusts the best-looking views; higher averages all.
        crop_pooling: ``pairs``: a tracklet pair is scored on up to ``crops_per_pair**2`` crop
            pairs (both orders), aggregated by ``top_pairs_fraction``; ``mean``: each tracklet's
            ``crops_per_pair`` crop maps are averaged cell by cell into one tracklet-level map
            first (:meth:`reid_core.inference.Encoded.mean`), so a pair is one head row per order
            (``crops_per_pair**2`` times less head work; ``top_pairs_fraction`` then has nothing
            to choose from).
        score_scale, score_bias_logodds: calibration of the pair head: a tracklet pair's
            log-odds ``w = score_scale · logit(score) + score_bias_logodds`` estimates
            log P(same)/P(different), the probability ``threshold`` is compared with (Platt
            scaling, fitted on the benchmark's tuning splits for the shipped weights; refit for
            new weights, docs/association.md).
        offline_threshold: ``offline`` merges two clusters while the mean calibrated log-odds of
            their pairs exceeds ``logit(offline_threshold)``, in (0, 1) (a mean over an identity,
            not one pair: chosen on the tuning data apart from ``threshold``). Higher: fewer wrong
            merges, more split identities.
        zone_prior_links: pseudo-links of the prior of the exit/entry zone and transit-time
            model learned from the run's own links (``offline``: its first-pass clustering;
            ``online``: the links made so far), for both associators (higher = the run needs more
            links before zones count); ``None`` = no zone evidence.
        same_camera_score_scale, same_camera_score_bias_logodds: the same calibration for two
            tracklets of one camera (a re-entry or a lost track), used by both associators: in one
            view different people look more alike to the head (shared light and viewpoint) and one
            person much more
            alike, so a raw score means something else there (fitted on one-camera pairs of real
            crops of the tuning cuts, with the prior of the cross-camera fit;
            ``benchmarks/association_reentry.py --measure-pairs``). Lower bias: fewer re-entry
            links.
        topology: optional per-camera clocks and per-pair rules (:class:`TopologyConfig`); empty
            (default) = no calibration: the rules above for every camera pair.
        adaptive_calibration: re-calibrate per run from the run's own known negatives (two
            tracklets of one camera sharing a moment; two cameras at the same time when views do
            not overlap): the head's log-odds are shifted and scaled so that those negatives land
            where the fitting data's did (``pipeline.identities.adaptive``), separately for
            cross-camera and one-camera pairs; ``online`` updates the map as tracklets close.
        negative_q50_logodds, negative_q90_logodds: where known cross-camera negatives lie on the
            fitting data: median and 90th percentile of the head's pair log-odds (natural log,
            ``logit(score)`` before calibration); written by ``association_accuracy.py --role
            tuning --fit-calibration``; refit with new weights. Higher values: a run's pairs are
            moved up, more links.
        same_camera_negative_q50_logodds, same_camera_negative_q90_logodds: the same for two
            tracklets of one camera.
        adaptive_min_standard_errors: a quantile of the run's negatives moves only by how far it
            lies from the reference beyond this many standard errors of its estimate (sampling
            noise of ``n`` negatives, or of the distinct tracklets in them when fewer); 0 =
            matched exactly. Higher: keeps the fixed calibration
            unless the footage clearly differs.
        adaptive_max_pairs: known negatives scored per kind of pair (pair-head cost: at most
            twice this many extra tracklet pairs per run). Higher: a steadier map, more cost.
        contrast: contrast each candidate pair's head log-odds with both tracklets' own known
            negatives (the people each cannot be: same camera at the same moment; another camera
            at the same time when views do not overlap): a pair is lowered by how far those
            negatives lie above ``negative_q50_logodds`` (``same_camera_negative_q50_logodds``),
            before the Platt map, so that a tracklet that looks like everybody does not link to
            a look-alike (``pipeline.identities.contrast``). Both associators. Exclusive with
            ``adaptive_calibration`` (both move scores by the run's known negatives).
        contrast_max_negatives: known negatives scored per tracklet and camera, those sharing
            the most time with it (pair-head cost: at most this many pairs per tracklet and
            camera). Higher: a steadier contrast, more cost.
        contrast_prior_negatives: pseudo-negatives at the run's mean that each tracklet's own
            mean is shrunk with. Higher: closer to one shift for the whole run; 0: each
            tracklet's own negatives alone (noisy with one or two).
    """

    method: str = "online"
    enabled: bool = True
    threshold: float = 0.4
    min_margin_logodds: float = 0.3
    overlapping_views: bool = False
    max_transition_s: float | None = 60.0
    min_transition_s: float = 0.0
    allow_reentry: bool = True
    motion: bool = True
    shortlist_k: int = 10
    crops_per_pair: int = 4
    top_pairs_fraction: float = 0.5
    crop_pooling: str = "mean"
    score_scale: float = 1.06
    score_bias_logodds: float = -2.44
    offline_threshold: float = 0.1
    zone_prior_links: float | None = 5.0
    same_camera_score_scale: float = 0.79
    same_camera_score_bias_logodds: float = -1.72
    topology: TopologyConfig = field(default_factory=TopologyConfig)
    adaptive_calibration: bool = False
    negative_q50_logodds: float = -4.12
    negative_q90_logodds: float = 0.12
    same_camera_negative_q50_logodds: float = -4.97
    same_camera_negative_q90_logodds: float = 0.67
    adaptive_min_standard_errors: float = 2.0
    adaptive_max_pairs: int = 200
    contrast: bool = False
    contrast_max_negatives: int = 8
    contrast_prior_negatives: float = 3.0

    def __post_init__(self) -> None:
        for prefix in ("", "same_camera_"):
            q50, q90 = (
                getattr(self, f"{prefix}negative_q50_logodds"),
                getattr(self, f"{prefix}negative_q90_logodds"),
            )
            _check(
                q90 > q50,
                f"association.{prefix}negative_q90_logodds must be above {prefix}negative_q50_logodds, "
                f"got {q90} and {q50}",
            )
        _check(
            self.adaptive_min_standard_errors >= 0,
            "association.adaptive_min_standard_errors must be >= 0 standard errors",
        )
        _check(self.adaptive_max_pairs >= 0, "association.adaptive_max_pairs must be >= 0 pairs")
        _check(
            self.contrast_max_negatives >= 1,
            f"association.contrast_max_negatives must be >= 1 pairs, got {self.contrast_max_negatives}",
        )
        _check(
            self.contrast_prior_negatives >= 0,
            "association.contrast_prior_negatives must be >= 0 pseudo-negatives, "
            f"got {self.contrast_prior_negatives}",
        )
        _check(
            not (self.contrast and self.adaptive_calibration),
            "association.contrast and association.adaptive_calibration both move scores by the run's "
            "known negatives: turn one off",
        )
        _check(0.0 <= self.threshold <= 1.0, f"association.threshold must be in [0, 1], got {self.threshold}")
        _check(
            0.0 < self.offline_threshold < 1.0,
            f"association.offline_threshold must be in (0, 1), got {self.offline_threshold}",
        )
        _check(
            self.zone_prior_links is None or self.zone_prior_links >= 0,
            "association.zone_prior_links must be >= 0 pseudo-links or null",
        )
        _check(self.min_margin_logodds >= 0, "association.min_margin_logodds must be >= 0")
        _check(
            self.max_transition_s is None or self.max_transition_s >= 0,
            "association.max_transition_s must be >= 0 seconds or null",
        )
        _check(self.shortlist_k >= 1, "association.shortlist_k must be >= 1")
        _check(self.crops_per_pair >= 1, "association.crops_per_pair must be >= 1")
        _check(0.0 < self.top_pairs_fraction <= 1.0, "association.top_pairs_fraction must be in (0, 1]")
        _check(
            self.crop_pooling in CROP_POOLINGS,
            f"association.crop_pooling must be one of {', '.join(CROP_POOLINGS)}, got {self.crop_pooling!r}",
        )


@dataclass(frozen=True)
class ReIDConfig:
    """The re-identification network.

    Attributes:
        model: the re-ID model (registry ``pipeline.identities.MATCHERS``): ``siamese`` is the
            paper's correspondence network of ``reid_core``.
        weights: a ``.safetensors`` file of that model; ``None`` = the weights ``reid_core``
            ships. ``--reid-weights`` overrides it.
        threads: CPU threads of the re-ID network (torch's process-wide intra-op threads, or ONNX
            Runtime's per session) when it runs on the CPU; 0 = the library's default (one per
            core). 1 by default: detection already uses every core, and extra threads busy-wait for
            each other when the cores are taken (re-ID 4x slower on a loaded 2-core machine,
            docs/speed.md). Not for ONNX Runtime's one-off camera-normalisation pass per camera,
            which takes every core with its idle threads asleep.
        backend: what runs the ``siamese`` network: ``onnxruntime`` (its ONNX exports next to the
            weights, :mod:`reid_core.onnx_export`; CPU only, no torch imported: faster start-up and
            crops), ``torch``, or ``auto``: ONNX Runtime when the run is on the CPU and the weights
            have current exports (the shipped ones do), else torch.
        camera_norm: encode each camera's crops with the network's BatchNorm moments measured on
            that camera's own crops (:mod:`reid_core.camera_norm`, no labels): cameras the weights
            never saw are brought onto one scale before two of them are compared. ``false`` = the
            moments of training for every camera. Either backend: ONNX Runtime measures the
            moments with the weights' ``W.moments.onnx`` export.
        camera_norm_crops: crops a camera's moments are measured on, its first ones. The camera's
            closed tracklets wait (and their association, of every camera) until it has this many,
            its source ends, or ``camera_norm_max_wait_s`` passed. More = steadier moments, later
            first links and more crops held in memory.
        camera_norm_max_wait_s: media seconds a camera's first closed tracklet waits at most for
            those crops; then the moments are measured on what there is. ``None`` = no limit (a
            file's quiet camera may then hold its tracklets to the end). Lower = earlier links on
            live streams, moments from fewer people.
    """

    model: str = "siamese"
    weights: str | None = None
    threads: int = 1
    backend: str = "auto"
    camera_norm: bool = True
    camera_norm_crops: int = 256
    camera_norm_max_wait_s: float | None = 300.0

    def __post_init__(self) -> None:
        _check(
            self.threads >= 0, f"reid.threads must be >= 0 (0 = the library's default), got {self.threads}"
        )
        _check(
            self.backend in REID_BACKENDS,
            f"reid.backend must be one of {', '.join(REID_BACKENDS)}, got {self.backend!r}",
        )
        _check(
            self.camera_norm_crops >= 1, f"reid.camera_norm_crops must be >= 1, got {self.camera_norm_crops}"
        )
        _check(
            self.camera_norm_max_wait_s is None or self.camera_norm_max_wait_s >= 0,
            f"reid.camera_norm_max_wait_s must be >= 0 seconds or null, got {self.camera_norm_max_wait_s}",
        )


@dataclass(frozen=True)
class RuntimeConfig:
    """How the run executes.

    Attributes:
        device: ``auto`` (CUDA when there is one, else CPU), ``cpu`` or ``cuda:N``.
        queue_size_frames: decoded frames buffered per camera between its reader thread and the
            main loop. Higher smooths decoding hiccups; costs one frame of memory each.
        frames_in_flight_mib: the decoded frames buffered by all cameras together are bounded by
            this many MiB (``width × height × 3`` bytes a frame): each camera buffers
            ``min(queue_size_frames, budget / cameras / frame bytes)`` frames, at least 2. Keeps
            memory flat as cameras are added; lower saves memory, higher smooths decoding.
        log_interval_s: seconds between per-camera FPS lines in the log.
        default_fps: frame rate assumed, in frames per second, for a source that states none (a
            folder of frames without ``seqinfo.ini``, some streams).
        snapshot_interval_s: seconds between atomic snapshots of ``tracks.json`` (``complete:
            false``) during a run, so a crash loses at most this much; ``None`` = no snapshots.
        stream_open_timeout_s: seconds a live stream may take to open (connect and first frame).
        stream_read_timeout_s: seconds without a frame before a live source counts as stalled
            (a gap is recorded and a reconnect tried). Lower notices a cut sooner; too low cuts
            a slow stream.
        reconnect_delay_s: seconds before the first reconnect try; doubled after each failed try.
        reconnect_max_delay_s: the longest wait between two reconnect tries, in seconds.
        reconnect_max_tries: failed reconnect tries in a row before the camera is given up
            (reported, the others go on); 0 = never reconnect.
        when_behind: when processing is slower than a live source: ``drop`` frames to keep up
            (counted as ``frames_dropped``), ``wait`` (process every frame, latency grows) or
            ``auto`` (drop for live sources, wait for files).
    """

    device: str = "auto"
    queue_size_frames: int = 16
    frames_in_flight_mib: float = 256.0
    log_interval_s: float = 5.0
    default_fps: float = 25.0
    snapshot_interval_s: float | None = 30.0
    stream_open_timeout_s: float = 10.0
    stream_read_timeout_s: float = 3.0
    reconnect_delay_s: float = 0.5
    reconnect_max_delay_s: float = 8.0
    reconnect_max_tries: int = 10
    when_behind: str = "auto"

    def __post_init__(self) -> None:
        _check(
            self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
            f"runtime.device must be auto, cpu or cuda:N, got {str(self.device)[:40]!r}",
        )
        _check(self.queue_size_frames >= 1, "runtime.queue_size_frames must be >= 1")
        _check(self.frames_in_flight_mib > 0, "runtime.frames_in_flight_mib must be > 0 MiB")
        _check(self.log_interval_s > 0, "runtime.log_interval_s must be > 0 seconds")
        _check(self.default_fps > 0, "runtime.default_fps must be > 0 frames per second")
        _check(
            self.snapshot_interval_s is None or self.snapshot_interval_s > 0,
            "runtime.snapshot_interval_s must be > 0 seconds or null",
        )
        for name in ("stream_open_timeout_s", "stream_read_timeout_s", "reconnect_delay_s"):
            _check(getattr(self, name) > 0, f"runtime.{name} must be > 0 seconds")
        _check(
            self.reconnect_max_delay_s >= self.reconnect_delay_s,
            "runtime.reconnect_max_delay_s must be >= runtime.reconnect_delay_s",
        )
        _check(self.reconnect_max_tries >= 0, "runtime.reconnect_max_tries must be >= 0")
        _check(
            self.when_behind in ("auto", "drop", "wait"),
            f"runtime.when_behind must be auto, drop or wait, got {str(self.when_behind)[:40]!r}",
        )


@dataclass(frozen=True)
class ReportConfig:
    """The offline HTML report (``--report DIR``, ``reid-eval report``).

    Attributes:
        videos: also write browser-playable annotated videos (H.264 MP4) beside the page, opened
            by clicking a timeline bar; false = a lighter report without videos.
        crops_per_camera: best crops shown per identity and camera on its card; higher = heavier page.
        crop_height_px: height in pixels the crops are scaled to (JPEG); higher = sharper, heavier.
        jpeg_quality: JPEG quality of the crops, in [1, 100]; higher = sharper, heavier.
        cards_per_page: identity cards per page of the gallery; higher = longer first render.
        short_tracklet_s: seconds; tracklets shorter than this are listed apart as very short
            (where mistakes hide); higher lists more.
        low_margin_logodds: log-odds; a link whose score beats the association threshold by less
            than this gets a warning badge; higher = more badges.
    """

    videos: bool = True
    crops_per_camera: int = 3
    crop_height_px: int = 96
    jpeg_quality: int = 80
    cards_per_page: int = 60
    short_tracklet_s: float = 1.0
    low_margin_logodds: float = 1.0

    def __post_init__(self) -> None:
        _check(self.crops_per_camera >= 1, "report.crops_per_camera must be >= 1")
        _check(self.crop_height_px >= 16, "report.crop_height_px must be >= 16 pixels")
        _check(1 <= self.jpeg_quality <= 100, "report.jpeg_quality must be in [1, 100]")
        _check(self.cards_per_page >= 1, "report.cards_per_page must be >= 1")
        _check(self.short_tracklet_s >= 0, "report.short_tracklet_s must be >= 0 seconds")
        _check(self.low_margin_logodds >= 0, "report.low_margin_logodds must be >= 0")


@dataclass(frozen=True)
class InterpolationConfig:
    """Smoothed interpolation of each identity's gaps within one camera, once identities are final.

    The GSI idea of StrongSORT++: in each camera, the boxes of an identity (all its tracklets
    there) are filled across gaps by linear interpolation, then ``x``, ``y``, ``w``, ``h`` are
    smoothed over time with a Gaussian kernel. A gap is filled only when it is at most
    ``max_gap_s`` long and the person plausibly stayed in view: never when the box before and the
    box after it both touch a border of the frame (they may have left and come back).
    Interpolated boxes carry ``"interpolated": true`` in ``tracks.json`` and are written to the
    MOT files too (``pipeline/export/interpolation.py``, docs/pipeline.md).

    Attributes:
        enabled: fill and smooth; false (default) = the tracked boxes as they are. Off because on
            the benchmarks it changed no figure by more than its noise (docs/pipeline.md).
        max_gap_s: seconds; the longest gap filled (measured from the box before to the box
            after). Higher fills longer occlusions and lost detections, and risks boxes where the
            person was not.
        smoothing_s: seconds; standard deviation of the Gaussian that smooths each filled run of
            boxes over time (tracked boxes move too); 0 = linear interpolation only. Higher =
            steadier boxes that lag sharp turns.
    """

    enabled: bool = False
    max_gap_s: float = 0.2
    smoothing_s: float = 0.1

    def __post_init__(self) -> None:
        _check(
            self.max_gap_s > 0, f"export.interpolation.max_gap_s must be > 0 seconds, got {self.max_gap_s}"
        )
        _check(
            self.smoothing_s >= 0,
            f"export.interpolation.smoothing_s must be >= 0 seconds (0 = none), got {self.smoothing_s}",
        )


@dataclass(frozen=True)
class ExportConfig:
    """What is done to the final records before the outputs are written.

    Attributes:
        interpolation: filling each identity's gaps within a camera (:class:`InterpolationConfig`).
    """

    interpolation: InterpolationConfig = field(default_factory=InterpolationConfig)


@dataclass(frozen=True)
class RayExecutorConfig:
    """The Ray executor (``--executor ray``; docs/ray.md).

    Attributes:
        address: the Ray cluster to join (``auto``, ``HOST:PORT``); ``None`` = start a Ray instance
            on this machine for the run (stopped after it). ``--ray-address`` overrides it.
        local_num_cpus: CPUs that instance may use, ``None`` = all of this machine's.
        num_cpus_per_actor: CPUs Ray reserves for each camera-group actor (decode, detect, track,
            encode). Higher = fewer actors per node; fractional values pack more.
        num_gpus_per_actor: GPU fraction reserved per actor (0 = CPU only; 0.25 = four actors per GPU).
        max_restarts: times a dead actor is restarted; its cameras then resume from the start of
            their files (what was already received is skipped). After that, its cameras are reported
            lost and the others are still written.
        max_inflight_batches: tracklet batches an actor may compute ahead of the association
            (back-pressure; each batch is ``steps_per_batch`` steps). Higher hides latency, costs memory.
        steps_per_batch: detector steps (about one frame per camera each) per message from an actor to
            the association. Higher = fewer, larger messages; lower = fresher live decisions.
    """

    address: str | None = None
    local_num_cpus: int | None = None
    num_cpus_per_actor: float = 1.0
    num_gpus_per_actor: float = 0.0
    max_restarts: int = 1
    max_inflight_batches: int = 2
    steps_per_batch: int = 25

    def __post_init__(self) -> None:
        _check(
            self.local_num_cpus is None or self.local_num_cpus >= 1,
            "executor.ray.local_num_cpus must be >= 1 or null",
        )
        _check(self.num_cpus_per_actor > 0, "executor.ray.num_cpus_per_actor must be > 0 CPUs")
        _check(self.num_gpus_per_actor >= 0, "executor.ray.num_gpus_per_actor must be >= 0 GPUs")
        _check(self.max_restarts >= 0, "executor.ray.max_restarts must be >= 0")
        _check(self.max_inflight_batches >= 1, "executor.ray.max_inflight_batches must be >= 1")
        _check(self.steps_per_batch >= 1, "executor.ray.steps_per_batch must be >= 1")


@dataclass(frozen=True)
class ExecutorConfig:
    """Where the cameras run.

    Attributes:
        kind: ``local`` (every camera in this process) or ``ray`` (camera groups on Ray actors,
            association in this process). ``--executor`` overrides it.
        cams_per_worker: cameras per Ray actor (one detector call batches them). Higher = fewer
            actors, bigger detector batches. ``--cams-per-worker`` overrides it.
        ray: the Ray executor's settings.
    """

    kind: str = "local"
    cams_per_worker: int = 2
    ray: RayExecutorConfig = field(default_factory=RayExecutorConfig)

    def __post_init__(self) -> None:
        _check(self.kind in ("local", "ray"), f"executor.kind must be local or ray, got {self.kind!r}")
        _check(self.cams_per_worker >= 1, "executor.cams_per_worker must be >= 1")


@dataclass(frozen=True)
class PipelineConfig:
    """A whole run: one section per stage. ``source`` is the file it was loaded from."""

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    tracklets: TrackletConfig = field(default_factory=TrackletConfig)
    association: AssociationConfig = field(default_factory=AssociationConfig)
    reid: ReIDConfig = field(default_factory=ReIDConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    source: str = "<defaults>"

    def replace(self, **sections: Any) -> PipelineConfig:
        """A copy with some sections replaced (``cfg.replace(runtime=...)``)."""
        return dataclasses.replace(self, **sections)


_PACKAGED = "pipeline.yaml"


def default_config_text() -> str:
    """The text of the shipped default config (package data ``pipeline/pipeline.yaml``)."""
    return resources.files("pipeline").joinpath(_PACKAGED).read_text(encoding="utf-8")


def load_config(path: str | Path | None = None) -> PipelineConfig:
    """Load a pipeline config file once; ``None`` = the shipped defaults.

    The tracker parameters are resolved here too (``params_file`` + inline ``params``) and checked
    against the tracker's own config dataclass, so a typo fails before any frame is read.

    Raises:
        ConfigError: unreadable file, invalid YAML, unknown key, wrong type or bad value; the
            message names the file and the key.
    """
    import yaml

    if path is None:
        source = "pipeline/pipeline.yaml (shipped default)"
        data = yaml.safe_load(default_config_text()) or {}
        base_dir = Path(str(resources.files("pipeline")))
    else:
        source = str(path)
        data = load_yaml_mapping(path)
        base_dir = Path(path).parent
    data = dict(data)
    if "source" in data:
        raise ConfigError(f"{source}: unknown key(s) 'source' for PipelineConfig")
    cfg = parse_dataclass(PipelineConfig, data, source=source)
    cfg = dataclasses.replace(cfg, source=source)
    tracker = cfg.tracker
    if tracker.params_file is not None:
        params_path = Path(tracker.params_file)
        if not params_path.is_absolute():
            params_path = base_dir / params_path
        tracker = dataclasses.replace(tracker, params_file=str(params_path))
        cfg = dataclasses.replace(cfg, tracker=tracker)
    resolve_tracker_params(cfg.tracker, source=source)
    return cfg


def check_topology_cameras(cfg: PipelineConfig, cam_ids: Sequence[str]) -> None:
    """Every camera id of ``association.topology`` must be one of ``cam_ids`` (the run's cameras).

    Raises:
        ConfigError: naming the config file, the key and the run's cameras.
    """
    known = set(cam_ids)
    for key, cam_id in cfg.association.topology.camera_ids():
        if cam_id not in known:
            raise ConfigError(
                f"{cfg.source}: {key}: {cam_id!r} is not a camera of this run "
                f"(cameras: {', '.join(cam_ids) or 'none'})"
            )


def resolve_tracker_params(tracker: TrackerConfig, source: str = "<config>") -> dict[str, Any]:
    """The keyword arguments for ``create_tracker(tracker.name, fps=…, **kwargs)``.

    Built-in defaults of the tracker's config dataclass (``trackers.TRACKER_CONFIGS``), then the
    values of ``params_file``, then the inline ``params``; each layer is checked strictly.

    Raises:
        ConfigError: unknown tracker name (listing the valid ones), unknown parameter, wrong type.
    """
    from trackers import TRACKER_CONFIGS

    if tracker.name not in TRACKER_CONFIGS:
        raise ConfigError(
            f"{source}: unknown tracker.name {tracker.name!r}; "
            f"available: {', '.join(sorted(TRACKER_CONFIGS))}"
        )
    cls = TRACKER_CONFIGS[tracker.name]
    values: dict[str, Any] = {}
    if tracker.params_file is not None:
        values.update(dataclasses.asdict(load_yaml_file_as(cls, tracker.params_file)))
    if tracker.params:
        merged = {**values, **tracker.params}
        values = dataclasses.asdict(parse_dataclass(cls, merged, source=f"{source} (tracker.params)"))
    if not values:
        values = dataclasses.asdict(cls())
    return values


def load_yaml_file_as(cls: type, path: str | Path) -> Any:
    """Load ``path`` strictly into ``cls`` (a tracker config dataclass)."""
    return parse_dataclass(cls, load_yaml_mapping(path), source=path)
