"""``--report DIR``: write the offline HTML report of a run (and :func:`write_report` for an existing one).

The folder gets::

    DIR/index.html            the page (style, script and data inside; no network)
    DIR/crops/<gid>_<cam>_<frame>.jpg   best crops of each identity per camera (small JPEGs)
    DIR/videos/<cam_id>.mp4   annotated H.264 videos (``report.videos``; files and folders only)

Crops and videos come from one more pass over each rewindable source (the pass that draws the
video also cuts the crops); a live camera gets neither, and the page says so. Every file is
written through the run's :class:`~infra.fileio.StagedFiles`: renamed into place together with
the run's other outputs, or removed if anything fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.errors import UserError
from infra.fileio import StagedFiles
from pipeline.export.base import BaseSink, RunResult, check_folder_target
from pipeline.export.report.crops import CropCutter, plan_crops
from pipeline.export.report.data import report_data
from pipeline.export.report.page import page_html
from pipeline.export.video import boxes_by_camera, identity_colour_hex, write_identity_video
from pipeline.records import TracksFile

if TYPE_CHECKING:
    from pipeline.config import PipelineConfig
    from pipeline.frames import CameraSpec, FrameSource
    from pipeline.identities import Assignment

__all__ = ["ReportSink", "write_report"]


def _config_text(config: PipelineConfig | None) -> str | None:
    if config is None:
        return None
    import dataclasses

    import yaml

    data = dataclasses.asdict(config)
    source = data.pop("source", None)
    return f"# loaded from {source}\n" + yaml.safe_dump(data, sort_keys=False, default_flow_style=None)


def write_report(
    folder: Path,
    tracks: TracksFile,
    sources: Mapping[str, FrameSource],
    staged: StagedFiles,
    *,
    config: PipelineConfig,
    summary: Any = None,
    links: Mapping[tuple[str, int], float | None] | None = None,
) -> dict[str, Any]:
    """Write the report of ``tracks`` into ``folder`` through ``staged``; returns the page's data.

    Args:
        folder: the report folder (created if absent; its parent must exist).
        tracks: the run's cameras and identities.
        sources: ``cam_id → FrameSource`` to cut crops and draw videos from (rewindable ones only;
            others, and cameras absent here, get neither).
        staged: where files are written (renamed into place by the caller's ``commit``).
        config: the run's configuration (report settings, shown on the page).
        summary: the run's :class:`~pipeline.loop.RunSummary` (``None`` for an existing tracks file).
        links: ``(cam_id, track_id) → P(same)`` of each linking decision (the ``--events`` scores).
    """
    settings = config.report
    staged.folder(folder)
    plan = plan_crops(tracks, settings.crops_per_camera)
    boxes = boxes_by_camera(tracks)
    crops: dict[tuple[int, str], list[str]] = {}
    videos: dict[str, str] = {}
    readable = {c: s for c, s in sources.items() if s.info.rewindable}
    if readable:
        staged.folder(folder / "crops")
        if settings.videos:
            staged.folder(folder / "videos")
    read = {c.cam_id: c.num_frames for c in tracks.cameras}
    for cam_id, source in readable.items():
        cutter = CropCutter(
            plan.get(cam_id, {}), height_px=settings.crop_height_px, jpeg_quality=settings.jpeg_quality
        )

        def on_frame(frame: Any, cutter: CropCutter = cutter) -> None:
            cutter(frame.index, frame.image_bgr)

        if settings.videos:
            name = f"videos/{cam_id}.mp4"
            write_identity_video(
                source,
                boxes.get(cam_id, {}),
                staged.path(folder / name, suffix=".mp4"),
                num_frames=read.get(cam_id),
                on_frame=on_frame,
            )
            videos[cam_id] = name
        else:
            last = read.get(cam_id)
            for frame in source.frames():
                if last is not None and frame.index >= last:
                    break
                on_frame(frame)
        for frame_crops in plan.get(cam_id, {}).values():
            for crop in frame_crops:
                jpeg = cutter.jpegs.get(crop.name)
                if jpeg is None:
                    continue
                staged.path(folder / "crops" / crop.name, suffix=".jpg").write_bytes(jpeg)
                crops.setdefault((crop.global_id, cam_id), []).append(f"crops/{crop.name}")
    for paths in crops.values():
        paths.sort(key=lambda p: int(p.rsplit("_", 1)[1].split(".")[0]))
    colours = {i.global_id: identity_colour_hex(i.global_id) for i in tracks.identities}
    data = report_data(
        tracks,
        summary=summary,
        config=config,
        config_text=_config_text(config),
        links=links,
        crops=crops,
        videos=videos,
        colours=colours,
    )
    staged.path(folder / "index.html", suffix=".html").write_text(page_html(data), encoding="utf-8")
    return data


class ReportSink(BaseSink):
    """``--report DIR``: the offline HTML report (page, crops, annotated videos), written at the end.

    Link scores are taken from the identity decisions as they are made (:meth:`on_assign`).

    Args:
        folder: the report folder; its parent must exist.
        overwrite: replace an existing report's files.
    """

    flag = "--report"
    stage = "report"
    metavar = "DIR"
    help = (
        "also write an offline HTML report to DIR/index.html: identity cards with crops, a timeline per "
        "camera, camera-to-camera transitions, annotated H.264 videos (default: not written)"
    )

    def __init__(self, folder: str | Path, *, overwrite: bool = False) -> None:
        self.folder = Path(folder)
        self.overwrite = overwrite
        self.links: dict[tuple[str, int], float | None] = {}

    def paths(self, cam_ids: Sequence[str]) -> list[Path]:
        return [self.folder / "index.html", *(self.folder / "videos" / f"{c}.mp4" for c in cam_ids)]

    def check(self, cams: Sequence[CameraSpec]) -> None:
        check_folder_target(self.folder, self.flag, [self.folder / "index.html"], self.overwrite)
        videos = self.folder / "videos"
        if videos.exists() and not videos.is_dir():
            raise UserError(f"{videos}: {self.flag} needs this to be a folder, it is a file")
        crops = self.folder / "crops"
        if crops.exists() and not crops.is_dir():
            raise UserError(f"{crops}: {self.flag} needs this to be a folder, it is a file")
        if videos.is_dir():
            for cam in cams:
                check_folder_target(videos, self.flag, [videos / f"{cam.cam_id}.mp4"], self.overwrite)

    def on_assign(self, assignment: Assignment) -> None:
        key = (assignment.cam_id, assignment.track_id)
        self.links[key] = None if assignment.new_identity else assignment.score

    def finish(self, result: RunResult, staged: StagedFiles) -> None:
        from pipeline.config import PipelineConfig

        config = result.config if result.config is not None else PipelineConfig()
        write_report(
            self.folder,
            result.tracks,
            result.sources,
            staged,
            config=config,
            summary=result.summary,
            links=self.links,
        )
