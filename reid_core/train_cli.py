"""``reid-train``: train the Siamese correspondence network from a YAML recipe.

Usage::

    reid-train --config configs/reid/default.yaml [--out runs/default] [--resume] [--progress lines]
    reid-train --config configs/reid/adapt.yaml --adapt tracks.json [--cams cam_a=a.mp4 ...]
               [--weights W.safetensors] [--out runs/adapt] [--resume] [--steps N]

``--adapt``: self-supervised fine-tuning on the tracklets of a ``reid-pipeline`` tracks file and its
videos (no labels; :mod:`reid_core.training.adapt`); writes ``OUT/adapted.safetensors`` for
``reid-pipeline --reid-weights``.

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
        "--adapt",
        metavar="TRACKS.json",
        default=None,
        help="adapt the weights to these cameras without labels: a reid-pipeline tracks file "
        "(its cameras' video sources are read from it, or given with --cams)",
    )
    p.add_argument(
        "--cams",
        nargs="+",
        metavar="NAME=PATH",
        default=None,
        help="with --adapt: video of each camera of the tracks file (default: the file's sources)",
    )
    p.add_argument(
        "--weights",
        default=None,
        help="with --adapt: start weights (default: the recipe's run.init_weights)",
    )
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

    from infra.errors import ConfigError, UserError
    from reid_core.training.config import load_train_config
    from reid_core.training.run import train

    if args.adapt is None and (args.cams is not None or args.weights is not None):
        raise UserError(
            "--cams is only for --adapt" if args.cams is not None else "--weights is only for --adapt"
        )
    cams: dict[str, str] = {}
    for spec in args.cams or []:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise UserError(f"--cams: expected NAME=PATH, got {spec!r}")
        cams[name] = path
    cfg = load_train_config(args.config)
    if args.steps is not None:
        if args.steps <= 0:
            raise ConfigError(f"--steps must be > 0, got {args.steps}")
        cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, steps=args.steps))
    progress = "off" if args.quiet else args.progress
    if args.adapt is not None:
        from reid_core.training.adapt import adapt

        if args.weights is not None:
            cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, init_weights=args.weights))
        weights = adapt(cfg, args.adapt, cams=cams, out_dir=args.out, resume=args.resume, progress=progress)
        print(f"adapted weights: {weights}")
        return 0
    final = train(cfg, out_dir=args.out, resume=args.resume, progress=progress)
    if final:
        print(" ".join(f"{k}={v}" for k, v in final.items()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``reid-train``; returns the exit code."""
    return cli_entry(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
