"""Render time and weight of the HTML report (``--report``) on a synthetic big run.

The run is made up, not tracked: ``--cams`` cameras (default 4) of ``--minutes`` minutes
(default 10) at 25 fps, 1280×720, and ``--identities`` people (default 1000), each walking
through 1–4 cameras in turn (5–40 s per camera, 2–20 s between), one box per 5 frames
(detected; every 7th predicted). The report is written by the real code
(:func:`pipeline.export.report.write_report`: crop plan, crop cutter, page data, page) with
``report.videos: false`` (videos are separate files, weighed apart from the page). Frames are
made only where a crop is cut: textured noise with a person-sized gradient patch, which JPEG
compresses *worse* than real footage, so the weight is an upper bound.

Measured:

- **write**: seconds to write the report (crops cut and encoded, data, page);
- **weight**: bytes of ``index.html`` + every crop (what a browser may load);
- **render**: seconds from ``page.goto(index.html)`` to the page's script done
  (``body[data-ready]``) in headless Chromium (Playwright, Debian's ``chromium``), a new page
  each time, ``--repeat`` times (default 5); median, min and max reported.

Usage (from the repo root)::

    python benchmarks/report_render.py [--repeat 5] [--keep DIR] [--shot-of DIR/index.html --shot docs/x.png]

``--shot-of``/``--shot`` only take a screenshot of an existing report (for the README) and exit.
Results go to stdout as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra.fileio import StagedFiles  # noqa: E402
from pipeline.config import ReportConfig, load_config  # noqa: E402
from pipeline.export.report import write_report  # noqa: E402
from pipeline.export.report.crops import plan_crops  # noqa: E402
from pipeline.frames import Frame, FrameSource, SourceInfo  # noqa: E402
from pipeline.records import BoxRecord, CameraRecord, IdentityRecord, TrackletRecord, TracksFile  # noqa: E402

FPS, W, H = 25.0, 1280, 720


def synthetic_tracks(cams: int, minutes: float, identities: int, seed: int = 0) -> TracksFile:
    rng = np.random.default_rng(seed)
    n_frames = int(minutes * 60 * FPS)
    cam_ids = [f"cam_{k}" for k in range(cams)]
    cameras = tuple(CameraRecord(c, f"{c}.mp4", FPS, W, H, n_frames) for c in cam_ids)
    track_ids = dict.fromkeys(cam_ids, 0)
    out = []
    for gid in range(1, identities + 1):
        visits = rng.permutation(cams)[: rng.integers(1, cams + 1)]
        t = rng.uniform(0, minutes * 60 * 0.8)
        tracklets = []
        for k in visits:
            length = rng.uniform(5, 40)
            f0, f1 = int(t * FPS), min(int((t + length) * FPS), n_frames - 1)
            if f1 <= f0:
                break
            cam = cam_ids[k]
            track_ids[cam] += 1
            h = rng.uniform(120, 300)
            x = rng.uniform(0, W - h / 2.5 - 1)
            y = rng.uniform(0, H - h - 1)
            boxes = tuple(
                BoxRecord(
                    f, f / FPS, (x, y, x + h / 2.5, y + h), None if i % 7 == 6 else float(rng.uniform(0.3, 1))
                )
                for i, f in enumerate(range(f0, f1 + 1, 5))
            )
            tracklets.append(TrackletRecord(cam, track_ids[cam], f0, f1, f0 / FPS, f1 / FPS, boxes))
            t += length + rng.uniform(2, 20)
        if tracklets:
            out.append(IdentityRecord(gid, tuple(tracklets)))
    return TracksFile(cameras, tuple(out))


class PlannedFramesSource(FrameSource):
    """A rewindable source that makes (textured) frames only where a crop is planned."""

    def __init__(self, cam_id: str, frames: list[int], n_frames: int) -> None:
        self.info = SourceInfo(cam_id, f"{cam_id}.mp4", "video", FPS, W, H, n_frames, True)
        self.wanted = sorted(frames)

    def frames(self) -> Iterator[Frame]:
        rng = np.random.default_rng(len(self.wanted))
        ramp = np.linspace(40, 220, H, dtype=np.float32)[:, None, None]
        images = [  # a few textured frames, made once (making one per crop would time this script)
            np.clip(rng.integers(0, 255, (H, W, 3)) * 0.5 + ramp * 0.5, 0, 255).astype(np.uint8)
            for _ in range(4)
        ]
        for index in self.wanted:
            yield Frame(self.info.cam_id, index, index / FPS, images[index % 4].copy())


def render_times(index: Path, repeat: int, shot: Path | None = None) -> list[float]:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("REID_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no Chromium found (apt-get install chromium, or set REID_CHROMIUM)")
    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            errors: list[str] = []
            page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
            t0 = time.perf_counter()
            page.goto(index.as_uri())
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            times.append(time.perf_counter() - t0)
            if errors:
                raise SystemExit(f"console errors: {errors[:3]}")
            if shot is not None:  # filters, timeline and the first cards
                page.evaluate("document.getElementById('filters').scrollIntoView()")
                page.wait_for_timeout(500)  # lazy crops
                page.screenshot(path=str(shot), full_page=False)
            page.close()
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cams", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--identities", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--keep", type=Path, default=None, help="write the report here (default: a temp folder)"
    )
    parser.add_argument("--shot-of", type=Path, default=None, help="an existing report's index.html")
    parser.add_argument("--shot", type=Path, default=None, help="screenshot file for --shot-of")
    args = parser.parse_args()
    if args.shot_of is not None:
        render_times(args.shot_of.resolve(), 1, args.shot)
        print(f"wrote {args.shot}")
        return

    tracks = synthetic_tracks(args.cams, args.minutes, args.identities)
    cfg = load_config()
    cfg = cfg.replace(report=ReportConfig(videos=False))
    plan = plan_crops(tracks, cfg.report.crops_per_camera)
    n_frames = int(args.minutes * 60 * FPS)
    sources = {
        c.cam_id: PlannedFramesSource(c.cam_id, list(plan.get(c.cam_id, {})), n_frames)
        for c in tracks.cameras
    }
    folder = args.keep or Path(tempfile.mkdtemp(prefix="report_bench_")) / "report"
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    staged = StagedFiles()
    data = write_report(folder, tracks, sources, staged, config=cfg)
    staged.commit()
    write_s = time.perf_counter() - t0
    page_bytes = (folder / "index.html").stat().st_size
    crop_files = list((folder / "crops").iterdir())
    crop_bytes = sum(p.stat().st_size for p in crop_files)
    times = render_times((folder / "index.html").resolve(), args.repeat)
    result = {
        "cameras": args.cams,
        "minutes": args.minutes,
        "identities": len(data["identities"]),
        "tracklets": len(data["tracklets"]),
        "crops": len(crop_files),
        "write_s": round(write_s, 2),
        "index_html_mib": round(page_bytes / 2**20, 2),
        "crops_mib": round(crop_bytes / 2**20, 2),
        "weight_mib": round((page_bytes + crop_bytes) / 2**20, 2),
        "render_s_median": round(statistics.median(times), 3),
        "render_s_min": round(min(times), 3),
        "render_s_max": round(max(times), 3),
        "repeat": args.repeat,
        "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=1))
    if args.keep is None:
        shutil.rmtree(folder.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
