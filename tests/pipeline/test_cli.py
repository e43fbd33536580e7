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
    _fail([*argv, "--detector", str(scene["root"] / "none.onnx")], capsys, "detector weights not found")
    _fail([*argv, "--detector", str(scene["root"] / "none.pt")], capsys, "is a Python pickle")
    assert _listing(scene["out"].parent) == set()


def test_a_pickled_detector_never_runs_without_the_flag(scene: dict, capsys, tmp_path: Path) -> None:
    """A .pt whose unpickling would write a file: refused and nothing runs, by flag or by config."""
    import pickle

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(Payload()))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"detector: {{weights: {evil}}}\n", encoding="utf-8")
    argv = ["--cams", scene["a"], "--out", str(scene["out"]), "--progress", "off"]
    for extra in (["--detector", str(evil)], ["--config", str(cfg)]):
        line = _fail([*argv, *extra], capsys, f"{evil}: a .pt detector is a Python pickle")
        assert "--allow-pickle-detector" in line and ".onnx" in line
    assert not marker.exists() and _listing(scene["out"].parent) == set()
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "runs any code it holds" in " ".join(capsys.readouterr().out.split())


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


def test_topology_naming_a_camera_not_in_the_run(scene: dict, capsys) -> None:
    config = scene["root"] / "topo.yaml"
    config.write_text(
        "association:\n  topology:\n    pairs:\n      - cameras: [cam_a, hall]\n", encoding="utf-8"
    )
    line = _fail(
        [
            "--cams",
            scene["a"],
            scene["b"],
            "--out",
            str(scene["out"]),
            "--config",
            str(config),
            *scene["replay"],
        ],
        capsys,
        f"{config}: association.topology.pairs[0].cameras: 'hall' is not a camera of this run",
    )
    assert "cameras: cam_a, cam_b" in line
    assert _listing(scene["out"].parent) == set()


def test_shipped_topology_example_loads() -> None:
    from pipeline.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "topology.example.yaml")
    topology = cfg.association.topology
    assert topology.cameras["hall"].start_offset_s == 2.5 and len(topology.pairs) == 3
    assert [p.reachable for p in topology.pairs] == [True, True, False]


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


# --- the fault campaign of issue 11: one line, exit 2, nothing half-written, nothing followed ----


def _huge_config(root: Path) -> Path:
    path = root / "huge.yaml"
    path.write_text("runtime: {device: " + "x" * 100_000 + "}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("out_dangling_symlink", "is a symbolic link; refusing to write through it"),
        ("out_symlink_overwrite", "is a symbolic link; refusing to write through it"),
        ("events_dangling_symlink", "is a symbolic link; refusing to write through it"),
        ("events_dangling_symlink_overwrite", "is a symbolic link; refusing to write through it"),
        ("out_device_overwrite", "/dev/null: exists and is not a regular file"),
        ("long_cam_id_mot_dir", "file name is too long for the file system"),
        ("out_inside_mot_dir", "written by two outputs (--out and --mot-dir)"),
        ("config_not_utf8", "config is not UTF-8 text"),
        ("config_dev_zero", "/dev/zero: config is larger than 1048576 bytes"),
        ("config_huge_value", "runtime.device must be auto, cpu or cuda:N, got 'xxxxxxxx"),
    ],
)
def test_fault_table(scene: dict, capsys, case: str, needle: str) -> None:
    root = scene["root"]
    out_dir = scene["out"].parent
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / "victim.txt"  # what a planted link points at: must never be created or changed
    argv = ["--cams", scene["a"], *scene["replay"]]
    out = scene["out"]
    if case.startswith("out_dangling") or case.startswith("out_symlink"):
        out.symlink_to(victim)
        argv += ["--out", str(out)] + (["--overwrite"] if "overwrite" in case else [])
    elif case.startswith("events_dangling"):
        (out_dir / "ev.jsonl").symlink_to(victim)
        argv += ["--out", str(out), "--events", str(out_dir / "ev.jsonl")]
        argv += ["--overwrite"] if "overwrite" in case else []
    elif case == "out_device_overwrite":
        argv += ["--out", "/dev/null", "--overwrite"]
    elif case == "long_cam_id_mot_dir":
        argv += ["--cam-ids", "c" * 300, "--out", str(out), "--mot-dir", str(out_dir / "mot")]
    elif case == "out_inside_mot_dir":
        argv += ["--out", str(out_dir / "mot" / "cam_a.txt"), "--mot-dir", str(out_dir / "mot")]
    elif case == "config_not_utf8":
        bad = root / "latin1.yaml"
        bad.write_bytes("runtime: {device: 'caf\u00e9'}\n".encode("latin-1"))
        argv += ["--out", str(out), "--config", str(bad)]
    elif case == "config_dev_zero":
        argv += ["--out", str(out), "--config", "/dev/zero"]
    elif case == "config_huge_value":
        argv += ["--out", str(out), "--config", str(_huge_config(root))]
    line = _fail(argv, capsys, needle)
    assert len(line) < 600  # names the path; never prints a huge value whole
    assert not victim.exists()
    leftovers = {p for p in _listing(out_dir) if not (out_dir / p).is_symlink()}
    assert leftovers == set()


def test_disk_full_on_out_is_one_line_and_leaves_nothing(scene: dict, capsys, monkeypatch) -> None:
    import errno

    from pipeline.export.tracks_json import TracksJsonSink

    def full(self, result, staged):  # type: ignore[no-untyped-def]
        tmp = staged.path(self.path)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))

    monkeypatch.setattr(TracksJsonSink, "finish", full)
    mot = scene["out"].parent / "mot"
    argv = ["--cams", scene["a"], *scene["replay"], "--out", str(scene["out"]), "--mot-dir", str(mot)]
    _fail(argv, capsys, f"{scene['out']}: cannot write the outputs (No space left on device); none written")
    assert _listing(scene["out"].parent) == set()


def test_disk_full_on_events_is_one_line_and_leaves_nothing(scene: dict, capsys, monkeypatch) -> None:
    import errno

    from pipeline.export.events import EventsSink

    real_open = EventsSink._open

    def opened(self):  # type: ignore[no-untyped-def]
        handle = real_open(self)

        class Full:
            def write(self, text: str) -> int:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            def flush(self) -> None: ...

            def close(self) -> None:
                handle.close()

        return Full()

    monkeypatch.setattr(EventsSink, "_open", opened)
    events = scene["out"].parent / "ev.jsonl"
    argv = [
        "--cams",
        scene["a"],
        scene["b"],
        *scene["replay"],
        "--out",
        str(scene["out"]),
        "--events",
        str(events),
    ]
    _fail(argv, capsys, f"{events}: --events: cannot write (No space left on device)")
    assert _listing(scene["out"].parent) == set()


def test_replayed_scores_above_1_are_clamped_and_the_file_is_valid(scene: dict, caplog) -> None:
    from pipeline.export.tracks_json import read_tracks_json

    dets = Path(scene["replay"][1])
    path = dets / "cam_a.txt"
    path.write_text(path.read_text(encoding="utf-8").replace(",0.9,", ",7.5,"), encoding="utf-8")
    argv = ["--cams", scene["a"], *scene["replay"], "--out", str(scene["out"])]
    assert cli.main(argv) == 0
    assert "scores outside [0, 1] clamped" in caplog.text
    tracks = read_tracks_json(scene["out"])  # validates against the schema
    scores = [b.score for i in tracks.identities for t in i.tracklets for b in t.boxes if b.score is not None]
    assert scores and max(scores) <= 1.0


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


def test_a_run_prints_no_third_party_lines(scene: dict, tmp_path: Path) -> None:
    """The bundled TFLite detector's "INFO: Created TensorFlow Lite XNNPACK delegate" stays off stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("OPENCV_FFMPEG_LOGLEVEL", None)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("association: {enabled: false}\n", encoding="utf-8")
    argv = ["--cams", scene["a"], "--out", str(scene["out"]), "--config", str(cfg), "--max-frames", "3"]
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *argv, "--progress", "off", "--log-level", "warning"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""
