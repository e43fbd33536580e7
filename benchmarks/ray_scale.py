"""Ray executor scaling on this machine, and the capacity of the central association.

Two measurements (``--part scale``, ``--part association``, default both):

**scale** — the sample's two videos (``sample_videos/cam_a.mp4``, ``cam_b.mp4``) repeated as 2, 4
and 8 cameras (distinct camera ids), run with ``--executor local`` and with ``--executor ray`` on
1, 2 and 4 actors (``executor.cams_per_worker`` = cameras ÷ actors), every run in this process
through :func:`pipeline.run.run` on one local Ray instance started once (so the per-run figures
exclude Ray's own start, not the actors' start: each run starts its actors, which import torch
and load the models). Detections: ``--detections replay`` (default: the sample's ground truth
replayed, so the figures are the pipeline's own work: decode, track, tracklets, re-ID encoding,
association) or ``--detections model`` (the bundled detector in every actor). ``--frames`` caps
the frames per camera (``--max-frames``). ``--longer N`` takes the cameras of
``benchmarks/speed_inputs.py`` instead (the sample played N times back and forth, the bundled
detector: a site-length input); ``--rounds R`` repeats every run R times, interleaved (local,
Ray, local, Ray…), with the load average before and after each. Reported per run:

- ``end to end fps``: frames of all cameras ÷ the run's wall time (sources opened → outputs
  written; for Ray this includes starting the actors);
- ``steady fps``: frames ÷ the slowest producer's own wall time (first frame read → last batch
  sent): the throughput once the actors are up;
- ``start_and_end_s``: wall time − the slowest producer's time (start-up: opening, Ray actors,
  model loading; and the end: last association, outputs);
- per actor: its cameras' frames/s.

**association** — synthetic closed tracklets pushed through
:class:`pipeline.loop.AssociationConsumer` + the ``online`` associator (default config, shipped
re-ID model): ``--assoc-people`` synthetic people (a top and a bottom colour plus noise, encoded
once by the model) reappear at random; tracklets 4 s long close at ``--assoc-rates`` per second
of media for ``--assoc-media-s`` seconds (at most ``--assoc-max-tracklets``), so the 60 s
transition window (``association.max_transition_s``) fills as in a long run. The cameras grow
with the rate as a site's do: ``ceil(rate / 0.91)``, the sample's tracklets per camera and
second (at least 2; ``--assoc-cams`` fixes the number instead; with few cameras and a high rate
nearly every pair overlaps in time, nothing is scored, and the figure means nothing).
``--assoc-matcher instant`` replaces the pair head by a constant (the rest, encodings included,
is the model's): the cost of everything but the head, i.e. the ceiling a faster head (a GPU)
would leave. ``--assoc-threads`` sets torch's threads for the head. Reported: tracklets per wall
second absorbed (overall and over the last third, when the window is full), the real-time
factor (media seconds per wall second; < 1 = the association falls behind at that rate), against
the sample run's rate (13 tracklets in 7.16 s of video), the pickled size of one encoded
tracklet (what travels from an actor), and a hash of the decisions (equal hashes = the same
identities; to compare code versions on one stream).

The machine may be shared: the load average is printed before and after. Usage::

    OMP_NUM_THREADS=1 python benchmarks/ray_scale.py [--part scale|association] [--frames 100]
        [--cams 2 4 8] [--actors 1 2 4] [--detections replay|model] [--json runs/bench/ray_scale.json]
        [--assoc-rates 20 180] [--assoc-matcher model|instant] [--assoc-threads 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "sample_videos"
SAMPLE_TRACKLETS_PER_S = 13 / (179 / 25.0)  # the sample run: 13 tracklets in 179 frames at 25 fps
SAMPLE_CAMERAS = 2


def assoc_cameras(rate: float, fixed: int | None) -> int:
    """Cameras of the synthetic stream: ``fixed``, or as many as make ``rate`` the sample's per camera.

    >>> assoc_cameras(1.8, None), assoc_cameras(180.0, None), assoc_cameras(180.0, 8)
    (2, 199, 8)
    """
    if fixed is not None:
        return fixed
    return max(SAMPLE_CAMERAS, math.ceil(rate / (SAMPLE_TRACKLETS_PER_S / SAMPLE_CAMERAS)))


class InstantHead:
    """A matcher that encodes with ``inner`` but scores every crop pair 0.1 at no cost (no head)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def encode(self, crops: Any) -> Any:
        return self.inner.encode(crops)

    def embed(self, enc: Any) -> Any:
        return self.inner.embed(enc)

    def score(self, enc_a: Any, enc_b: Any) -> Any:
        import numpy as np

        return np.full((len(enc_a), len(enc_b)), 0.1, np.float32)

    def score_blocks(self, blocks: Any) -> list:
        import numpy as np

        return [np.full((len(a), len(b)), 0.1, np.float32) for a, b in blocks]

    def pool(self, enc: Any) -> Any:
        return self.inner.pool(enc)


def _cams(n: int, dets: Path) -> list:
    from pipeline.frames import CameraSpec

    cams = []
    for k in range(n):
        src = "a" if k % 2 == 0 else "b"
        cam_id = f"cam{k}"
        (dets / f"{cam_id}.txt").write_text((SAMPLE / f"gt_{src}.txt").read_text(encoding="utf-8"), "utf-8")
        cams.append(CameraSpec(str(SAMPLE / f"cam_{src}.mp4"), cam_id))
    return cams


def _config(kind: str, cams_per_worker: int, num_actors: int):
    from pipeline.config import load_config

    cfg = load_config()
    ex = dataclasses.replace(cfg.executor, kind=kind, cams_per_worker=cams_per_worker)
    ex = dataclasses.replace(ex, ray=dataclasses.replace(ex.ray, num_cpus_per_actor=1.0))
    return cfg.replace(executor=ex, runtime=dataclasses.replace(cfg.runtime, device="cpu"))


def run_scale(args: argparse.Namespace) -> list[dict[str, Any]]:
    import ray

    from pipeline.export.tracks_json import TracksJsonSink
    from pipeline.run import run

    # logical CPUs: one per actor of the largest run (the machine's cores are shared by all of them)
    t0 = time.perf_counter()
    ray.init(num_cpus=max(args.actors), include_dashboard=False, configure_logging=False, log_to_driver=False)
    print(json.dumps({"ray_init_s": round(time.perf_counter() - t0, 2)}), flush=True)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for n in args.cams:
                dets = Path(tmp) / f"dets{n}"
                dets.mkdir()
                cams = _cams(n, dets) if args.longer is None else _long_cams(n, args.longer)
                replay = args.detections == "replay" and args.longer is None
                plans = [("local", n, 1)] + [("ray", math.ceil(n / a), a) for a in args.actors if a <= n]
                for round_ in range(args.rounds):  # interleaved: local, ray…, local, ray…
                    for kind, per_worker, actors in plans:
                        out = Path(tmp) / f"{kind}-{n}-{actors}-{round_}.json"
                        load = os.getloadavg()[0]
                        t0 = time.perf_counter()
                        summary = run(
                            cams,
                            [TracksJsonSink(out)],
                            _config(kind, per_worker, actors),
                            detections_dir=dets if replay else None,
                            progress=False,
                            max_frames=args.frames,
                        )
                        wall = time.perf_counter() - t0
                        frames = summary.total_frames
                        slowest = max(w.wall_s for w in summary.workers)
                        row = {
                            "round": round_,
                            "cams": n,
                            "executor": kind,
                            "actors": actors if kind == "ray" else 0,
                            "frames": frames,
                            "wall_s": round(wall, 2),
                            "end_to_end_fps": round(frames / wall, 2),
                            "steady_fps": round(frames / slowest, 2) if slowest > 0 else None,
                            "start_and_end_s": round(wall - slowest, 2),
                            "workers": [(w.name, len(w.cam_ids), round(w.fps, 2)) for w in summary.workers],
                            "tracks_sha": _sha(out),
                            "load_before": round(load, 2),
                            "load_after": round(os.getloadavg()[0], 2),
                        }
                        rows.append(row)
                        print(json.dumps(row), flush=True)
    finally:
        ray.shutdown()
    return rows


def _long_cams(n: int, longer: int) -> list:
    """``n`` cameras of ``benchmarks/speed_inputs.py``: the sample ``longer`` times as long."""
    from speed_inputs import camera_files, make_inputs  # this folder is on sys.path (a script)

    from pipeline.frames import CameraSpec

    return [CameraSpec(str(f), f"cam{k}") for k, f in enumerate(camera_files(make_inputs(n, longer)))]


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def run_association(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Synthetic tracklets at ``rate`` per second of media, for each rate; the wall rate absorbed."""
    import hashlib

    import numpy as np
    import torch

    from pipeline.config import load_config
    from pipeline.identities.online import OnlineAssociator
    from pipeline.identities.scoring import encode_tracklets
    from pipeline.loop import END_OF_STREAM, AssociationConsumer, CameraEntry, TrackletBatch
    from pipeline.parts import load_matcher
    from pipeline.tracklets import Crop, Tracklet

    cfg = load_config(args.config)
    cfg = cfg.replace(runtime=dataclasses.replace(cfg.runtime, device="cpu"))
    matcher = load_matcher(cfg)
    assert matcher is not None, "the shipped re-ID weights are needed"
    if args.assoc_threads:
        torch.set_num_threads(args.assoc_threads)  # load_matcher set reid.threads
    rng = np.random.default_rng(0)
    looks = []  # synthetic people: a top and a bottom colour, encoded once, reused by later tracklets
    for _ in range(args.assoc_people):
        top, bottom = rng.integers(0, 255, 3), rng.integers(0, 255, 3)
        crops = []
        for i in range(cfg.tracklets.max_crops):
            image = np.empty((160, 64, 3))
            image[:80], image[80:] = top, bottom
            image = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
            crops.append(Crop(i, 0.0, 1.0, image))
        t = Tracklet("x", 0, crops=crops)
        pool = cfg.association.crop_pooling == "mean"
        looks.append(encode_tracklets(matcher, [t], cfg.association.crops_per_pair, pool=pool)[0])
    size = len(
        pickle.dumps(
            Tracklet(
                "cam0",
                1,
                [0, 100],
                [0.0, 4.0],
                [(0, 0, 1, 1)] * 2,
                [0.9, 0.9],
                encoded=True,
                encoding=looks[0],
            )
        )
    )
    if args.assoc_matcher == "instant":
        matcher = InstantHead(matcher)
    results = []
    for rate in args.assoc_rates:
        cams = [f"cam{c}" for c in range(assoc_cameras(rate, args.assoc_cams))]
        n = min(args.assoc_max_tracklets, int(rate * args.assoc_media_s))
        entries = []
        for k in range(n):
            cam = cams[k % len(cams)]
            start = k / rate
            t = Tracklet(cam, k, [0, 100], [start, start + 4.0], [(0, 0, 1, 1)] * 2, [0.9, 0.9])
            t.encoding, t.encoded = looks[int(rng.integers(len(looks)))], True
            entries.append(CameraEntry(cam, (start + 4.0, 0), [t], start + 1.0 / rate))
        assoc = OnlineAssociator.from_config(cfg.association, matcher=matcher, cameras={}, on_assign=None)
        consumer = AssociationConsumer(assoc, cams, {"reid": 0.0})
        marks = []
        t0 = time.perf_counter()
        for entry in entries:
            consumer.push(TrackletBatch([entry], {c: entry.key for c in cams}, {}))
            marks.append(time.perf_counter() - t0)
        consumer.push(TrackletBatch([], dict.fromkeys(cams, END_OF_STREAM), {}))
        identities = consumer.finish()
        decisions = hashlib.sha256(repr([(i.global_id, i.members) for i in identities]).encode()).hexdigest()
        third = len(marks) // 3
        late = (len(marks) - 1 - 2 * third) / (marks[-1] - marks[2 * third]) if third else math.nan
        media_s = n / rate
        row = {
            "rate_per_media_s": rate,
            "tracklets": n,
            "media_s": round(media_s, 1),
            "cameras": len(cams),
            "wall_s": round(marks[-1], 2),
            "absorbed_per_s": round(n / marks[-1], 1),
            "absorbed_per_s_last_third": round(late, 1),
            "real_time_factor": round(media_s / marks[-1], 2),
            "identities": len(identities),
            "linked": n - len(identities),
            "decisions_sha": decisions[:12],
            "matcher": args.assoc_matcher,
            "threads": torch.get_num_threads(),
            "times_sample_rate": round(late / SAMPLE_TRACKLETS_PER_S, 1),
            "bytes_per_encoded_tracklet": size,
        }
        results.append(row)
        print(json.dumps(row), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("scale", "association", "both"), default="both")
    parser.add_argument("--cams", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument(
        "--frames", type=int, default=None, help="frames per camera at most (default 100; all with --longer)"
    )
    parser.add_argument("--detections", choices=("replay", "model"), default="replay")
    parser.add_argument(
        "--longer",
        type=int,
        default=None,
        help="scale: cameras of benchmarks/speed_inputs.py, the sample N times as long (the detector runs)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="scale: interleaved rounds of every run")
    parser.add_argument(
        "--assoc-rates",
        type=float,
        nargs="+",
        default=[2.0, 20.0, 200.0],
        help="synthetic tracklets closing per second of media (the sample: 1.8)",
    )
    parser.add_argument("--assoc-media-s", type=float, default=90.0, help="seconds of media per rate")
    parser.add_argument("--assoc-max-tracklets", type=int, default=2000)
    parser.add_argument("--assoc-people", type=int, default=200)
    parser.add_argument(
        "--assoc-cams", type=int, default=None, help="cameras; default: grow with the rate as the sample's"
    )
    parser.add_argument("--assoc-matcher", choices=("model", "instant"), default="model")
    parser.add_argument(
        "--assoc-threads", type=int, default=None, help="torch threads (default OMP_NUM_THREADS)"
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="association: a (partial) pipeline config; default: shipped"
    )
    parser.add_argument("--json", type=Path, default=ROOT / "runs" / "bench" / "ray_scale.json")
    args = parser.parse_args()
    if args.frames is None and args.longer is None:
        args.frames = 100
    import torch

    torch.set_num_threads(args.assoc_threads or int(os.environ.get("OMP_NUM_THREADS", "1")))
    report: dict[str, Any] = {"load_before": os.getloadavg(), "cpus": os.cpu_count(), "args": vars(args)}
    if args.part in ("association", "both"):
        report["association"] = run_association(args)
    if args.part in ("scale", "both"):
        report["scale"] = run_scale(args)
    report["load_after"] = os.getloadavg()
    print(f"load average before {report['load_before']}, after {report['load_after']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
