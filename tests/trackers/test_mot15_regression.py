"""A quick regression guard on real trajectories: two short MOT15 sequences, noisy GT detections."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "mot15"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("track_mot15", ROOT / "benchmarks" / "track_mot15.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.mark.integration
@pytest.mark.skipif(not DATA.is_dir(), reason=f"MOT15 ground truth not found at {DATA}")
@pytest.mark.parametrize(("tracker", "min_idf1"), [("sort", 85.0), ("bytetrack", 85.0)])
def test_idf1_on_short_mot15_sequences(tracker: str, min_idf1: float) -> None:
    bench = load_benchmark()
    from infra.motchallenge import read_mot, read_seqinfo
    from pipeline.evaluation.mot import COMBINED, evaluate_mot_sequences

    seqs = {}
    for name in ("TUD-Campus", "KITTI-17"):
        info = read_seqinfo(DATA / name / "seqinfo.ini")
        gt = read_mot(DATA / name / "gt" / "gt.txt")
        dets = bench.make_detections(gt, info, np.random.default_rng(0), drop=0.15, jitter=0.05, fp=0.05)
        pred, _ = bench.run_sequence(tracker, info.fps, dets)
        seqs[name] = (gt, pred, info.num_frames)
    combined = evaluate_mot_sequences(seqs)[COMBINED]
    assert combined["IDF1"] >= min_idf1, combined
