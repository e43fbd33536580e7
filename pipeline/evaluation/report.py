"""``reid-eval report``: the offline HTML report of an existing run (a ``tracks.json``).

Example::

    reid-eval report --result tracks.json --cams cam_a.mp4 cam_b.mp4 --out report/

The same page as ``reid-pipeline ... --report DIR`` (:mod:`pipeline.export.report`), without the
run's speeds. ``--cams`` (the run's video files or folders, matched to the file's cameras by
id) give the crops and annotated videos; without them the page has neither. ``--events`` (the
run's ``--events`` file) gives the link scores. Everything is written under temporary names and
renamed together at the end; a failure leaves nothing behind.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from infra.errors import UserError

__all__ = ["add_arguments", "read_link_scores", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--result", type=Path, required=True, metavar="JSON", help="the run's tracks.json")
    parser.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="report folder to write (index.html)"
    )
    parser.add_argument(
        "--cams",
        nargs="+",
        default=None,
        metavar="CAM",
        help="the run's video files or frame folders, for crops and annotated videos "
        "(default: none, a page without pictures)",
    )
    parser.add_argument(
        "--cam-ids",
        default=None,
        metavar="A,B,...",
        help="comma-separated camera ids, one per --cams entry (default: each file's stem)",
    )
    parser.add_argument(
        "--events", type=Path, default=None, metavar="JSONL", help="the run's --events file, for link scores"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="YAML",
        help="pipeline config whose report: section (and association threshold) to use "
        "(default: the shipped configs/pipeline.yaml)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing report (default: refuse)"
    )


def read_link_scores(path: Path) -> dict[tuple[str, int], float | None]:
    """``(cam_id, track_id) → score`` of an ``--events`` file's ``assign`` lines (``None``: new identity)."""
    links: dict[tuple[str, int], float | None] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read ({err})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            if event.get("event") != "assign":
                continue
            score = event["score"]
            links[(str(event["cam_id"]), int(event["track_id"]))] = None if score is None else float(score)
        except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
            raise UserError(
                f"{path}: line {number} is not an events line (JSON with cam_id, track_id, score)"
            ) from None
    return links


def run(args: argparse.Namespace) -> int:
    from infra.fileio import StagedFiles
    from pipeline.config import load_config
    from pipeline.export.base import check_folder_target
    from pipeline.export.report import write_report
    from pipeline.export.tracks_json import read_tracks_json
    from pipeline.frames import CameraSpec, FrameSource, default_cam_id, open_source

    tracks = read_tracks_json(args.result)
    config = load_config(args.config)
    links = read_link_scores(args.events) if args.events is not None else None
    cams = list(args.cams or [])
    if args.cam_ids is not None:
        ids = [s.strip() for s in args.cam_ids.split(",")]
        if len(ids) != len(cams):
            raise UserError(f"--cam-ids: {len(ids)} ids given for {len(cams)} cameras")
    else:
        ids = [default_cam_id(c) for c in cams]
    known = [c.cam_id for c in tracks.cameras]
    for cam, cam_id in zip(cams, ids, strict=True):
        if cam_id not in known:
            raise UserError(
                f"{cam}: camera id {cam_id!r} is not in {args.result} (it has {', '.join(known)}); "
                "pass --cam-ids"
            )
    if len(set(ids)) != len(ids):
        raise UserError("--cams: two entries have the same camera id; pass --cam-ids")
    check_folder_target(args.out, "--out", [args.out / "index.html"], args.overwrite)
    sources: dict[str, FrameSource] = {}
    staged = StagedFiles()
    try:
        for cam, cam_id in zip(cams, ids, strict=True):
            sources[cam_id] = open_source(CameraSpec(cam, cam_id), config.runtime.default_fps)
        write_report(args.out, tracks, sources, staged, config=config, links=links)
        staged.commit()
    except BaseException:
        staged.rollback()
        raise
    finally:
        for source in sources.values():
            source.close()
    print(f"wrote {args.out / 'index.html'}")
    return 0
