"""End to end with replayed detections: synthetic two-camera scenes and the bundled sample."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_reid_config import fake_reid_config

from infra.errors import UserError
from pipeline import cli
from pipeline.config import PipelineConfig, load_config
from pipeline.export import BaseSink, RunResult
from pipeline.export.events import EventsSink
from pipeline.export.mot import MotSink
from pipeline.export.tracks_json import TracksJsonSink, read_tracks_json, validate_tracks_dict
from pipeline.export.video import VideoSink
from pipeline.frames import CameraSpec, open_source
from pipeline.identities import ASSOCIATORS, MATCHERS, Assignment, Identity
from pipeline.run import run

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_videos"


@pytest.fixture
def fake_reid(fake_matcher):
    """Register the colour-code fake matcher as re-ID model ``fake`` (``reid.model: fake``)."""
    MATCHERS.add("fake", lambda weights, device: fake_matcher)
    yield fake_matcher
    MATCHERS.remove("fake")


def fake_config() -> PipelineConfig:
    return fake_reid_config()


def _cams(scene: dict) -> list[CameraSpec]:
    return [CameraSpec(str(path), cam) for cam, path in scene["videos"].items()]


def test_two_cameras_link_the_person_seen_by_both(two_cam_scene: dict, fake_reid, tmp_path: Path) -> None:
    out = tmp_path / "tracks.json"
    events = tmp_path / "events.jsonl"
    sinks = [TracksJsonSink(out), MotSink(tmp_path / "mot"), EventsSink(events), VideoSink(tmp_path / "vid")]
    cfg = fake_config()  # online, whose decisions stream as tracklets close (auto would pick offline: files)
    cfg = cfg.replace(association=dataclasses.replace(cfg.association, method="online"))
    summary = run(_cams(two_cam_scene), sinks, cfg, detections_dir=two_cam_scene["dets"], progress=False)

    data = json.loads(out.read_text(encoding="utf-8"))
    validate_tracks_dict(data, source=out)
    tracks = read_tracks_json(out)
    assert [(c.cam_id, c.fps, c.width, c.height, c.num_frames) for c in tracks.cameras] == [
        ("cam_a", 25.0, 160, 100, 50),
        ("cam_b", 25.0, 160, 100, 50),
    ]
    cams_per_identity = sorted(sorted({t.cam_id for t in i.tracklets}) for i in tracks.identities)
    assert cams_per_identity == [["cam_a"], ["cam_a", "cam_b"], ["cam_b"]]
    assert summary.identities == 3 and summary.cross_camera_identities == 1
    assert summary.frames == {"cam_a": 50, "cam_b": 50} and summary.skipped == {"cam_a": 0, "cam_b": 0}

    # boxes: 0-based frames, pixels, times from the source, within the tracklet's span
    linked = next(i for i in tracks.identities if len(i.tracklets) == 2)
    first = linked.tracklets[0]
    assert first.cam_id == "cam_a" and first.boxes[0].frame == first.start_frame
    assert first.boxes[0].time_s == pytest.approx(first.start_frame / 25.0)
    x1, y1, x2, y2 = first.boxes[0].xyxy
    assert (x2 - x1, y2 - y1) == pytest.approx((24.0, 60.0))

    # --mot-dir: global ids, 1-based frames
    lines = (tmp_path / "mot" / "cam_b.txt").read_text(encoding="utf-8").splitlines()
    assert {int(line.split(",")[1]) for line in lines} == {
        i.global_id for i in tracks.identities if any(t.cam_id == "cam_b" for t in i.tracklets)
    }
    assert min(int(line.split(",")[0]) for line in lines) >= 1

    # --events: one line per tracklet, the link has a score
    records = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    assert len(records) == summary.tracklets == 4
    assert sum(not r["new_identity"] for r in records) == 1
    assert all(r["score"] is None for r in records if r["new_identity"])

    # --save-video: one readable video per camera, same frame count
    import cv2

    for cam in ("cam_a", "cam_b"):
        cap = cv2.VideoCapture(str(tmp_path / "vid" / f"{cam}.mp4"))
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 50
        cap.release()
    assert not list(tmp_path.glob(".*")) and not list((tmp_path / "vid").glob(".*"))  # no temp files left


def test_auto_association_is_offline_for_files(two_cam_scene: dict, fake_reid, tmp_path: Path) -> None:
    """``association.method: auto`` clusters at the end for files: every event comes then,
    and the first member of a linked identity carries a link score too (online leaves it ``None``)."""
    cfg = fake_config()
    cfg = cfg.replace(association=dataclasses.replace(cfg.association, method="auto"))
    events = tmp_path / "events.jsonl"
    run(_cams(two_cam_scene), [EventsSink(events)], cfg, detections_dir=two_cam_scene["dets"], progress=False)
    records = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    firsts = [r for r in records if r["new_identity"]]
    assert len(records) == 4 and any(r["score"] is not None for r in firsts)


def test_offline_association_writes_link_scores(two_cam_scene: dict, fake_reid, tmp_path: Path) -> None:
    """association.method: offline links the person seen by both cameras and says how firmly."""
    import dataclasses

    cfg = fake_config()
    cfg = cfg.replace(  # appearance only: the link score is the calibrated pair score
        association=dataclasses.replace(cfg.association, method="offline", zone_prior_links=None)
    )
    out, events = tmp_path / "tracks.json", tmp_path / "events.jsonl"
    run(
        _cams(two_cam_scene),
        [TracksJsonSink(out), EventsSink(events)],
        cfg,
        detections_dir=two_cam_scene["dets"],
    )
    validate_tracks_dict(json.loads(out.read_text(encoding="utf-8")), source=out)
    tracks = read_tracks_json(out)
    linked = [i for i in tracks.identities if len(i.tracklets) == 2]
    assert len(linked) == 1 and [t.cam_id for t in linked[0].tracklets] == ["cam_a", "cam_b"]
    calibrated = 1 / (
        1 + math.exp(-(cfg.association.score_scale * math.log(19) + cfg.association.score_bias_logodds))
    )
    assert [t.link.score if t.link else None for t in linked[0].tracklets] == pytest.approx([calibrated] * 2)
    assert all(t.link is None for i in tracks.identities if len(i.tracklets) == 1 for t in i.tracklets)
    assert len(events.read_text(encoding="utf-8").splitlines()) == 4  # one decision per tracklet, at the end


@pytest.mark.parametrize("method", ["online", "offline"])
def test_pooled_crops_link_the_same_person_with_fewer_head_rows(
    two_cam_scene: dict, fake_reid, tmp_path: Path, method: str
) -> None:
    """``association.crop_pooling: mean`` (the default): the same identities as crop pairs
    (configs/pair-crops.yaml), from one head row per tracklet pair and order."""
    shipped = load_config(ROOT / "configs" / "pair-crops.yaml")
    assert shipped.association.crop_pooling == "pairs" and load_config().association.crop_pooling == "mean"
    assert shipped.tracker == load_config().tracker
    groups, rows = [], []
    for pooling in ("pairs", "mean"):
        cfg = fake_config()
        assoc = dataclasses.replace(
            cfg.association, method=method, crop_pooling=pooling, zone_prior_links=None
        )
        out = tmp_path / f"{pooling}.json"
        before = fake_reid.scored_pairs
        run(_cams(two_cam_scene), [TracksJsonSink(out)], cfg.replace(association=assoc),
            detections_dir=two_cam_scene["dets"], progress=False)  # fmt: skip
        rows.append(fake_reid.scored_pairs - before)
        tracks = read_tracks_json(out)
        groups.append(sorted(sorted((t.cam_id, t.track_id) for t in i.tracklets) for i in tracks.identities))
    assert groups[0] == groups[1] and any(len(g) == 2 for g in groups[1])
    assert 0 < 4 * rows[1] <= rows[0]


def test_association_disabled_keeps_cameras_apart(two_cam_scene: dict, tmp_path: Path) -> None:
    cfg = load_config()
    cfg = cfg.replace(association=type(cfg.association)(enabled=False))
    summary = run(
        _cams(two_cam_scene),
        [TracksJsonSink(tmp_path / "t.json")],
        cfg,
        detections_dir=two_cam_scene["dets"],
        progress=False,
    )
    assert summary.identities == summary.tracklets == 4 and summary.cross_camera_identities == 0


def test_folder_source_and_cli_with_the_real_inference_path(
    two_cam_scene: dict, tiny_reid_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """cam_b as a folder of frames; the real ``reid_core`` matcher with tiny untrained weights."""
    import cv2

    folder = tmp_path / "cam_b"
    folder.mkdir()
    for frame in open_source(CameraSpec(str(two_cam_scene["videos"]["cam_b"]), "cam_b"), 25.0).frames():
        cv2.imwrite(str(folder / f"{frame.index + 1:06d}.png"), frame.image_bgr)
    out = tmp_path / "tracks.json"
    code = cli.main(
        [
            "--cams",
            str(two_cam_scene["videos"]["cam_a"]),
            str(folder),
            "--out",
            str(out),
            "--detections-dir",
            str(two_cam_scene["dets"]),
            "--reid-weights",
            str(tiny_reid_weights),
            "--device",
            "cpu",
            "--progress",
            "off",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"wrote {out}" in captured.out and "identities:" in captured.out and "stage time" in captured.out
    tracks = read_tracks_json(out)
    assert [c.cam_id for c in tracks.cameras] == ["cam_a", "cam_b"]
    assert sum(len(i.tracklets) for i in tracks.identities) == 4


@pytest.mark.skipif(not (SAMPLE / "cam_a.mp4").is_file(), reason="sample_videos/ not in this checkout")
def test_bundled_sample_with_ground_truth_as_detections(tiny_reid_weights: Path, tmp_path: Path) -> None:
    """The README's sample, detections replayed from its ground truth, real inference path → valid JSON."""
    dets = tmp_path / "dets"
    dets.mkdir()
    for cam in ("a", "b"):
        (dets / f"cam_{cam}.txt").write_text((SAMPLE / f"gt_{cam}.txt").read_text(encoding="utf-8"), "utf-8")
    out = tmp_path / "tracks.json"
    code = cli.main(
        [
            "--cams",
            str(SAMPLE / "cam_a.mp4"),
            str(SAMPLE / "cam_b.mp4"),
            "--out",
            str(out),
            "--detections-dir",
            str(dets),
            "--reid-weights",
            str(tiny_reid_weights),
            "--device",
            "cpu",
            "--progress",
            "off",
            "--mot-dir",
            str(tmp_path / "mot"),
        ]
    )
    assert code == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    validate_tracks_dict(data, source=out)
    assert [(c["cam_id"], c["width"], c["height"], c["num_frames"], c["fps"]) for c in data["cameras"]] == [
        ("cam_a", 360, 480, 179, 25.0),
        ("cam_b", 240, 480, 179, 25.0),
    ]
    boxes = sum(len(t["boxes"]) for i in data["identities"] for t in i["tracklets"])
    assert boxes > 0.8 * (381 + 718)  # most ground-truth boxes come back as tracked boxes
    for identity in data["identities"]:  # never two boxes of one identity in one camera frame
        seen = [(t["cam_id"], b["frame"]) for t in identity["tracklets"] for b in t["boxes"]]
        assert len(seen) == len(set(seen))
    mot = np.loadtxt(tmp_path / "mot" / "cam_a.txt", delimiter=",", ndmin=2)
    assert mot[:, 0].min() >= 1 and mot[:, 0].max() <= 179


def test_missing_shipped_reid_weights_warn_and_track_per_camera(
    two_cam_scene: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import reid_core.shipped

    monkeypatch.setattr(reid_core.shipped, "DEFAULT_WEIGHTS", tmp_path / "not-shipped.safetensors")
    summary = run(
        _cams(two_cam_scene),
        [TracksJsonSink(tmp_path / "t.json")],
        load_config(),
        detections_dir=two_cam_scene["dets"],
        progress=False,
    )
    assert summary.identities == summary.tracklets and summary.cross_camera_identities == 0
    assert "cross-camera linking is off" in caplog.text


class OneIdentityForAll:
    """A toy associator defined here, outside ``pipeline/``: everybody is one person."""

    def __init__(self, on_assign) -> None:
        self.on_assign = on_assign
        self.keys: list[tuple[str, int]] = []

    @classmethod
    def from_config(cls, cfg, *, matcher, cameras, on_assign) -> OneIdentityForAll:
        assert set(cameras) == {"cam_a", "cam_b"} and cameras["cam_a"].width == 160
        return cls(on_assign)

    @property
    def num_identities(self) -> int:
        return 1 if self.keys else 0

    def add(self, tracklets):
        out = []
        for t in tracklets:
            self.keys.append(t.key)
            t.drop_crops()
            out.append(Assignment(t.cam_id, t.track_id, 1, len(self.keys) == 1, None, t.t_start_s, t.t_end_s))
            self.on_assign(out[-1])
        return out

    def evict_before(self, t_s: float) -> None:
        return None

    def finish(self) -> list[Identity]:
        return [Identity(1, tuple(self.keys))]


class RecordingSink(BaseSink):
    """A toy output defined here: remembers what it was told at each moment."""

    def __init__(self) -> None:
        self.checked: list[str] = []
        self.assigned: list[Assignment] = []
        self.result: RunResult | None = None

    def check(self, cams) -> None:
        self.checked = [c.cam_id for c in cams]

    def on_assign(self, assignment: Assignment) -> None:
        self.assigned.append(assignment)

    def finish(self, result: RunResult, staged) -> None:
        self.result = result


@pytest.fixture
def one_identity_for_all():
    ASSOCIATORS.add("one-for-all", OneIdentityForAll)
    yield "one-for-all"
    ASSOCIATORS.remove("one-for-all")


def test_a_toy_associator_and_sink_plug_in_without_touching_pipeline(
    two_cam_scene: dict, one_identity_for_all: str
) -> None:
    cfg = load_config()
    cfg = cfg.replace(
        association=dataclasses.replace(cfg.association, method=one_identity_for_all, enabled=False)
    )
    sink = RecordingSink()
    summary = run(_cams(two_cam_scene), [sink], cfg, detections_dir=two_cam_scene["dets"], progress=False)
    assert sink.checked == ["cam_a", "cam_b"]
    assert len(sink.assigned) == 4 and {a.global_id for a in sink.assigned} == {1}
    assert sink.result is not None and summary.identities == 1
    [identity] = sink.result.tracks.identities
    assert len(identity.tracklets) == 4 and set(sink.result.sources) == {"cam_a", "cam_b"}


def test_unknown_association_method_lists_the_valid_ones(two_cam_scene: dict, tmp_path: Path) -> None:
    cfg = load_config()
    cfg = cfg.replace(association=dataclasses.replace(cfg.association, method="magic"))
    with pytest.raises(
        UserError, match=r"association\.method: unknown association method 'magic'; available: online"
    ):
        run(
            _cams(two_cam_scene),
            [TracksJsonSink(tmp_path / "t.json")],
            cfg,
            detections_dir=two_cam_scene["dets"],
        )


class FailingSink(BaseSink):
    def finish(self, result: RunResult, staged) -> None:
        raise OSError("disk full")


def test_a_failing_output_leaves_no_output_behind(two_cam_scene: dict, fake_reid, tmp_path: Path) -> None:
    """Outputs are renamed together: one failing sink means no tracks.json, no MOT files, no events."""
    out = tmp_path / "out"
    out.mkdir()
    sinks = [TracksJsonSink(out / "t.json"), MotSink(out / "mot"), EventsSink(out / "e.jsonl"), FailingSink()]
    with pytest.raises(UserError, match=r"cannot write the outputs \(disk full\); none written"):
        run(_cams(two_cam_scene), sinks, fake_config(), detections_dir=two_cam_scene["dets"], progress=False)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(("stride", "identities"), [(1, (3, 1)), (2, (3, 1)), (3, None)])
def test_detection_stride_predicts_boxes_between_detected_frames(
    two_cam_scene: dict, fake_reid, tmp_path: Path, stride: int, identities: tuple[int, int] | None
) -> None:
    """``detector.every_n_frames``: a box on every frame of a tracklet, the last one detected; at
    stride 2 the same people and link. (At 3 the 5 px/frame walker moves 15 px of its 24 px width
    between detections and its track starts late: the accuracy cost the docs measure.)"""
    out = tmp_path / "tracks.json"
    cfg = fake_config()
    cfg = cfg.replace(detector=dataclasses.replace(cfg.detector, every_n_frames=stride))
    summary = run(
        _cams(two_cam_scene), [TracksJsonSink(out)], cfg, detections_dir=two_cam_scene["dets"], progress=False
    )
    tracks = read_tracks_json(out)
    if identities is not None:
        assert (summary.identities, summary.cross_camera_identities) == identities
    assert summary.tracklets >= 2
    for identity in tracks.identities:
        for t in identity.tracklets:
            frames = [b.frame for b in t.boxes]
            assert frames[0] % stride == 0 and max(np.diff(frames), default=1) == 1
            assert frames[-1] % stride == 0  # the last box is a detected one (predicted tails dropped)


@pytest.mark.parametrize(("enabled", "filled"), [(True, True), (False, False)])
def test_interpolation_fills_a_missed_stretch_of_detections(
    two_cam_scene: dict, fake_reid, tmp_path: Path, enabled: bool, filled: bool
) -> None:
    """Person 2 (mid-view in cam_a) is not detected in frames 20–25: filled only when interpolation is on."""
    dets = two_cam_scene["dets"] / "cam_a.txt"
    lines = dets.read_text(encoding="utf-8").splitlines()
    keep = [ln for ln in lines if not (21 <= int(ln.split(",")[0]) <= 26 and float(ln.split(",")[2]) > 100)]
    dets.write_text("\n".join(keep) + "\n", encoding="utf-8")
    cfg = fake_config()
    interpolation = dataclasses.replace(cfg.export.interpolation, enabled=enabled, max_gap_s=1.0)
    cfg = cfg.replace(export=dataclasses.replace(cfg.export, interpolation=interpolation))
    out = tmp_path / "tracks.json"
    run(
        _cams(two_cam_scene), [TracksJsonSink(out)], cfg, detections_dir=two_cam_scene["dets"], progress=False
    )
    tracks = read_tracks_json(out)
    person2 = [
        b
        for i in tracks.identities
        for t in i.tracklets
        if t.cam_id == "cam_a"
        for b in t.boxes
        if 108 < b.xyxy[0] < 125
    ]
    frames = sorted(b.frame for b in person2)
    assert (frames == list(range(50))) is filled
    assert any(b.interpolated for b in person2) is filled


def test_a_cpu_run_on_onnxruntime_imports_no_torch(two_cam_scene: dict, tmp_path: Path) -> None:
    """On the CPU without camera normalisation: the shipped weights' ONNX exports, torch never imported."""
    import subprocess
    import sys

    out = tmp_path / "tracks.json"
    partial = tmp_path / "onnx.yaml"
    partial.write_text("reid:\n  camera_norm: false\n", encoding="utf-8")
    videos = [str(two_cam_scene["videos"][c]) for c in ("cam_a", "cam_b")]
    args = ["--cams", *videos, "--out", str(out), "--detections-dir", str(two_cam_scene["dets"])]
    args += ["--config", str(partial)]
    args += ["--device", "cpu", "--progress", "off"]
    code = (
        f"import sys; from pipeline.cli import main; rc = main({args!r}); "
        "print('torch imported:', 'torch' in sys.modules); sys.exit(rc)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "torch imported: False" in done.stdout and "on cpu (onnxruntime)" in done.stdout
    assert sum(len(i.tracklets) for i in read_tracks_json(out).identities) == 4


@pytest.mark.parametrize("camera_norm", [False, True], ids=["trained-moments", "camera-norm"])
def test_onnxruntime_and_torch_backends_make_the_same_identities(
    two_cam_scene: dict, tiny_reid_weights: Path, tmp_path: Path, camera_norm: bool
) -> None:
    from reid_core.onnx_export import export_onnx

    weights = tmp_path / "w.safetensors"
    weights.write_bytes(tiny_reid_weights.read_bytes())
    weights.with_suffix(".json").write_bytes(tiny_reid_weights.with_suffix(".json").read_bytes())
    export_onnx(weights)
    groups = []
    for backend in ("torch", "onnxruntime"):
        cfg = load_config()
        cfg = cfg.replace(
            reid=type(cfg.reid)(weights=str(weights), backend=backend, camera_norm=camera_norm),
            runtime=dataclasses.replace(cfg.runtime, device="cpu"),
            association=dataclasses.replace(cfg.association, threshold=0.0, min_margin_logodds=0.0),
        )
        out = tmp_path / f"{backend}.json"
        summary = run(_cams(two_cam_scene), [TracksJsonSink(out)], cfg, detections_dir=two_cam_scene["dets"])
        assert summary.device == ("cpu (onnxruntime)" if backend == "onnxruntime" else "cpu")
        groups.append(
            sorted(
                sorted((t.cam_id, t.track_id) for t in i.tracklets) for i in read_tracks_json(out).identities
            )
        )
    assert groups[0] == groups[1]


@pytest.mark.parametrize("camera_norm", [False, True], ids=["trained-moments", "camera-norm"])
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine (GPU-only test)")
def test_cuda_and_cpu_make_the_same_identities(
    two_cam_scene: dict, tmp_path: Path, camera_norm: bool
) -> None:
    """The shipped weights on CUDA and on the CPU (torch both): the same identities, the same links."""
    groups, devices = [], []
    for device in ("cpu", "cuda:0"):
        cfg = load_config()
        cfg = cfg.replace(
            reid=dataclasses.replace(cfg.reid, backend="torch", camera_norm=camera_norm),
            runtime=dataclasses.replace(cfg.runtime, device=device),
        )
        out = tmp_path / f"{device.replace(':', '')}.json"
        summary = run(_cams(two_cam_scene), [TracksJsonSink(out)], cfg, detections_dir=two_cam_scene["dets"])
        devices.append(summary.device)
        groups.append(
            sorted(
                sorted((t.cam_id, t.track_id) for t in i.tracklets) for i in read_tracks_json(out).identities
            )
        )
    assert devices[0] == "cpu" and devices[1].startswith("cuda")
    assert groups[0] == groups[1]
