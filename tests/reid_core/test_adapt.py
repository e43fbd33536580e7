"""Self-supervised adaptation: tracks file reading, cannot-link constraints, a tiny end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from infra.errors import DatasetError, UserError
from infra.yaml_config import parse_dataclass
from reid_core.model import ModelConfig, build_model
from reid_core.train_cli import main as train_main
from reid_core.training.adapt import (
    Tracklet,
    adapt,
    cannot_link_matrix,
    conflict_neighbours,
    load_adapt_data,
    read_tracklets,
)
from reid_core.training.config import TrainConfig
from reid_core.weights import read_meta, save_weights

W, H, FRAMES = 120, 90, 12
# (cam, track id, first frame, last frame, x, colour BGR)
TRACKS = [
    ("cam_a", 1, 0, 11, 5, (0, 0, 220)),
    ("cam_a", 2, 0, 5, 45, (0, 220, 0)),
    ("cam_a", 3, 6, 11, 45, (220, 0, 0)),
    ("cam_b", 1, 0, 11, 5, (220, 220, 0)),
    ("cam_b", 2, 2, 9, 60, (0, 220, 220)),
]


def _videos(folder: Path) -> dict[str, Path]:
    out = {}
    for cam in ("cam_a", "cam_b"):
        path = folder / f"{cam}.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
        for f in range(FRAMES):
            frame = np.full((H, W, 3), 90, np.uint8)
            for c, _, f0, f1, x, colour in TRACKS:
                if c == cam and f0 <= f <= f1:
                    frame[10:80, x + f : x + f + 30] = colour
            writer.write(frame)
        writer.release()
        out[cam] = path
    return out


def _tracks_file(folder: Path, sources: dict[str, str] | None = None) -> Path:
    identities = []
    for gid, (cam, tid, f0, f1, x, _) in enumerate(TRACKS, start=1):
        boxes = [
            {"frame": f, "time_s": f / 10.0, "xyxy": [x + f, 10, x + f + 30, 80], "score": 0.9}
            for f in range(f0, f1 + 1)
        ]
        tracklet = {
            "cam_id": cam,
            "track_id": tid,
            "start_frame": f0,
            "end_frame": f1,
            "t_start_s": f0 / 10.0,
            "t_end_s": f1 / 10.0,
            "boxes": boxes,
        }
        identities.append({"global_id": gid, "tracklets": [tracklet]})
    cams = [
        {"cam_id": c, "source": (sources or {}).get(c, f"{c}.avi"), "fps": 10.0, "width": W, "height": H}
        for c in ("cam_a", "cam_b")
    ]
    path = folder / "tracks.json"
    path.write_text(
        json.dumps({"schema_version": 2, "complete": True, "cameras": cams, "identities": identities})
    )
    return path


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    _videos(tmp_path)
    return _tracks_file(tmp_path)


def test_read_tracklets_resolves_sources_next_to_the_file(
    scene: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir("/")
    tracklets, sources = read_tracklets(scene)
    assert [(t.cam_id, t.track_id) for t in tracklets] == [
        ("cam_a", 1), ("cam_a", 2), ("cam_a", 3), ("cam_b", 1), ("cam_b", 2)
    ]  # fmt: skip
    assert sources == {"cam_a": scene.parent / "cam_a.avi", "cam_b": scene.parent / "cam_b.avi"}
    assert tracklets[1].frames.tolist() == list(range(6)) and tracklets[1].boxes_xyxy.shape == (6, 4)


@pytest.mark.parametrize(
    ("make", "cams", "match"),
    [
        (lambda d: d / "none.json", None, "tracks file not found"),
        (lambda d: _write(d / "bad.json", "{not json"), None, "not a readable tracks JSON"),
        (lambda d: _write(d / "x.json", '{"cameras": []}'), None, "needs cameras"),
        (lambda d: _tracks_file(d), {"cam_z": "v.avi"}, "cam_z not a camera of"),
        (lambda d: _tracks_file(d, {"cam_b": "gone.avi"}), None, "camera cam_b: video not found"),
        (lambda d: _tracks_file(d), {"cam_a": "/nope.avi"}, "give it with --cams cam_a=PATH"),
    ],
)
def test_read_tracklets_errors(tmp_path: Path, make: Any, cams: dict[str, str] | None, match: str) -> None:
    _videos(tmp_path)
    with pytest.raises(UserError, match=match):
        read_tracklets(make(tmp_path), cams)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _t(cam: str, f0: int, f1: int, fps: float = 10.0) -> Tracklet:
    frames = np.arange(f0, f1 + 1)
    return Tracklet(cam, 0, frames, np.zeros((len(frames), 4)), f0 / fps, f1 / fps)


@pytest.mark.parametrize(
    ("a", "b", "cross", "expected"),
    [
        (_t("a", 0, 5), _t("a", 5, 9), True, True),  # one camera, frame 5 shared
        (_t("a", 0, 5), _t("a", 6, 9), True, False),  # one camera, one after the other: may be one person
        (_t("a", 0, 5), _t("b", 3, 9), True, True),  # two cameras at once, views disjoint
        (_t("a", 0, 5), _t("b", 3, 9), False, False),  # two cameras at once, views may overlap
        (_t("a", 0, 5), _t("b", 6, 9), True, False),  # two cameras one after the other: the links to find
    ],
)
def test_cannot_link(a: Tracklet, b: Tracklet, cross: bool, expected: bool) -> None:
    m = cannot_link_matrix([a, b], cross_camera_negatives=cross)
    assert m.tolist() == [[False, expected], [expected, False]]


def test_conflict_neighbours_pads_with_self() -> None:
    m = np.zeros((4, 4), bool)
    m[0, 1] = m[1, 0] = m[0, 2] = m[2, 0] = True
    nb = conflict_neighbours(np.array([0, 1, 2, 3]), m)
    assert nb is not None and nb.tolist() == [[1, 2], [0, 1], [0, 2], [3, 3]]
    assert conflict_neighbours(np.array([0, 1]), np.zeros((2, 2), bool)) is None


LOAD: dict[str, Any] = {
    "crops_per_tracklet": 4,
    "min_crops": 2,
    "min_height_px": 20,
    "cross_camera_negatives": True,
    "colour_window_s": None,
}
"""load_adapt_data's settings in these tests (crops as cut)."""


def test_load_adapt_data_crops_and_constraints(scene: Path) -> None:
    data = load_adapt_data(scene, None, **LOAD)
    assert data.images_bgr.shape == (20, 160, 80, 3)  # 5 tracklets x 4 crops
    assert np.bincount(data.person_ids).tolist() == [4] * 5
    assert all(sorted(data.camera_ids[data.person_ids == k].tolist()) == [0, 0, 1, 1] for k in range(5))
    # crop of tracklet 0 (cam_a track 1) is red (BGR (0, 0, 220)) in the middle
    first = data.images_bgr[np.flatnonzero(data.person_ids == 0)[0]]
    assert first[80, 40].tolist()[2] > 150 and first[80, 40].tolist()[0] < 60
    # cam_a 2 and 3 follow each other in one place: not a negative; cam_a 1 overlaps both
    assert data.cannot_link[1, 2] == False and data.cannot_link[0, 1] and data.cannot_link[0, 2]  # noqa: E712
    assert data.provenance["tracklets_used"] == 5 and len(data.provenance["tracks_sha256"]) == 64
    with pytest.raises(DatasetError, match="adaptation needs at least 2"):
        load_adapt_data(scene, None, **(LOAD | {"min_height_px": 100}))


@pytest.mark.parametrize(("window_s", "alike"), [(None, False), (60.0, True)])
def test_grey_world_crops_do_not_depend_on_the_cameras_exposure(
    scene: Path, tmp_path: Path, window_s: float | None, alike: bool
) -> None:
    """The same videos under-exposed (x 0.6): grey-world crops stay as they were, raw ones do not."""
    dim = {}
    for cam in ("cam_a", "cam_b"):
        cap = cv2.VideoCapture(str(scene.parent / f"{cam}.avi"))
        dim[cam] = tmp_path / f"{cam}_dim.avi"
        writer = cv2.VideoWriter(str(dim[cam]), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
        ok, frame = cap.read()
        while ok:
            writer.write((frame * 0.6).astype(np.uint8))
            ok, frame = cap.read()
        writer.release()
        cap.release()
    kw = LOAD | {"colour_window_s": window_s}
    seen = load_adapt_data(scene, None, **kw).images_bgr.astype(np.float32)
    dimmed = load_adapt_data(scene, dim, **kw).images_bgr.astype(np.float32)
    difference = np.abs(seen - dimmed).mean()
    assert (difference < 4.0) == alike, difference


TINY_MODEL = {
    "trunk": "mobilenet_v2",
    "pretrained": False,
    "corr_channels": 8,
    "fc_dims": [16, 8],
    "embed_dim": 8,
}


def _recipe(tmp_path: Path, **run: Any) -> dict[str, Any]:
    torch.manual_seed(0)
    model = build_model(parse_dataclass(ModelConfig, TINY_MODEL))
    weights = tmp_path / "start.safetensors"
    save_weights(weights, model.state_dict(), {"format": "reid-siamese", "version": 1, "model": TINY_MODEL})
    return {
        "data": {"train": []},
        "sampler": {"identities_per_batch": 4},
        "mining": {"start_step": 1, "candidates_per_batch": 8},
        "adapt": {"crops_per_tracklet": 4, "min_crops": 2, "min_height_px": 20},
        "run": {
            "steps": 3,
            "checkpoint_every_steps": 1,
            "device": "cpu",
            "init_weights": str(weights),
            "out_dir": str(tmp_path / "run"),
            **run,
        },
    }


def test_adapt_writes_weights_with_provenance_and_resumes(scene: Path, tmp_path: Path) -> None:
    from reid_core.inference import load_matcher
    from reid_core.weights import load_weights

    cfg = parse_dataclass(TrainConfig, _recipe(tmp_path))
    out = adapt(cfg, scene, out_dir=tmp_path / "full")
    meta = read_meta(out)
    assert meta["adaptation"]["tracklets_used"] == 5 and meta["step"] == 3
    assert meta["adapted_from"]["weights"] == str((tmp_path / "start.safetensors").resolve())
    assert meta["model"]["corr_channels"] == 8
    # The tiny random head scores every pair alike: no log-odds scale to align (fit: test_alignment.py)
    assert "score_alignment" in meta and meta["score_alignment"] is None
    load_matcher(out, device="cpu")  # usable by reid-pipeline --reid-weights
    # a run stopped after step 1 and resumed ends with the same weights
    short = parse_dataclass(TrainConfig, _recipe(tmp_path, steps=3))
    from reid_core.training import adapt as adapt_mod

    adapt_mod.adapt(short, scene, out_dir=tmp_path / "part", stop_after=1)
    resumed = adapt(short, scene, out_dir=tmp_path / "part", resume=True)
    a, _ = load_weights(out)
    b, _ = load_weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--adapt", "none.json"], "none.json: tracks file not found"),
        (["--adapt", "{scene}", "--cams", "cam_a"], "--cams: expected NAME=PATH"),
        (["--adapt", "{scene}", "--cams", "cam_q=x.avi"], "cam_q not a camera of"),
        (["--cams", "cam_a=x.avi"], "--cams is only for --adapt"),
    ],
)
def test_cli_errors_are_one_line(
    scene: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], match: str
) -> None:
    import yaml

    cfg = tmp_path / "adapt.yaml"
    cfg.write_text(yaml.safe_dump(_recipe(tmp_path)))
    argv = ["--config", str(cfg), *[a.replace("{scene}", str(scene)) for a in args]]
    assert train_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and match in err


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"crop_colour": "sepia"}, "adapt.crop_colour must be one of grey_world, as_seen, got 'sepia'"),
        ({"crop_colour_window_s": 0.0}, "adapt.crop_colour_window_s must be > 0 seconds"),
    ],
)
def test_bad_colour_settings_are_one_line(
    scene: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], match: str
) -> None:
    import yaml

    recipe = _recipe(tmp_path)
    recipe["adapt"] |= change
    cfg = tmp_path / "adapt.yaml"
    cfg.write_text(yaml.safe_dump(recipe))
    assert train_main(["--config", str(cfg), "--adapt", str(scene)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and match in err


def test_cli_adapts(scene: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    cfg = tmp_path / "adapt.yaml"
    cfg.write_text(yaml.safe_dump(_recipe(tmp_path)))
    out = tmp_path / "cli"
    assert train_main(["--config", str(cfg), "--adapt", str(scene), "--out", str(out), "--steps", "1"]) == 0
    assert f"adapted weights: {out / 'adapted.safetensors'}" in capsys.readouterr().out
    from reid_core.onnx_inference import load_onnx_matcher

    assert len(load_onnx_matcher(out / "adapted.safetensors", threads=1).encode([])) == 0  # current exports


def test_adapt_mixes_labelled_people(scene: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """adapt.source_share: labelled crops join the batches; their people are negatives of everyone."""
    from reid_core.training import adapt as adapt_mod

    labelled = tmp_path / "labelled"
    labelled.mkdir()
    rng = np.random.default_rng(0)
    for pid in range(4):
        for cam in range(2):
            img = rng.integers(0, 256, (40, 20, 3), dtype=np.uint8)
            cv2.imwrite(str(labelled / f"{pid}_{cam}_0.jpg"), img)
    d = _recipe(tmp_path, steps=2)
    d["data"] = {"train": [{"name": "folder", "root": str(labelled)}], "num_test_ids": 1}
    d["adapt"]["source_share"] = 0.5
    cfg = parse_dataclass(TrainConfig, d)
    data = load_adapt_data(scene, None, **LOAD)
    pool = adapt_mod._with_source_data(cfg, data)
    assert pool.n_source == 3  # 4 people, 1 held out as the folder split's test identity
    assert len(pool.images) == len(pool.person_ids) == len(pool.halves) == len(pool.groups) == 6 + 20
    assert len(pool.cameras) == 26
    assert pool.cannot_link[:3, :].sum() == 3 * (3 + 5) - 3  # labelled: negatives of all but themselves
    assert np.array_equal(pool.cannot_link[3:, 3:], data.cannot_link)
    # cameras: the tracklets' own, then the labelled data set's two after them
    tracklet_cams = set(pool.cameras[6:].tolist())
    assert set(pool.cameras[:6].tolist()) == {max(tracklet_cams) + 1, max(tracklet_cams) + 2}
    out = adapt(cfg, scene, out_dir=tmp_path / "mixed")
    assert read_meta(out)["source_share"] == 0.5
    assert "+ 6 labelled crops of 3 people" in capsys.readouterr().err


def test_camera_norm_trunk_passes_are_per_camera(tmp_path: Path) -> None:
    """adapt.camera_norm: each camera's crops of a batch are normalised by their own batch moments."""
    from reid_core.training.siamese import SiameseTrainer

    torch.manual_seed(0)
    model = build_model(parse_dataclass(ModelConfig, TINY_MODEL)).train()
    trainer = SiameseTrainer.__new__(SiameseTrainer)  # only _maps is exercised
    trainer.model = model
    trainer.norm_groups = np.array([0, 1, 0, 2, 1, 1, 0, 2])
    idx = np.array([5, 0, 3, 1, 2, 7, 4])  # the batch's crops: cameras 1, 0, 2, 1, 0, 2, 1
    x = torch.randn(len(idx), 3, 160, 80)
    with torch.no_grad():
        got = trainer._maps(x, idx)
        for cam in (0, 1, 2):
            rows = np.flatnonzero(trainer.norm_groups[idx] == cam)
            torch.testing.assert_close(got[rows], model.maps(x[rows]))
        trainer.norm_groups = None
        assert not torch.allclose(trainer._maps(x, idx), got)  # one pass: the batch's mixed moments


@pytest.mark.parametrize(
    ("camera_norm", "align_scores", "aligned"),
    [
        (True, None, False),  # the default: per-camera statistics, trained scores (chosen on tuning cuts)
        (False, None, True),  # the trained moments: aligned, as before camera normalisation
        (True, True, True),
        (False, False, False),
    ],
)
def test_adapt_camera_norm_and_alignment(
    scene: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    camera_norm: bool,
    align_scores: bool | None,
    aligned: bool,
) -> None:
    d = _recipe(tmp_path, steps=2)
    d["adapt"].update(camera_norm=camera_norm, align_scores=align_scores)
    cfg = parse_dataclass(TrainConfig, d)
    assert cfg.adapt.aligns_scores is aligned
    meta = read_meta(adapt(cfg, scene, out_dir=tmp_path / "run"))
    assert meta["camera_norm"] is camera_norm and meta["score_alignment"] is None  # tiny head: nothing to fit
    assert ("score alignment: not fitted" in capsys.readouterr().err) is aligned


def test_source_share_needs_labelled_data(scene: Path, tmp_path: Path) -> None:
    d = _recipe(tmp_path)
    d["adapt"]["source_share"] = 0.5
    with pytest.raises(UserError, match=r"needs labelled data sets in data\.train"):
        adapt(parse_dataclass(TrainConfig, d), scene, out_dir=tmp_path / "x")


def test_read_tracklets_skips_interpolated_boxes_of_a_version_3_file(scene: Path) -> None:
    doc = json.loads(scene.read_text())
    doc["schema_version"] = 3
    boxes = doc["identities"][1]["tracklets"][0]["boxes"]
    for box in boxes[1:3]:
        box["interpolated"] = True
        box["score"] = None
    scene.write_text(json.dumps(doc))
    tracklets, _ = read_tracklets(scene)
    assert tracklets[1].frames.tolist() == [0, 3, 4, 5]  # the filled boxes are no crop source


@pytest.mark.parametrize("camera_norm", [True, False], ids=["camera-norm", "trained-moments"])
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine (GPU-only test)")
def test_adapt_on_cuda_writes_weights_the_cpu_loads(scene: Path, tmp_path: Path, camera_norm: bool) -> None:
    """``reid-train --adapt`` on CUDA (per-camera trunk passes with ``camera_norm``), resumable there."""
    from reid_core.inference import load_matcher
    from reid_core.training import adapt as adapt_mod

    d = _recipe(tmp_path, device="cuda")
    d["adapt"].update(camera_norm=camera_norm)
    cfg = parse_dataclass(TrainConfig, d)
    adapt_mod.adapt(cfg, scene, out_dir=tmp_path / "run", stop_after=1)
    out = adapt(cfg, scene, out_dir=tmp_path / "run", resume=True)
    meta = read_meta(out)
    assert meta["step"] == 3 and meta["camera_norm"] is camera_norm
    matcher = load_matcher(out, device="cpu")
    enc = matcher.encode([np.full((64, 32, 3), v, np.uint8) for v in (40, 200)])
    assert np.isfinite(matcher.score(enc, enc)).all()
