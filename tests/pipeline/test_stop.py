"""Stopping early keeps the work: signals, --duration, --max-frames, a failing camera, snapshots."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from infra.errors import UserError
from pipeline import cli
from pipeline.config import load_config
from pipeline.detections import ReplayDetector
from pipeline.export.mot import MotSink
from pipeline.export.tracks_json import TracksJsonSink, read_tracks_json, validate_tracks_dict
from pipeline.frames import CameraSpec
from pipeline.identities import Assignment
from pipeline.records import CameraRecord, TrackletRecord
from pipeline.run import run
from pipeline.stop import STOP_EXIT_CODE, Snapshots, StopControl


def _cams(scene: dict) -> list[CameraSpec]:
    return [CameraSpec(str(path), cam) for cam, path in scene["videos"].items()]


def _config(**runtime: object):
    cfg = load_config()
    cfg = cfg.replace(
        association=type(cfg.association)(method="online", enabled=False)
    )  # identities as it runs
    return cfg.replace(runtime=type(cfg.runtime)(**{"snapshot_interval_s": None, **runtime}))


# --- StopControl -------------------------------------------------------------------------------


def test_the_first_reason_is_kept() -> None:
    stop = StopControl()
    assert not stop.should_stop() and stop.reason is None
    stop.request("duration")
    stop.request("stopped")
    assert stop.should_stop() and stop.reason == "duration" and not stop.by_signal


def test_duration_counts_from_start() -> None:
    stop = StopControl(duration_s=0.05)
    time.sleep(0.1)
    assert not stop.should_stop()  # not started: no deadline yet
    stop.start()
    assert not stop.should_stop()
    time.sleep(0.1)
    assert stop.should_stop() and stop.reason == "duration"


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_duration_must_be_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="> 0 seconds"):
        StopControl(duration_s=bad)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_stops_second_aborts_handlers_restored(sig: signal.Signals) -> None:
    before = signal.getsignal(sig)
    stop = StopControl()
    with stop.signals():
        os.kill(os.getpid(), sig)
        time.sleep(0.05)
        assert stop.should_stop() and stop.reason == "stopped" and stop.signal_name == sig.name
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), sig)
            time.sleep(0.5)
    assert signal.getsignal(sig) is before


# --- Snapshots ---------------------------------------------------------------------------------


def test_snapshot_groups_assigned_tracklets_and_is_incomplete() -> None:
    written = []
    cams = (CameraRecord("a", "rtsp://x/a", 25.0, 64, 48, 10, end="running"),)
    tracklets = {
        ("a", 1): TrackletRecord("a", 1, 0, 4, 0.0, 0.16),
        ("a", 2): TrackletRecord("a", 2, 5, 9, 0.2, 0.36),
        ("a", 3): TrackletRecord("a", 3, 5, 9, 0.2, 0.36),  # closed, not assigned yet: waits
    }
    snaps = Snapshots(written.append, 0.01)
    snaps.on_assign(Assignment("a", 2, 7, True, None, 0.2, 0.36))
    snaps.on_assign(Assignment("a", 1, 7, False, 0.9, 0.0, 0.16))
    assert not snaps.due()
    time.sleep(0.02)
    assert snaps.due() and not snaps.due()  # the next one is due an interval later
    snaps.write(cams, tracklets)
    (tracks,) = written
    assert not tracks.complete and snaps.written == 1
    assert [(i.global_id, [t.track_id for t in i.tracklets]) for i in tracks.identities] == [(7, [1, 2])]


def test_no_interval_no_snapshot() -> None:
    snaps = Snapshots(lambda t: pytest.fail("written"), None)
    assert not snaps.due()


# --- whole runs --------------------------------------------------------------------------------


def test_max_frames_ends_each_camera_and_the_run_is_complete(two_cam_scene: dict, tmp_path: Path) -> None:
    out = tmp_path / "tracks.json"
    summary = run(
        _cams(two_cam_scene),
        [TracksJsonSink(out)],
        _config(),
        detections_dir=two_cam_scene["dets"],
        progress=False,
        max_frames=20,
    )
    tracks = read_tracks_json(out)
    assert (
        tracks.complete and summary.stopped == "max_frames" and summary.frames == {"cam_a": 20, "cam_b": 20}
    )
    assert [(c.num_frames, c.end, c.error) for c in tracks.cameras] == [(20, "max_frames", None)] * 2
    assert max(b.frame for i in tracks.identities for t in i.tracklets for b in t.boxes) == 19


class _SlowReplay(ReplayDetector):
    """Replayed detections, slowed down, that request a stop after ``stop_after`` frames."""

    stop: StopControl | None = None
    stop_after = 10**9
    seen = 0

    def detect(self, frames):  # type: ignore[no-untyped-def]
        type(self).seen += len(frames)
        if self.stop is not None and type(self).seen >= self.stop_after:
            self.stop.request("stopped")
        return super().detect(frames)


def test_a_stopped_run_writes_every_output_marked_incomplete(
    two_cam_scene: dict, tmp_path: Path, monkeypatch
) -> None:
    stop = StopControl()
    monkeypatch.setattr(_SlowReplay, "stop", stop)
    monkeypatch.setattr(_SlowReplay, "stop_after", 30)
    monkeypatch.setattr(_SlowReplay, "seen", 0)
    monkeypatch.setattr("pipeline.parts.ReplayDetector", _SlowReplay)
    out = tmp_path / "tracks.json"
    summary = run(
        _cams(two_cam_scene),
        [TracksJsonSink(out), MotSink(tmp_path / "mot")],
        _config(),
        detections_dir=two_cam_scene["dets"],
        progress=False,
        stop=stop,
    )
    validate_tracks_dict(json.loads(out.read_text(encoding="utf-8")))
    tracks = read_tracks_json(out)
    assert not tracks.complete and summary.stopped == "stopped"
    assert {c.end for c in tracks.cameras} == {"stopped"}
    assert all(0 < c.num_frames < 50 for c in tracks.cameras)
    assert tracks.identities  # the tracklets open at the stop were closed and kept
    assert sorted(p.name for p in (tmp_path / "mot").iterdir()) == ["cam_a.txt", "cam_b.txt"]


def test_a_failing_camera_is_reported_and_the_others_are_written(
    two_cam_scene: dict, tmp_path: Path, monkeypatch
) -> None:
    from pipeline.frames.capture import CaptureSource

    real = CaptureSource._read

    def failing(self, cap, first):  # type: ignore[no-untyped-def]
        for frame in real(self, cap, first):
            if self.info.cam_id == "cam_b" and frame.index == 12:
                raise UserError(f"{self.info.source}: connection reset")
            yield frame

    monkeypatch.setattr(CaptureSource, "_read", failing)
    out = tmp_path / "tracks.json"
    summary = run(
        _cams(two_cam_scene),
        [TracksJsonSink(out)],
        _config(),
        detections_dir=two_cam_scene["dets"],
        progress=False,
    )
    tracks = read_tracks_json(out)
    cam_a, cam_b = tracks.cameras
    assert (cam_a.end, cam_a.num_frames, cam_a.error) == ("ended", 50, None)
    assert cam_b.end == "failed" and "connection reset" in str(cam_b.error) and cam_b.num_frames == 12
    assert not tracks.complete and list(summary.failed) == ["cam_b"]


def test_every_camera_failing_is_a_user_error_and_nothing_is_written(
    two_cam_scene: dict, tmp_path: Path, monkeypatch
) -> None:
    from pipeline.frames.capture import CaptureSource

    def failing(self, cap, first):  # type: ignore[no-untyped-def]
        raise UserError(f"{self.info.source}: connection reset")
        yield

    monkeypatch.setattr(CaptureSource, "_read", failing)
    out = tmp_path / "tracks.json"
    with pytest.raises(UserError, match="connection reset"):
        run(_cams(two_cam_scene), [TracksJsonSink(out)], _config(), detections_dir=two_cam_scene["dets"])
    assert not out.exists()


def test_snapshots_are_written_during_a_run(two_cam_scene: dict, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "tracks.json"
    seen: list[dict] = []
    real = TracksJsonSink.snapshot

    def snapshot(self, tracks):  # type: ignore[no-untyped-def]
        real(self, tracks)
        seen.append(json.loads(out.read_text(encoding="utf-8")))
        time.sleep(0.01)

    monkeypatch.setattr(TracksJsonSink, "snapshot", snapshot)
    run(
        _cams(two_cam_scene),
        [TracksJsonSink(out)],
        _config(snapshot_interval_s=1e-6),
        detections_dir=two_cam_scene["dets"],
        progress=False,
    )
    assert len(seen) > 5
    for doc in seen:
        validate_tracks_dict(doc)
        assert doc["complete"] is False
    assert seen[-1]["identities"]
    assert read_tracks_json(out).complete  # the final file replaced the last snapshot


# --- the command line ------------------------------------------------------------------------


def _cli_args(scene: dict, out: Path) -> list[str]:
    return [
        "--cams",
        *(str(v) for v in scene["videos"].values()),
        "--detections-dir",
        str(scene["dets"]),
        "--progress",
        "off",
        "--out",
        str(out),
    ]


def _slow_detect(monkeypatch, delay_s: float) -> None:
    real = ReplayDetector.detect

    def slow(self, frames):  # type: ignore[no-untyped-def]
        time.sleep(delay_s)
        return real(self, frames)

    monkeypatch.setattr(ReplayDetector, "detect", slow)


def test_cli_sigint_writes_outputs_and_exits_0(
    two_cam_scene: dict, tmp_path: Path, monkeypatch, capsys
) -> None:
    real = ReplayDetector.detect
    sent: list[float] = []

    def slow(self, frames):  # type: ignore[no-untyped-def]
        time.sleep(0.05)  # 50 steps: ~2.5 s
        if len(sent) == 0 and frames[0].index == 10:
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)
        return real(self, frames)

    monkeypatch.setattr(ReplayDetector, "detect", slow)
    out = tmp_path / "tracks.json"
    code = cli.main(_cli_args(two_cam_scene, out))
    after_signal_s = time.monotonic() - sent[0]
    err = capsys.readouterr().err
    assert code == STOP_EXIT_CODE == 0, err
    assert "stopped early by SIGINT" in err and "Traceback" not in err
    tracks = read_tracks_json(out)
    assert not tracks.complete and {c.end for c in tracks.cameras} == {"stopped"}
    assert all(c.num_frames == 11 for c in tracks.cameras)
    assert after_signal_s < 2.0  # the target: outputs written within 2 s of Ctrl-C


def test_cli_second_sigint_aborts_and_leaves_nothing(
    two_cam_scene: dict, tmp_path: Path, monkeypatch, capsys
) -> None:
    from pipeline.export.tracks_json import TracksJsonSink as Sink

    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def slow_finish(self, result, staged):  # type: ignore[no-untyped-def]
        staged.path(self.path).write_text("partial", encoding="utf-8")
        os.kill(os.getpid(), signal.SIGINT)  # the second signal arrives while writing
        time.sleep(1.0)

    monkeypatch.setattr(Sink, "finish", slow_finish)
    _slow_detect(monkeypatch, 0.02)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    code = cli.main(_cli_args(two_cam_scene, out_dir / "tracks.json"))
    timer.join()
    err = capsys.readouterr().err
    assert code == 130 and "error: interrupted" in err
    assert list(out_dir.iterdir()) == []  # no output, no temporary file


def test_cli_duration_and_max_frames(two_cam_scene: dict, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "a.json"
    assert cli.main([*_cli_args(two_cam_scene, out), "--max-frames", "7"]) == 0
    assert [c.num_frames for c in read_tracks_json(out).cameras] == [7, 7]
    _slow_detect(monkeypatch, 0.05)
    out = tmp_path / "b.json"
    assert cli.main([*_cli_args(two_cam_scene, out), "--duration", "0.5"]) == 0
    tracks = read_tracks_json(out)
    assert tracks.complete and {c.end for c in tracks.cameras} == {"duration"}
    assert all(0 < c.num_frames < 25 for c in tracks.cameras)  # 0.05 s a step: ~10 frames in 0.5 s


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--duration", "0"),
        ("--duration", "-3"),
        ("--duration", "x"),
        ("--max-frames", "0"),
        ("--max-frames", "1.5"),
        ("--duration", "inf"),
    ],
)
def test_cli_bad_limits_are_usage_errors(flag: str, value: str, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--cams", "x.mp4", "--out", str(tmp_path / "t.json"), flag, value])
    assert exc.value.code == 2
    assert flag in capsys.readouterr().err


def test_cli_failed_camera_exit_code_3(two_cam_scene: dict, tmp_path: Path, monkeypatch, capsys) -> None:
    from pipeline.frames.capture import CaptureSource

    real = CaptureSource._read

    def failing(self, cap, first):  # type: ignore[no-untyped-def]
        for frame in real(self, cap, first):
            if self.info.cam_id == "cam_a" and frame.index == 5:
                raise UserError(f"{self.info.source}: connection reset")
            yield frame

    monkeypatch.setattr(CaptureSource, "_read", failing)
    out = tmp_path / "t.json"
    assert cli.main(_cli_args(two_cam_scene, out)) == 3
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "camera cam_a failed" in err[0] and "connection reset" in err[0]
    assert out.exists()
