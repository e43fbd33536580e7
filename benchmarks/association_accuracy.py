"""Association accuracy on N-camera cuts of MOT15 sequences: tuning and test splits fixed here.

Each *cut* slices one MOT15 sequence (the two with video in ``../shared/data``) into two or three
disjoint vertical views with blind strips between them (people leave a view, are seen by none,
and enter the next or come back), each view with its own colour change (gain × BGR tint + noise)
and optionally a start offset (a camera that started later). Ground truth keeps the sequence's
person ids, so they are global ids (the visibility rule of ``tools/make_two_camera_sample.py``).

**Division, fixed:** every cut of ``TUD-Campus`` is a *tuning* split, every cut of
``TUD-Stadtmitte`` a *test* split, so no person of a test split was seen while choosing
parameters. Choose on ``--role tuning``; report ``--role test``.

Boxes: ``gt`` replays the ground-truth boxes as detections (score 1; separates linking from
detection errors); ``yolo`` replays the bundled TFLite YOLOv8n int8 detections, computed once
per cut and cached as MOTChallenge files (what ``reid-pipeline --detections-dir`` reads).
Each (cut, boxes) is run once through the pipeline's own stages (frames → tracker → tracklets,
default config) and its closed tracklets (re-ID encodings attached, in closing order) are cached, so every
association method is replayed on identical tracklets in a few seconds (the encodings are
made once, where a run makes them).

Per method and split: MTMC IDF1 (one identity mapping over all cameras), per-camera IDF1
(global ids, so re-entries count), predicted identities vs people, and **tracklet-pair**
measures: each tracklet gets the person most of its boxes overlap (IoU ≥ 0.5); a pair is
*eligible* unless both are in one camera and overlap in time (no method may link those);
*link precision / recall* = of the eligible pairs given one identity, the fraction of one
person / of the same-person pairs, the fraction given one identity. For the pair scorer (the
re-ID head's aggregated tracklet-pair probability, and the method's own pair probability when it
has one): ROC AUC over eligible pairs and precision at recall 0.5 / 0.8 (pairs pooled over the
selected splits).

``--ignore-partial`` scores tracking as MOTChallenge treats distractors: a box on a person 10-50 %
inside a view (left out of the cut's ground truth) and on no counted person is dropped before
scoring (:func:`drop_ignored`); GT boxes are unaffected.

A method suffixed ``+gsi`` (``online+gsi``) also fills each identity's gaps within a camera
(``pipeline/export/interpolation.py``, knobs ``--set export.interpolation.max_gap_s=…``) before
scoring; per-camera MOTA is printed too.

Usage (from the repo root)::

    python benchmarks/association_accuracy.py --role test [--boxes gt yolo] [--methods online offline]
        [--set association.threshold=0.5 ...] [--markdown]

Outputs go under ``runs/bench/assoc/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pickle
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from infra.motchallenge import MotRows, read_mot  # noqa: E402
from pipeline.config import PipelineConfig, load_config  # noqa: E402
from pipeline.evaluation.mtmc import evaluate_mtmc  # noqa: E402
from pipeline.evaluation.pairs import precision_at_recall, roc_auc  # noqa: E402
from pipeline.records import CameraRecord, IdentityRecord, TracksFile  # noqa: E402
from pipeline.tracklets import Tracklet  # noqa: E402

DEFAULT_DATA = next(
    (p / "shared" / "data" for p in (ROOT.parent, ROOT.parents[1]) if (p / "shared" / "data").is_dir()),
    ROOT.parent / "shared" / "data",
)  # ../shared/data beside the checkout (a worktree sits one level deeper)
DEFAULT_OUT = ROOT / "runs" / "bench" / "assoc"


@dataclass(frozen=True, slots=True)
class ViewCut:
    """One camera of a cut: source columns ``[x0, x1)``, colour change, start offset (frames)."""

    x0: int
    x1: int
    gain: float = 1.0
    tint_bgr: tuple[float, float, float] = (1.0, 1.0, 1.0)
    noise_sigma: float = 0.0
    offset_frames: int = 0


NEUTRAL = {"gain": 1.0, "tint_bgr": (1.0, 1.0, 1.0), "noise_sigma": 0.0}
WARM = {"gain": 1.35, "tint_bgr": (0.8, 1.0, 1.15), "noise_sigma": 2.0}  # the committed sample's cam_b
COOL = {"gain": 0.9, "tint_bgr": (1.15, 1.0, 0.85), "noise_sigma": 2.0}
DIM = {"gain": 0.7, "tint_bgr": (1.0, 1.0, 1.0), "noise_sigma": 3.0}


@dataclass(frozen=True, slots=True)
class Cut:
    """A split: a sequence cut into views; ``role`` is ``tuning`` or ``test``."""

    name: str
    sequence: str
    views: tuple[ViewCut, ...]
    role: str

    @property
    def cams(self) -> tuple[str, ...]:
        return tuple(f"cam_{chr(ord('a') + i)}" for i in range(len(self.views)))


def _v(x0: int, x1: int, look: Mapping[str, Any], offset_frames: int = 0) -> ViewCut:
    return ViewCut(x0, x1, offset_frames=offset_frames, **look)


CUTS: dict[str, Cut] = {
    c.name: c
    for c in (
        # tuning: TUD-Campus (71 frames, 8 people)
        Cut("campus-2cam-320-360", "TUD-Campus", (_v(0, 320, NEUTRAL), _v(360, 640, WARM)), "tuning"),
        Cut("campus-2cam-260-380", "TUD-Campus", (_v(0, 260, COOL), _v(380, 640, NEUTRAL)), "tuning"),
        Cut(
            "campus-3cam",
            "TUD-Campus",
            (_v(0, 200, NEUTRAL), _v(240, 420, WARM), _v(460, 640, DIM)),
            "tuning",
        ),
        # test: TUD-Stadtmitte (179 frames, 10 people)
        Cut("stadtmitte-2cam-360-400", "TUD-Stadtmitte", (_v(0, 360, NEUTRAL), _v(400, 640, WARM)), "test"),
        Cut("stadtmitte-2cam-400-440", "TUD-Stadtmitte", (_v(0, 400, NEUTRAL), _v(440, 640, WARM)), "test"),
        Cut("stadtmitte-2cam-300-420", "TUD-Stadtmitte", (_v(0, 300, COOL), _v(420, 640, NEUTRAL)), "test"),
        Cut("stadtmitte-2cam-offset", "TUD-Stadtmitte", (_v(0, 380, NEUTRAL), _v(420, 640, DIM, 10)), "test"),
        Cut(
            "stadtmitte-3cam",
            "TUD-Stadtmitte",
            (_v(0, 200, NEUTRAL), _v(240, 420, WARM), _v(460, 640, COOL)),
            "test",
        ),
        Cut(
            "stadtmitte-3cam-wide",
            "TUD-Stadtmitte",
            (_v(0, 180, DIM), _v(260, 400, NEUTRAL), _v(480, 640, WARM)),
            "test",
        ),
    )
}
BOXES = ("gt", "yolo")


# ---------------------------------------------------------------------------------------- cuts


@dataclass(frozen=True, slots=True)
class Camera:
    """How far and how fast the cut's cameras are: every view and its boxes shrunk by ``scale``
    (people as a far camera sees them), and every ``frame_step``-th frame kept (a lower frame rate)."""

    scale: float = 1.0
    frame_step: int = 1

    def __str__(self) -> str:
        return f"--scale {self.scale:g} --frame-step {self.frame_step}"


def _sequence(cut: Cut, data_dir: Path) -> tuple[Path, Any, list[Any], np.ndarray]:
    """``cut``'s sequence folder, its ``seqinfo.ini``, its views (``make_two_camera_sample.View``)
    and its ground-truth rows (MOT15 ``gt.txt``, rows with ``conf`` 0 dropped)."""
    from make_two_camera_sample import View

    from infra.motchallenge import read_seqinfo

    seq_dir = data_dir / "mot15" / cut.sequence
    info = read_seqinfo(seq_dir / "seqinfo.ini")
    views = [View(cam, v.x0, v.x1) for cam, v in zip(cut.cams, cut.views, strict=True)]
    gt = np.loadtxt(seq_dir / "gt" / "gt.txt", delimiter=",", ndmin=2)
    return seq_dir, info, views, gt[gt[:, 6] != 0]


def make_cut(cut: Cut, data_dir: Path, folder: Path, camera: Camera = Camera()) -> None:
    """Write ``<cam>.mp4`` and ``gt_<cam>.txt`` for every view of ``cut`` into ``folder``
    (deterministic), as ``camera`` sees them."""
    import cv2
    from make_two_camera_sample import _colour_change, _frames, split_ground_truth

    seq_dir, info, views, gt = _sequence(cut, data_dir)
    per_view = split_ground_truth(gt, views, info.width_px, info.height_px)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    scale, step = camera.scale, camera.frame_step
    size = {v.name: (round(v.width * scale), round(info.height_px * scale)) for v in views}
    writers = {
        v.name: cv2.VideoWriter(
            str(folder / f"{v.name}.tmp.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), info.fps / step, size[v.name]
        )
        for v in views
    }
    try:
        for index, frame in enumerate(_frames(seq_dir, info.name)):
            for view, spec in zip(views, cut.views, strict=True):
                if index < spec.offset_frames or (index - spec.offset_frames) % step:
                    continue
                part = np.ascontiguousarray(frame[:, view.x0 : view.x1])
                noise = (
                    rng.normal(0.0, spec.noise_sigma, size=part.shape).astype(np.float32)
                    if spec.noise_sigma > 0
                    else None
                )
                look = _colour_change(part, spec.gain, spec.tint_bgr, noise)
                if scale != 1.0:
                    look = cv2.resize(look, size[view.name], interpolation=cv2.INTER_AREA)
                writers[view.name].write(look)
    finally:
        for writer in writers.values():
            writer.release()
    for view, spec in zip(views, cut.views, strict=True):
        rows = _as_camera_sees(per_view[view.name], spec, camera)
        lines = [
            f"{int(r[0])},{int(r[1])},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f},1,-1,-1,-1" for r in rows
        ]
        (folder / f"gt_{view.name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(folder / f"{view.name}.tmp.mp4", folder / f"{view.name}.mp4")


def cut_folder(cut: Cut, data_dir: Path, out: Path, camera: Camera = Camera()) -> Path:
    """The folder of ``cut``'s videos and ground truth under ``out``, made on first use as ``camera``
    sees them (``camera.json`` records how; a folder made otherwise is refused)."""
    folder = out / "cuts" / cut.name
    marker = folder / "camera.json"
    made = Camera(**json.loads(marker.read_text(encoding="utf-8"))) if marker.is_file() else Camera()
    if all((folder / f"{c}.mp4").is_file() for c in cut.cams):
        if made != camera:
            raise SystemExit(f"{folder}: made with {made}, not {camera}: use another --out")
        return folder
    make_cut(cut, data_dir, folder, camera)
    marker.write_text(json.dumps(dataclasses.asdict(camera)) + "\n", encoding="utf-8")
    return folder


def _as_camera_sees(rows: np.ndarray, spec: ViewCut, camera: Camera) -> np.ndarray:
    """A view's ground-truth rows (1-based frames of the sequence) in the frames and pixels of its
    cut video: the start offset removed, every ``frame_step``-th frame kept, boxes scaled."""
    rows = rows[rows[:, 0] > spec.offset_frames].copy()
    rows[:, 0] -= spec.offset_frames
    rows = rows[(rows[:, 0] - 1) % camera.frame_step == 0]
    rows[:, 0] = (rows[:, 0] - 1) // camera.frame_step + 1
    rows[:, 2:6] *= camera.scale
    return rows


def partial_ground_truth(cut: Cut, data_dir: Path, camera: Camera = Camera()) -> dict[str, np.ndarray]:
    """Per view, the boxes its ground truth leaves out because less than half of the person is
    inside the view (10-50 %, clipped to the view): ``(M, 10)`` rows like the cut's ``gt_<cam>.txt``,
    for ``--ignore-partial`` (a detector sees these people; they are neither hits nor false alarms)."""
    from make_two_camera_sample import split_ground_truth

    _, info, views, gt = _sequence(cut, data_dir)
    some = split_ground_truth(gt, views, info.width_px, info.height_px, min_visible=0.1, min_width=1.0)
    kept = split_ground_truth(gt, views, info.width_px, info.height_px)
    out = {}
    for view, spec in zip(views, cut.views, strict=True):
        counted = {(int(r[0]), int(r[1])) for r in kept[view.name]}
        rows = np.array([r for r in some[view.name] if (int(r[0]), int(r[1])) not in counted]).reshape(-1, 10)
        out[view.name] = _as_camera_sees(rows, spec, camera)
    return out


def drop_ignored(
    tracks: TracksFile, gt: Mapping[str, MotRows], ignore: Mapping[str, np.ndarray]
) -> TracksFile:
    """``tracks`` without the boxes that cover an ignored person (IoU >= 0.5 with one of ``ignore``'s
    boxes of that frame) and no counted one (IoU < 0.5 with every ground-truth box of the frame),
    as MOTChallenge drops predictions matched to its distractors; tracklets left empty go too."""
    from infra.boxes import iou_matrix, tlwh_to_xyxy

    def by_frame(xyxy: np.ndarray, frames: np.ndarray) -> dict[int, np.ndarray]:
        return {int(f): xyxy[frames == f] for f in np.unique(frames)}

    ignored = {c: by_frame(tlwh_to_xyxy(r[:, 2:6]), r[:, 0].astype(int)) for c, r in ignore.items()}
    counted = {c: by_frame(g.to_xyxy(), g.frame) for c, g in gt.items()}
    empty = np.zeros((0, 4))

    def keep(cam: str, frame0: int, xyxy: tuple[float, ...]) -> bool:
        box = np.asarray([xyxy], np.float64)
        bad = ignored.get(cam, {}).get(frame0 + 1, empty)
        if not len(bad) or iou_matrix(box, bad).max() < 0.5:
            return True
        good = counted.get(cam, {}).get(frame0 + 1, empty)
        return bool(len(good)) and iou_matrix(box, good).max() >= 0.5

    identities = []
    for identity in tracks.identities:
        kept = []
        for t in identity.tracklets:
            boxes = tuple(b for b in t.boxes if keep(t.cam_id, b.frame, b.xyxy))
            if boxes:
                kept.append(dataclasses.replace(t, boxes=boxes))
        if kept:
            identities.append(dataclasses.replace(identity, tracklets=tuple(kept)))
    return dataclasses.replace(tracks, identities=tuple(identities))


def load_gt(cut: Cut, folder: Path) -> dict[str, MotRows]:
    return {cam: read_mot(folder / f"gt_{cam}.txt") for cam in cut.cams}


# ------------------------------------------------------------------- tracklets (cached stages)


@dataclass
class Replay:
    """What the stages produced for one (cut, boxes): closed tracklets in closing order."""

    cameras: dict[str, Any]  # cam_id -> SourceInfo
    batches: list[tuple[list[Tracklet], float | None]]  # (tracklets closing together, oldest open start s)
    frames: dict[str, int]


class _Recorder:
    """An associator that records what it is given (the stages run once per cut)."""

    def __init__(self) -> None:
        self.batches: list[tuple[list[Tracklet], float | None]] = []
        self._oldest: float | None = None

    def add(self, tracklets: Sequence[Tracklet]) -> list[Any]:
        self.batches.append((list(tracklets), None))
        return []

    def evict_before(self, t_s: float) -> None:
        if self.batches:
            batch, _ = self.batches[-1]
            self.batches[-1] = (batch, t_s)

    def finish(self) -> list[Any]:
        return []

    @property
    def num_identities(self) -> int:
        return 0


class _SavingDetector:
    """Runs a detector and keeps its detections as MOT rows per camera (the yolo cache)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.rows: dict[str, list[str]] = {}

    def detect(self, frames: Sequence[Any]) -> list[Any]:
        out = self.inner.detect(frames)
        for frame, dets in zip(frames, out, strict=True):
            lines = self.rows.setdefault(frame.cam_id, [])
            for (x1, y1, x2, y2), s in zip(dets.xyxy.tolist(), dets.score.tolist(), strict=True):
                lines.append(
                    f"{frame.index + 1},-1,{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{s:.4f},-1,-1,-1"
                )
        return out


def _write_gt_detections(cut: Cut, folder: Path, det_dir: Path) -> None:
    det_dir.mkdir(parents=True, exist_ok=True)
    for cam in cut.cams:
        lines = []
        for line in (folder / f"gt_{cam}.txt").read_text(encoding="utf-8").splitlines():
            f, _, x, y, w, h = line.split(",")[:6]
            lines.append(f"{f},-1,{x},{y},{w},{h},1,-1,-1,-1")
        (det_dir / f"{cam}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_stages(cut: Cut, folder: Path, boxes: str, out: Path, config: PipelineConfig, matcher: Any) -> Replay:
    """Frames → tracker → tracklets (encoded by ``matcher``, as a run does) for ``cut`` with ``boxes``
    detections; cached on disk (delete ``runs/bench/assoc/replay`` after changing the re-ID weights)."""
    cache = out / "replay" / f"{cut.name}-{boxes}.pkl"
    if cache.is_file():
        with cache.open("rb") as handle:
            return Replay(**pickle.load(handle))  # a plain dict: readable whichever module runs
    from pipeline.detections import ReplayDetector, build_detector
    from pipeline.frames import CameraSpec, open_source
    from pipeline.loop import AssociationConsumer, RunSummary, StreamLoop
    from pipeline.parts import build_producer

    det_dir = out / "detections" / cut.name / boxes
    if boxes == "gt":
        _write_gt_detections(cut, folder, det_dir)
    sources = {c: open_source(CameraSpec(str(folder / f"{c}.mp4"), c), 25.0) for c in cut.cams}
    saving: _SavingDetector | None = None
    detector: Any
    if boxes == "yolo" and not all((det_dir / f"{c}.txt").is_file() for c in cut.cams):
        saving = _SavingDetector(build_detector(config.detector, device="cpu"))
        detector = saving
    else:
        detector = ReplayDetector(det_dir, cut.cams, conf_threshold=config.detector.conf_threshold)
    recorder = _Recorder()
    summary = RunSummary()
    try:
        consumer = AssociationConsumer(recorder, cut.cams, summary.stage_s)  # type: ignore[arg-type]
        producer = build_producer(config, sources, detector, matcher, progress=False)
        result = StreamLoop(producer, consumer, summary).run()
    finally:
        for source in sources.values():
            source.close()
    if saving is not None:
        det_dir.mkdir(parents=True, exist_ok=True)
        for cam in cut.cams:
            (det_dir / f"{cam}.txt").write_text("\n".join(saving.rows.get(cam, [])) + "\n", encoding="utf-8")
    replay = Replay({c: s.info for c, s in sources.items()}, recorder.batches, dict(result.frames))
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    with tmp.open("wb") as handle:
        pickle.dump({f.name: getattr(replay, f.name) for f in dataclasses.fields(replay)}, handle)
    os.replace(tmp, cache)
    return replay


# ---------------------------------------------------------------------------------- evaluation


def tracklet_person(tracklet: Tracklet, gt: MotRows, iou_threshold: float = 0.5) -> int | None:
    """The ground-truth person most of the tracklet's boxes overlap (IoU ≥ threshold), or None."""
    from infra.boxes import iou_matrix

    votes: dict[int, int] = {}
    by_frame = dict(gt.by_frame())
    for frame, box in zip(tracklet.frames, tracklet.boxes_xyxy, strict=True):
        rows = by_frame.get(frame + 1)
        if rows is None or not len(rows):
            continue
        iou = iou_matrix(np.asarray([box], np.float64), rows.to_xyxy())[0]
        best = int(np.argmax(iou))
        if iou[best] >= iou_threshold:
            person = int(rows.track_id[best])
            votes[person] = votes.get(person, 0) + 1
    return max(votes, key=lambda k: (votes[k], -k)) if votes else None


def eligible(a: Tracklet, b: Tracklet) -> bool:
    """Whether any method may link the pair (not one camera overlapping in time)."""
    return a.cam_id != b.cam_id or a.t_end_s < b.t_start_s or b.t_end_s < a.t_start_s


def pair_table(tracklets: Sequence[Tracklet], persons: Sequence[int | None]) -> list[tuple[int, int, bool]]:
    """Eligible pairs ``(i, j, same person)``."""
    out = []
    for i in range(len(tracklets)):
        for j in range(i + 1, len(tracklets)):
            if eligible(tracklets[i], tracklets[j]):
                same = persons[i] is not None and persons[i] == persons[j]
                out.append((i, j, same))
    return out


def build_associator(method: str, config: PipelineConfig, matcher: Any, cameras: Mapping[str, Any]) -> Any:
    from pipeline.identities import ASSOCIATORS

    cfg = config.association
    method, _, variant = method.partition(":")
    if method == "nolink":
        cfg = dataclasses.replace(cfg, enabled=False)
        method = "online"
    else:
        cfg = dataclasses.replace(cfg, method=method)
    associator = ASSOCIATORS.get(method).from_config(cfg, matcher=matcher, cameras=cameras, on_assign=None)
    for part in filter(None, variant.split(",")):  # variants: chain, zones, nomotion, margin, adapt, ...
        if part == "chain":
            associator.linkage = "chain"
        elif part == "zones":
            from pipeline.identities.offline import ZONE_PRIOR_LINKS

            associator.zone_prior_links = ZONE_PRIOR_LINKS
        elif part == "margin":
            associator.min_margin_logodds = config.association.min_margin_logodds
        elif part in ("motion", "nomotion"):  # one-camera motion support (on by default in both)
            associator.motion = part == "motion"
        elif part == "links":  # the camera link model (zones + place on the border + finer transit)
            from pipeline.identities.offline import ZONE_PRIOR_LINKS

            associator.zone_prior_links = ZONE_PRIOR_LINKS
            associator.link_model = "links"
        elif part.startswith("passes"):
            associator.zone_passes = int(part[len("passes") :])
        elif part.startswith("m="):  # min_margin_logodds
            associator.min_margin_logodds = float(part[2:])
        elif part.startswith("zp="):  # zone_prior_links (pseudo-links)
            associator.zone_prior_links = float(part[3:])
        elif part.startswith("t="):  # offline_threshold
            associator.threshold = float(part[2:])
        elif part == "nozones":
            associator.zone_prior_links = None
        elif part in ("adapt", "noadapt"):  # the per-run calibration from known negatives, on / off
            from pipeline.identities.adaptive import AdaptiveCalibration

            associator.adaptive = (
                AdaptiveCalibration.from_config(dataclasses.replace(cfg, adaptive_calibration=True))
                if part == "adapt"
                else None
            )
        elif part == "contrast":  # the per-tracklet contrast with known negatives
            from pipeline.identities.contrast import NegativeContrast

            on = dataclasses.replace(cfg, contrast=True)
            associator.negative_contrast = NegativeContrast.from_config(on)
        elif part == "onecal":  # one calibration for every pair (as before the one-camera fit)
            associator.same_camera_calibration = (associator.score_scale, associator.score_bias_logodds)
        else:
            raise SystemExit(f"error: unknown variant {part!r} of {method}")
    return associator


def evaluate_method(
    method: str,
    replay: Replay,
    gt: Mapping[str, MotRows],
    config: PipelineConfig,
    matcher: Any,
    ignore: Mapping[str, np.ndarray] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Replay the cached tracklets into ``method``; returns (figures, pair data for pooling)."""
    method, gsi, _ = method.partition("+gsi")  # "online+gsi": gaps filled (export.interpolation's knobs)
    associator = build_associator(method, config, matcher, replay.cameras)
    t0 = time.perf_counter()
    tracklets: list[Tracklet] = []  # the cached originals (the associator may free its copies' crops)
    for batch, oldest in replay.batches:
        copies = [dataclasses.replace(t, crops=list(t.crops)) for t in batch]
        tracklets.extend(batch)
        associator.add(copies)
        if oldest is not None:
            associator.evict_before(oldest)
    identities = associator.finish()
    assoc_s = time.perf_counter() - t0
    by_key = {t.key: t for t in tracklets}
    cameras = tuple(
        CameraRecord(c, info.source, info.fps, info.width, info.height, replay.frames[c])
        for c, info in replay.cameras.items()
    )
    # The associator may have re-built tracklets (stitched / interpolated): prefer its records.
    records = getattr(associator, "records", None) or {}
    tracks = TracksFile(
        cameras,
        tuple(
            IdentityRecord(i.global_id, tuple(records.get(k) or by_key[k].to_record() for k in i.members))
            for i in identities
        ),
    )
    if gsi:
        from pipeline.export.interpolation import interpolate_tracks

        knobs = config.export.interpolation
        tracks = interpolate_tracks(tracks, max_gap_s=knobs.max_gap_s, smoothing_s=knobs.smoothing_s)
    if ignore is not None:
        tracks = drop_ignored(tracks, gt, ignore)
    result = evaluate_mtmc(tracks, gt)
    gid = {k: i.global_id for i in identities for k in i.members}
    persons = [tracklet_person(t, gt[t.cam_id]) for t in tracklets]
    pairs = pair_table(tracklets, persons)
    linked = np.array([gid[tracklets[i].key] == gid[tracklets[j].key] for i, j, _ in pairs], bool)
    same = np.array([s for _, _, s in pairs], bool)
    own = getattr(associator, "pair_probability", None)
    own_scores = None
    if callable(own):
        own_scores = np.array([own(tracklets[i].key, tracklets[j].key) for i, j, _ in pairs], np.float64)
        own_scores = np.nan_to_num(own_scores, nan=-1.0)  # a pair the method did not score ranks last
    figures = {
        "mtmc_idf1": result.idf1,
        "per_camera_idf1": {c: v["IDF1"] for c, v in result.per_camera.items()},
        "per_camera_mota": {c: v["MOTA"] for c, v in result.per_camera.items()},
        "pred_ids": result.num_pred_ids,
        "gt_ids": result.num_gt_ids,
        "tracklets": len(tracklets),
        "links": int(linked.sum()),
        "links_ok": int((linked & same).sum()),
        "same_pairs": int(same.sum()),
        "eligible_pairs": len(pairs),
        "assoc_s": assoc_s,
        "adaptive": associator.adaptive.describe() if getattr(associator, "adaptive", None) else "",
    }
    return figures, {
        "linked": linked,
        "same": same,
        "own": own_scores,
        "pairs": pairs,
        "tracklets": tracklets,
    }


def head_scores(
    tracklets: Sequence[Tracklet],
    pairs: Sequence[tuple[int, int, bool]],
    matcher: Any,
    config: PipelineConfig,
) -> np.ndarray:
    """The re-ID head's aggregated tracklet-pair probability of each pair (``nan`` without crops);
    with ``association.contrast``, contrasted with both tracklets' known negatives
    (``pipeline.identities.contrast``, as the associators do) and mapped back to a probability."""
    from pipeline.identities.contrast import NegativeContrast
    from pipeline.identities.scoring import (
        encode_tracklets,
        logodds,
        tracklet_pair_score,
        tracklet_pair_scores,
    )
    from pipeline.identities.spacetime import Topology

    copies = [dataclasses.replace(t, crops=list(t.crops)) for t in tracklets]
    cfg = config.association
    enc = encode_tracklets(matcher, copies, cfg.crops_per_pair, pool=cfg.crop_pooling == "mean")
    contrast = NegativeContrast.from_config(cfg)
    if contrast is not None:
        rules = Topology.from_config(cfg)
        keep = [k for k, e in enumerate(enc) if e is not None]

        def head_logodds(found: list[tuple[int, int]]) -> list[float]:
            scored = tracklet_pair_scores(
                matcher,
                [(enc[keep[i]], enc[keep[j]]) for i, j in found],  # type: ignore[misc]
                cfg.top_pairs_fraction,
            )
            return [logodds(v) if not math.isnan(v) else math.nan for v in scored]

        contrast.score(
            [tracklets[k].key for k in keep],
            [tracklets[k].cam_id for k in keep],
            [rules.clock_s(tracklets[k].cam_id, tracklets[k].t_start_s) for k in keep],
            [rules.clock_s(tracklets[k].cam_id, tracklets[k].t_end_s) for k in keep],
            rules,
            head_logodds,
        )
    out = np.full(len(pairs), math.nan)
    for n, (i, j, _) in enumerate(pairs):
        a, b = enc[i], enc[j]
        if a is not None and b is not None:
            out[n] = tracklet_pair_score(matcher, a, b, cfg.top_pairs_fraction)
            if contrast is not None and not math.isnan(out[n]):
                ta, tb = tracklets[i], tracklets[j]
                x = contrast.adjust(logodds(out[n]), ta.key, ta.cam_id, tb.key, tb.cam_id)
                out[n] = 1.0 / (1.0 + math.exp(-x))
    return out


def known_negative_logodds(replay: Replay, matcher: Any, config: PipelineConfig) -> dict[bool, np.ndarray]:
    """The head's log-odds of every known-negative pair of a replay (one camera: ``True``), as the
    associators' adaptive calibration samples them (``pipeline/identities/adaptive.py``)."""
    from pipeline.identities.adaptive import known_negative_pairs
    from pipeline.identities.scoring import encode_tracklets, logodds, tracklet_pair_scores
    from pipeline.identities.spacetime import Topology

    cfg = config.association
    rules = Topology.from_config(cfg)
    tracklets = [t for batch, _ in replay.batches for t in batch]
    copies = [dataclasses.replace(t, crops=list(t.crops)) for t in tracklets]
    enc = encode_tracklets(matcher, copies, cfg.crops_per_pair, pool=cfg.crop_pooling == "mean")
    keep = [k for k, e in enumerate(enc) if e is not None]
    pairs = known_negative_pairs(
        [tracklets[k].cam_id for k in keep],
        [rules.clock_s(tracklets[k].cam_id, tracklets[k].t_start_s) for k in keep],
        [rules.clock_s(tracklets[k].cam_id, tracklets[k].t_end_s) for k in keep],
        rules,
        None,
    )
    out = {}
    for same, found in pairs.items():
        encoded = [(enc[keep[i]], enc[keep[j]]) for i, j in found]
        scores = tracklet_pair_scores(matcher, encoded, cfg.top_pairs_fraction) if encoded else []  # type: ignore[arg-type]
        out[same] = np.array([logodds(v) for v in scores if not math.isnan(v)], np.float64)
    return out


def pooled_pair_measures(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    ok = np.isfinite(scores)
    s, y = scores[ok], labels[ok]
    return {
        "auc": roc_auc(s, y),
        "p_at_r50": precision_at_recall(s, y, 0.5),
        "p_at_r80": precision_at_recall(s, y, 0.8),
        "positives": int(y.sum()),
        "negatives": int((~y).sum()),
    }


def parse_overrides(config: PipelineConfig, items: Iterable[str]) -> PipelineConfig:
    """``section.key=value`` (or ``section.sub.key=value``) overrides (value parsed as YAML)."""
    import yaml

    def replace(obj: Any, path: list[str], value: Any) -> Any:
        inner = value if len(path) == 1 else replace(getattr(obj, path[0]), path[1:], value)
        return dataclasses.replace(obj, **{path[0]: inner})

    for item in items:
        key, _, value = item.partition("=")
        config = replace(config, key.split("."), yaml.safe_load(value))
    return config


def _mean(values: Iterable[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=("tuning", "test", "all"), default="test")
    parser.add_argument("--cuts", nargs="+", choices=list(CUTS), default=None, help="default: all of --role")
    parser.add_argument("--boxes", nargs="+", choices=BOXES, default=list(BOXES))
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["nolink", "online", "offline"],
        help="nolink, online, offline; offline variants offline:chain,zones,nomotion,margin; "
        "a +gsi suffix (online+gsi) fills gaps with export.interpolation's knobs (set them with --set)",
    )
    parser.add_argument("--set", nargs="*", default=[], help="config overrides section.key=value")
    parser.add_argument(
        "--stage-set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="overrides of the stages before association (detector, tracker, tracklets), e.g. "
        "detector.conf_threshold=0.1 'tracker.params={low_score_threshold: 0.1}'; default: the shipped "
        "config; use its own --out: the detection and tracklet caches hold their results",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="a (partial) pipeline config, e.g. a topology; default: shipped",
    )
    parser.add_argument(
        "--weights-per-cut",
        metavar="DIR/{cut}/NAME",
        default=None,
        help="re-ID weights per cut, a path with {cut} in it (e.g. weights adapted on each cut's own "
        "footage by benchmarks/adaptation_accuracy.py --cuts); use its own --out: the tracklet cache "
        "holds the encodings",
    )
    parser.add_argument(
        "--tta",
        choices=("none", "flip"),
        default="none",
        help="re-ID test-time augmentation (reid_core.tta): flip scores every crop pair as seen and "
        "mirrored; use its own --out: the tracklet cache holds the encodings",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--ignore-partial",
        action="store_true",
        help="do not count boxes of people less than half inside a view (left out of its ground truth) "
        "as false positives, as MOTChallenge ignores its distractors (tracking measures only)",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="shrink every view and its boxes by this factor (0.3: people 38-89 px tall instead of "
        "128-296, as a far surveillance camera sees them); use its own --out",
    )
    parser.add_argument(
        "--frame-step",
        type=int,
        default=1,
        help="keep every n-th frame (3: 8.3 instead of 25 frames/s, a surveillance frame rate); use its "
        "own --out",
    )
    parser.add_argument("--per-split", action="store_true", help="also print one row per split")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--save-pairs", type=Path, default=None, help="write head scores and labels (npz)")
    parser.add_argument(
        "--fit-calibration",
        action="store_true",
        help="fit association.score_scale / score_bias_logodds (Platt) to the head's pair scores of the "
        "selected splits, all --boxes pooled (use --role tuning), and print the known negatives' "
        "reference quantiles (association.*negative_q50/q90_logodds)",
    )
    args = parser.parse_args(argv)
    if not (args.scale > 0 and args.frame_step >= 1):
        parser.error(f"--scale must be > 0 and --frame-step >= 1, got {args.scale} and {args.frame_step}")

    import torch

    torch.set_num_threads(1)
    from pipeline.identities import MATCHERS

    config = parse_overrides(load_config(args.config), args.set)
    stage_config = parse_overrides(load_config(None), args.stage_set)
    cuts = (
        [CUTS[n] for n in args.cuts]
        if args.cuts
        else [c for c in CUTS.values() if args.role in (c.role, "all")]
    )
    from reid_core.tta import with_tta

    shared_matcher = with_tta(MATCHERS.get(config.reid.model)(config.reid.weights, "cpu"), args.tta)
    load = os.getloadavg()
    rows: list[dict[str, Any]] = []
    pooled: dict[tuple[str, str], dict[str, list[np.ndarray]]] = {}
    head: dict[str, list[np.ndarray]] = {}
    negatives: dict[bool, list[np.ndarray]] = {False: [], True: []}  # known negatives (--fit-calibration)
    for boxes in args.boxes:
        for cut in cuts:
            matcher = shared_matcher
            if args.weights_per_cut:
                weights = args.weights_per_cut.format(cut=cut.name)
                matcher = with_tta(MATCHERS.get(config.reid.model)(weights, "cpu"), args.tta)
            folder = cut_folder(cut, args.data, args.out, Camera(args.scale, args.frame_step))
            gt = load_gt(cut, folder)
            camera = Camera(args.scale, args.frame_step)
            ignore = partial_ground_truth(cut, args.data, camera) if args.ignore_partial else None
            replay = run_stages(cut, folder, boxes, args.out, stage_config, matcher)
            head_done = False
            if args.fit_calibration:
                for same, values in known_negative_logodds(replay, matcher, config).items():
                    negatives[same].append(values)
            for method in args.methods:
                figures, pairs = evaluate_method(method, replay, gt, config, matcher, ignore)
                rows.append({"boxes": boxes, "cut": cut.name, "method": method, **figures})
                pool = pooled.setdefault((boxes, method), {"linked": [], "same": [], "own": []})
                pool["linked"].append(pairs["linked"])
                pool["same"].append(pairs["same"])
                if pairs["own"] is not None:
                    pool["own"].append(pairs["own"])
                if not head_done:
                    scores = head_scores(pairs["tracklets"], pairs["pairs"], matcher, config)
                    head.setdefault(boxes, []).append(np.stack([scores, pairs["same"].astype(np.float64)]))
                    head_done = True
    lines = []
    head_line = ["boxes", "method", "MTMC IDF1", "per-cam IDF1", "ids/people", "link P", "link R",
                 "AUC head", "P@R.5 head", "P@R.8 head", "AUC own", "P@R.5 own", "P@R.8 own",
                 "per-cam MOTA"]  # fmt: skip
    for (boxes, method), pool in pooled.items():
        sel = [r for r in rows if r["boxes"] == boxes and r["method"] == method]
        linked = np.concatenate(pool["linked"])
        same = np.concatenate(pool["same"])
        h = np.concatenate(head[boxes], axis=1)
        hm = pooled_pair_measures(h[0], h[1].astype(bool))
        om = pooled_pair_measures(np.concatenate(pool["own"]), same) if pool["own"] else None
        f = lambda v: "-" if v is None or math.isnan(v) else f"{100 * v:.1f}"  # noqa: E731
        lines.append([
            boxes, method, f(_mean(r["mtmc_idf1"] for r in sel)),
            f(_mean(v for r in sel for v in r["per_camera_idf1"].values())),
            f"{sum(r['pred_ids'] for r in sel)}/{sum(r['gt_ids'] for r in sel)}",
            f(linked[same].size and (linked & same).sum() / max(linked.sum(), 1)),
            f((linked & same).sum() / max(same.sum(), 1)),
            f(hm["auc"]), f(hm["p_at_r50"]), f(hm["p_at_r80"]),
            *(f(om[k] if om else None) for k in ("auc", "p_at_r50", "p_at_r80")),
            f(_mean(v for r in sel for v in r["per_camera_mota"].values())),
        ])  # fmt: skip
        if args.save_pairs is not None:
            np.savez(args.save_pairs.with_suffix(f".{boxes}.npz"), scores=h[0], same=h[1])
    if args.fit_calibration:
        from pipeline.identities.calibration import fit_platt

        pairs = np.concatenate([np.concatenate(h, axis=1) for h in head.values()], axis=1)
        ok = np.isfinite(pairs[0])
        scale, bias = fit_platt(pairs[0][ok], pairs[1][ok].astype(bool))
        print(f"# calibration on {int(ok.sum())} pairs ({int(pairs[1][ok].sum())} same-person): "
              f"association.score_scale={scale:.2f} association.score_bias_logodds={bias:.2f}")  # fmt: skip
        for same, prefix in ((False, ""), (True, "same_camera_")):
            values = np.concatenate(negatives[same]) if negatives[same] else np.zeros(0)
            kind = "one camera" if same else "two cameras"
            if values.size < 2:
                print(f"# known negatives ({kind}): {values.size} pairs, too few for a reference")
                continue
            q50, q90 = np.quantile(values, (0.5, 0.9))
            print(f"# known negatives ({kind}, {values.size} pairs; mean {values.mean():+.2f} "
                  f"sd {values.std(ddof=1):.2f}): association.{prefix}negative_q50_logodds={q50:.2f} "
                  f"association.{prefix}negative_q90_logodds={q90:.2f}")  # fmt: skip
    if args.per_split:
        for r in rows:
            pc = " ".join(f"{v:.3f}" for v in r["per_camera_idf1"].values())
            pc += " mota " + " ".join(f"{v:.3f}" for v in r["per_camera_mota"].values())
            print(f"{r['boxes']:4} {r['cut']:26} {r['method']:10} idf1 {r['mtmc_idf1']:.3f} cams {pc} "
                  f"ids {r['pred_ids']}/{r['gt_ids']} links {r['links_ok']}/{r['links']} "
                  f"of {r['same_pairs']} ({r['assoc_s']:.1f} s)")  # fmt: skip
            if r["adaptive"]:
                print(f"     adaptive: {r['adaptive']}")
    settings = [*([str(args.config)] if args.config else []), *args.set]
    settings += [f"weights per cut {args.weights_per_cut}"] if args.weights_per_cut else []
    print(f"# role {args.role}: {len(cuts)} cuts; {', '.join(settings) or 'default config'}; "
          f"load average {load[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end")  # fmt: skip
    if args.markdown:
        print("| " + " | ".join(head_line) + " |")
        print("|" + "---|" * len(head_line))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head_line)]
        print("  ".join(h.ljust(w) for h, w in zip(head_line, widths, strict=True)))
        for line in lines:
            print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"results-{args.role}.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
