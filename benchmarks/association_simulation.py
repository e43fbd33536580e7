"""Association at scale, simulated: CAMPUS "Auditorium" ground truth (4 overlapping views, 21 people).

The cuts of ``association_accuracy.py`` are short (3–7 s, 8–10 people); association errors are
decided by the tail of look-alike negatives among many pairs, which needs a larger scene. The
CAMPUS ground truth (``../shared/data/campus-auditorium-gt``, no video) gives real geometry and
timing: four synchronised views of one hall, 30 fps, ~3 minutes, people entering, leaving and
re-entering views. This script cuts it into tracklets as a tracker would and draws appearance
scores from the distributions measured on real crops, then runs the associators on them.

- **Frames**: every 4th frame (7.5 fps, the rate of typical surveillance recordings).
- **Tracklets**: each (view, person) run of consecutive frames (a gap of more than one kept frame
  = the person left the view); each run is broken by simulated tracker losses, a Poisson process
  of ``LOSS_RATE_PER_S`` per second, each removing ``0.3–2 s`` of boxes; boxes get Gaussian
  jitter of 2 % of their height; tracklets shorter than 0.3 s are dropped.
- **Appearance**: the pair head's log-odds for two tracklets of one person ~ N(μ+, σ+), of two
  people ~ N(μ−, σ−), with the means and deviations of the tuning splits' real tracklet pairs
  (``--pairs``, written by ``association_accuracy.py --role tuning --save-pairs``); look-alikes are
  modelled by a shared term per pair of people (correlation ``LOOKALIKE_RHO``), so some people are
  confused with each other consistently, not at random; and each tracklet has its own *look*
  (``--tracklet-share``, default ``TRACKLET_SHARE``): a term it adds to every pair it is in, so that
  a dark or blurred tracklet scores high with everybody (a hub) and a sharp one low. Its share of a
  pair's variance was measured on the tuning cuts' real crops: the covariance of two pairs that
  share a tracklet (different people, centred per cut) is 0.34 of the variance for two cameras and
  0.35 for one camera (``--tracklet-share 0`` = no such term: the draws of earlier versions).
- Views overlap: the runs use ``overlapping_views: true``.

This is a *tuning* source (it shares nothing with the test splits but the measured score
distributions of the tuning splits). Usage::

    python benchmarks/association_simulation.py [--methods online offline] [--config C]
        [--set key=value ...] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from association_accuracy import DEFAULT_DATA, build_associator, parse_overrides  # noqa: E402

from infra.motchallenge import MotRows  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.evaluation.mtmc import evaluate_mtmc  # noqa: E402
from pipeline.evaluation.pairs import precision_at_recall, roc_auc  # noqa: E402
from pipeline.frames import SourceInfo  # noqa: E402
from pipeline.identities.scoring import EncodedTracklet  # noqa: E402
from pipeline.records import CameraRecord, IdentityRecord, TracksFile  # noqa: E402
from pipeline.tracklets import Tracklet  # noqa: E402

VIEWS = ("HC3", "HC4", "IP2", "IP5")
FPS = 30.0
STEP = 4  # keep every 4th frame: 7.5 fps
FRAME_WH = (1920, 1080)
LOSS_RATE_PER_S = 1 / 20.0
LOOKALIKE_RHO = 0.5
TRACKLET_SHARE = 0.34  # share of a pair's log-odds variance from its two tracklets' looks (tuning crops)
# logit of the aggregated head score (mean, sd) of one person / two people, measured on the tuning
# splits (TUD-Campus cuts, GT + YOLO boxes), per ``association.crop_pooling`` (each mode's scores
# have their own spread; association_reentry.py --measure-pairs), then ``/grey_world`` for crops
# corrected by their camera's colour (``tracklets.crop_colour``), then ``/camera_norm`` for crops encoded
# with each camera's own BatchNorm moments (``reid.camera_norm``)
MEASURED: dict[str, dict[str, tuple[float, float]]] = {
    "mean/grey_world/camera_norm": {"pos": (2.93, 2.21), "neg": (-3.82, 2.61)},
    "mean/grey_world": {"pos": (4.91, 1.60), "neg": (-1.60, 3.13)},
    "mean": {"pos": (2.46, 2.41), "neg": (-2.89, 2.99)},
    "pairs": {"pos": (1.50, 1.95), "neg": (-2.05, 2.67)},
}


def measured_key(config: Any) -> str:
    """Which measured distributions fit ``config``'s pair score: ``association.crop_pooling``, then
    ``/grey_world`` when ``tracklets.crop_colour`` corrects the crops' colour, then ``/camera_norm``
    with ``reid.camera_norm`` (the key of this file's ``MEASURED`` and of ``association_reentry.py``'s)."""
    key = str(config.association.crop_pooling)
    key = key if config.tracklets.crop_colour == "as_seen" else f"{key}/{config.tracklets.crop_colour}"
    return f"{key}/camera_norm" if config.reid.camera_norm else key


def measured_distributions(config: Any) -> dict[str, tuple[float, float]]:
    """``MEASURED`` for ``config``'s pair score (:func:`measured_key`)."""
    key = measured_key(config)
    if key not in MEASURED:
        raise SystemExit(f"no measured pair distributions for {key}: pass --pos and --neg")
    return MEASURED[key]


@dataclasses.dataclass
class Scene:
    tracklets: list[Tracklet]
    person: list[int]
    gt: dict[str, MotRows]
    frames: int


def load_scene(data: Path, rng: np.random.Generator) -> Scene:
    folder = data / "campus-auditorium-gt"
    tracklets: list[Tracklet] = []
    person: list[int] = []
    gt: dict[str, MotRows] = {}
    frames = 0
    for view in VIEWS:
        rows = np.loadtxt(folder / f"view-{view}.gt.txt", delimiter=",", ndmin=2)
        rows = rows[(rows[:, 0] - 1) % STEP == 0]
        frames = max(frames, int(rows[:, 0].max()))
        gt[view] = MotRows(
            rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 2:6].astype(np.float64),
            np.ones(len(rows)),
        )  # fmt: skip
        track_id = 0
        for pid in np.unique(rows[:, 1]).astype(int).tolist():
            mine = rows[rows[:, 1] == pid]
            mine = mine[np.argsort(mine[:, 0])]
            breaks = np.flatnonzero(np.diff(mine[:, 0]) > STEP) + 1
            for run in np.split(mine, breaks):
                for piece in _fragment(run, rng):
                    if len(piece) < 2 or (piece[-1, 0] - piece[0, 0]) / FPS < 0.3:
                        continue
                    track_id += 1
                    t = Tracklet(view, track_id)
                    t.frames = [int(f) - 1 for f in piece[:, 0]]
                    t.times_s = [(int(f) - 1) / FPS for f in piece[:, 0]]
                    jitter = rng.normal(0.0, 0.02, (len(piece), 4)) * piece[:, 5:6]
                    x, y, w, h = (piece[:, 2:6] + jitter).T
                    t.boxes_xyxy = [tuple(map(float, b)) for b in np.stack([x, y, x + w, y + h], 1)]
                    t.scores = [1.0] * len(piece)
                    tracklets.append(t)
                    person.append(pid)
    return Scene(tracklets, person, gt, frames)


def _fragment(run: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Break a run by simulated tracker losses (Poisson, each dropping 0.3–2 s of boxes)."""
    t = (run[:, 0] - run[0, 0]) / FPS
    pieces, start_s = [], 0.0
    cut = start_s + rng.exponential(1 / LOSS_RATE_PER_S)
    while cut < t[-1]:
        gap = rng.uniform(0.3, 2.0)
        pieces.append(run[(t >= start_s) & (t < cut)])
        start_s = cut + gap
        cut = start_s + rng.exponential(1 / LOSS_RATE_PER_S)
    pieces.append(run[t >= start_s])
    return [p for p in pieces if len(p)]


class SimMatcher:
    """Pair scores drawn once per pair of tracklets (see the module docstring)."""

    def __init__(
        self,
        person: Sequence[int],
        rng: np.random.Generator,
        pos: tuple[float, float],
        neg: tuple[float, float],
        *,
        cams: Sequence[str] | None = None,
        pos_same_cam: tuple[float, float] | None = None,
        neg_same_cam: tuple[float, float] | None = None,
        tracklet_share: float = TRACKLET_SHARE,
        spans_s: Sequence[tuple[float, float]] | None = None,
        neg_concurrent: tuple[float, float] | None = None,
        neg_concurrent_same_cam: tuple[float, float] | None = None,
    ) -> None:
        """``pos``/``neg``: (mean, sd) of the head's log-odds for same-person / other-person pairs;
        with ``cams`` (each tracklet's camera), a pair of one camera draws from ``pos_same_cam`` /
        ``neg_same_cam`` instead (``None``: as any pair). The same random draws either way.
        ``tracklet_share``: the share of each pair's variance that comes from its two tracklets'
        own looks (drawn last, so 0 gives the draws of earlier versions). With ``spans_s`` (each
        tracklet's start and end, seconds) two people's tracklets that share a moment draw from
        ``neg_concurrent`` (two cameras) / ``neg_concurrent_same_cam`` (one camera) instead: the
        known negatives of a run, which the head scores differently (in one view people at one
        moment are often partly in each other's crops)."""
        if not 0.0 <= tracklet_share <= 1.0 - LOOKALIKE_RHO**2:
            raise ValueError(f"tracklet_share must be in [0, {1 - LOOKALIKE_RHO**2}], got {tracklet_share}")
        n = len(person)
        p = np.asarray(person)
        people = np.unique(p)
        z_people = rng.normal(size=(people.max() + 1, people.max() + 1))
        z_people = (z_people + z_people.T) / math.sqrt(2)
        rest = math.sqrt(1 - LOOKALIKE_RHO**2 - tracklet_share)
        z = LOOKALIKE_RHO * z_people[p[:, None], p[None, :]] + rest * _sym(rng, n)
        same = p[:, None] == p[None, :]
        z_same = math.sqrt(1 - tracklet_share) * _sym(rng, n)
        emb = rng.normal(size=(people.max() + 1, 16))[p] + 0.8 * rng.normal(size=(n, 16))
        self.embedding = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        if tracklet_share > 0:
            look = rng.normal(size=n)
            shared = math.sqrt(tracklet_share / 2) * (look[:, None] + look[None, :])
            z, z_same = z + shared, z_same + shared
        logit = np.where(same, pos[0] + pos[1] * z_same, neg[0] + neg[1] * z)
        if cams is not None:
            c = np.asarray(cams)
            one_cam = c[:, None] == c[None, :]
            if pos_same_cam is not None:
                logit = np.where(same & one_cam, pos_same_cam[0] + pos_same_cam[1] * z_same, logit)
            if neg_same_cam is not None:
                logit = np.where(~same & one_cam, neg_same_cam[0] + neg_same_cam[1] * z, logit)
            if spans_s is not None:
                span = np.asarray(spans_s, np.float64).reshape(n, 2)
                first_end = np.minimum(span[:, None, 1], span[None, :, 1])
                concurrent = ~same & (first_end >= np.maximum(span[:, None, 0], span[None, :, 0]))
                for dist, where in ((neg_concurrent, ~one_cam), (neg_concurrent_same_cam, one_cam)):
                    if dist is not None:
                        logit = np.where(concurrent & where, dist[0] + dist[1] * z, logit)
        self.prob = 1 / (1 + np.exp(-logit))

    def encode(self, crops_bgr: Sequence[np.ndarray]) -> Any:
        raise AssertionError("simulated tracklets come encoded")

    def embed(self, enc: np.ndarray) -> np.ndarray:
        return self.embedding[enc]

    def score(self, enc_a: np.ndarray, enc_b: np.ndarray) -> np.ndarray:
        return self.prob[np.ix_(enc_a, enc_b)]

    def pool(self, enc: np.ndarray) -> np.ndarray:
        """A simulated tracklet is one row already (``association.crop_pooling: mean`` changes nothing)."""
        return enc


def _sym(rng: np.random.Generator, n: int) -> np.ndarray:
    a = rng.normal(size=(n, n))
    return (a + a.T) / math.sqrt(2)


def evaluate(method: str, scene: Scene, matcher: SimMatcher, config: Any) -> dict[str, float]:
    cams = {v: SourceInfo(v, v, "sim", FPS, FRAME_WH[0], FRAME_WH[1], scene.frames) for v in VIEWS}
    assoc = build_associator(method, config, matcher, cams)
    order = sorted(range(len(scene.tracklets)), key=lambda i: (scene.tracklets[i].t_end_s, i))
    for i in order:
        t = dataclasses.replace(scene.tracklets[i])
        t.encoded, t.encoding = True, EncodedTracklet(np.array([i]), matcher.embedding[i])
        assoc.add([t])
    identities = assoc.finish()
    by_key = {t.key: t for t in scene.tracklets}
    cameras = tuple(CameraRecord(v, v, FPS, FRAME_WH[0], FRAME_WH[1], scene.frames) for v in VIEWS)
    tracks = TracksFile(
        cameras,
        tuple(
            IdentityRecord(i.global_id, tuple(by_key[k].to_record() for k in i.members)) for i in identities
        ),
    )
    result = evaluate_mtmc(tracks, scene.gt, per_camera=False)
    gid = {k: i.global_id for i in identities for k in i.members}
    ts, person = scene.tracklets, scene.person
    same, linked, own = [], [], []
    pp = getattr(assoc, "pair_probability", None)
    for i in range(len(ts)):
        for j in range(i + 1, len(ts)):
            if ts[i].cam_id == ts[j].cam_id and not (
                ts[i].t_end_s < ts[j].t_start_s or ts[j].t_end_s < ts[i].t_start_s
            ):
                continue
            same.append(person[i] == person[j])
            linked.append(gid[ts[i].key] == gid[ts[j].key])
            if callable(pp):
                v = pp(ts[i].key, ts[j].key)
                own.append(-1.0 if math.isnan(v) else v)
    s, lk = np.array(same), np.array(linked)
    out = {
        "idf1": result.idf1,
        "ids": result.num_pred_ids,
        "people": result.num_gt_ids,
        "tracklets": len(ts),
        "link_p": float((s & lk).sum() / max(lk.sum(), 1)),
        "link_r": float((s & lk).sum() / max(s.sum(), 1)),
    }
    if own:
        o = np.array(own)
        out |= {
            "auc": roc_auc(o, s),
            "p@r.5": precision_at_recall(o, s, 0.5),
            "p@r.8": precision_at_recall(o, s, 0.8),
        }
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["online", "offline"])
    parser.add_argument("--set", nargs="*", default=[])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--config", type=Path, default=None, help="a (partial) pipeline config; default: shipped"
    )
    for key, who in (("pos", "one person"), ("neg", "two people")):
        parser.add_argument(
            f"--{key}",
            type=float,
            nargs=2,
            default=None,
            metavar=("MEAN", "SD"),
            help=f"log-odds of {who}; default: MEASURED for the config's crop_pooling and crop_colour",
        )
    parser.add_argument(
        "--tracklet-share", type=float, default=TRACKLET_SHARE, help="pair variance share of tracklet looks"
    )
    args = parser.parse_args(argv)
    config = parse_overrides(load_config(args.config), ["association.overlapping_views=true", *args.set])
    measured = measured_distributions(config)
    pos, neg = tuple(args.pos or measured["pos"]), tuple(args.neg or measured["neg"])
    settings = [*([str(args.config)] if args.config else []), *args.set]
    print(f"# CAMPUS simulation, seeds {args.seeds}; {', '.join(settings) or 'default config'}; "
          f"head log-odds one person {pos[0]:+.2f} {pos[1]:.2f}, two people {neg[0]:+.2f} {neg[1]:.2f}; "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    for method in args.methods:
        rows = []
        for seed in args.seeds:
            rng = np.random.default_rng(seed)
            scene = load_scene(args.data, rng)
            matcher = SimMatcher(scene.person, rng, pos, neg, tracklet_share=args.tracklet_share)
            rows.append(evaluate(method, scene, matcher, config))
        keys = rows[0].keys()
        mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
        print(
            f"{method:24} " + "  ".join(f"{k} {v:.3f}" if v < 2 else f"{k} {v:.0f}" for k, v in mean.items())
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
