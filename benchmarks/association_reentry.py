"""Re-entry, simulated: static-camera ground truth cut into two views with a blind strip between them.

Real cuts with video (``association_accuracy.py``) are a few seconds long and hardly contain a
person who leaves a view and comes back, the failure mode of the held-out footage (fragments of
people leaving at the border that faces the other view and coming back 1.5–60 s later). This
benchmark makes that failure mode measurable from ground truth alone:

- **Scenes.** Each static-camera sequence's frame is cut into a left and a right "camera" with a
  vertical blind strip of ``strip`` × frame width in the middle (``STRIPS``: two widths); a box
  belongs to a view when at least half of it lies inside (``tools/make_two_camera_sample.py``'s
  rule), clipped to it. Frames are thinned to about ``TARGET_FPS`` (surveillance rate).
- **Tracker.** Per (view, person) the runs of consecutive kept frames are the tracklets a perfect
  tracker makes (a person who leaves and comes back gets a new tracklet); then realistic faults:
  mid-view losses (Poisson, ``LOSS_RATE_PER_S``, each dropping 0.3–2 s), identity switches (two
  people of one view whose boxes overlap by IoU ≥ ``SWITCH_IOU`` swap tracks from that frame with
  probability ``SWITCH_P`` per encounter), Gaussian box jitter of ``BOX_NOISE`` × box height,
  tracklets under 0.3 s dropped. A tracklet's person is the one most of its boxes belong to.
- **Appearance.** Pair-head log-odds drawn per tracklet pair as in ``association_simulation.py``
  (same person ~ N(μ+, σ+), different ~ N(μ−, σ−) with a look-alike term shared by each pair of
  people), from distributions measured on real crops of the tuning cuts; a same-camera pair
  draws from the same-camera distributions (``--pos-same-cam`` / ``--neg-same-cam``). Each
  ``association.crop_pooling`` has its own (``MEASURED``; ``--measure-pairs``); for the default
  (``mean``): two views, same person +2.46 ± 2.41, other −2.89 ± 2.99; one view, two halves of one
  tracklet +4.38 ± 2.61, two people −1.28 ± 3.53. In one view different people look *more* alike
  to the head (shared light and viewpoint), and one person much more alike (halves of one walk:
  optimistic for a re-entry, where the person turned round; ``--pos-same-cam 2.46 2.41`` is the
  pessimistic check).

**Division, fixed** (``ROLES``): tuning = Venice-2, ADL-Rundle-6, CAMPUS HC3 and HC4, TUD-Campus;
test = PETS09-S2L1 (when present: the held-out footage is most likely a cut of it, so nothing may
be chosen on it), KITTI-17 (a parked car's camera), CAMPUS IP2 and IP5, TUD-Stadtmitte. A
sequence of the division missing from ``--data`` is named in the output, never skipped silently.
Sequences from moving cameras (ETH-*, KITTI-13, ADL-Rundle-8) are not used: a cut of a moving
frame is no camera.

Per method (pooled over scenes, strips and seeds): MTMC IDF1 and per-camera IDF1 (means over
scenes; global ids, so a re-entry given a new identity costs per-camera IDF1), identities /
people (sums), tracklet-pair link precision / recall over eligible pairs (not one camera at one
time), and the method's own pair probability's ROC AUC and precision at recall 0.5 / 0.8.

Usage::

    python benchmarks/association_reentry.py --role tuning [--methods online offline] [--seeds 0 1 2]
        [--set association.threshold=0.5 ...] [--markdown]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tools"))

from association_accuracy import DEFAULT_DATA, build_associator, parse_overrides  # noqa: E402
from association_simulation import TRACKLET_SHARE, SimMatcher, measured_key  # noqa: E402
from make_two_camera_sample import View, split_ground_truth  # noqa: E402

from infra.motchallenge import MotRows  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.evaluation.mtmc import evaluate_mtmc  # noqa: E402
from pipeline.evaluation.pairs import precision_at_recall, roc_auc  # noqa: E402
from pipeline.frames import SourceInfo  # noqa: E402
from pipeline.identities.scoring import EncodedTracklet  # noqa: E402
from pipeline.records import CameraRecord, IdentityRecord, TracksFile  # noqa: E402
from pipeline.tracklets import Tracklet  # noqa: E402

ROLES: dict[str, tuple[str, ...]] = {
    "tuning": ("Venice-2", "ADL-Rundle-6", "CAMPUS-HC3", "CAMPUS-HC4", "TUD-Campus"),
    "test": ("PETS09-S2L1", "KITTI-17", "CAMPUS-IP2", "CAMPUS-IP5", "TUD-Stadtmitte"),
}
STRIPS = (0.08, 0.2)  # blind strip width, fraction of the frame width
TARGET_FPS = 7.0
LOSS_RATE_PER_S = 1 / 20.0
SWITCH_IOU = 0.5
SWITCH_P = 0.1
BOX_NOISE = 0.03
MIN_TRACKLET_S = 0.3
CAMPUS_FPS, CAMPUS_WH = 30.0, (1920, 1080)
# The head's tracklet-pair log-odds (mean, sd) measured on real crops of the tuning cuts, GT + YOLO
# boxes, per ``association.crop_pooling`` (each mode's scores have their own spread): two views and
# one view (halves of one tracklet vs two people; ``--measure-pairs``), and known negatives, two
# people at one moment (``association_accuracy.py --role tuning --fit-calibration``).
DISTRIBUTIONS = {
    "pos": "two views, one person",
    "neg": "two views, two people",
    "pos_same_cam": "one view, one person",
    "neg_same_cam": "one view, two people",
    "neg_concurrent": "two views, two people at one time",
    "neg_concurrent_same_cam": "one view, two people at one time",
}
MEASURED: dict[str, dict[str, tuple[float, float]]] = {
    "mean/grey_world/camera_norm": {
        "pos": (2.93, 2.21),
        "neg": (-3.82, 2.61),
        "pos_same_cam": (3.00, 2.75),
        "neg_same_cam": (-5.09, 2.51),
        "neg_concurrent": (-3.82, 2.48),
        "neg_concurrent_same_cam": (-4.09, 3.04),
    },
    "mean/grey_world": {
        "pos": (4.91, 1.60),
        "neg": (-1.60, 3.13),
        "pos_same_cam": (4.60, 2.04),
        "neg_same_cam": (-1.83, 3.28),
        "neg_concurrent": (-1.62, 3.12),
        "neg_concurrent_same_cam": (-0.51, 3.18),
    },
    "mean": {
        "pos": (2.46, 2.41),
        "neg": (-2.89, 2.99),
        "pos_same_cam": (4.38, 2.61),
        "neg_same_cam": (-1.28, 3.53),
        "neg_concurrent": (-3.05, 3.11),
        "neg_concurrent_same_cam": (0.18, 3.26),
    },
    "pairs": {
        "pos": (1.49, 2.07),
        "neg": (-2.80, 2.39),
        "pos_same_cam": (4.21, 2.42),
        "neg_same_cam": (-1.11, 3.20),
        "neg_concurrent": (-2.83, 2.63),
        "neg_concurrent_same_cam": (-0.16, 2.72),
    },
}
CAMS = ("cam_a", "cam_b")


def measured(config: Any) -> dict[str, tuple[float, float]]:
    """The ``MEASURED`` distributions of ``config``'s pair score (:func:`measured_key`)."""
    key = measured_key(config)
    if key not in MEASURED:
        raise SystemExit(f"no measured pair distributions for {key}: pass all six (--pos ...)")
    return MEASURED[key]


@dataclasses.dataclass
class Scene:
    """One two-view cut: its tracklets (``person`` = majority person of each), ground truth per view."""

    name: str
    fps: float
    frames: int
    view_wh: dict[str, tuple[int, int]]
    tracklets: list[Tracklet]
    person: list[int]
    gt: dict[str, MotRows]


def load_sequence(data: Path, name: str) -> tuple[np.ndarray, float, tuple[int, int], int] | None:
    """``(rows frame,id,x,y,w,h, fps, (width, height), frames)`` of a sequence, ``None`` if absent."""
    if name.startswith("CAMPUS-"):
        path = data / "campus-auditorium-gt" / f"view-{name.split('-', 1)[1]}.gt.txt"
        if not path.is_file():
            return None
        rows = np.loadtxt(path, delimiter=",", ndmin=2)
        return rows[:, :6], CAMPUS_FPS, CAMPUS_WH, int(rows[:, 0].max())
    folder = data / "mot15" / name
    if not (folder / "gt" / "gt.txt").is_file():
        return None
    info = dict(
        line.split("=", 1) for line in (folder / "seqinfo.ini").read_text().splitlines() if "=" in line
    )
    rows = np.loadtxt(folder / "gt" / "gt.txt", delimiter=",", ndmin=2)
    rows = rows[rows[:, 6] != 0]  # MOT15: 0 = ignore
    wh = (int(info["imWidth"]), int(info["imHeight"]))
    return rows[:, :6], float(info["frameRate"]), wh, int(info["seqLength"])


def make_scene(data: Path, name: str, strip: float, rng: np.random.Generator) -> Scene | None:
    """Cut ``name`` into two views with a blind strip of ``strip`` × width; simulate the tracker."""
    loaded = load_sequence(data, name)
    if loaded is None:
        return None
    rows, fps, (width, height), frames = loaded
    step = max(1, round(fps / TARGET_FPS))
    rows = rows[(rows[:, 0].astype(int) - 1) % step == 0]
    half = round(width * strip / 2)
    views = (View(CAMS[0], 0, width // 2 - half), View(CAMS[1], width // 2 + half, width))
    per_view = split_ground_truth(rows, views, width, height)
    tracklets: list[Tracklet] = []
    person: list[int] = []
    gt: dict[str, MotRows] = {}
    for view in views:
        vrows = per_view[view.name]
        gt[view.name] = MotRows(
            vrows[:, 0].astype(np.int64), vrows[:, 1].astype(np.int64), vrows[:, 2:6], np.ones(len(vrows))
        )
        for piece in simulate_tracker(vrows, fps, step, rng):
            if len(piece) < 2 or (piece[-1, 0] - piece[0, 0]) / fps < MIN_TRACKLET_S:
                continue
            t = Tracklet(view.name, len(tracklets) + 1)
            t.frames = [int(f) - 1 for f in piece[:, 0]]
            t.times_s = [(int(f) - 1) / fps for f in piece[:, 0]]
            jitter = rng.normal(0.0, BOX_NOISE, (len(piece), 4)) * piece[:, 5:6]
            x, y, w, h = (piece[:, 2:6] + jitter).T
            t.boxes_xyxy = [tuple(map(float, b)) for b in np.stack([x, y, x + w, y + h], 1)]
            t.scores = [1.0] * len(piece)
            tracklets.append(t)
            ids, counts = np.unique(piece[:, 1].astype(int), return_counts=True)
            person.append(int(ids[np.argmax(counts)]))
    wh = {v.name: (v.width, height) for v in views}
    return Scene(f"{name}@{strip:g}", fps, frames, wh, tracklets, person, gt)


def simulate_tracker(rows: np.ndarray, fps: float, step: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One view's tracklets from its ground-truth rows ``frame,id,x,y,w,h`` (kept every ``step``).

    Runs of consecutive kept frames per person, broken by Poisson losses; then identity switches
    between overlapping people. Returns rows per tracklet (the ``id`` column keeps the true person).
    """
    pieces: list[np.ndarray] = []
    for pid in np.unique(rows[:, 1]).tolist():
        mine = rows[rows[:, 1] == pid]
        mine = mine[np.argsort(mine[:, 0])]
        breaks = np.flatnonzero(np.diff(mine[:, 0]) > step) + 1
        for run in np.split(mine, breaks):
            pieces.extend(_losses(run, fps, rng))
    return _switches(pieces, rng)


def _losses(run: np.ndarray, fps: float, rng: np.random.Generator) -> list[np.ndarray]:
    t = (run[:, 0] - run[0, 0]) / fps
    out, start_s = [], 0.0
    cut = rng.exponential(1 / LOSS_RATE_PER_S)
    while cut < t[-1]:
        out.append(run[(t >= start_s) & (t < cut)])
        start_s = cut + rng.uniform(0.3, 2.0)
        cut = start_s + rng.exponential(1 / LOSS_RATE_PER_S)
    out.append(run[t >= start_s])
    return [p for p in out if len(p)]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    return float(inter / max(a[2] * a[3] + b[2] * b[3] - inter, 1e-9))


def _switches(pieces: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Swap the continuations of two pieces where their boxes first overlap (probability ``SWITCH_P``)."""
    pieces = [p for p in pieces if len(p)]
    changed = True
    done: set[tuple[int, int, int]] = set()
    while changed:
        changed = False
        index: dict[int, list[tuple[int, int]]] = {}
        for k, p in enumerate(pieces):
            for r, f in enumerate(p[:, 0].astype(int).tolist()):
                index.setdefault(f, []).append((k, r))
        for f in sorted(index):
            here = index[f]
            for x in range(len(here)):
                for y in range(x + 1, len(here)):
                    (ka, ra), (kb, rb) = here[x], here[y]
                    a, b = pieces[ka], pieces[kb]
                    pa, pb = int(a[ra, 1]), int(b[rb, 1])
                    key = (min(pa, pb), max(pa, pb), f // 20)  # one draw per encounter (about 3 s at 7 fps)
                    if pa == pb or key in done or ra == 0 or rb == 0:
                        continue
                    if _iou(a[ra, 2:6], b[rb, 2:6]) < SWITCH_IOU:
                        continue
                    done.add(key)
                    if rng.random() < SWITCH_P:
                        pieces[ka] = np.concatenate([a[:ra], b[rb:]])
                        pieces[kb] = np.concatenate([b[:rb], a[ra:]])
                        changed = True
                        break
                if changed:
                    break
            if changed:
                break
    return pieces


def evaluate(method: str, scene: Scene, matcher: SimMatcher, config: Any) -> dict[str, Any]:
    """Run ``method`` on the scene; figures and per-pair arrays (for pooling)."""
    cams = {c: SourceInfo(c, c, "sim", scene.fps, w, h, scene.frames) for c, (w, h) in scene.view_wh.items()}
    assoc = build_associator(method, config, matcher, cams)
    order = sorted(range(len(scene.tracklets)), key=lambda i: (scene.tracklets[i].t_end_s, i))
    t0 = time.perf_counter()
    for i in order:
        t = dataclasses.replace(scene.tracklets[i])
        t.encoded, t.encoding = True, EncodedTracklet(np.array([i]), matcher.embedding[i])
        assoc.add([t])
    identities = assoc.finish()
    assoc_s = time.perf_counter() - t0
    by_key = {t.key: t for t in scene.tracklets}
    cameras = tuple(CameraRecord(c, c, scene.fps, w, h, scene.frames) for c, (w, h) in scene.view_wh.items())
    tracks = TracksFile(
        cameras,
        tuple(
            IdentityRecord(i.global_id, tuple(by_key[k].to_record() for k in i.members)) for i in identities
        ),
    )
    result = evaluate_mtmc(tracks, scene.gt)
    gid = {k: i.global_id for i in identities for k in i.members}
    ts, person = scene.tracklets, scene.person
    same, linked, own, same_cam = [], [], [], []
    pp = getattr(assoc, "pair_probability", None)
    for i in range(len(ts)):
        for j in range(i + 1, len(ts)):
            if ts[i].cam_id == ts[j].cam_id and not (
                ts[i].t_end_s < ts[j].t_start_s or ts[j].t_end_s < ts[i].t_start_s
            ):
                continue
            same.append(person[i] == person[j])
            linked.append(gid[ts[i].key] == gid[ts[j].key])
            same_cam.append(ts[i].cam_id == ts[j].cam_id)
            if callable(pp):
                v = pp(ts[i].key, ts[j].key)
                own.append(-1.0 if math.isnan(v) else v)
    return {
        "idf1": result.idf1,
        "cam_idf1": float(np.mean([v["IDF1"] for v in result.per_camera.values()])),
        "ids": result.num_pred_ids,
        "people": result.num_gt_ids,
        "tracklets": len(ts),
        "assoc_s": assoc_s,
        "same": np.array(same, bool),
        "linked": np.array(linked, bool),
        "same_cam": np.array(same_cam, bool),
        "own": np.array(own) if own else None,
    }


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Pool one method's per-scene results: means of IDF1s, sums of counts, pooled pair measures."""
    same = np.concatenate([r["same"] for r in rows])
    linked = np.concatenate([r["linked"] for r in rows])
    same_cam = np.concatenate([r["same_cam"] for r in rows])
    out = {
        "idf1": float(np.mean([r["idf1"] for r in rows])),
        "cam_idf1": float(np.mean([r["cam_idf1"] for r in rows])),
        "ids": float(sum(r["ids"] for r in rows)),
        "people": float(sum(r["people"] for r in rows)),
        "link_p": float((same & linked).sum() / max(linked.sum(), 1)),
        "link_r": float((same & linked).sum() / max(same.sum(), 1)),
        "reentry_p": float((same & linked & same_cam).sum() / max((linked & same_cam).sum(), 1)),
        "reentry_r": float((same & linked & same_cam).sum() / max((same & same_cam).sum(), 1)),
        "assoc_s": float(sum(r["assoc_s"] for r in rows)),
    }
    if all(r["own"] is not None for r in rows):
        own = np.concatenate([r["own"] for r in rows])
        out |= {
            "auc": roc_auc(own, same),
            "p@r.5": precision_at_recall(own, same, 0.5),
            "p@r.8": precision_at_recall(own, same, 0.8),
        }
    return out


COLUMNS = (
    ("idf1", "MTMC IDF1"),
    ("cam_idf1", "per-cam IDF1"),
    ("ids", "ids/people"),
    ("link_p", "link P"),
    ("link_r", "link R"),
    ("reentry_p", "re-entry P"),
    ("reentry_r", "re-entry R"),
    ("auc", "AUC own"),
    ("p@r.5", "P@R.5 own"),
    ("p@r.8", "P@R.8 own"),
)


def format_row(method: str, s: dict[str, float]) -> list[str]:
    cells = [method]
    for key, _ in COLUMNS:
        if key == "ids":
            cells.append(f"{s['ids']:.0f}/{s['people']:.0f}")
        else:
            cells.append(f"{100 * s[key]:.1f}" if key in s else "-")
    return cells


def measure_pairs(out: Path, data: Path, boxes: Sequence[str], config: Any) -> dict[str, tuple[float, float]]:
    """Mean and sd of the head's tracklet-pair log-odds on real crops of the *tuning* cuts.

    ``config`` gives the pair score (``association.crop_pooling``, ``top_pairs_fraction``) and
    the calibration the printed one-camera fit is expressed against.

    Reads the stage caches of ``association_accuracy.py --role tuning`` (run it first). Cross-camera
    pairs: whole tracklets of two views (person by IoU with the ground truth). Same-camera pairs: the
    first and last half of each tracklet's kept crop encodings (spread over its life) as two
    tracklets; of one
    tracklet = same person, of two tracklets of different people = other person. (Halves of one walk
    are easier than a real re-entry, where the person turned around: an optimistic estimate.)
    """
    import torch
    from association_accuracy import CUTS, cut_folder, load_gt, run_stages, tracklet_person

    from pipeline.identities import MATCHERS
    from pipeline.identities.scoring import logodds, pool_encoded, tracklet_pair_score

    torch.set_num_threads(1)
    cfg = config.association
    matcher = MATCHERS.get(config.reid.model)(config.reid.weights, "cpu")
    found: dict[str, list[float]] = {"pos": [], "neg": [], "pos_same_cam": [], "neg_same_cam": []}

    def score(a: Any, b: Any) -> float:
        if cfg.crop_pooling == "mean":
            a, b = pool_encoded(matcher, a), pool_encoded(matcher, b)
        return logodds(tracklet_pair_score(matcher, a, b, cfg.top_pairs_fraction))

    for cut in (c for c in CUTS.values() if c.role == "tuning"):
        folder = cut_folder(cut, data, out)
        gt = load_gt(cut, folder)
        for box in boxes:
            replay = run_stages(cut, folder, box, out, config, matcher)
            ts = [t for batch, _ in replay.batches for t in batch if t.encoding is not None]
            ts = [t for t in ts if len(t.encoding.encoded) >= 2]
            person = [tracklet_person(t, gt[t.cam_id]) for t in ts]
            whole = [t.encoding for t in ts]
            thirds = []
            for t in ts:  # the encoded crops are spread over the tracklet's life, in time order
                enc, k = t.encoding.encoded, len(t.encoding.encoded) // 2
                thirds.append(
                    [
                        EncodedTracklet(enc[:k], t.encoding.embedding),
                        EncodedTracklet(enc[-k:], t.encoding.embedding),
                    ]
                )
            for i in range(len(ts)):
                if person[i] is None:
                    continue
                found["pos_same_cam"].append(score(thirds[i][0], thirds[i][1]))
                for j in range(len(ts)):
                    if j == i or person[j] is None:
                        continue
                    if ts[i].cam_id == ts[j].cam_id and person[i] != person[j]:
                        found["neg_same_cam"].append(score(thirds[i][0], thirds[j][1]))
                    elif ts[i].cam_id != ts[j].cam_id and i < j:
                        found["pos" if person[i] == person[j] else "neg"].append(score(whole[i], whole[j]))
    for key, values in found.items():
        v = np.asarray(values)
        print(f"# {key:13} {len(v):5d} pairs: log-odds mean {v.mean():+.2f} sd {v.std(ddof=1):.2f}")
    from pipeline.identities.calibration import fit_platt

    fits = {}
    for suffix in ("", "_same_cam"):
        pos, neg = np.asarray(found["pos" + suffix]), np.asarray(found["neg" + suffix])
        raw = 1 / (1 + np.exp(-np.concatenate([pos, neg])))
        scale, bias = fit_platt(raw, np.arange(len(raw)) < len(pos))
        fits[suffix] = (scale, bias - math.log(len(pos) / len(neg)))  # the likelihood ratio: no base rate
        print(f"# Platt{suffix or '_cross_cam'}: scale {scale:.2f}, bias {bias:.2f} log-odds at "
              f"{len(pos)}/{len(neg)} pairs; without that base rate {fits[suffix][1]:.2f}")  # fmt: skip
    cross_prior = cfg.score_bias_logodds - fits[""][1]
    print(f"# the shipped bias {cfg.score_bias_logodds:.2f} = cross-camera ratio {fits[''][1]:.2f} + prior "
          f"{cross_prior:.2f}; with that prior, one camera: association.same_camera_score_scale="
          f"{fits['_same_cam'][0]:.2f} association.same_camera_score_bias_logodds="
          f"{fits['_same_cam'][1] + cross_prior:.2f}")  # fmt: skip
    return {k: (float(np.mean(v)), float(np.std(v, ddof=1))) for k, v in found.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=tuple(ROLES), default="tuning")
    parser.add_argument("--scenes", nargs="+", default=None, help="default: every sequence of --role")
    parser.add_argument("--methods", nargs="+", default=["nolink", "online", "offline"])
    parser.add_argument("--set", nargs="*", default=[], help="config overrides section.key=value")
    parser.add_argument(
        "--config", type=Path, default=None, help="a (partial) pipeline config; default: shipped"
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--strips", nargs="+", type=float, default=list(STRIPS))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    for key, help_text in DISTRIBUTIONS.items():
        parser.add_argument(
            "--" + key.replace("_", "-"),
            type=float,
            nargs=2,
            default=None,
            metavar=("MEAN", "SD"),
            help=f"{help_text} (log-odds); default: MEASURED for the config's crop_pooling and crop_colour",
        )
    parser.add_argument(
        "--tracklet-share",
        type=float,
        default=TRACKLET_SHARE,
        help="share of a pair's log-odds variance from its two tracklets' looks (0: none, as before)",
    )
    parser.add_argument("--per-scene", action="store_true", help="also print one row per scene and method")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument(
        "--measure-pairs",
        action="store_true",
        help="print the head's pair log-odds distributions on real crops of the tuning cuts and exit "
        "(needs the caches of association_accuracy.py --role tuning)",
    )
    args = parser.parse_args(argv)
    config = parse_overrides(load_config(args.config), args.set)
    if args.measure_pairs:
        from association_accuracy import DEFAULT_OUT

        measure_pairs(DEFAULT_OUT, args.data, ("gt", "yolo"), config)
        return 0
    dist = {k: tuple(getattr(args, k) or measured(config)[k]) for k in DISTRIBUTIONS}
    names = args.scenes or list(ROLES[args.role])
    load0 = os.getloadavg()[0]
    scenes: list[tuple[Scene, SimMatcher]] = []
    missing = []
    for name in names:
        for strip in args.strips:
            for seed in args.seeds:
                rng = np.random.default_rng([seed, int(strip * 1000), sum(map(ord, name))])
                scene = make_scene(args.data, name, strip, rng)
                if scene is None:
                    missing.append(name)
                    break
                cams = [t.cam_id for t in scene.tracklets]
                matcher = SimMatcher(
                    scene.person, rng, dist["pos"], dist["neg"],
                    cams=cams, pos_same_cam=dist["pos_same_cam"], neg_same_cam=dist["neg_same_cam"],
                    tracklet_share=args.tracklet_share,
                    spans_s=[(t.t_start_s, t.t_end_s) for t in scene.tracklets],
                    neg_concurrent=dist["neg_concurrent"],
                    neg_concurrent_same_cam=dist["neg_concurrent_same_cam"],
                )  # fmt: skip
                scenes.append((scene, matcher))
    settings = [*([str(args.config)] if args.config else []), *args.set]
    print(f"# re-entry simulation, role {args.role}: {len(scenes)} scenes "
          f"({', '.join(n for n in names if n not in missing)}; strips {args.strips}, seeds {args.seeds}); "
          f"{', '.join(settings) or 'default config'}")  # fmt: skip
    print("# head log-odds (mean, sd): " + ", ".join(f"{k} {m:+.2f} {sd:.2f}" for k, (m, sd) in dist.items()))
    for name in sorted(set(missing)):
        print(f"# {name}: not in {args.data}: not part of this run")
    tracklets = sum(len(s.tracklets) for s, _ in scenes)
    people = sum(len(set(s.person)) for s, _ in scenes)
    print(f"# {tracklets} tracklets of {people} people (sum over scenes)")
    lines = []
    for method in args.methods:
        rows = [evaluate(method, s, m, config) for s, m in scenes]
        if args.per_scene:
            for (s, _), r in zip(scenes, rows, strict=True):
                print(f"  {method:22} {s.name:22} idf1 {r['idf1']:.3f} cam {r['cam_idf1']:.3f} "
                      f"ids {r['ids']}/{r['people']} tracklets {r['tracklets']}")  # fmt: skip
        lines.append(format_row(method, summarise(rows)))
    print(f"# load average {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end")
    head = ["method", *(h for _, h in COLUMNS)]
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]
        print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
        for line in lines:
            print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
