"""Live sources against real cameras on 127.0.0.1 (MJPEG over HTTP; RTSP from GStreamer's server):
cut, stall, restore, stop."""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from infra.errors import UserError
from pipeline.frames import CameraSpec, open_source
from pipeline.frames.live import LiveSettings
from pipeline.frames.reader import FrameReader

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tools"))

from mjpeg_camera import MjpegCamera  # noqa: E402
from rtsp_camera import RtspCamera, server_python  # noqa: E402

FAST = LiveSettings(open_timeout_s=2.0, read_timeout_s=0.6, reconnect_delay_s=0.1,
                    reconnect_max_delay_s=0.4, reconnect_max_tries=4)  # fmt: skip


def _frames(n: int = 10, size_wh: tuple[int, int] = (64, 48)) -> list[np.ndarray]:
    w, h = size_wh
    return [np.full((h, w, 3), 20 * k % 250, np.uint8) for k in range(n)]


class _Collector:
    """Reads a source on a thread (like the pipeline's reader) and keeps the frames' times."""

    def __init__(self, source) -> None:  # type: ignore[no-untyped-def]
        self.source = source
        self.times: list[float] = []
        self.sizes: set[tuple[int, int]] = set()
        self.error: BaseException | None = None
        self.reader = FrameReader(source, queue_size=4).start()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for frame in self.reader:
                self.times.append(frame.time_s)
                self.sizes.add(frame.image_bgr.shape[:2])
        except BaseException as err:
            self.error = err

    def wait_frames(self, n: int, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.times) < n:
            assert time.monotonic() < deadline, f"only {len(self.times)} frames"
            time.sleep(0.02)

    def stop(self) -> None:
        self.reader.close(timeout_s=2.0)
        self.thread.join(timeout=2.0)


def test_a_single_client_camera_is_opened_once() -> None:
    with MjpegCamera(_frames(), fps=50, max_clients=1) as cam:
        src = open_source(CameraSpec(cam.url, "door"), 25.0, FAST)
        got = _Collector(src)
        got.wait_frames(20)
        got.stop()
        assert cam.connections == 1 and cam.refused == 0
        assert got.error is None and src.gaps == []
        assert got.times == sorted(got.times)


def _camera(kind: str, frames: list[np.ndarray], fps: float) -> MjpegCamera | RtspCamera:
    """A real camera of ``kind`` on loopback; RTSP skips, saying why, where GStreamer's server is missing
    (``.ci/run`` installs it)."""
    if kind == "mjpeg":
        return MjpegCamera(frames, fps=fps)
    python, why = server_python()
    if python is None:
        pytest.skip(why)
    return RtspCamera(frames, fps=fps, python=python)


# An RTSP server restarts in ~1 s after a cut (a new process), so RTSP gets more tries.
PATIENT = dataclasses.replace(FAST, reconnect_max_tries=12)


@pytest.mark.parametrize("kind", ["mjpeg", "rtsp"])
@pytest.mark.parametrize("fault", ["cut", "stall"])
def test_a_cut_or_stalled_stream_reconnects_and_the_gap_is_recorded(kind: str, fault: str) -> None:
    with _camera(kind, _frames(), fps=50) as cam:
        src = open_source(CameraSpec(cam.url, "door"), 25.0, PATIENT if kind == "rtsp" else FAST)
        got = _Collector(src)
        got.wait_frames(10)
        getattr(cam, fault)()
        t_fault = time.monotonic()
        time.sleep(1.0)
        cam.restore()
        t_restore = time.monotonic()
        while not src.gaps:
            assert time.monotonic() - t_restore < 5.0, "no reconnect"
            time.sleep(0.02)
        n = len(got.times)
        got.wait_frames(n + 10)
        got.stop()
        (gap,) = src.gaps
        if kind == "mjpeg":  # over RTP/UDP a killed server is silence: either reason is right
            assert gap.reason == ("stream ended" if fault == "cut" else "read timeout")
            assert cam.connections >= 2
        assert gap.reason in ("stream ended", "read timeout")
        assert gap.t_to_s is not None and gap.t_to_s - gap.t_from_s >= 0.9  # the outage is real time
        gaps_in_times = np.diff(got.times)
        assert gaps_in_times.max() >= 0.9  # time_s jumps over the gap: no made-up frames
        assert time.monotonic() - t_fault < 6.0


def test_a_camera_that_never_comes_back_fails_after_the_tries() -> None:
    with MjpegCamera(_frames(), fps=50) as cam:
        src = open_source(CameraSpec(cam.url, "door"), 25.0, FAST)
        got = _Collector(src)
        got.wait_frames(5)
        cam.cut()
        t0 = time.monotonic()
        got.thread.join(timeout=10.0)
        elapsed = time.monotonic() - t0
        got.stop()
        assert isinstance(got.error, UserError)
        assert "gave up after 4 reconnect tries" in str(got.error) and cam.url in str(got.error)
        assert [(g.reason, g.t_to_s) for g in src.gaps] == [("stream ended", None)]
        assert elapsed < 0.1 + 0.2 + 0.4 + 0.4 + 4 * 2.0 + 1.0  # back-off sum + open timeouts


def test_a_resolution_change_after_reconnect_is_scaled_back() -> None:
    cam = MjpegCamera(_frames(size_wh=(64, 48)), fps=50).start()
    src = open_source(CameraSpec(cam.url, "door"), 25.0, FAST)
    got = _Collector(src)
    got.wait_frames(5)
    port = cam.port
    cam.close()
    cam2 = MjpegCamera(_frames(size_wh=(96, 80)), fps=50, port=port).start()
    try:
        n = len(got.times)
        got.wait_frames(n + 5)
    finally:
        got.stop()
        cam2.close()
    assert got.sizes == {(48, 64)} and len(src.gaps) == 1


def test_nothing_listening_is_a_one_line_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/cam.mjpg"
    t0 = time.monotonic()
    with pytest.raises(UserError, match=f"{url}: cannot open stream"):
        open_source(CameraSpec(url, "door"), 25.0, FAST)
    assert time.monotonic() - t0 < FAST.open_timeout_s + 1.0


def test_a_stalled_stream_at_open_times_out() -> None:
    with MjpegCamera(_frames(), fps=50) as cam:
        cam.stall()
        t0 = time.monotonic()
        with pytest.raises(UserError, match="cannot open stream"):
            open_source(CameraSpec(cam.url, "door"), 25.0, FAST)
        assert time.monotonic() - t0 < 2 * FAST.open_timeout_s + 1.0


def test_stop_interrupts_a_reconnecting_reader() -> None:
    slow = LiveSettings(2.0, 0.6, 5.0, 5.0, 3)  # would wait 5 s before its first try
    with MjpegCamera(_frames(), fps=50) as cam:
        src = open_source(CameraSpec(cam.url, "door"), 25.0, slow)
        got = _Collector(src)
        got.wait_frames(5)
        cam.cut()
        time.sleep(0.3)  # now waiting to reconnect
        t0 = time.monotonic()
        got.stop()
        assert time.monotonic() - t0 < 1.0 and not got.thread.is_alive()
        assert [g.t_to_s for g in src.gaps] == [None]


def test_cli_live_run_ctrl_c_writes_outputs(tmp_path: Path) -> None:
    """The real entry point on a live camera: SIGINT → every output written within 2 s, exit 0."""
    import os
    import signal
    import subprocess

    out = tmp_path / "tracks.json"
    with MjpegCamera(_frames(50, (160, 100)), fps=25, max_clients=1) as cam:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        cfg = tmp_path / "c.yaml"
        cfg.write_text(
            "association: {enabled: false}\nruntime: {log_interval_s: 0.2, snapshot_interval_s: null}\n",
            encoding="utf-8",
        )
        argv = ["--cams", cam.url, "--cam-ids", "door", "--config", str(cfg), "--out", str(out)]
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", *argv, "--progress", "off"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        assert proc.stderr is not None
        deadline = time.monotonic() + 120
        for line in proc.stderr:  # wait until frames flow
            if "fps:" in line or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        while not out.exists() and proc.poll() is None:  # the outputs appear (no snapshots: see cfg)
            time.sleep(0.01)
        written_s = time.monotonic() - t0
        _, stderr = proc.communicate(timeout=30)
        exit_s = time.monotonic() - t0
    assert proc.returncode == 0 and "stopped early by SIGINT" in stderr, stderr
    assert "Traceback" not in stderr and "stopped early by SIGINT" in stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["complete"] is False and doc["cameras"][0]["end"] == "stopped"
    assert doc["cameras"][0]["num_frames"] > 0
    assert written_s < 2.0, written_s  # the target: outputs within 2 s of Ctrl-C
    assert exit_s < 10.0, exit_s
    assert cam.connections == 1


def test_a_slow_consumer_drops_frames_and_keeps_latency_bounded() -> None:
    with MjpegCamera(_frames(), fps=50) as cam:
        src = open_source(CameraSpec(cam.url, "door"), 25.0, FAST)
        reader = FrameReader(src, queue_size=3, drop_when_behind=True).start()
        latencies = []
        for _ in range(12):
            frame = reader.get()
            assert frame is not None
            latencies.append(reader.latency_s)
            time.sleep(0.1)  # 10 frames/s against a 50 frames/s camera
        reader.close(timeout_s=2.0)
    assert src.dropped > 20
    assert max(latencies[4:]) < 3 / 50 + 0.15  # at most the queue (3 frames) plus one step behind


@pytest.mark.parametrize("kind", ["mjpeg", "rtsp"])
def test_a_live_run_records_the_gap_in_tracks_json(tmp_path: Path, kind: str) -> None:
    from pipeline.config import load_config
    from pipeline.export.tracks_json import TracksJsonSink, read_tracks_json
    from pipeline.run import run
    from pipeline.stop import StopControl

    cfg = load_config()
    runtime = type(cfg.runtime)(stream_read_timeout_s=0.6, reconnect_delay_s=0.1, snapshot_interval_s=None)
    cfg = cfg.replace(association=type(cfg.association)(enabled=False), runtime=runtime)
    out = tmp_path / "tracks.json"
    with _camera(kind, _frames(20, (160, 104)), fps=25) as cam:
        timer = threading.Timer(1.0, cam.stall)
        restore = threading.Timer(2.5, cam.restore)
        timer.start()
        restore.start()
        summary = run([CameraSpec(cam.url, "door")], [TracksJsonSink(out)], cfg, progress=False,
                      stop=StopControl(duration_s=4.5))  # fmt: skip
    tracks = read_tracks_json(out)
    (door,) = tracks.cameras
    assert door.end == "duration" and tracks.complete and summary.gaps == {"door": 1}
    (gap,) = door.gaps
    assert gap.reason == "read timeout" and gap.t_to_s is not None and 0.0 < gap.t_from_s < gap.t_to_s
    assert 0.9 <= gap.t_to_s - gap.t_from_s < 3.0  # stalled 1.5 s (the timer starts before the run opens)
