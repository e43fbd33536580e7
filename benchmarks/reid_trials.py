"""CUHK01-100 over several random splits: one training and one evaluation per split (the paper's 10 trials).

Every trial *t* draws its own 100 test identities (``load_split(..., seed=S, trial=t)``, i.e. split
seed ``S + t``), so it needs its own training on the other 871 people: a recipe (default
``configs/reid/full.yaml``) is trained once per trial with ``data.split_seed = S + t``, then its
last weights are scored on that trial's test split (single-shot, camera A queries, camera B
gallery), with the test-time flip and with each pair scored once. The table gives every trial and
the mean ± standard deviation of rank-1/5/10/20 and mAP (percent).

Ten trainings of ``full.yaml`` take ~15 h on a 2-core CPU (~90 min each): a job for a GPU, where
``--parallel`` runs several trainings at once (each is small). Each trial's run folder is resumable:
running the command again continues unfinished trainings (``reid-train --resume``) and skips
finished ones. Results go to ``<out>/results.json`` (written atomically).

Usage (from the repo root)::

    python benchmarks/reid_trials.py [--config configs/reid/full.yaml] [--trials 10] [--seed 0]
        [--out runs/trials] [--parallel 1] [--device auto] [--threads 0] [--steps N] [--eval-only]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra.fileio import atomic_write_bytes  # noqa: E402

CUHK01 = ROOT.parent / "shared" / "data" / "reid" / "cuhk01"
RANKS = (1, 5, 10, 20)


def trial_recipe(
    base: dict[str, Any], split_seed: int, out: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """``base`` (a training recipe as a mapping) for one trial: its split seed, run folder and machine."""
    recipe = json.loads(json.dumps(base))  # a deep copy of plain data
    recipe["data"]["split_seed"] = split_seed
    run = recipe["run"]
    if args.steps is not None:
        run["steps"] = args.steps
    run["eval_every_steps"] = run["steps"]  # only the final evaluation: the trials are scored below
    run["out_dir"] = str(out)
    run["device"] = args.device
    run["num_threads"] = args.threads or None
    return recipe


def finished(run_dir: Path, steps: int) -> bool:
    """Whether ``run_dir`` holds a checkpoint of the last step."""
    meta = run_dir / "last.json"
    if not meta.is_file():
        return False
    return int(json.loads(meta.read_text(encoding="utf-8")).get("step", -1)) >= steps


def train_all(base: dict[str, Any], args: argparse.Namespace) -> list[Path]:
    """Train every trial not finished yet, ``args.parallel`` at a time; returns the run folders."""
    runs, pending = [], []
    for t in range(args.trials):
        run_dir = args.out / f"trial_{t:02d}"
        recipe = trial_recipe(base, args.seed + t, run_dir, args)
        runs.append(run_dir)
        if finished(run_dir, recipe["run"]["steps"]):
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"trial_{t:02d}.yaml"
        path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
        cmd = ["reid-train", "--config", str(path), "--out", str(run_dir), "--progress", "lines"]
        if (run_dir / "last.json").is_file():
            cmd.append("--resume")
        pending.append((cmd, args.out / f"trial_{t:02d}.log"))
    running: list[tuple[subprocess.Popen[bytes], Path]] = []
    while pending or running:
        while pending and len(running) < args.parallel:
            cmd, log = pending.pop(0)
            print(f"start: {' '.join(cmd)} (log {log})", file=sys.stderr, flush=True)
            with open(log, "ab") as sink:
                running.append((subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT), log))
        time.sleep(2.0)
        for proc, log in list(running):
            if proc.poll() is not None:
                running.remove((proc, log))
                if proc.returncode != 0:
                    raise SystemExit(f"training failed (exit {proc.returncode}); see {log}")
    return runs


def evaluate(runs: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    """Each trial's last weights on its own test split, with the flip and once."""
    from reid_core.data.splits import load_split
    from reid_core.evaluate import evaluate_split
    from reid_core.inference import load_matcher
    from reid_core.tta import with_tta

    rows: dict[str, list[dict[str, float]]] = {"flip": [], "none": []}
    for t, run_dir in enumerate(runs):
        weights = run_dir / "last.safetensors"
        if not weights.is_file():
            raise SystemExit(f"{weights}: missing (train first: run without --eval-only)")
        split = load_split("cuhk01", args.root, seed=args.seed, trial=t)
        matcher = load_matcher(weights=weights, device=args.device)
        for tta in rows:
            r = evaluate_split(with_tta(matcher, tta), split)
            row = {f"rank{k}": float(r.cmc[k - 1]) * 100 for k in RANKS} | {"mAP": r.mAP * 100}
            rows[tta].append(row)
            print(f"trial {t} (split seed {args.seed + t}) tta {tta}: " + _fmt(row), flush=True)
    summary = {}
    for tta, table in rows.items():
        keys = table[0].keys()
        summary[tta] = {
            k: {"mean": float(np.mean([r[k] for r in table])), "sd": float(np.std([r[k] for r in table]))}
            for k in keys
        }
    return {"trials": rows, "summary": summary}


def _recipe(path: Path) -> dict[str, Any]:
    """The recipe at ``path`` as a mapping, checked as ``reid-train`` checks it (before ten trainings)."""
    from infra.errors import UserError
    from infra.yaml_config import load_yaml_mapping
    from reid_core.training.config import load_train_config

    try:
        load_train_config(path)
        return load_yaml_mapping(path)
    except UserError as err:
        raise SystemExit(f"error: {err}") from None


def _fmt(row: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.1f}" for k, v in row.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "reid" / "full.yaml")
    parser.add_argument("--trials", type=int, default=10, help="random splits (default 10, the paper's)")
    parser.add_argument("--seed", type=int, default=0, help="base split seed; trial t uses seed + t")
    parser.add_argument("--out", type=Path, default=Path("runs/trials"), help="run folders and results.json")
    parser.add_argument("--root", type=Path, default=CUHK01, help="the CUHK01 folder")
    parser.add_argument("--parallel", type=int, default=1, help="trainings at once (GPU: several)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads per training (0 = default)")
    parser.add_argument("--steps", type=int, default=None, help="override the recipe's run.steps")
    parser.add_argument("--eval-only", action="store_true", help="score the trials' weights, train nothing")
    args = parser.parse_args()
    if args.trials < 1 or args.parallel < 1:
        raise SystemExit("--trials and --parallel must be >= 1")
    base = _recipe(args.config)
    steps = args.steps if args.steps is not None else base["run"]["steps"]
    start = time.perf_counter()
    if args.eval_only:
        runs = [args.out / f"trial_{t:02d}" for t in range(args.trials)]
    else:
        runs = train_all(base, args)
    train_s = time.perf_counter() - start
    result = evaluate(runs, args)
    result |= {
        "config": str(args.config),
        "steps": steps,
        "seed": args.seed,
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}",
        "train_s": train_s,
    }
    atomic_write_bytes(args.out / "results.json", (json.dumps(result, indent=1) + "\n").encode())
    print(f"\nCUHK01-100, {args.trials} trials, {args.config.name} ({steps} steps), mean ± sd over trials:")
    for tta, stats in result["summary"].items():
        print(f"  tta {tta}: " + " ".join(f"{k} {v['mean']:.1f} ± {v['sd']:.1f}" for k, v in stats.items()))
    print(f"  training {train_s / 60:.1f} min; results in {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
