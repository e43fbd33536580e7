"""How much of a pair score is each tracklet's own look, and what contrasting with known negatives does.

On the real cuts of ``association_accuracy.py`` (its stage caches; run it first for the role),
with the shipped re-ID head's tracklet-pair log-odds:

1. **Look share**: for pairs of two different people (ground truth, IoU ≥ 0.5), the share of the
   variance of their log-odds that comes from the two tracklets themselves: the covariance of two
   pairs that share a tracklet (log-odds centred per cut and kind), times two, over the variance
   (method of moments; one kind at a time: two cameras, one camera). This is the ``TRACKLET_SHARE``
   of the simulations (``association_simulation.py``), measured on the tuning role.
2. **Ranking**: ROC AUC and precision at recall 0.5 of the eligible pairs (not one camera at one
   time; per kind) for the head's log-odds as they are, contrasted with both tracklets' known
   negatives *both ways* (``x − r̄ + reference``, no shrinkage: the pure correction), and as
   ``association.contrast`` does it (down only, shrunk by ``contrast_prior_negatives``;
   ``pipeline.identities.contrast``).

Usage::

    python benchmarks/tracklet_looks.py --role tuning|test [--boxes gt yolo]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tools"))

from association_accuracy import (  # noqa: E402
    BOXES,
    CUTS,
    DEFAULT_DATA,
    DEFAULT_OUT,
    cut_folder,
    eligible,
    load_gt,
    run_stages,
    tracklet_person,
)

from pipeline.config import load_config  # noqa: E402
from pipeline.evaluation.pairs import precision_at_recall, roc_auc  # noqa: E402
from pipeline.identities.contrast import NegativeContrast  # noqa: E402
from pipeline.identities.scoring import encode_tracklets, logodds, tracklet_pair_scores  # noqa: E402
from pipeline.identities.spacetime import Topology  # noqa: E402

SCORES = ("head", "contrast both ways", "association.contrast")


def look_share(matrices: Sequence[np.ndarray]) -> tuple[float, int]:
    """Share of variance from the two tracklets' looks, and the number of pairs.

    ``matrices``: per cut, a symmetric ``(n, n)`` array of one kind of different-person log-odds
    (``nan`` elsewhere). ``2·cov(x_ij, x_ik) / var(x)``, each cut centred on its own mean."""
    num = den = 0.0
    values = []
    for x in matrices:
        if not np.isfinite(x).any():
            continue
        c = x - np.nanmean(x)
        values.append(c[np.isfinite(c)])
        for row in c:
            v = row[np.isfinite(row)]
            if len(v) >= 2:
                num += v.sum() ** 2 - (v**2).sum()
                den += len(v) * (len(v) - 1)
    pooled = np.concatenate(values) if values else np.zeros(0)
    if den == 0 or pooled.size < 2:
        return math.nan, int(pooled.size // 2)
    return 2.0 * (num / den) / float(pooled.var()), int(pooled.size // 2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=("tuning", "test"), default="tuning")
    parser.add_argument("--boxes", nargs="+", choices=BOXES, default=list(BOXES))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    from pipeline.identities import MATCHERS

    config = load_config(None)
    cfg = config.association
    matcher = MATCHERS.get(config.reid.model)(config.reid.weights, "cpu")
    rules = Topology.from_config(cfg)
    looks: dict[bool, list[np.ndarray]] = {False: [], True: []}
    ranked: dict[tuple[str, bool], list[tuple[str, float, bool]]] = {}
    for boxes in args.boxes:
        for cut in (c for c in CUTS.values() if c.role == args.role):
            folder = cut_folder(cut, args.data, args.out)
            gt = load_gt(cut, folder)
            replay = run_stages(cut, folder, boxes, args.out, config, matcher)
            tracklets = [t for batch, _ in replay.batches for t in batch]
            copies = [dataclasses.replace(t, crops=list(t.crops)) for t in tracklets]
            enc = encode_tracklets(matcher, copies, cfg.crops_per_pair)
            keep = [k for k, e in enumerate(enc) if e is not None]
            ts = [tracklets[k] for k in keep]
            person = [tracklet_person(t, gt[t.cam_id]) for t in ts]
            n = len(ts)
            pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
            values = tracklet_pair_scores(matcher, [(enc[keep[i]], enc[keep[j]]) for i, j in pairs], 0.5)  # type: ignore[misc]
            x = np.full((n, n), np.nan)
            for (i, j), v in zip(pairs, values, strict=True):
                x[i, j] = x[j, i] = logodds(v) if not math.isnan(v) else math.nan
            for same_cam in (False, True):
                m = np.full((n, n), np.nan)
                for i, j in pairs:
                    other = person[i] is not None and person[j] is not None and person[i] != person[j]
                    if other and (ts[i].cam_id == ts[j].cam_id) == same_cam:
                        m[i, j] = m[j, i] = x[i, j]
                looks[same_cam].append(m)
            contrasts = {}
            for name, prior in (("both", 0.0), ("shipped", cfg.contrast_prior_negatives)):
                c = NegativeContrast(
                    cfg.negative_q50_logodds,
                    cfg.same_camera_negative_q50_logodds,
                    cfg.contrast_max_negatives,
                    prior,
                )
                starts = [rules.clock_s(t.cam_id, t.t_start_s) for t in ts]
                ends = [rules.clock_s(t.cam_id, t.t_end_s) for t in ts]
                c.score(
                    [t.key for t in ts],
                    [t.cam_id for t in ts],
                    starts,
                    ends,
                    rules,
                    lambda f, x=x: [x[i, j] for i, j in f],
                )
                contrasts[name] = c
            for i, j in pairs:
                a, b = ts[i], ts[j]
                if not eligible(a, b) or not math.isfinite(x[i, j]):
                    continue
                same_cam = a.cam_id == b.cam_id
                label = person[i] is not None and person[i] == person[j]
                both = contrasts["both"]
                ref = both.references[same_cam]
                r = 0.5 * (
                    both.reference_of(a.key, a.cam_id, b.cam_id)
                    + both.reference_of(b.key, b.cam_id, a.cam_id)
                )
                shipped = contrasts["shipped"].adjust(x[i, j], a.key, a.cam_id, b.key, b.cam_id)
                for score, v in zip(SCORES, (x[i, j], x[i, j] - r + ref, shipped), strict=True):
                    ranked.setdefault((boxes, same_cam), []).append((score, float(v), label))
    print(f"# role {args.role}, boxes {' '.join(args.boxes)}; load average {os.getloadavg()[0]:.1f}")
    for same_cam, kind in ((False, "two cameras"), (True, "one camera")):
        share, count = look_share(looks[same_cam])
        print(f"# look share, {kind}: {share:.2f} of the variance of {count} different-person pairs")
    print("| boxes | pairs | positives / negatives | score | AUC | P@R.5 |")
    print("|---|---|---|---|---|---|")
    for (boxes, same_cam), rows in ranked.items():
        for score in SCORES:
            v = np.array([r[1] for r in rows if r[0] == score])
            y = np.array([r[2] for r in rows if r[0] == score], bool)
            kind = "one camera" if same_cam else "two cameras"
            if y.all() or not y.any():
                print(f"| {boxes} | {kind} | {int(y.sum())} / {int((~y).sum())} | {score} | - | - |")
                continue
            auc, p50 = 100 * roc_auc(v, y), 100 * precision_at_recall(v, y, 0.5)
            print(
                f"| {boxes} | {kind} | {int(y.sum())} / {int((~y).sum())} | {score} | {auc:.1f} | {p50:.1f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
