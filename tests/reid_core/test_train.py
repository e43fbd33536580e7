"""Training on a tiny data set the test builds itself: runs, checkpoints, resumes exactly; CLI errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
import yaml

from infra.errors import DatasetError, WeightsError
from infra.yaml_config import parse_dataclass
from reid_core.model import build_model
from reid_core.train_cli import main as train_main
from reid_core.training.config import TrainConfig
from reid_core.training.data import load_train_data
from reid_core.training.engine import poly_lr_factor
from reid_core.training.run import train
from reid_core.training.siamese import SiameseTrainer


def _make_folder_dataset(root: Path, num_ids: int = 8, per_cam: int = 2) -> Path:
    """``PID_CAMID_N.jpg`` crops: each identity a colour (plus noise), two cameras."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for pid in range(num_ids):
        colour = rng.integers(0, 256, 3)
        for cam in range(2):
            for n in range(per_cam):
                img = np.clip(colour + rng.normal(0, 20, (40, 20, 3)), 0, 255).astype(np.uint8)
                cv2.imwrite(str(root / f"{pid:03d}_{cam}_{n}.jpg"), img)
    return root


def _config_dict(root: Path, out: Path, **run: Any) -> dict[str, Any]:
    return {
        "data": {"train": [{"name": "folder", "root": str(root)}], "eval": ["folder"], "shortlist_k": 2},
        "model": {
            "trunk": "mobilenet_v2",
            "pretrained": False,
            "corr_channels": 8,
            "fc_dims": [16, 8],
            "embed_dim": 8,
        },
        "sampler": {"identities_per_batch": 3},
        "mining": {
            "start_step": 2,
            "round_every_steps": 2,
            "candidates_per_batch": 8,
            "hard_identity_fraction": 0.4,
        },
        "optim": {"warmup_steps": 1},
        "run": {
            "steps": 6,
            "checkpoint_every_steps": 2,
            "eval_every_steps": 3,
            "log_every_steps": 1,
            "device": "cpu",
            "out_dir": str(out),
            **run,
        },
    }


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, TrainConfig]:
    root = _make_folder_dataset(tmp_path / "data")
    cfg = parse_dataclass(TrainConfig, _config_dict(root, tmp_path / "run"))
    return root, cfg


def _trainer(cfg: TrainConfig, out: Path) -> SiameseTrainer:
    torch.manual_seed(cfg.run.seed)
    return SiameseTrainer.from_config(cfg, build_model(cfg.model), load_train_data(cfg.data), out)


def test_tiny_run_trains_evaluates_and_writes_files(tiny: tuple[Path, TrainConfig], tmp_path: Path) -> None:
    _, cfg = tiny
    final = train(cfg, out_dir=tmp_path / "run")
    assert final["step"] == 6 and 0.0 <= final["folder_r1"] <= 100.0
    out = tmp_path / "run"
    for name in (
        "last.safetensors",
        "last.json",
        "best.safetensors",
        "eval_step_000003.safetensors",
        "eval_step_000006.safetensors",
        "metrics.jsonl",
        "config.yaml",
    ):
        assert (out / name).is_file(), name
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [3, 6]
    from reid_core.inference import load_matcher

    m = load_matcher(out / "best.safetensors", device="cpu")
    assert m.score(
        m.encode_paths([next(tiny[0].glob("*.jpg"))]), m.encode([np.zeros((9, 9, 3), np.uint8)])
    ).shape == (1, 1)


def test_loss_decreases_on_a_fixed_batch(tiny: tuple[Path, TrainConfig], tmp_path: Path) -> None:
    _, cfg = tiny
    cfg = dataclasses.replace(
        cfg,
        mining=dataclasses.replace(cfg.mining, start_step=100),
        augment=dataclasses.replace(
            cfg.augment, flip_prob=0.0, max_rotation_deg=0.0, max_translate_frac=0.0, scale_range=(1.0, 1.0)
        ),
        model=dataclasses.replace(cfg.model, dropout=0.0),
        optim=dataclasses.replace(cfg.optim, lr_head=3e-3, lr_trunk=1e-3, warmup_steps=0),
        run=dataclasses.replace(cfg.run, steps=1000),
    )
    tr = _trainer(cfg, tmp_path / "fixed")
    losses = [tr.training_step(0)["loss"] for _ in range(12)]  # the same batch 12 times
    assert losses[-1] < losses[0]


def test_resume_continues_exactly(tiny: tuple[Path, TrainConfig], tmp_path: Path) -> None:
    _, cfg = tiny
    straight = _trainer(cfg, tmp_path / "a")
    straight.run()

    killed = _trainer(cfg, tmp_path / "b")
    killed.run(until=3)  # past the first mining round (step 2), checkpoint at step 3
    assert killed.sampler.neighbours is not None
    resumed = _trainer(cfg, tmp_path / "b")
    resumed.load_checkpoint(tmp_path / "b" / "last.safetensors")
    assert resumed.step == 3
    np.testing.assert_array_equal(resumed.sampler.neighbours, killed.sampler.neighbours)
    resumed.run()

    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    sa, sb = straight.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    for i in sa:
        for k in sa[i]:
            assert torch.equal(torch.as_tensor(sa[i][k]), torch.as_tensor(sb[i][k])), (i, k)
    assert [h["folder_r1"] for h in straight.history] == [h["folder_r1"] for h in resumed.history]


@pytest.mark.parametrize(
    ("step", "total", "power", "warmup", "expected"),
    [
        (0, 100, 0.9, 0, 1.0),
        (50, 100, 1.0, 0, 0.5),
        (100, 100, 0.9, 0, 0.0),
        (0, 100, 1.0, 10, 0.1),
        (4, 100, 1.0, 10, 0.5 * 0.96),
    ],
)
def test_poly_lr(step: int, total: int, power: float, warmup: int, expected: float) -> None:
    assert poly_lr_factor(step, total, power, warmup) == pytest.approx(expected)


def test_empty_dataset_is_dataset_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = parse_dataclass(TrainConfig, _config_dict(empty, tmp_path / "run"))
    with pytest.raises(DatasetError, match="empty"):
        load_train_data(cfg.data)


def test_resume_without_checkpoint(tiny: tuple[Path, TrainConfig], tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="no checkpoint to resume from"):
        train(tiny[1], out_dir=tmp_path / "nothing", resume=True)


# -- CLI ------------------------------------------------------------------------------------
def _write_cfg(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d["optim"].update(lr=0.1), "unknown key 'optim.lr' (valid: name, lr_head, lr_trunk"),
        (lambda d: d["model"].update(trunk="resnet50"), "available: googlenet, mobilenet_v2"),
        (lambda d: d["optim"].update(name="adam"), "available: adamw, sgd"),
        (lambda d: d["run"].update(steps="many"), "'run.steps' should be int"),
        (lambda d: d["data"].update(eval=["cuhk01"]), "is not one of data.train"),
        (lambda d: d["data"]["train"][0].update(root="/nonexistent/reid"), "/nonexistent/reid"),
        (lambda d: d["sampler"].update(dataset_weights=[1.0, 1.0]), "need 1 values >= 0"),
        (lambda d: d["sampler"].update(dataset_weights=[0.0]), "not all 0"),
        (lambda d: d["run"].update(init_weights="/nonexistent/w.safetensors"), "/nonexistent/w.safetensors"),
        (lambda d: d.update(augment={"blur_prob": "often"}), "'augment.blur_prob' should be float"),
    ],
)
def test_cli_user_errors_are_one_line_exit_2(
    tiny: tuple[Path, TrainConfig],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mutate: Any,
    match: str,
) -> None:
    d = _config_dict(tiny[0], tmp_path / "run")
    mutate(d)
    cfg = _write_cfg(tmp_path / "bad.yaml", d)
    assert train_main(["--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert match in err


def test_cli_missing_config_and_resume(
    tmp_path: Path, tiny: tuple[Path, TrainConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    assert train_main(["--config", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: config file not found" in capsys.readouterr().err
    cfg = _write_cfg(tmp_path / "ok.yaml", _config_dict(tiny[0], tmp_path / "run"))
    assert train_main(["--config", str(cfg), "--resume", "--out", str(tmp_path / "fresh")]) == 2
    assert "no checkpoint to resume from" in capsys.readouterr().err
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder", encoding="utf-8")
    assert train_main(["--config", str(cfg), "--out", str(blocker / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{blocker / 'run'}: cannot create the run folder" in err


def test_cli_trains_and_resumes(
    tmp_path: Path, tiny: tuple[Path, TrainConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _write_cfg(tmp_path / "ok.yaml", _config_dict(tiny[0], tmp_path / "run"))
    out = tmp_path / "cli_run"
    assert train_main(["--config", str(cfg), "--out", str(out), "--steps", "2"]) == 0
    assert "step=2 folder_r1=" in capsys.readouterr().out
    assert train_main(["--config", str(cfg), "--out", str(out), "--steps", "3", "--resume"]) == 0
    assert "resumed from" in capsys.readouterr().err
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [2, 3]


def test_shipped_configs_parse() -> None:
    from reid_core.training.config import load_train_config

    for path in sorted(Path(__file__).resolve().parents[2].glob("configs/reid/**/*.yaml")):
        cfg = load_train_config(path)
        assert cfg.run.steps > 0, path


def test_two_runs_give_identical_weights_with_two_threads(
    tiny: tuple[Path, TrainConfig], tmp_path: Path
) -> None:
    """Multi-threaded CPU scatter-adds (index backward) differ by rounding unless deterministic
    algorithms are on (the old default: two runs differed by up to 1e3 in a BatchNorm statistic)."""
    _, cfg = tiny
    cfg = dataclasses.replace(
        cfg, run=dataclasses.replace(cfg.run, steps=2, num_threads=2, deterministic=True)
    )
    threads = torch.get_num_threads()
    try:
        train(cfg, out_dir=tmp_path / "a")
        train(cfg, out_dir=tmp_path / "b")
    finally:
        torch.set_num_threads(threads)
    from safetensors.torch import load_file

    a, b = load_file(tmp_path / "a" / "last.safetensors"), load_file(tmp_path / "b" / "last.safetensors")
    assert a.keys() == b.keys()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    assert not torch.are_deterministic_algorithms_enabled()  # train() restores the global setting


def test_kill_between_evaluation_and_checkpoint_leaves_no_duplicate_metrics_line(
    tiny: tuple[Path, TrainConfig], tmp_path: Path
) -> None:
    import shutil

    _, cfg = tiny  # eval every 3 steps, checkpoint every 2
    out = tmp_path / "run"
    first = _trainer(cfg, out)
    first.run(until=2)  # checkpoint at step 2
    saved = tmp_path / "ckpt_step2"
    saved.mkdir()
    for name in ("last.safetensors", "last.json"):
        shutil.copy(out / name, saved / name)
    first.run(until=3)  # evaluation at step 3 writes its metrics line ...
    for name in ("last.safetensors", "last.json"):  # ... and the kill comes before the next checkpoint
        shutil.copy(saved / name, out / name)
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [3]
    train(cfg, out_dir=out, resume=True)
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [3, 6]


def test_init_weights_start_from_a_weights_file(tiny: tuple[Path, TrainConfig], tmp_path: Path) -> None:
    """run.init_weights: the model starts from the file (step 0 = its weights), not from a fresh init."""
    from reid_core.weights import load_weights, save_weights

    root, cfg = tiny
    source = build_model(cfg.model)
    with torch.no_grad():
        for p in source.parameters():
            p.fill_(0.01)
    meta = {"format": "reid-siamese", "version": 1, "model": {}}
    save_weights(tmp_path / "init.safetensors", source.state_dict(), meta)
    d = _config_dict(root, tmp_path / "run", init_weights=str(tmp_path / "init.safetensors"), steps=1)
    d["augment"] = {f"{k}_prob": 0.5 for k in ("low_res", "blur", "colour", "cutoff", "erase")}
    d["sampler"]["dataset_weights"] = [1.0]
    train(parse_dataclass(TrainConfig, d))
    tensors, _ = load_weights(tmp_path / "run" / "eval_step_000001.safetensors")
    fc = next(k for k in tensors if k.endswith("weight") and tensors[k].ndim == 2)
    assert abs(float(tensors[fc].float().mean()) - 0.01) < 0.005  # one small step away from the init


@pytest.mark.parametrize("amp", [True, False], ids=["amp", "fp32"])
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine (GPU-only test)")
def test_cuda_run_resumes_exactly_and_its_weights_load_on_the_cpu(
    tiny: tuple[Path, TrainConfig], tmp_path: Path, amp: bool
) -> None:
    """On CUDA (float16 autocast with grad scaling, or float32), with deterministic algorithms as
    ``reid-train`` runs them: a run stopped at step 3 and resumed ends with the uninterrupted run's
    weights, bit for bit. (cuBLAS reads ``CUBLAS_WORKSPACE_CONFIG`` when it starts: where an
    earlier test started it, the variable must be set before pytest, as benchmarks/gpu_checks.sh
    does; ``reid-train`` sets it itself.)"""
    from reid_core.training.run import deterministic_algorithms

    root, cfg = tiny
    cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, device="cuda", amp=amp))
    with deterministic_algorithms(True):
        straight = _trainer(cfg, tmp_path / "a")
        assert straight.device.type == "cuda" and straight.use_amp == amp
        straight.run()
        killed = _trainer(cfg, tmp_path / "b")
        killed.run(until=3)
        resumed = _trainer(cfg, tmp_path / "b")
        resumed.load_checkpoint(tmp_path / "b" / "last.safetensors")
        assert resumed.step == 3
        resumed.run()
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    for k in a:
        assert torch.isfinite(a[k].float()).all(), k
        assert torch.equal(a[k], b[k]), k
    from reid_core.inference import load_matcher

    m = load_matcher(tmp_path / "a" / "last.safetensors", device="cpu")
    enc = m.encode_paths(sorted(root.glob("*.jpg"))[:4])
    assert np.isfinite(m.score(enc, enc)).all()


@pytest.mark.parametrize("camera_norm", [False, True])
def test_camera_norm_groups_crops_by_data_set_and_camera(
    tiny: tuple[Path, TrainConfig], tmp_path: Path, camera_norm: bool
) -> None:
    """``sampler.camera_norm``: the trunk normalises each (data set, camera)'s crops of a batch by
    their own moments; camera 0 of one data set is not camera 0 of another."""
    from reid_core.data.datasets import ReIDItem
    from reid_core.training.data import TrainData

    _, cfg = tiny
    one = load_train_data(cfg.data)  # one data set, two cameras; a second: the same crops, new people
    cfg = dataclasses.replace(
        cfg,
        data=dataclasses.replace(cfg.data, train=cfg.data.train * 2),
        sampler=dataclasses.replace(cfg.sampler, camera_norm=camera_norm, dataset_weights=(0.5, 0.5)),
        run=dataclasses.replace(cfg.run, steps=2),
    )
    offset = max(it.person_id for it in one.items) + 1
    second = tuple(ReIDItem(it.image_path, it.person_id + offset, it.camera_id) for it in one.items)
    data = TrainData(
        one.items + second,
        np.concatenate([one.images_bgr, one.images_bgr]),
        one.eval_splits,
        np.repeat(np.array([0, 1], np.int64), len(one.items)),
    )
    torch.manual_seed(0)
    trainer = SiameseTrainer.from_config(cfg, build_model(cfg.model), data, tmp_path / "run")
    cams = np.array([it.camera_id for it in data.items])
    if not camera_norm:
        assert trainer.norm_groups is None
    else:
        groups = trainer.norm_groups
        assert groups is not None and len(set(groups.tolist())) == 4  # 2 data sets x 2 cameras
        for g in set(groups.tolist()):  # one group = one data set's one camera
            rows = groups == g
            assert len(set(data.groups[rows].tolist())) == 1 and len(set(cams[rows].tolist())) == 1
    trainer.run()
    assert trainer.weights_meta()["camera_norm"] is camera_norm
