"""The report of the bundled sample run, rendered in a real headless Chromium (Playwright).

Chromium is Debian's ``chromium`` package (``.ci/run`` installs it where it can); the tests
skip, saying so, only where no Chromium executable can be found (set ``REID_CHROMIUM`` to point
at one). They assert on the DOM the page builds (identity cards, crops, timeline bars, links,
filters, paging), that the annotated H.264 video plays (``video.duration``), and that the page
logs no console error.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import ReportConfig, load_config
from pipeline.export.report import ReportSink
from pipeline.frames import CameraSpec
from pipeline.run import run

ROOT = Path(__file__).resolve().parents[4]
SAMPLE = ROOT / "sample_videos"


def find_chromium() -> str | None:
    """A Chromium executable: ``$REID_CHROMIUM``, else ``chromium`` / ``chromium-browser`` on the PATH."""
    env = os.environ.get("REID_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    return None


CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium found (apt-get install chromium, or set REID_CHROMIUM): browser test not run",
    ),
    pytest.mark.skipif(not (SAMPLE / "cam_a.mp4").is_file(), reason="sample_videos/ not in this checkout"),
]


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The report of the sample (ground truth as detections, shipped re-ID weights), 4 cards a page."""
    root = tmp_path_factory.mktemp("sample_report")
    dets = root / "dets"
    dets.mkdir()
    for cam in ("a", "b"):
        shutil.copy(SAMPLE / f"gt_{cam}.txt", dets / f"cam_{cam}.txt")
    cfg = load_config()
    cfg = cfg.replace(report=ReportConfig(cards_per_page=4), runtime=type(cfg.runtime)(device="cpu"))
    cams = [CameraSpec(str(SAMPLE / f"cam_{c}.mp4"), f"cam_{c}") for c in ("a", "b")]
    run(cams, [ReportSink(root / "report")], cfg, detections_dir=dets, progress=False)
    html = (root / "report" / "index.html").read_text(encoding="utf-8")
    match = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', html, re.S)
    assert match
    return root / "report" / "index.html", json.loads(match.group(1))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, sample_report: tuple[Path, dict[str, Any]]) -> Iterator[Any]:
    index, _ = sample_report
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(  # a media request the page cancels (player closed, page left) reads as ERR_ABORTED
        "requestfailed",
        lambda r: (
            problems.append(f"request failed: {r.url} {r.failure}")
            if "ABORTED" not in (r.failure or "")
            else None
        ),
    )
    page.goto(index.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    yield page
    page.close()
    assert problems == [], problems


def test_cards_crops_and_paging(page: Any, sample_report: tuple[Path, dict[str, Any]]) -> None:
    index, data = sample_report
    n = len(data["identities"])
    assert n > 4, "the sample should give more identities than one page holds"
    pages = -(-n // 4)
    assert page.locator("#cards .card").count() == 4
    assert page.locator("#page-info").inner_text() == f"page 1 of {pages} ({n} identities)"
    first = data["identities"][0]
    card = page.locator(f'#cards .card[data-gid="{first["gid"]}"]')
    crops = [c for p in first["per_camera"] for c in p["crops"]]
    assert crops, "the first identity has crops"
    images = card.locator("img")
    assert images.count() == len(crops)
    assert all(images.nth(i).get_attribute("loading") == "lazy" for i in range(images.count()))
    card.scroll_into_view_if_needed()
    page.wait_for_function(
        "gid => [...document.querySelectorAll(`.card[data-gid='${gid}'] img`)]"
        "  .every(i => i.complete && i.naturalWidth > 0)",
        arg=first["gid"],
    )
    assert card.locator(".links li").count() == len(first["tracklets"])
    page.click("#next")
    assert page.locator("#page-info").inner_text().startswith(f"page 2 of {pages}")
    assert page.locator("#cards .card").first.get_attribute("data-gid") == str(data["identities"][4]["gid"])
    assert index.with_name("videos").joinpath("cam_a.mp4").is_file()


def test_timeline_bars_hover_and_video(page: Any, sample_report: tuple[Path, dict[str, Any]]) -> None:
    _, data = sample_report
    bars = page.locator("#timeline .bar")
    assert bars.count() == len(data["tracklets"])
    assert page.locator("#timeline .lane").count() == 2
    t = data["tracklets"][0]
    bar = page.locator('#timeline .bar[data-i="0"]')
    bar.hover()
    assert page.locator("#tip").inner_text().startswith(f"id {t['gid']} · {t['cam_id']}")
    colour = next(c["colour"] for c in data["identities"] if c["gid"] == t["gid"])
    rgb = tuple(int(colour[k : k + 2], 16) for k in (1, 3, 5))
    assert bar.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb({}, {}, {})".format(*rgb)
    bar.click()
    assert page.locator("#player").is_visible()
    page.wait_for_function("document.getElementById('video').readyState >= 1", timeout=10_000)
    duration = page.evaluate("document.getElementById('video').duration")
    camera = next(c for c in data["cameras"] if c["cam_id"] == t["cam_id"])
    assert duration == pytest.approx(camera["duration_s"], abs=0.1)  # the H.264 file plays in Chromium
    at = page.evaluate("document.getElementById('video').currentTime")
    assert t["t_start_s"] - 0.1 <= at <= t["t_end_s"] + 0.1
    page.click("#player-close")
    assert not page.locator("#player").is_visible()


def test_filters(page: Any, sample_report: tuple[Path, dict[str, Any]]) -> None:
    _, data = sample_report
    multi = [c for c in data["identities"] if len(c["cams"]) > 1]
    page.check("#f-multi")
    assert (
        page.locator("#f-count").inner_text() == f"{len(multi)} of {len(data['identities'])} identities shown"
    )
    visible_bars = page.locator("#timeline .bar:not([hidden])").count()
    assert visible_bars == sum(len(c["tracklets"]) for c in multi)
    page.uncheck("#f-multi")
    page.uncheck('#f-cams input[data-cam="cam_b"]')
    assert page.locator('#timeline .lane[data-cam="cam_b"]').is_hidden()
    only_a = [c for c in data["identities"] if "cam_a" in c["cams"]]
    assert page.locator("#f-count").inner_text().startswith(f"{len(only_a)} of")
    page.check('#f-cams input[data-cam="cam_b"]')
    page.fill("#f-from", "5")
    page.fill("#f-to", "6")
    page.press("#f-to", "Enter")
    page.locator("#f-to").dispatch_event("change")
    late = [t for t in data["tracklets"] if t["t_end_s"] >= 5 and t["t_start_s"] <= 6]
    assert page.locator("#timeline .bar:not([hidden])").count() == len(late)


def test_summary_tables(page: Any, sample_report: tuple[Path, dict[str, Any]]) -> None:
    _, data = sample_report
    rows = page.locator("#cameras tbody tr")
    assert rows.count() == 2
    assert "360×480" in rows.nth(0).inner_text() and "25.00" in rows.nth(0).inner_text()
    assert page.locator("#stages tbody tr").count() == len(data["summary"]["stage_s"])
    assert page.locator("#transitions tbody tr").count() == max(1, len(data["transitions"]))
    assert page.locator("#unlinked tbody tr").count() == max(1, len(data["unlinked"]))
    assert "association:" in page.locator("#config").text_content()
