"""``reid-train``: train the Siamese correspondence network from a YAML recipe.

Usage::

    reid-train --config configs/reid/default.yaml [--out runs/default] [--resume] [--progress lines]

Exit codes: 0 done, 2 user error (one line on stderr: bad config key, missing data, ...),
130 interrupted (the last checkpoint stays resumable).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from infra.errors import cli_entry

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reid-train",
        description="Train the Siamese correspondence re-ID network (paper: Lin & Li). "
        "Checkpoints go to the run folder every run.checkpoint_every_steps steps; "
        "--resume continues exactly.",
    )
    p.add_argument("--config", required=True, help="training recipe YAML, e.g. configs/reid/default.yaml")
    p.add_argument(
        "--out",
        default=None,
        help="run folder for checkpoints and metrics (default: the config's run.out_dir)",
    )
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.safetensors")
    p.add_argument("--steps", type=int, default=None, help="override run.steps (total optimisation steps)")
    p.add_argument(
        "--progress",
        choices=("auto", "bar", "lines", "off"),
        default="auto",
        help="a bar with ETA, or a plain line every 30 s (no \\r in log files) "
        "(default: auto = a bar on a terminal, lines otherwise)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress (= --progress off)")
    return p


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    # Idle OpenMP threads sleep instead of spinning: on a shared CPU a spinning barrier made
    # training steps ~5x slower here. Only effective before torch is first imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import dataclasses

    from infra.errors import ConfigError
    from reid_core.training.config import load_train_config
    from reid_core.training.run import train

    cfg = load_train_config(args.config)
    if args.steps is not None:
        if args.steps <= 0:
            raise ConfigError(f"--steps must be > 0, got {args.steps}")
        cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, steps=args.steps))
    final = train(cfg, out_dir=args.out, resume=args.resume, progress="off" if args.quiet else args.progress)
    if final:
        print(" ".join(f"{k}={v}" for k, v in final.items()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``reid-train``; returns the exit code."""
    return cli_entry(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
