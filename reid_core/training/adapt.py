"""Self-supervised adaptation to the user's cameras: pseudo-identities from the pipeline's tracklets.

``reid-train --adapt TRACKS.json`` fine-tunes re-ID weights on the videos a pipeline run saw,
without any labels. What it learns from (the ``adapt`` section of the recipe):

- **Positives**: two crops of one tracklet, one from the first half of its boxes and one from the
  second half (the tracklet's two "views", so the sampler's cross-camera pairs are crops some
  time apart: other pose, other place, other light). A tracker's tracklet can switch people; the
  pipeline's tracker makes few such errors, and short tracklets (``min_crops``) are dropped.
- **Negatives**: only pairs of tracklets that cannot be one person:
  two tracklets of **one camera that overlap in time** (one person is not twice in one frame), and,
  with ``cross_camera_negatives`` (the default), two tracklets of **different cameras seen at the
  same time** — true only when **the cameras' views do not overlap** (nobody is in two views at
  once). Turn it off for cameras that see the same place. No other pair is used as a negative:
  tracklets that might be the same person (the links association has to find) are never pushed
  apart.

The pipeline's own linking (``global_id``) is not used: each tracklet is its own pseudo-identity.

Tracks file: ``tracks.json`` of ``reid-pipeline`` (schema versions 1, 2 and 3): ``cameras[]`` with
``cam_id`` and ``source`` (a video file; relative paths are tried against the JSON's folder, then
the current folder; ``--cams cam_a=PATH`` overrides), ``identities[].tracklets[]`` with ``cam_id``,
``track_id``, ``t_start_s``/``t_end_s`` and ``boxes[]`` (``frame`` 0-based index of the decoded
frame, ``xyxy`` pixels). Boxes marked ``"interpolated": true`` (version 3: filled in across a
gap, where the person was often hidden) are not used for crops.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from infra.errors import DatasetError, UserError
from reid_core.training.config import TrainConfig

__all__ = [
    "AdaptData",
    "Tracklet",
    "adapt",
    "cannot_link_matrix",
    "conflict_neighbours",
    "load_adapt_data",
    "read_tracklets",
]


@dataclass(frozen=True)
class Tracklet:
    """One tracklet of the tracks file.

    Attributes:
        cam_id: camera name.
        track_id: the tracker's id in that camera.
        frames: (B,) int 0-based frame indices of its boxes, increasing.
        boxes_xyxy: (B, 4) float pixels.
        t_start_s, t_end_s: first and last box time (seconds).
    """

    cam_id: str
    track_id: int
    frames: np.ndarray
    boxes_xyxy: np.ndarray
    t_start_s: float
    t_end_s: float


def read_tracklets(
    tracks_json: str | Path, cams: Mapping[str, str | Path] | None = None
) -> tuple[list[Tracklet], dict[str, Path]]:
    """Tracklets and camera sources of a ``reid-pipeline`` tracks file.

    Args:
        tracks_json: the file.
        cams: camera name → video path, overriding (or supplying) the file's ``source``.

    Returns:
        (tracklets sorted by camera, start time and track id; camera name → existing video path).

    Raises:
        UserError: unreadable or malformed file, a camera without a readable source, or a ``cams``
            name that is not a camera of the file.
    """
    path = Path(tracks_json)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: tracks file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise UserError(f"{path}: not a readable tracks JSON file ({type(err).__name__})") from None
    try:
        cameras = {str(c["cam_id"]): c.get("source") for c in data["cameras"]}
        raw = [t for ident in data["identities"] for t in ident["tracklets"]]
    except (KeyError, TypeError):
        raise UserError(
            f"{path}: not a reid-pipeline tracks file (needs cameras[] and identities[])"
        ) from None
    cams = dict(cams or {})
    unknown = sorted(set(cams) - set(cameras))
    if unknown:
        raise UserError(f"--cams: {', '.join(unknown)} not a camera of {path} ({', '.join(sorted(cameras))})")
    sources: dict[str, Path] = {}
    for cam, source in cameras.items():
        candidates = [Path(cams[cam])] if cam in cams else []
        if not candidates and source:
            candidates = [path.parent / source, Path(source)]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            where = " or ".join(str(c) for c in candidates) or "(no source in the file)"
            raise UserError(f"camera {cam}: video not found at {where}; give it with --cams {cam}=PATH")
        sources[cam] = found
    tracklets: list[Tracklet] = []
    try:
        for t in raw:
            boxes = sorted(
                (b for b in t["boxes"] if not b.get("interpolated")), key=lambda b: int(b["frame"])
            )
            if not boxes:
                continue
            tracklets.append(
                Tracklet(
                    cam_id=str(t["cam_id"]),
                    track_id=int(t["track_id"]),
                    frames=np.array([int(b["frame"]) for b in boxes], np.int64),
                    boxes_xyxy=np.array([[float(v) for v in b["xyxy"]] for b in boxes], np.float64).reshape(
                        -1, 4
                    ),
                    t_start_s=float(t.get("t_start_s", boxes[0].get("time_s", 0.0))),
                    t_end_s=float(t.get("t_end_s", boxes[-1].get("time_s", 0.0))),
                )
            )
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{path}: malformed tracklet (needs cam_id, track_id, boxes[].frame/xyxy)") from None
    bad = sorted({t.cam_id for t in tracklets} - set(cameras))
    if bad:
        raise UserError(f"{path}: tracklets of camera(s) {', '.join(bad)} not listed in cameras[]")
    tracklets.sort(key=lambda t: (t.cam_id, t.t_start_s, t.track_id))
    return tracklets, sources


def cannot_link_matrix(tracklets: Sequence[Tracklet], *, cross_camera_negatives: bool) -> np.ndarray:
    """(T, T) bool: ``True`` where two tracklets cannot be one person.

    One camera: their frame ranges overlap (share at least one frame index). Two cameras (only
    with ``cross_camera_negatives``, i.e. views that do not overlap): their time spans
    ``[t_start_s, t_end_s]`` overlap. The diagonal is ``False``.
    """
    n = len(tracklets)
    out = np.zeros((n, n), bool)
    for i in range(n):
        a = tracklets[i]
        for j in range(i + 1, n):
            b = tracklets[j]
            if a.cam_id == b.cam_id:
                clash = a.frames[0] <= b.frames[-1] and b.frames[0] <= a.frames[-1]
            else:
                clash = cross_camera_negatives and a.t_start_s <= b.t_end_s and b.t_start_s <= a.t_end_s
            out[i, j] = out[j, i] = bool(clash)
    return out


@dataclass
class AdaptData:
    """Crops of the kept tracklets, as the trainer wants them.

    Attributes:
        images_bgr: (N, 160, 80, 3) uint8 BGR crops.
        person_ids: (N,) int64 pseudo-identity (row of ``tracklets``).
        camera_ids: (N,) int64: 0 = first half of the tracklet's crops, 1 = second half.
        tracklets: the kept tracklets (pseudo-identity k = ``tracklets[k]``).
        cannot_link: (T, T) bool, :func:`cannot_link_matrix` of the kept tracklets.
        sources: camera → video path.
        provenance: JSON description (file hashes, counts) stored in the adapted weights.
    """

    images_bgr: np.ndarray
    person_ids: np.ndarray
    camera_ids: np.ndarray
    tracklets: list[Tracklet]
    cannot_link: np.ndarray
    sources: dict[str, Path]
    provenance: dict[str, Any]


def load_adapt_data(
    tracks_json: str | Path,
    cams: Mapping[str, str | Path] | None,
    *,
    crops_per_tracklet: int,
    min_crops: int,
    min_height_px: int,
    cross_camera_negatives: bool,
    colour_window_s: float | None,
) -> AdaptData:
    """Read the tracks file, cut crops of its tracklets from the videos, and build the constraints.

    Args:
        tracks_json, cams: see :func:`read_tracklets`.
        crops_per_tracklet: crops taken per tracklet, evenly spaced over its boxes (>= 2).
        min_crops: tracklets with fewer usable boxes (at least ``min_height_px`` tall) are dropped (>= 2).
        min_height_px: smallest box height used (pixels).
        cross_camera_negatives: see :func:`cannot_link_matrix`.
        colour_window_s: correct each camera's crops by its running mean frame colour over this
            many seconds (:class:`reid_core.data.colour.GreyWorld`, as the pipeline does);
            ``None`` keeps them as cut.

    Raises:
        UserError: see :func:`read_tracklets`; bad counts.
        DatasetError: a video that cannot be read, or fewer than 2 usable tracklets.
    """
    from reid_core.model import INPUT_SIZE_HW

    if crops_per_tracklet < 2 or min_crops < 2 or min_height_px < 1:
        raise UserError(
            f"adapt: need crops_per_tracklet >= 2, min_crops >= 2, min_height_px >= 1; got "
            f"{crops_per_tracklet}, {min_crops}, {min_height_px}"
        )
    all_tracklets, sources = read_tracklets(tracks_json, cams)
    kept, picks = _pick_boxes(all_tracklets, crops_per_tracklet, min_crops, min_height_px)
    if len(kept) < 2:
        raise DatasetError(
            f"{tracks_json}: {len(kept)} tracklet(s) with >= {min_crops} boxes >= {min_height_px} px tall "
            f"(of {len(all_tracklets)}); adaptation needs at least 2"
        )
    images, pids, camids = _cut_crops(kept, picks, sources, colour_window_s)
    cannot = cannot_link_matrix(kept, cross_camera_negatives=cross_camera_negatives)
    provenance = {
        "tracks_file": str(Path(tracks_json).resolve()),
        "tracks_sha256": _sha256(Path(tracks_json)),
        "cameras": {cam: str(p.resolve()) for cam, p in sorted(sources.items())},
        "tracklets_used": len(kept),
        "tracklets_in_file": len(all_tracklets),
        "crops": len(images),
        "cannot_link_pairs": int(cannot.sum() // 2),
        "cross_camera_negatives": cross_camera_negatives,
    }
    print(
        f"adapt: {len(kept)} of {len(all_tracklets)} tracklets, {len(images)} crops, "
        f"{provenance['cannot_link_pairs']} cannot-link tracklet pairs",
        file=sys.stderr,
        flush=True,
    )
    return AdaptData(
        images_bgr=np.stack(images) if images else np.zeros((0, *INPUT_SIZE_HW, 3), np.uint8),
        person_ids=np.array(pids, np.int64),
        camera_ids=np.array(camids, np.int64),
        tracklets=kept,
        cannot_link=cannot,
        sources=sources,
        provenance=provenance,
    )


def _pick_boxes(
    tracklets: Sequence[Tracklet], crops_per_tracklet: int, min_crops: int, min_height_px: int
) -> tuple[list[Tracklet], list[np.ndarray]]:
    """The tracklets with ``min_crops`` boxes at least ``min_height_px`` tall, and for each the
    indices of up to ``crops_per_tracklet`` of those boxes, evenly spaced."""
    kept: list[Tracklet] = []
    picks: list[np.ndarray] = []
    for t in tracklets:
        heights = t.boxes_xyxy[:, 3] - t.boxes_xyxy[:, 1]
        usable = np.flatnonzero(heights >= min_height_px)
        if len(usable) < min_crops:
            continue
        spaced = np.linspace(0, len(usable) - 1, min(crops_per_tracklet, len(usable))).round().astype(int)
        kept.append(t)
        picks.append(usable[np.unique(spaced)])
    return kept, picks


def _cut_crops(
    kept: Sequence[Tracklet],
    picks: Sequence[np.ndarray],
    sources: Mapping[str, Path],
    colour_window_s: float | None,
) -> tuple[list[np.ndarray], list[int], list[int]]:
    """Crops of the picked boxes, read from each camera's video in one pass (corrected by the
    camera's running mean colour over ``colour_window_s`` seconds of frames unless ``None``).

    Returns:
        (crops (160, 80, 3) BGR, tracklet index per crop, half per crop: 0 for the crops of the
        tracklet's first half, 1 for the second — the sampler's "cameras", so positives pair
        the two halves).

    Raises:
        DatasetError: a video that cannot be opened or ends before a needed frame.
    """
    import cv2

    from reid_core.data.colour import GreyWorld
    from reid_core.data.transforms import resize_bgr
    from reid_core.model import INPUT_SIZE_HW

    wanted: dict[str, dict[int, list[tuple[int, int, int]]]] = defaultdict(lambda: defaultdict(list))
    for k, (t, take) in enumerate(zip(kept, picks, strict=True)):
        half = len(take) / 2.0
        for rank, b in enumerate(take.tolist()):
            wanted[t.cam_id][int(t.frames[b])].append((k, b, 0 if rank < half else 1))
    images: list[np.ndarray] = []
    pids: list[int] = []
    camids: list[int] = []
    colour = GreyWorld(colour_window_s) if colour_window_s is not None else None
    for cam in sorted(wanted):
        cap = cv2.VideoCapture(str(sources[cam]))
        try:
            if not cap.isOpened():
                raise DatasetError(f"{sources[cam]}: cannot open video of camera {cam}")
            fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
            frame_no, last = -1, max(wanted[cam])
            while frame_no < last:
                ok, image = cap.read()
                if not ok:
                    raise DatasetError(
                        f"{sources[cam]}: ended at frame {frame_no}, tracks need frame {last} (camera {cam})"
                    )
                frame_no += 1
                if colour is not None:
                    colour.observe(cam, image, frame_no / fps)
                for k, b, half_id in wanted[cam].get(frame_no, ()):
                    h, w = image.shape[:2]
                    x1, y1, x2, y2 = kept[k].boxes_xyxy[b]
                    x1, y1 = max(0, round(float(x1))), max(0, round(float(y1)))
                    x2, y2 = min(w, round(float(x2))), min(h, round(float(y2)))
                    if x2 - x1 < 2 or y2 - y1 < 2:
                        continue
                    crop = image[y1:y2, x1:x2]
                    crop = crop if colour is None else colour.apply(cam, crop)
                    images.append(resize_bgr(crop, INPUT_SIZE_HW))
                    pids.append(k)
                    camids.append(half_id)
        finally:
            cap.release()
    return images, pids, camids


@dataclass(frozen=True)
class TrainingPool:
    """Everything the adaptation trains on: tracklet crops, plus labelled crops when mixed in.

    Attributes:
        images: (N, 160, 80, 3) uint8 BGR crops.
        person_ids: (N,) int64; labelled people are ``0..n_source-1``, tracklet k is ``n_source + k``.
        halves: (N,) int64, the sampler's "camera" of each crop (a tracklet's first or second
            half; a labelled crop's camera), so that positives pair two different ones.
        cannot_link: (I, I) bool over the person ids.
        groups: (N,) int64 data-set group per item (0 labelled, 1 tracklets).
        cameras: (N,) int64 the camera each crop was seen by (the tracklet's camera; a labelled
            crop's data set and camera), for per-camera BatchNorm statistics (``adapt.camera_norm``).
        n_source: number of labelled people.
    """

    images: np.ndarray
    person_ids: np.ndarray
    halves: np.ndarray
    cannot_link: np.ndarray
    groups: np.ndarray
    cameras: np.ndarray
    n_source: int


def tracklet_cameras(data: AdaptData) -> np.ndarray:
    """(N,) int64 camera index (sorted camera ids) of each of ``data``'s crops."""
    names = sorted({t.cam_id for t in data.tracklets})
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[data.tracklets[k].cam_id] for k in data.person_ids], np.int64)


def _with_source_data(cfg: TrainConfig, data: AdaptData) -> TrainingPool:
    """Tracklet crops, plus the labelled ``data.train`` crops when ``adapt.source_share`` > 0.

    Raises:
        UserError: ``source_share`` > 0 with an empty ``data.train``.
    """
    cams = tracklet_cameras(data)
    if cfg.adapt.source_share <= 0:
        groups = np.ones(len(data.person_ids), np.int64)
        return TrainingPool(
            data.images_bgr, data.person_ids, data.camera_ids, data.cannot_link, groups, cams, 0
        )
    if not cfg.data.train:
        raise UserError("adapt.source_share > 0 needs labelled data sets in data.train")
    from reid_core.training.data import load_train_data

    source = load_train_data(cfg.data)
    s_pids = np.array([it.person_id for it in source.items], np.int64)
    s_cams = np.array([it.camera_id for it in source.items], np.int64)
    n_source = int(s_pids.max()) + 1
    n = n_source + len(data.tracklets)
    cannot = np.ones((n, n), bool)  # labelled people differ from each other and from every tracklet
    np.fill_diagonal(cannot, False)
    cannot[n_source:, n_source:] = data.cannot_link
    # a labelled crop's camera: its data set and camera, numbered after the tracklets' cameras
    _, s_camera = np.unique(source.groups * (int(s_cams.max()) + 1) + s_cams, return_inverse=True)
    return TrainingPool(
        images=np.concatenate([source.images_bgr, data.images_bgr]),
        person_ids=np.concatenate([s_pids, data.person_ids + n_source]),
        halves=np.concatenate([s_cams, data.camera_ids]),
        cannot_link=cannot,
        groups=np.concatenate([np.zeros(len(s_pids), np.int64), np.ones(len(data.person_ids), np.int64)]),
        cameras=np.concatenate([s_camera.astype(np.int64) + int(cams.max()) + 1, cams]),
        n_source=n_source,
    )


def _sha256(path: Path) -> str:
    from infra.fileio import file_sha256

    return file_sha256(path)


def conflict_neighbours(sampler_identities: np.ndarray, cannot_link: np.ndarray) -> np.ndarray | None:
    """Neighbour table for :meth:`CrossCameraSampler.set_neighbours`: each identity's cannot-link partners.

    Args:
        sampler_identities: (R,) the sampler's identities (pseudo-ids = rows of ``cannot_link``).
        cannot_link: (T, T) bool.

    Returns:
        (R, k) rows into ``sampler_identities`` (k = most partners any identity has; shorter lists
        padded with the identity's own row, which the sampler skips), or None if no identity has one.
    """
    ids = sampler_identities.tolist()
    row_of = {p: r for r, p in enumerate(ids)}
    lists = [[row_of[q] for q in np.flatnonzero(cannot_link[p]).tolist() if q in row_of] for p in ids]
    k = max((len(v) for v in lists), default=0)
    if k == 0:
        return None
    return np.array([v + [r] * (k - len(v)) for r, v in enumerate(lists)], np.int64)


def adapt(
    cfg: TrainConfig,
    tracks_json: str | Path,
    *,
    cams: Mapping[str, str | Path] | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    progress: str | bool | None = "auto",
) -> Path:
    """Fine-tune ``cfg.run.init_weights`` on the tracklets of ``tracks_json``; returns the adapted weights.

    Writes the run folder like :func:`~reid_core.training.run.train` (``last.safetensors`` every
    ``run.checkpoint_every_steps``, resumable with ``resume``) and, at the end,
    ``OUT/adapted.safetensors`` (+ ``.json``): weights for ``reid-pipeline --reid-weights``, their
    description holding the provenance (source weights and their hash, tracks file and hash,
    videos, counts, the recipe), and their ONNX exports (:mod:`reid_core.onnx_export`).
    ``progress``: as for :func:`~reid_core.training.run.train`.
    ``stop_after``: stop after that step (checkpoint written, no
    adapted weights), as a killed run would; for tests of ``resume``.

    Raises:
        UserError: see :func:`load_adapt_data`; no ``run.init_weights``; an unwritable run folder.
        DatasetError: unreadable videos, too few usable tracklets.
        WeightsError: unreadable start weights, ``resume`` without a checkpoint.
    """
    import torch

    from reid_core.training.run import deterministic_algorithms, start_or_resume
    from reid_core.weights import save_weights

    if not cfg.run.init_weights:
        raise UserError("adaptation needs start weights: run.init_weights in the recipe, or --weights")
    out = _run_folder(Path(out_dir or cfg.run.out_dir))
    ckpt = out / "last.safetensors"
    if resume and not ckpt.is_file():
        from infra.errors import WeightsError

        raise WeightsError(f"{ckpt}: no checkpoint to resume from")
    if cfg.run.num_threads:
        torch.set_num_threads(cfg.run.num_threads)
    a = cfg.adapt
    data = load_adapt_data(
        tracks_json,
        cams,
        crops_per_tracklet=a.crops_per_tracklet,
        min_crops=a.min_crops,
        min_height_px=a.min_height_px,
        cross_camera_negatives=a.cross_camera_negatives,
        colour_window_s=a.crop_colour_window_s if a.crop_colour == "grey_world" else None,
    )
    init = Path(cfg.run.init_weights)
    cfg, model, tensors, init_meta = _start_model(cfg, init)
    pool = _with_source_data(cfg, data)
    images, n_source = pool.images, pool.n_source
    try:
        sampler = _build_sampler(cfg, pool)
    except ValueError as err:
        raise DatasetError(f"{tracks_json}: cannot build training pairs ({err})") from None
    provenance = _provenance(cfg, init, init_meta, data, mixed=n_source > 0)
    trainer = _build_trainer(cfg, model, sampler, pool, out, provenance)
    trainer.progress = progress
    start_or_resume(trainer, cfg, out, ckpt, resume)
    extra = f" + {len(images) - len(data.images_bgr)} labelled crops of {n_source} people" if n_source else ""
    print(
        f"adapting {init} on {len(data.images_bgr)} crops of {len(data.tracklets)} tracklets{extra}, "
        f"{trainer.pairs_per_step()} pairs/step at most, device {trainer.device}, "
        f"{torch.get_num_threads()} threads",
        file=sys.stderr,
        flush=True,
    )
    with deterministic_algorithms(cfg.run.deterministic):
        trainer.run(until=stop_after)
    if trainer.step < trainer.steps:
        return ckpt
    meta = trainer.weights_meta()
    meta["score_alignment"] = _align_scores(cfg, tensors, init, trainer, data) if a.aligns_scores else None
    weights = out / "adapted.safetensors"
    save_weights(weights, trainer.model.state_dict(), meta)
    from reid_core.onnx_export import export_onnx

    export_onnx(weights)  # adapted.{encode,head,moments}.onnx: CPU runs use them without torch
    return weights


def _run_folder(out: Path) -> Path:
    """Create the run folder ``out``; a one-line :class:`UserError` when that fails or it is read-only."""
    import os

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"{out}: cannot create the run folder ({err.strerror})") from None
    if not os.access(out, os.W_OK):
        raise UserError(f"{out}: run folder is not writable")
    return out


def _start_model(cfg: TrainConfig, init: Path) -> tuple[TrainConfig, Any, dict[str, Any], dict[str, Any]]:
    """The start weights as a model: ``(cfg with their architecture, model, tensors, description)``.

    The recipe's ``model`` section is not read: the architecture is the start weights'.
    """
    import dataclasses

    import torch

    from infra.errors import ConfigError, WeightsError
    from infra.yaml_config import parse_dataclass
    from reid_core.model import ModelConfig, build_model
    from reid_core.weights import load_into, load_weights, read_meta

    init_meta = read_meta(init)
    tensors, _ = load_weights(init)
    try:
        model_cfg = parse_dataclass(ModelConfig, init_meta["model"], source=f"{init} (model description)")
    except ConfigError as err:
        raise WeightsError(str(err)) from None
    tensors = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")} or tensors
    cfg = dataclasses.replace(cfg, model=model_cfg)
    torch.manual_seed(cfg.run.seed)
    model = build_model(cfg.model, load_imagenet=False)
    load_into(model, tensors, init)
    return cfg, model, tensors, init_meta


def _provenance(
    cfg: TrainConfig, init: Path, init_meta: Mapping[str, Any], data: AdaptData, *, mixed: bool
) -> dict[str, Any]:
    """The adapted weights' description: where they came from and on what they were adapted."""
    return {
        "adapted_from": {
            "weights": str(init.resolve()),
            "sha256": _sha256(init),
            "metrics": init_meta.get("metrics"),
        },
        "adaptation": data.provenance,
        "train_data": [{"name": d.name, "root": d.root} for d in cfg.data.train] if mixed else [],
        "split_seed": cfg.data.split_seed,
        "source_share": cfg.adapt.source_share,
        "camera_norm": cfg.adapt.camera_norm,
        "input_size_hw": init_meta.get("input_size_hw"),
        "input_colour": init_meta.get("input_colour"),
        "metrics_note": "self-supervised adaptation, no labelled evaluation: adapted_from.metrics "
        "are those of the start weights",
    }


def _build_sampler(cfg: TrainConfig, pool: TrainingPool) -> Any:
    """Batches of ``pool``'s people that draw ``adapt.conflict_fraction`` of their tracklets from
    the anchors' cannot-link partners.

    Raises:
        ValueError: too few people or cameras for a batch.
    """
    from reid_core.data.sampler import CrossCameraSampler

    a = cfg.adapt
    n_source = pool.n_source
    sampler = CrossCameraSampler(
        pool.person_ids,
        pool.halves,
        cfg.sampler.identities_per_batch,
        seed=cfg.run.seed,
        hard_fraction=a.conflict_fraction,
        groups=pool.groups if n_source else None,
        group_weights=[a.source_share, 1.0 - a.source_share] if n_source else None,
    )
    tracklet_conflicts = pool.cannot_link.copy()
    tracklet_conflicts[:n_source] = False  # labelled anchors: random partners, not lists of everyone
    sampler.set_neighbours(conflict_neighbours(sampler.identities, tracklet_conflicts))
    return sampler


def _build_trainer(
    cfg: TrainConfig,
    model: Any,
    sampler: Any,
    pool: TrainingPool,
    out: Path,
    provenance: Mapping[str, Any],
) -> Any:
    """A :class:`~reid_core.training.siamese.SiameseTrainer` over ``pool``'s crops; the trunk and
    the head get their own learning rates; with ``adapt.camera_norm`` each camera's crops of a
    batch pass the trunk together (per-camera BatchNorm statistics)."""
    from reid_core.training.engine import Trainer, build_optimizer
    from reid_core.training.siamese import SiameseTrainer, build_augment

    trunk_ids = {id(p) for p in model.trunk.parameters()}
    optimizer = build_optimizer(
        [
            (list(model.trunk.parameters()), cfg.optim.lr_trunk),
            ([p for p in model.parameters() if id(p) not in trunk_ids], cfg.optim.lr_head),
        ],
        cfg.optim,
    )
    return SiameseTrainer(
        model,
        optimizer,
        sampler,
        pool.images,
        {},
        augment=build_augment(cfg.augment),
        both_orders=cfg.sampler.both_orders,
        negatives_per_positive=cfg.sampler.negatives_per_positive,
        hard_negative_fraction=cfg.mining.hard_negative_fraction,
        hard_negative_candidates=cfg.mining.candidates_per_batch,
        mining_start_step=cfg.mining.start_step,
        mining_round_every_steps=0,  # the neighbour table is the cannot-link table
        neighbours_per_identity=cfg.mining.neighbours_per_identity,
        embed_weight=cfg.loss.embed_weight,
        embed_temperature=cfg.loss.embed_temperature,
        shortlist_k=cfg.data.shortlist_k,
        cannot_link=pool.cannot_link,
        norm_groups=pool.cameras if cfg.adapt.camera_norm else None,
        weights_description=dict(provenance),
        **Trainer.engine_kwargs(cfg, out),
    )


def _align_scores(cfg: TrainConfig, start_tensors: Any, init: Path, trainer: Any, data: AdaptData) -> Any:
    """Put the adapted head on the start head's log-odds scale (:mod:`.alignment`), in place.

    Returns the map's JSON description for the weights, or ``None`` when no map could be fitted.
    """
    from reid_core.inference import Matcher
    from reid_core.model import build_model
    from reid_core.training.alignment import fit_score_alignment, fold_into_head
    from reid_core.weights import load_into

    start_model = build_model(cfg.model, load_imagenet=False)
    load_into(start_model, start_tensors, init)
    alignment = fit_score_alignment(
        Matcher(start_model, trainer.device),
        Matcher(trainer.model, trainer.device),
        data.images_bgr,
        data.person_ids,
        data.cannot_link,
        seed=cfg.run.seed,
        crop_cameras=tracklet_cameras(data) if cfg.adapt.camera_norm else None,
    )
    trainer.model.train()
    if alignment is None:
        print(
            "score alignment: not fitted (too few linkable pairs, or the two heads' scores do not "
            "vary together); scores left as trained",
            file=sys.stderr,
        )
        return None
    fold_into_head(trainer.model.head.metric[-1], alignment)
    print(
        f"score alignment: log-odds x {alignment.scale:.3f} {alignment.shift:+.3f} "
        f"(the start weights' scale, from {alignment.pairs} crop pairs of linkable tracklets)",
        file=sys.stderr,
    )
    return alignment.to_dict()
