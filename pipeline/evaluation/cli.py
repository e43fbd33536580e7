"""``reid-eval``: evaluation sub-commands.

- ``reid-eval mot``  — per-camera MOT metrics (HOTA, MOTA, IDF1, ID switches) with TrackEval;
- ``reid-eval cmc``  — re-ID CMC rank-k and mAP on a labelled data set;
- ``reid-eval mtmc`` — cross-camera IDF1/IDP/IDR of a ``tracks.json`` against per-camera ground truth;
- ``reid-eval report`` — the offline HTML report of a ``tracks.json`` (as ``reid-pipeline --report``).

Each sub-command lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; heavy imports happen inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from infra.errors import cli_entry

__all__ = ["build_parser", "main"]

# sub-command -> (module, one-line help)
_COMMANDS: dict[str, tuple[str, str]] = {
    "mot": ("pipeline.evaluation.mot", "single-camera MOT metrics (HOTA, MOTA, IDF1) with TrackEval"),
    "cmc": ("reid_core.evaluate_cli", "re-ID CMC rank-1/5/10/20 and mAP on a labelled data set"),
    "mtmc": ("pipeline.evaluation.mtmc", "cross-camera IDF1/IDP/IDR of a tracks.json"),
    "report": (
        "pipeline.evaluation.report",
        "offline HTML report (identities, timeline, videos) of a tracks.json",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reid-eval", description="Evaluate tracking (mot, mtmc) and re-identification (cmc) results."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(_COMMANDS) + "}")
    for name, (module_name, help_text) in _COMMANDS.items():
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point of ``reid-eval``; returns the exit code."""
    return cli_entry(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
