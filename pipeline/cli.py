"""``reid-pipeline``: cameras in, cross-camera person tracks (JSON) out.

Example::

    reid-pipeline --cams sample_videos/cam_a.mp4 sample_videos/cam_b.mp4 --out tracks.json

Thin by design: arguments → :class:`~pipeline.config.PipelineConfig` → :func:`pipeline.run.run`.
Heavy imports (torch, ultralytics, OpenCV) happen after the arguments are parsed. A problem
with the user's input (a missing video, an existing ``--out``, bad weights, a config with an
unknown key…) is one line on stderr naming the file and the problem, exit code 2, and nothing
is written.

Exit codes: 0 done (every source ended, or ``--duration``/``--max-frames`` reached); 2 a user
error, nothing written; 3 a camera failed mid-run (one line names it; the other cameras'
outputs were written). A first SIGINT/SIGTERM stops reading, writes the outputs from the frames
read so far and exits 0 with a line saying it stopped early; a second signal aborts without
writing (130). See :mod:`pipeline.stop`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from infra.errors import UserError, cli_entry
from pipeline.export import SINKS, Sink, check_sinks
from pipeline.frames import CameraSpec, default_cam_id

if TYPE_CHECKING:
    from pipeline.config import PipelineConfig

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (argument groups: input, models, output, run)."""
    parser = argparse.ArgumentParser(
        prog="reid-pipeline",
        description="Detect, track and re-identify people across cameras; write tracks.json.",
        epilog="Every other knob (thresholds, tracker parameters, crops per tracklet…) is in the config "
        "file, "
        "each with its unit: see configs/pipeline.yaml.",
    )
    inp = parser.add_argument_group("input")
    inp.add_argument(
        "--cams",
        nargs="+",
        required=True,
        metavar="CAM",
        help="cameras: video files, folders of frames (MOTChallenge img1/), stream URLs "
        "(rtsp://, http://) or webcam indices; at least one",
    )
    inp.add_argument(
        "--cam-ids",
        metavar="A,B,...",
        default=None,
        help="comma-separated camera ids, one per --cams entry (default: each file's stem, "
        "cam_a.mp4 -> cam_a)",
    )
    inp.add_argument(
        "--detections-dir",
        metavar="DIR",
        type=Path,
        default=None,
        help="replay saved detections instead of running the detector: one MOTChallenge "
        "file per camera, DIR/<cam_id>.txt, 1-based frames (default: run the detector)",
    )

    models = parser.add_argument_group("models")
    models.add_argument(
        "--config",
        metavar="YAML",
        type=Path,
        default=None,
        help="pipeline config (default: the shipped configs/pipeline.yaml)",
    )
    models.add_argument(
        "--device",
        metavar="DEV",
        default=None,
        help="auto (CUDA when there is one, else CPU), cpu or cuda:N "
        "(default: runtime.device of the config, auto)",
    )
    models.add_argument(
        "--detector",
        metavar="PATH",
        type=Path,
        default=None,
        help="a detection model: .tflite, .onnx, an OpenVINO folder, a TensorRT .engine (or a .pt "
        "with --allow-pickle-detector) (default: detector.weights of the config, or the bundled "
        "TFLite YOLOv8n int8)",
    )
    models.add_argument(
        "--allow-pickle-detector",
        action="store_true",
        help="allow a .pt detector file: it is a Python pickle, and loading one runs any code it holds; "
        "only for files you trust (default: refused, with a pointer to the safe formats)",
    )
    models.add_argument(
        "--reid-weights",
        metavar="PATH",
        type=Path,
        default=None,
        help="re-ID weights, a reid_core .safetensors file "
        "(default: reid.weights of the config, or the weights reid_core ships)",
    )

    out = parser.add_argument_group("output")
    for _, sink_cls in SINKS.items():
        if sink_cls.flag is not None:
            out.add_argument(
                sink_cls.flag,
                metavar=sink_cls.metavar,
                type=Path,
                required=sink_cls.required,
                default=None,
                help=sink_cls.help,
            )
    out.add_argument(
        "--overwrite", action="store_true", help="replace existing output files (default: refuse)"
    )

    run = parser.add_argument_group("run")
    run.add_argument(
        "--duration",
        metavar="SECONDS",
        type=_positive(float),
        default=None,
        help="stop reading after this many seconds of wall-clock time and write the outputs "
        "(default: read until every source ends; a live run also ends on Ctrl-C, outputs kept)",
    )
    run.add_argument(
        "--max-frames",
        metavar="N",
        type=_positive(int),
        default=None,
        help="read at most N frames per camera (default: no limit)",
    )
    run.add_argument(
        "--executor",
        choices=("local", "ray"),
        default=None,
        help="local: every camera in this process; ray: camera groups on Ray actors, association here "
        "(needs pip install 'reid-pipeline[ray]'; docs/ray.md) (default: executor.kind of the config, local)",
    )
    run.add_argument(
        "--ray-address",
        metavar="ADDR",
        default=None,
        help="Ray cluster to join, auto or HOST:PORT (default: executor.ray.address of the config; "
        "none = start Ray on this machine for the run)",
    )
    run.add_argument(
        "--cams-per-worker",
        metavar="N",
        type=int,
        default=None,
        help="cameras per Ray actor (default: executor.cams_per_worker of the config, 2)",
    )
    run.add_argument(
        "--progress",
        choices=("auto", "bar", "lines", "off"),
        default="auto",
        help="per-camera progress: a bar with ETA, or a plain line every runtime.log_interval_s "
        "(no \\r in log files) (default: auto = a bar on a terminal, lines otherwise)",
    )
    run.add_argument(
        "--quiet",
        action="store_true",
        help="no progress and only warnings and errors on stderr (= --progress off --log-level warning)",
    )
    run.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="log verbosity on stderr (default: info; per-camera FPS every runtime.log_interval_s)",
    )
    return parser


def _positive(kind: type[float] | type[int]) -> Callable[[str], float]:
    """An argparse type: a number of ``kind`` greater than 0."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
        if not (0 < value < float("inf")):
            raise argparse.ArgumentTypeError(f"must be > 0, got {text[:40]!r}")
        return value

    return parse


def _cam_specs(cams: Sequence[str], cam_ids: str | None) -> list[CameraSpec]:
    if cam_ids is None:
        ids = [default_cam_id(c) for c in cams]
    else:
        ids = [s.strip() for s in cam_ids.split(",")]
        if len(ids) != len(cams):
            raise UserError(f"--cam-ids: {len(ids)} ids given for {len(cams)} cameras")
        if any(not i for i in ids):
            raise UserError(f"--cam-ids: empty camera id in {cam_ids!r}")
    seen: dict[str, str] = {}
    for cam, cam_id in zip(cams, ids, strict=True):
        if cam_id in seen:
            raise UserError(f"duplicate camera id {cam_id!r} (from {seen[cam_id]} and {cam}); pass --cam-ids")
        if "/" in cam_id or "\\" in cam_id:
            raise UserError(f"camera id {cam_id!r} must not contain a path separator")
        seen[cam_id] = cam
    return [CameraSpec(c, i) for c, i in zip(cams, ids, strict=True)]


def _sinks(args: argparse.Namespace) -> list[Sink]:
    """One sink per output flag given, in registry order."""
    sinks: list[Sink] = []
    for _, sink_cls in SINKS.items():
        if sink_cls.flag is None:
            continue
        value = getattr(args, sink_cls.flag.lstrip("-").replace("-", "_"))
        if value is not None:
            sinks.append(sink_cls(value, overwrite=args.overwrite))
    return sinks


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.quiet:
        args.log_level = "warning" if args.log_level in ("debug", "info") else args.log_level
    if args.log_level != "debug":
        # FFmpeg (inside OpenCV) prints its own lines for unreadable files ("moov atom not found");
        # we report those ourselves in one line. Must be set before cv2 opens its first video.
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
        # OpenCV's own lines ("Stream timeout triggered", webcam probing): we report those in one line.
        os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
    logging.basicConfig(
        level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )

    from pipeline.config import load_config

    cams = _cam_specs(args.cams, args.cam_ids)
    sinks = _sinks(args)
    check_sinks(sinks, cams)  # before anything heavy is loaded
    config = load_config(args.config)
    if args.device is not None:
        try:
            runtime = dataclasses.replace(config.runtime, device=args.device)
        except ValueError as err:
            raise UserError(f"--device {args.device}: {err}") from None
        config = config.replace(runtime=runtime)
    if args.detector is not None:
        config = config.replace(detector=dataclasses.replace(config.detector, weights=str(args.detector)))
    if args.reid_weights is not None:
        config = config.replace(reid=dataclasses.replace(config.reid, weights=str(args.reid_weights)))

    config = _executor_overrides(config, args)

    from pipeline.run import run
    from pipeline.stop import STOP_EXIT_CODE, StopControl

    progress = "off" if args.quiet else args.progress
    stop = StopControl(duration_s=args.duration)
    with stop.signals():
        summary = run(
            cams,
            sinks,
            config,
            detections_dir=args.detections_dir,
            progress=progress,
            stop=stop,
            max_frames=args.max_frames,
            allow_pickle_detector=args.allow_pickle_detector,
        )
    print(f"wrote {args.out}")
    print(summary.format())
    for cam_id, error in summary.failed.items():
        print(f"error: camera {cam_id} failed: {error} (the others' outputs were written)", file=sys.stderr)
    if stop.by_signal:
        print(
            f"stopped early by {stop.signal_name}: outputs written from the frames read so far "
            '("complete": false)',
            file=sys.stderr,
        )
        return STOP_EXIT_CODE
    return 3 if summary.failed else 0


def _executor_overrides(config: PipelineConfig, args: argparse.Namespace) -> PipelineConfig:
    """``--executor``, ``--ray-address``, ``--cams-per-worker`` over the config's ``executor`` section."""
    ex = config.executor
    if args.ray_address is not None:
        ex = dataclasses.replace(ex, ray=dataclasses.replace(ex.ray, address=args.ray_address))
    try:
        if args.cams_per_worker is not None:
            ex = dataclasses.replace(ex, cams_per_worker=args.cams_per_worker)
        if args.executor is not None:
            ex = dataclasses.replace(ex, kind=args.executor)
    except ValueError as err:
        raise UserError(f"--cams-per-worker {args.cams_per_worker}: {err}") from None
    if ex.kind != "ray" and (args.ray_address is not None or args.cams_per_worker is not None):
        raise UserError("--ray-address and --cams-per-worker need --executor ray")
    if ex.kind == "ray":
        from pipeline.executors.ray_cluster import import_ray

        import_ray()  # not installed: one line now, before anything is loaded
    return config.replace(executor=ex)


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point of ``reid-pipeline``; returns the exit code (2 for a user error)."""
    return cli_entry(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
