"""``--report DIR`` end to end on a synthetic two-camera scene, ``reid-eval report``, and their errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.errors import UserError
from pipeline import cli
from pipeline.config import load_config
from pipeline.evaluation import cli as eval_cli
from pipeline.export import SINKS, BaseSink, RunResult
from pipeline.export.events import EventsSink
from pipeline.export.report import ReportSink
from pipeline.export.tracks_json import TracksJsonSink
from pipeline.frames import CameraSpec
from pipeline.identities import MATCHERS
from pipeline.run import run


def page_data(index: Path) -> dict[str, Any]:
    """The JSON the page embeds."""
    html = index.read_text(encoding="utf-8")
    match = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', html, re.S)
    assert match, "no embedded data"
    return json.loads(match.group(1))


@pytest.fixture
def fake_reid(fake_matcher):
    MATCHERS.add("fake", lambda weights, device: fake_matcher)
    yield fake_matcher
    MATCHERS.remove("fake")


def _cams(scene: dict) -> list[CameraSpec]:
    return [CameraSpec(str(path), cam) for cam, path in scene["videos"].items()]


def _config():
    """The fake re-ID model, its P(same) used as it is (no calibration of the shipped head); online."""
    import dataclasses

    cfg = load_config()
    association = dataclasses.replace(
        cfg.association,
        method="online",
        score_scale=1.0,
        score_bias_logodds=0.0,
        threshold=0.9,
        min_margin_logodds=1.0,
    )
    return cfg.replace(reid=type(cfg.reid)(model="fake"), association=association)


def test_report_of_a_run(two_cam_scene: dict, fake_reid, tmp_path: Path) -> None:
    import av

    folder = tmp_path / "report"
    sinks = [TracksJsonSink(tmp_path / "tracks.json"), EventsSink(tmp_path / "ev.jsonl"), ReportSink(folder)]
    run(_cams(two_cam_scene), sinks, _config(), detections_dir=two_cam_scene["dets"], progress=False)

    data = page_data(folder / "index.html")
    assert [c["cam_id"] for c in data["cameras"]] == ["cam_a", "cam_b"]
    assert [c["video"] for c in data["cameras"]] == ["videos/cam_a.mp4", "videos/cam_b.mp4"]
    cams_per_card = sorted(tuple(c["cams"]) for c in data["identities"])
    assert cams_per_card == [("cam_a",), ("cam_a", "cam_b"), ("cam_b",)]  # person 1 walked a -> b
    (walker,) = [c for c in data["identities"] if len(c["cams"]) == 2]
    a, b = (data["tracklets"][i] for i in walker["tracklets"])
    assert (a["cam_id"], b["cam_id"]) == ("cam_a", "cam_b") and 0.0 < b["t_start_s"] - a["t_end_s"] < 0.5
    assert data["transitions"] == [
        {
            "from": "cam_a",
            "to": "cam_b",
            "count": 1,
            "median_transit_s": round(b["t_start_s"] - a["t_end_s"], 3),
        }
    ]
    linked = [t for t in data["tracklets"] if t["link"] is not None]
    assert [(t["cam_id"], t["link"]["score"]) for t in linked] == [("cam_b", 0.95)]  # the fake matcher's P
    assert len(data["unlinked"]) == 2
    assert data["summary"]["frames"] == {"cam_a": 50, "cam_b": 50}
    assert "association:" in data["config"]
    for card in data["identities"]:
        for per_cam in card["per_camera"]:
            assert 1 <= len(per_cam["crops"]) <= 3
            for crop in per_cam["crops"]:
                assert (folder / crop).read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG
    with av.open(str(folder / "videos" / "cam_a.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert sum(1 for _ in container.decode(stream)) == 50
    assert not [p for p in folder.rglob(".*")], "temporary files left"


def test_the_flag_comes_from_the_registry() -> None:
    assert SINKS.get("report") is ReportSink
    args = cli.build_parser().parse_args(["--cams", "a.mp4", "--out", "t.json", "--report", "rep"])
    assert args.report == Path("rep")


def test_a_failing_output_leaves_no_report(two_cam_scene: dict, fake_reid, tmp_path: Path) -> None:
    class Broken(BaseSink):
        def finish(self, result: RunResult, staged) -> None:
            raise UserError("broken output")

    folder = tmp_path / "report"
    with pytest.raises(UserError, match="broken output"):
        run(
            _cams(two_cam_scene),
            [ReportSink(folder), Broken()],
            _config(),
            detections_dir=two_cam_scene["dets"],
            progress=False,
        )
    assert not folder.exists()


def test_without_videos_the_page_has_crops_only(two_cam_scene: dict, fake_reid, tmp_path: Path) -> None:
    cfg = _config()
    cfg = cfg.replace(report=type(cfg.report)(videos=False))
    run(
        _cams(two_cam_scene),
        [ReportSink(tmp_path / "r")],
        cfg,
        detections_dir=two_cam_scene["dets"],
        progress=False,
    )
    data = page_data(tmp_path / "r" / "index.html")
    assert [c["video"] for c in data["cameras"]] == [None, None]
    assert not (tmp_path / "r" / "videos").exists()
    assert any(p["crops"] for c in data["identities"] for p in c["per_camera"])


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: d.write_text("x"), "must be a folder"),
        (lambda d: (d.mkdir(), (d / "index.html").write_text("old")), "already exists"),
        (lambda d: (d.mkdir(), (d / "videos").write_text("x")), "videos: --report needs this to be a folder"),
        (
            lambda d: (d.mkdir(), (d / "videos").mkdir(), (d / "videos" / "cam_a.mp4").write_text("x")),
            "already exists",
        ),
    ],
)
def test_report_target_errors_before_anything_runs(
    two_cam_scene: dict, tmp_path: Path, capsys, setup, message: str
) -> None:
    folder = tmp_path / "rep"
    setup(folder)
    code = cli.main(
        [
            "--cams",
            *map(str, two_cam_scene["videos"].values()),
            "--out",
            str(tmp_path / "t.json"),
            "--detections-dir",
            str(two_cam_scene["dets"]),
            "--report",
            str(folder),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and re.search(message, err), err
    assert not (tmp_path / "t.json").exists()


def test_reid_eval_report_of_an_existing_run(two_cam_scene: dict, fake_reid, tmp_path: Path, capsys) -> None:
    tracks, events = tmp_path / "tracks.json", tmp_path / "ev.jsonl"
    run(
        _cams(two_cam_scene),
        [TracksJsonSink(tracks), EventsSink(events)],
        _config(),
        detections_dir=two_cam_scene["dets"],
        progress=False,
    )
    videos = [str(p) for p in two_cam_scene["videos"].values()]
    assert (
        eval_cli.main(
            [
                "report",
                "--result",
                str(tracks),
                "--cams",
                *videos,
                "--events",
                str(events),
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    data = page_data(tmp_path / "r" / "index.html")
    assert data["summary"] is None
    assert [t["link"]["score"] for t in data["tracklets"] if t["link"]] == [0.95]
    assert (tmp_path / "r" / "videos" / "cam_b.mp4").is_file()
    assert eval_cli.main(["report", "--result", str(tracks), "--out", str(tmp_path / "bare")]) == 0
    bare = page_data(tmp_path / "bare" / "index.html")
    assert all(not p["crops"] for c in bare["identities"] for p in c["per_camera"])
    assert [c["video"] for c in bare["cameras"]] == [None, None]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--cams", "{a}", "--cam-ids", "nope"], "camera id 'nope' is not in"),
        (["--cams", "{a}", "--cam-ids", "x,y"], "2 ids given for 1 cameras"),
        (["--events", "{bad_events}"], "line 1 is not an events line"),
        (["--events", "{missing}"], "file not found"),
        (["--cams", "{missing}", "--cam-ids", "cam_a"], "missing"),
    ],
)
def test_reid_eval_report_errors(
    two_cam_scene: dict, fake_reid, tmp_path: Path, capsys, extra, message
) -> None:
    tracks = tmp_path / "tracks.json"
    run(
        _cams(two_cam_scene),
        [TracksJsonSink(tracks)],
        _config(),
        detections_dir=two_cam_scene["dets"],
        progress=False,
    )
    (tmp_path / "bad.jsonl").write_text('{"event": "assign"}\n', encoding="utf-8")
    names = {
        "a": str(two_cam_scene["videos"]["cam_a"]),
        "bad_events": str(tmp_path / "bad.jsonl"),
        "missing": str(tmp_path / "missing"),
    }
    args = [a.format(**names) for a in extra]
    code = eval_cli.main(["report", "--result", str(tracks), "--out", str(tmp_path / "r"), *args])
    err = capsys.readouterr().err
    assert code == 2 and re.search(message, err), err
    assert "Traceback" not in err
    assert not (tmp_path / "r").exists()
