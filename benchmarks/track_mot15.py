"""Benchmark our trackers against ultralytics' BYTETracker and BOTSORT on MOT15 ground truth.

The MOT15 frames are not available, so every tracker gets the *same* synthetic detections made
from the ground truth (``../shared/data/mot15/<seq>/gt/gt.txt``, rows with conf/mark != 0, i.e.
the pedestrians MOT15 evaluates), with seeded noise:

- each box is dropped with probability ``--drop`` (0.15);
- each box edge is moved by Gaussian noise with sigma ``--jitter`` (0.05) × box width (x1, x2)
  or height (y1, y2);
- for each kept box, with probability ``--fp`` (0.05) a false positive is added to the frame:
  the size of a random ground-truth box of the sequence, at a uniform random place in the image;
- every detection's score is uniform in [0.3, 1] (true and false alike).

Trackers: ours (``sort``, ``bytetrack``, defaults from the constructors) and ultralytics'
``BYTETracker`` and ``BOTSORT`` (default YAML from ``ultralytics/cfg/trackers``; BOTSORT without
ReID and GMC as there are no images). ultralytics >= 8.4 no longer takes a ``frame_rate``; to
give its ``track_buffer`` (30) the meaning it had with ``frame_rate`` (``track_buffer * fps /
30`` frames, i.e. 1 s), it is scaled here by the seqinfo fps. Scores come from TrackEval
(``pipeline.evaluation.mot``). Speed: updates per second over all sequences, and the mean time of
one ``update`` on a synthetic scene with 20 detections per frame, single thread (the detection
objects are built outside the timed region for every tracker). Times are CPU time of the calling
thread (``time.thread_time``), so other processes on a shared machine do not inflate them.

Usage (from the repo root)::

    python benchmarks/track_mot15.py [--seed 0] [--markdown]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra.motchallenge import MotRows, SeqInfo, read_mot, read_seqinfo  # noqa: E402
from pipeline.evaluation.mot import COMBINED, evaluate_mot_sequences  # noqa: E402
from trackers import Detections, create_tracker  # noqa: E402

OURS = ("sort", "bytetrack")
ULTRALYTICS = ("ultralytics-bytetrack", "ultralytics-botsort")
# our trackers with changed knobs: "name:key=value,key=value"; the no-coasting variants show how
# much of the gain comes from reporting predictions through missed detections (ultralytics does not)
DEFAULT_TRACKERS = ("sort", "bytetrack", "sort:coast_output_s=0", "bytetrack:coast_output_s=0", *ULTRALYTICS)

FrameDets = dict[int, Detections]  # 1-based frame -> detections


def make_detections(
    gt: MotRows, info: SeqInfo, rng: np.random.Generator, drop: float, jitter: float, fp: float
) -> FrameDets:
    """Noisy detections for frames ``1..info.num_frames`` from the valid ground-truth rows."""
    valid = gt[gt.score != 0]
    sizes = valid.tlwh[:, 2:]
    out: FrameDets = {}
    rows_by_frame = dict(valid.by_frame())
    for frame in range(1, info.num_frames + 1):
        rows = rows_by_frame.get(frame, MotRows.empty())
        xyxy = rows.to_xyxy()
        xyxy = xyxy[rng.random(len(xyxy)) >= drop]
        wh = xyxy[:, 2:] - xyxy[:, :2]
        scale = np.concatenate([wh, wh], axis=1)
        xyxy = xyxy + rng.normal(0.0, jitter, size=xyxy.shape) * scale
        n_fp = int((rng.random(len(xyxy)) < fp).sum())
        if n_fp:
            fp_wh = sizes[rng.integers(0, len(sizes), n_fp)]
            x1 = rng.uniform(0, np.maximum(info.width_px - fp_wh[:, 0], 1))
            y1 = rng.uniform(0, np.maximum(info.height_px - fp_wh[:, 1], 1))
            xyxy = np.concatenate([xyxy, np.stack([x1, y1, x1 + fp_wh[:, 0], y1 + fp_wh[:, 1]], axis=1)])
        # keep boxes valid after jitter: at least 1 px wide and high
        xyxy[:, 2] = np.maximum(xyxy[:, 2], xyxy[:, 0] + 1.0)
        xyxy[:, 3] = np.maximum(xyxy[:, 3], xyxy[:, 1] + 1.0)
        order = rng.permutation(len(xyxy))  # detectors give no order; do not leak the GT order
        out[frame] = Detections(
            xyxy[order].astype(np.float32),
            rng.uniform(0.3, 1.0, len(xyxy)).astype(np.float32),
            np.zeros(len(xyxy), np.int64),
        )
    return out


# ---------------------------------------------------------------------- tracker adapters
# Each adapter: prepare(dets) -> tracker input (untimed); step(input) -> (xyxy, ids, scores).


def parse_spec(spec: str) -> tuple[str, dict[str, float]]:
    """``"sort:coast_output_s=0,min_hits=2"`` → ``("sort", {"coast_output_s": 0.0, "min_hits": 2})``."""
    name, _, rest = spec.partition(":")
    kwargs: dict[str, float] = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        kwargs[key] = int(value) if value.lstrip("-").isdigit() and key == "min_hits" else float(value)
    return name, kwargs


def _ours(
    spec: str, fps: float, frame_wh: tuple[int, int] | None = None
) -> tuple[Callable[[Detections], Any], Callable[[Any], tuple]]:
    name, kwargs = parse_spec(spec)
    tracker = create_tracker(name, fps=fps, frame_wh=frame_wh, **kwargs)

    def step(dets: Detections) -> tuple:
        tracks = tracker.update(dets)
        return tracks.xyxy, tracks.track_id, tracks.score

    return (lambda d: d), step


def _ultralytics(name: str, fps: float) -> tuple[Callable[[Detections], Any], Callable[[Any], tuple]]:
    from ultralytics.engine.results import Boxes
    from ultralytics.trackers import BOTSORT, BYTETracker
    from ultralytics.utils import YAML, IterableSimpleNamespace
    from ultralytics.utils.checks import check_yaml

    yaml_name = "bytetrack.yaml" if name == "ultralytics-bytetrack" else "botsort.yaml"
    cfg = YAML.load(check_yaml(yaml_name))
    cfg["track_buffer"] = int(fps / 30.0 * cfg["track_buffer"])  # what frame_rate=fps used to do
    args = IterableSimpleNamespace(**cfg)
    tracker = BYTETracker(args) if name == "ultralytics-bytetrack" else BOTSORT(args)

    def prepare(dets: Detections) -> Any:
        data = np.concatenate([dets.xyxy, dets.score[:, None], dets.class_id[:, None]], axis=1)
        return Boxes(data.astype(np.float32), orig_shape=(1080, 1920))

    def step(boxes: Any) -> tuple:
        out = tracker.update(boxes, None)
        if len(out) == 0:
            return np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0)
        return out[:, :4], out[:, 4].astype(np.int64), out[:, 5]

    return prepare, step


def make_tracker(
    name: str, fps: float, frame_wh: tuple[int, int] | None = None
) -> tuple[Callable[[Detections], Any], Callable[[Any], tuple]]:
    """``(prepare, step)`` of tracker ``name``; ours get the frame size (px) for their border rule."""
    return _ultralytics(name, fps) if name in ULTRALYTICS else _ours(name, fps, frame_wh)


def run_sequence(
    name: str, fps: float, dets: FrameDets, frame_wh: tuple[int, int] | None = None
) -> tuple[MotRows, float]:
    """Track all frames; returns the MOT rows and the CPU seconds (this thread) spent in ``update``."""
    prepare, step = make_tracker(name, fps, frame_wh)
    inputs = [(frame, prepare(dets[frame])) for frame in sorted(dets)]
    parts = []
    spent = 0.0
    for frame, item in inputs:
        t0 = time.thread_time()
        xyxy, ids, scores = step(item)
        spent += time.thread_time() - t0
        xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
        tlwh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        parts.append(MotRows(np.full(len(ids), frame), ids, tlwh, scores))
    return MotRows.concat(parts), spent


def synthetic_scene(n_people: int, n_frames: int, seed: int) -> list[Detections]:
    """``n_people`` boxes walking in straight lines over a 1920×1080 frame, 2 % jitter, all detected."""
    rng = np.random.default_rng(seed)
    start = np.stack([rng.uniform(0, 1800, n_people), rng.uniform(0, 800, n_people)], axis=1)
    velocity = rng.normal(0, 2.0, size=(n_people, 2))
    wh = np.stack([rng.uniform(40, 90, n_people), rng.uniform(100, 250, n_people)], axis=1)
    frames = []
    for t in range(n_frames):
        tl = start + velocity * t + rng.normal(0, 0.02, size=(n_people, 2)) * wh
        xyxy = np.concatenate([tl, tl + wh], axis=1)
        frames.append(
            Detections(
                xyxy.astype(np.float32),
                rng.uniform(0.3, 1.0, n_people).astype(np.float32),
                np.zeros(n_people, np.int64),
            )
        )
    return frames


def time_per_frame_ms(name: str, n_dets: int = 20, n_frames: int = 320, repeats: int = 5) -> float:
    """Best of ``repeats`` runs of the mean ``update`` CPU time (ms) at ``n_dets`` detections per frame.

    CPU time of this thread (``time.thread_time``), best run: the figures least disturbed by other
    processes on a shared machine.
    """
    scene = synthetic_scene(n_dets, n_frames, seed=1)
    results = []
    for _ in range(repeats):
        prepare, step = make_tracker(name, 30.0)
        inputs = [prepare(d) for d in scene]
        for item in inputs[:20]:  # warm-up: tracks get confirmed
            step(item)
        t0 = time.thread_time()
        for item in inputs[20:]:
            step(item)
        results.append((time.thread_time() - t0) / (len(inputs) - 20) * 1e3)
    return float(np.min(results))


def format_results(
    results: dict[str, dict[str, dict[str, float]]], speed: dict[str, tuple[float, float]], markdown: bool
) -> str:
    header = ["tracker", "sequence", "HOTA", "MOTA", "IDF1", "IDsw", "updates/s", "ms/frame @20 dets"]
    rows = []
    for tracker, per_seq in results.items():
        for seq, m in per_seq.items():
            ups, ms = speed[tracker] if seq == COMBINED else ("", "")
            rows.append(
                [
                    tracker,
                    seq,
                    f"{m['HOTA']:.1f}",
                    f"{m['MOTA']:.1f}",
                    f"{m['IDF1']:.1f}",
                    f"{int(m['IDSW'])}",
                    f"{ups:.0f}" if ups != "" else "",
                    "" if ms == "" else ("n/a" if ms != ms else f"{ms:.3f}"),
                ]
            )
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += [
            "| " + " | ".join(f"**{c}**" if r[1] == COMBINED and c else c for c in r) + " |" for r in rows
        ]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    return "\n".join("  ".join(f"{c:>{w}}" for c, w in zip(r, widths, strict=True)) for r in [header, *rows])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "mot15",
        help="folder of MOT15 sequences <seq>/gt/gt.txt + seqinfo.ini (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default: %(default)s)")
    parser.add_argument(
        "--drop", type=float, default=0.15, help="box drop probability (default: %(default)s)"
    )
    parser.add_argument(
        "--jitter",
        type=float,
        default=0.05,
        help="box edge noise sigma, fraction of box size (default: %(default)s)",
    )
    parser.add_argument(
        "--fp", type=float, default=0.05, help="false positives per true detection (default: %(default)s)"
    )
    parser.add_argument(
        "--trackers",
        nargs="+",
        default=list(DEFAULT_TRACKERS),
        help="ours: sort, bytetrack, optionally with knobs as name:key=value,key=value; "
        f"{', '.join(ULTRALYTICS)} (default: %(default)s)",
    )
    parser.add_argument("--sequences", nargs="*", help="sequence names (default: all in --data-dir)")
    parser.add_argument("--no-timing", action="store_true", help="skip the 20-detection timing")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)

    for spec in args.trackers:
        if spec not in ULTRALYTICS:
            name, kwargs = parse_spec(spec)
            if name not in OURS:
                parser.error(f"unknown tracker {spec!r}")
            create_tracker(name, **kwargs)  # fail early on a bad knob
    if any(t in ULTRALYTICS for t in args.trackers):
        import torch

        torch.set_num_threads(1)
    seq_dirs = sorted(p.parent.parent for p in args.data_dir.glob("*/gt/gt.txt"))
    if args.sequences:
        seq_dirs = [d for d in seq_dirs if d.name in set(args.sequences)]
    if not seq_dirs:
        print(f"error: no <seq>/gt/gt.txt under {args.data_dir}", file=sys.stderr)
        return 2
    data = {}
    for seq_dir in seq_dirs:
        info = read_seqinfo(seq_dir / "seqinfo.ini")
        gt = read_mot(seq_dir / "gt" / "gt.txt")
        rng = np.random.default_rng([args.seed, zlib.crc32(seq_dir.name.encode())])  # per sequence
        data[seq_dir.name] = (info, gt, make_detections(gt, info, rng, args.drop, args.jitter, args.fp))

    results: dict[str, dict[str, dict[str, float]]] = {}
    speed: dict[str, tuple[float, float]] = {}
    for tracker in args.trackers:
        seqs = {}
        total_s, total_frames = 0.0, 0
        for name, (info, gt, dets) in data.items():
            size = (info.width_px, info.height_px) if info.width_px and info.height_px else None
            pred, spent = run_sequence(tracker, info.fps, dets, size)
            seqs[name] = (gt, pred, info.num_frames)
            total_s += spent
            total_frames += len(dets)
        results[tracker] = evaluate_mot_sequences(seqs)
        ms20 = float("nan") if args.no_timing else time_per_frame_ms(tracker)
        speed[tracker] = (total_frames / total_s, ms20)
        print(f"{tracker}: IDF1 {results[tracker][COMBINED]['IDF1']:.1f}", file=sys.stderr)
    print(format_results(results, speed, args.markdown))
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\nmachine: {_cpu_model()}, {os.cpu_count()} logical CPUs; load average (1/5/15 min) at the end: "
        f"{load}; seed {args.seed}, drop {args.drop}, jitter {args.jitter}, fp {args.fp}"
    )
    return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    raise SystemExit(main())
