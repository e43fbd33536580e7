"""reid-pipeline: the bad-input table (one line naming the file and the problem, exit 2, nothing written)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from pipeline import cli

ROOT = Path(__file__).resolve().parents[2]


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _fail(argv: list[str], capsys: pytest.CaptureFixture, needle: str) -> str:
    """Run main(argv); it must return 2 with one ``error:`` line on stderr containing ``needle``."""
    code = cli.main(argv)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def scene(two_cam_scene: dict) -> dict:
    root = two_cam_scene["root"]
    two_cam_scene["a"] = str(two_cam_scene["videos"]["cam_a"])
    two_cam_scene["b"] = str(two_cam_scene["videos"]["cam_b"])
    two_cam_scene["out"] = root / "out" / "tracks.json"
    (root / "out").mkdir()
    two_cam_scene["replay"] = ["--detections-dir", str(two_cam_scene["dets"]), "--progress", "off"]
    return two_cam_scene


def test_missing_video(scene: dict, capsys) -> None:
    missing = str(scene["root"] / "nope.mp4")
    _fail(["--cams", scene["a"], missing, "--out", str(scene["out"])], capsys, f"{missing}: no such file")
    assert _listing(scene["out"].parent) == set()


def test_unreadable_video(scene: dict, capsys) -> None:
    bad = scene["root"] / "bad.mp4"
    bad.write_text("this is not a video\n" * 100, encoding="utf-8")
    _fail(["--cams", scene["a"], str(bad), "--out", str(scene["out"])], capsys, str(bad))
    assert _listing(scene["out"].parent) == set()


def test_camera_with_no_frames(scene: dict, capsys) -> None:
    empty = scene["root"] / "empty.avi"
    cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (32, 32)).release()
    _fail(["--cams", scene["a"], str(empty), "--out", str(scene["out"])], capsys, str(empty))
    folder = scene["root"] / "noframes"
    folder.mkdir()
    _fail(["--cams", str(folder), "--out", str(scene["out"])], capsys, "holds no images")
    assert _listing(scene["out"].parent) == set()


def test_duplicate_cam_ids(scene: dict, capsys) -> None:
    other = scene["root"] / "elsewhere"
    other.mkdir()
    twin = other / "cam_a.avi"
    twin.write_bytes(Path(scene["a"]).read_bytes())
    _fail(
        ["--cams", scene["a"], str(twin), "--out", str(scene["out"])], capsys, "duplicate camera id 'cam_a'"
    )
    _fail(
        ["--cams", scene["a"], scene["b"], "--cam-ids", "x,x", "--out", str(scene["out"])],
        capsys,
        "duplicate camera id 'x'",
    )
    _fail(
        ["--cams", scene["a"], scene["b"], "--cam-ids", "x", "--out", str(scene["out"])],
        capsys,
        "1 ids given for 2 cameras",
    )
    assert _listing(scene["out"].parent) == set()


def test_existing_out_without_overwrite(scene: dict, capsys) -> None:
    scene["out"].write_text("keep me", encoding="utf-8")
    _fail(["--cams", scene["a"], "--out", str(scene["out"]), *scene["replay"]], capsys, "already exists")
    assert scene["out"].read_text(encoding="utf-8") == "keep me"
    assert _listing(scene["out"].parent) == {"tracks.json"}


def test_unwritable_out(scene: dict, capsys) -> None:
    _fail(
        ["--cams", scene["a"], "--out", str(scene["root"] / "no" / "such" / "t.json")],
        capsys,
        "does not exist",
    )
    _fail(["--cams", scene["a"], "--out", str(scene["out"].parent)], capsys, "is a directory")
    if os.geteuid() != 0:  # root writes anywhere
        locked = scene["root"] / "locked"
        locked.mkdir(mode=0o500)
        _fail(["--cams", scene["a"], "--out", str(locked / "t.json")], capsys, "not writable")


def test_other_outputs_are_checked_before_the_first_frame(scene: dict, capsys) -> None:
    mot = scene["root"] / "mot"
    mot.mkdir()
    (mot / "cam_a.txt").write_text("old", encoding="utf-8")
    base = ["--cams", scene["a"], "--out", str(scene["out"]), *scene["replay"]]
    _fail([*base, "--mot-dir", str(mot)], capsys, "cam_a.txt: already exists")
    _fail([*base, "--events", str(scene["out"])], capsys, "written by two outputs (--out and --events)")
    _fail([*base, "--save-video", str(scene["root"] / "x" / "y")], capsys, "does not exist")
    assert _listing(scene["out"].parent) == set() and (mot / "cam_a.txt").read_text(encoding="utf-8") == "old"


def test_bad_detector_weights(scene: dict, capsys) -> None:
    bad = scene["root"] / "det.tflite"
    bad.write_bytes(b"garbage")
    events = scene["out"].parent / "ev.jsonl"
    argv = ["--cams", scene["a"], "--out", str(scene["out"]), "--events", str(events), "--progress", "off"]
    _fail([*argv, "--detector", str(bad)], capsys, f"{bad}: cannot load detector")
    _fail([*argv, "--detector", str(scene["root"] / "none.pt")], capsys, "detector weights not found")
    assert _listing(scene["out"].parent) == set()


def test_bad_reid_weights(scene: dict, capsys) -> None:
    pytest.importorskip("reid_core.inference", reason="reid_core.inference not there yet")
    bad = scene["root"] / "reid.safetensors"
    bad.write_bytes(b"garbage")
    argv = ["--cams", scene["a"], "--out", str(scene["out"]), *scene["replay"]]
    _fail([*argv, "--reid-weights", str(bad)], capsys, str(bad))
    _fail([*argv, "--reid-weights", str(scene["root"] / "none.safetensors")], capsys, "none.safetensors")
    assert _listing(scene["out"].parent) == set()


def test_config_with_unknown_key(scene: dict, capsys) -> None:
    config = scene["root"] / "my.yaml"
    config.write_text("association:\n  treshold: 0.6\n", encoding="utf-8")
    line = _fail(
        ["--cams", scene["a"], "--out", str(scene["out"]), "--config", str(config)], capsys, str(config)
    )
    assert "treshold" in line
    _fail(
        ["--cams", scene["a"], "--out", str(scene["out"]), "--config", str(scene["root"] / "no.yaml")],
        capsys,
        "config file not found",
    )
    assert _listing(scene["out"].parent) == set()


def test_missing_replay_file_and_bad_device(scene: dict, capsys) -> None:
    (scene["dets"] / "cam_b.txt").unlink()
    _fail(
        ["--cams", scene["a"], scene["b"], "--out", str(scene["out"]), *scene["replay"]],
        capsys,
        "cam_b.txt: no saved detections",
    )
    _fail(["--cams", scene["a"], "--out", str(scene["out"]), "--device", "tpu"], capsys, "--device tpu")
    assert _listing(scene["out"].parent) == set()


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("missing.mp4", None, "no such file or folder"),
        ("corrupt.mp4", b"not a video at all", "not a readable video"),  # FFmpeg's own lines silenced
        ("bad.safetensors", b"not weights", "not a readable safetensors file"),  # before the detector logs
    ],
)
def test_subprocess_prints_one_line_and_exits_2(
    scene: dict, name: str, content: bytes | None, problem: str
) -> None:
    """The installed-style entry point: no traceback, one line, exit code 2."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OPENCV_FFMPEG_LOGLEVEL", None)
    video = scene["root"] / name
    if content is not None:
        video.write_bytes(content)
    args = ["--cams", str(video)]
    if name.endswith(".safetensors"):
        args = ["--cams", str(scene["a"]), "--reid-weights", str(video)]
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args, "--out", str(scene["out"])],
        capture_output=True,
        text=True,
        env=env,
        cwd=scene["root"],
        check=False,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {video}: {problem}"), lines
    assert not scene["out"].exists()


def test_help_names_units_and_defaults(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for group in ("input:", "models:", "output:", "run:"):
        assert group in text
    for flag in (
        "--cams",
        "--out",
        "--config",
        "--device",
        "--cam-ids",
        "--detector",
        "--reid-weights",
        "--save-video",
        "--mot-dir",
        "--detections-dir",
        "--events",
        "--overwrite",
    ):
        assert flag in text
    assert text.count("default") >= 10


@pytest.mark.parametrize(
    ("flags", "progress_line"),
    [
        ([], True),  # auto: stderr is not a terminal here, so plain lines, not a bar
        (["--quiet"], False),
    ],
)
def test_progress_lines_in_logs_never_carriage_returns(
    two_cam_scene: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags, progress_line
) -> None:
    videos = [str(p) for p in two_cam_scene["videos"].values()]
    args = [
        "--cams",
        *videos,
        "--out",
        str(tmp_path / "t.json"),
        "--detections-dir",
        str(two_cam_scene["dets"]),
    ]
    assert cli.main([*args, *flags]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    assert ("cam_a: 50/50 frames (100.0%)" in err) is progress_line, err
