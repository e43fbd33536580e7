"""The Ray executor gives the local run's answer: one local Ray instance, two Ray nodes, a dead actor.

Ray is part of the ``test`` extra, so these tests run in CI (no skip). They are ``slow``: each Ray
run starts actor processes that import torch (tens of seconds on a loaded 2-core machine).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.errors import UserError
from pipeline import cli
from pipeline.config import PipelineConfig, load_config
from pipeline.executors.ray_cluster import CRASH_ENV, _crash_plan
from pipeline.export.events import EventsSink
from pipeline.export.tracks_json import TracksJsonSink
from pipeline.frames import CameraSpec
from pipeline.run import run

ray = pytest.importorskip("ray", reason="never skipped in CI: ray is in the test extra")

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "sample_videos"


@pytest.fixture(scope="module")
def local_ray():
    """One Ray instance on this machine for the module: 2 CPUs, loopback, no dashboard."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, _node_ip_address="127.0.0.1")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def sample_dets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dets = tmp_path_factory.mktemp("dets")
    for cam in ("a", "b"):
        (dets / f"cam_{cam}.txt").write_text((SAMPLE / f"gt_{cam}.txt").read_text(encoding="utf-8"), "utf-8")
    return dets


def _config(weights: Path, kind: str, **ray_values) -> PipelineConfig:
    cfg = load_config()
    ex = dataclasses.replace(
        cfg.executor, kind=kind, cams_per_worker=1, ray=dataclasses.replace(cfg.executor.ray, **ray_values)
    )
    return cfg.replace(
        executor=ex,
        reid=dataclasses.replace(cfg.reid, weights=str(weights)),
        runtime=dataclasses.replace(cfg.runtime, device="cpu"),
    )


def _run(cfg: PipelineConfig, dets: Path, out: Path):
    cams = [CameraSpec(str(SAMPLE / f"cam_{c}.mp4"), f"cam_{c}") for c in ("a", "b")]
    out.mkdir()
    summary = run(
        cams,
        [TracksJsonSink(out / "tracks.json"), EventsSink(out / "events.jsonl")],
        cfg,
        detections_dir=dets,
        progress=False,
    )
    return summary, (out / "tracks.json").read_bytes(), (out / "events.jsonl").read_bytes()


@pytest.fixture(scope="module")
def local_answer(tiny_reid_weights: Path, sample_dets: Path, tmp_path_factory: pytest.TempPathFactory):
    return _run(_config(tiny_reid_weights, "local"), sample_dets, tmp_path_factory.mktemp("r") / "local")


@pytest.mark.slow
def test_ray_run_writes_the_local_runs_tracks_json(
    local_ray, local_answer, tiny_reid_weights: Path, sample_dets: Path, tmp_path: Path
) -> None:
    summary, tracks, events = _run(
        _config(tiny_reid_weights, "ray", steps_per_batch=7, max_inflight_batches=1),
        sample_dets,
        tmp_path / "ray",
    )
    assert tracks == local_answer[1]
    assert events == local_answer[2]  # the same decisions, in the same order, with the same scores
    assert summary.executor == "ray" and summary.lost == []
    assert [(w.name, w.cam_ids, w.frames, w.restarts) for w in summary.workers] == [
        ("ray-0", ("cam_a",), 179, 0),
        ("ray-1", ("cam_b",), 179, 0),
    ]
    assert "worker ray-1 (cam_b): 179 frames" in summary.format()


@pytest.mark.slow
def test_a_dead_actor_is_restarted_and_its_camera_replayed_to_the_same_answer(
    local_ray, local_answer, tiny_reid_weights: Path, sample_dets: Path, tmp_path: Path, monkeypatch
) -> None:
    marker = tmp_path / "crashed"
    monkeypatch.setenv(CRASH_ENV, f"{marker}:cam_b:3")  # cam_b's actor exits after 3 batches, once
    summary, tracks, _ = _run(
        _config(tiny_reid_weights, "ray", steps_per_batch=20, max_restarts=1), sample_dets, tmp_path / "ray"
    )
    assert marker.exists(), "the actor did not crash: the test would prove nothing"
    assert tracks == local_answer[1]
    assert [w.restarts for w in summary.workers] == [0, 1] and summary.lost == []


@pytest.mark.slow
def test_an_actor_dead_for_good_loses_its_camera_loudly_and_the_others_are_written(
    local_ray, local_answer, tiny_reid_weights: Path, sample_dets: Path, tmp_path: Path, monkeypatch, caplog
) -> None:
    monkeypatch.setenv(CRASH_ENV, f"{tmp_path / 'crashed'}:cam_b:2")
    summary, tracks, _ = _run(
        _config(tiny_reid_weights, "ray", steps_per_batch=20, max_restarts=0), sample_dets, tmp_path / "ray"
    )
    assert summary.lost == ["cam_b"]
    assert "LOST cameras" in summary.format() and "cam_b LOST" in caplog.text
    import json

    data = json.loads(tracks)
    local = json.loads(local_answer[1])
    cams = {t["cam_id"] for i in data["identities"] for t in i["tracklets"]}
    assert "cam_a" in cams
    local_a = sorted(
        len(t["boxes"]) for i in local["identities"] for t in i["tracklets"] if t["cam_id"] == "cam_a"
    )
    ray_a = sorted(
        len(t["boxes"]) for i in data["identities"] for t in i["tracklets"] if t["cam_id"] == "cam_a"
    )
    assert ray_a == local_a  # the surviving camera's tracklets are all there


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_ray_nodes_on_loopback_give_the_local_answer(
    local_answer, tiny_reid_weights: Path, sample_dets: Path, tmp_path: Path
) -> None:
    """A head node and a second node (``ray start``, other ports), the CLI joining them with --ray-address.

    Each node offers 1 CPU and each actor asks for 1, so the two actors run on different nodes.
    """
    exe = Path(sys.executable).with_name("ray")
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", RAY_AUTH_MODE="disabled")
    common = ["--block", "--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    nodes: list[subprocess.Popen] = []

    def start(args: list[str], log_name: str) -> None:
        log = (tmp_path / log_name).open("w")
        nodes.append(subprocess.Popen([str(exe), "start", *args, *common], env=env, stdout=log, stderr=log))

    try:
        start(
            ["--head", "--port", str(port), "--include-dashboard", "false", "--temp-dir", "/tmp/ray_reid_t"],
            "head.log",
        )
        _wait_for_nodes(env, f"127.0.0.1:{port}", 1, nodes)
        start(
            [
                "--address",
                f"127.0.0.1:{port}",
                "--node-manager-port",
                str(_free_port()),
                "--object-manager-port",
                str(_free_port()),
                "--dashboard-agent-listen-port",
                str(_free_port()),
                "--metrics-export-port",
                str(_free_port()),
            ],
            "node2.log",
        )
        _wait_for_nodes(env, f"127.0.0.1:{port}", 2, nodes)
        out = tmp_path / "out"
        out.mkdir()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline.cli",
                *("--cams", str(SAMPLE / "cam_a.mp4"), str(SAMPLE / "cam_b.mp4")),
                *("--out", str(out / "tracks.json"), "--events", str(out / "events.jsonl")),
                *("--detections-dir", str(sample_dets), "--reid-weights", str(tiny_reid_weights)),
                *("--device", "cpu", "--progress", "off"),
                *("--executor", "ray", "--ray-address", f"127.0.0.1:{port}", "--cams-per-worker", "1"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert (out / "tracks.json").read_bytes() == local_answer[1]
        assert "worker ray-0 (cam_a): 179 frames" in proc.stdout
    finally:
        for node in reversed(nodes):  # our own `ray start --block` processes: they stop their node
            node.terminate()
        for node in reversed(nodes):
            try:
                node.wait(timeout=60)
            except subprocess.TimeoutExpired:
                node.kill()


def _wait_for_nodes(env: dict, address: str, n: int, nodes: list[subprocess.Popen]) -> None:
    script = (
        "import ray, sys; ray.init(address=sys.argv[1], configure_logging=False, log_to_driver=False); "
        "print(sum(x['Alive'] for x in ray.nodes()))"
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert all(p.poll() is None for p in nodes), "a ray node exited (see its log in tmp_path)"
        proc = subprocess.run(
            [sys.executable, "-c", script, address], env=env, capture_output=True, text=True, check=False
        )
        if proc.returncode == 0 and proc.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        time.sleep(2)
    raise AssertionError(f"{n} Ray nodes did not come up at {address}")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--cams-per-worker", "2"], "need --executor ray"),
        (["--ray-address", "auto"], "need --executor ray"),
        (["--executor", "ray", "--cams-per-worker", "0"], "cams_per_worker must be >= 1"),
    ],
)
def test_executor_flag_errors_are_one_line(argv: list[str], message: str, tmp_path: Path, capsys) -> None:
    code = cli.main(["--cams", str(SAMPLE / "cam_a.mp4"), "--out", str(tmp_path / "t.json"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_without_ray_installed_the_executor_says_how_to_install_it(monkeypatch) -> None:
    from pipeline.executors import ray_cluster

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    with pytest.raises(UserError, match=r"pip install 'reid-pipeline\[ray\]'"):
        ray_cluster.import_ray()


@pytest.mark.parametrize(
    ("value", "cams", "expected"),
    [
        (None, ["a"], None),
        ("/tmp/m:a:3", ["a", "b"], (Path("/tmp/m"), 3)),
        ("/tmp/m:c:3", ["a", "b"], None),
    ],
)
def test_crash_hook_parsing(value, cams, expected) -> None:
    assert _crash_plan(value, cams) == expected


@pytest.mark.slow
def test_a_bad_weights_file_ends_a_ray_run_before_anything_is_written(
    local_ray, sample_dets: Path, tmp_path: Path
) -> None:
    """The driver's model loads while the actors start; its error still comes first, in one line."""
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a weights file")
    with pytest.raises(UserError, match=r"bad\.safetensors"):
        _run(_config(bad, "ray"), sample_dets, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
