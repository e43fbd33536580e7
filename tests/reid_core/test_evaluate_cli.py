"""``reid-eval cmc``: output format, trials, error lines and exit codes (with a fake matcher),
and end to end with a real (tiny, untrained) model once ``reid_core.inference`` is there."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from infra.errors import cli_entry
from reid_core import evaluate_cli
from reid_core.data.splits import load_split, save_split
from reid_core.evaluate import CMCResult
from reid_core.shipped import CMC_WEIGHTS

FINAL = re.compile(r"rank1=(\d+\.\d) rank5=(\d+\.\d) rank10=(\d+\.\d) rank20=(\d+\.\d) mAP=(\d+\.\d)")


def _main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="reid-eval cmc")
    evaluate_cli.add_arguments(parser)
    return evaluate_cli.run(parser.parse_args(argv))


def cmc_main(argv: list[str]) -> int:
    return cli_entry(_main, argv)


class PidMatcher:
    """Fake matcher: an image's feature is a one-hot of its person id (parsed from PID_CAMID_*),
    perturbed per file, so the pair head ranks the true match first unless ``noise`` is large."""

    def __init__(self, noise: float = 0.0) -> None:
        self.noise = noise

    def encode_paths(self, paths: Sequence[Path]) -> np.ndarray:
        feats = np.zeros((len(paths), 64))
        for i, p in enumerate(paths):
            name = Path(p).name
            feats[i, int(name.split("_")[0]) % 64] = 1.0
            feats[i] += self.noise * np.random.default_rng(abs(hash(name)) % 2**32).normal(size=64)
        return feats / np.linalg.norm(feats, axis=1, keepdims=True)

    def embed(self, enc: np.ndarray) -> np.ndarray:
        return enc.astype(np.float32)

    def score(self, enc_q: np.ndarray, enc_g: np.ndarray) -> np.ndarray:
        return (enc_q @ enc_g.T + 1) / 2

    def score_pairs(self, enc_a, idx_a, enc_b, idx_b) -> np.ndarray:
        return np.sum(enc_a[idx_a] * enc_b[idx_b], axis=1)


@pytest.fixture
def fake_matcher(monkeypatch: pytest.MonkeyPatch) -> list:
    calls: list = []

    def load(weights: Path | None, device: str) -> PidMatcher:
        calls.append((weights, device))
        return PidMatcher()

    monkeypatch.setattr(evaluate_cli, "_load_matcher", load)
    return calls


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--trials", "3", "--seed", "5"],
        ["--shortlist-k", "2"],
        ["--num-test-ids", "3", "--device", "cpu"],
    ],
)
def test_cmc_output_format(folder_root: Path, fake_matcher: list, capsys, extra: list[str]) -> None:
    code = cmc_main(["--dataset", "folder", "--root", str(folder_root), "--tta", "none", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.strip().splitlines()
    assert [line.split()[0] for line in lines[:4]] == ["rank-1", "rank-5", "rank-10", "rank-20"]
    match = FINAL.fullmatch(lines[-1])
    assert match and len(lines) == 5
    assert match.groups() == ("100.0", "100.0", "100.0", "100.0", "100.0")
    assert "trial(s)" in err
    assert fake_matcher == [(CMC_WEIGHTS, "cpu" if "cpu" in extra else "auto")]  # the CMC weights by default
    assert f"weights {CMC_WEIGHTS}," in err and "tta none" in err


def test_format_result_is_the_mean_over_trials() -> None:
    a = CMCResult(cmc=np.linspace(0.1, 1.0, 20), mAP=0.2, num_valid_queries=5)
    b = CMCResult(cmc=np.linspace(0.3, 1.0, 20), mAP=0.4, num_valid_queries=5)
    text = evaluate_cli.format_result([a, b])
    mean = (np.linspace(0.1, 1.0, 20) + np.linspace(0.3, 1.0, 20)) * 50
    assert text.splitlines()[0] == f"rank-1   {mean[0]:5.1f}"
    assert text.splitlines()[-1] == (
        f"rank1={mean[0]:.1f} rank5={mean[4]:.1f} rank10={mean[9]:.1f} rank20={mean[19]:.1f} mAP=30.0"
    )


def test_cmc_on_a_saved_split(folder_root: Path, tmp_path: Path, fake_matcher: list, capsys) -> None:
    split = load_split("folder", folder_root, num_test_ids=3)
    save_split(split, tmp_path / "split.json")
    code = cmc_main(["--split-file", str(tmp_path / "split.json"), "--tta", "none"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert FINAL.fullmatch(out.strip().splitlines()[-1]) and "3 queries" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "folder", "--root", "{tmp}/nowhere"], "nowhere: data set folder not found"),
        (["--dataset", "folder", "--root", "{tmp}/empty"], "empty: no image named PID_CAMID_*.jpg"),
        (["--dataset", "cuhk02", "--root", "{tmp}"], "unknown data set 'cuhk02'; available: cuhk01"),
        (["--dataset", "folder"], "give --dataset NAME and --root DIR"),
        (["--dataset", "folder", "--root", "{tmp}", "--trials", "0"], "--trials must be >= 1"),
        (["--dataset", "folder", "--root", "{tmp}", "--shortlist-k", "0"], "--shortlist-k must be >= 1"),
        (["--split-file", "{tmp}/none.json"], "none.json: split file not found"),
        (["--split-file", "{tmp}/none.json", "--trials", "3"], "--trials does not apply to --split-file"),
        (
            ["--split-file", "{tmp}/s.json", "--pair-scores", "{tmp}/no/p.npz"],
            "folder {tmp}/no does not exist",
        ),
        (
            ["--dataset", "folder", "--root", "{tmp}/one_cam"],
            "only 0 identities are seen by two or more cameras",
        ),
    ],
)
def test_cmc_errors_are_one_line_exit_2(
    tmp_path: Path,
    touch,
    fake_matcher: list,
    capsys,
    argv: list[str],
    message: str,
) -> None:
    (tmp_path / "empty").mkdir()
    touch(tmp_path / "one_cam", ["1_0_a.jpg", "2_0_a.jpg"])
    code = cmc_main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert message.replace("{tmp}", str(tmp_path)) in err


def test_dispatcher_runs_cmc(folder_root: Path, fake_matcher: list, capsys) -> None:
    cli = pytest.importorskip("pipeline.evaluation.cli")
    try:
        cli.build_parser()
    except ImportError as err:  # another sub-command's module not written yet
        pytest.skip(f"reid-eval dispatcher not importable yet: {err}")
    assert cli.main(["cmc", "--dataset", "folder", "--root", str(folder_root), "--tta", "none"]) == 0
    assert FINAL.fullmatch(capsys.readouterr().out.strip().splitlines()[-1])


def test_end_to_end_with_a_tiny_untrained_model(tmp_path: Path, capsys) -> None:
    """The real inference path: random images in the folder layout, a tiny random-init model as weights."""
    import dataclasses

    import cv2

    model_mod = pytest.importorskip("reid_core.model", reason="reid_core.model not written yet")
    weights_mod = pytest.importorskip("reid_core.weights", reason="reid_core.weights not written yet")
    pytest.importorskip("reid_core.inference", reason="reid_core.inference not written yet")

    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    root.mkdir()
    for pid in range(4):
        for cam in (0, 1):
            cv2.imwrite(
                str(root / f"{pid}_{cam}_000001.jpg"), rng.integers(0, 256, (100, 40, 3), dtype=np.uint8)
            )
    cfg = model_mod.ModelConfig(pretrained=False, corr_channels=8, fc_dims=(16, 8), embed_dim=8)
    model = model_mod.build_model(cfg, load_imagenet=False)
    weights = tmp_path / "tiny.safetensors"
    meta = {"format": weights_mod.FORMAT, "version": 1, "model": dataclasses.asdict(cfg)}
    weights_mod.save_weights(weights, model.state_dict(), meta)

    for extra in ([], ["--shortlist-k", "2"], ["--tta", "none"]):
        argv = [
            "--dataset",
            "folder",
            "--root",
            str(root),
            "--weights",
            str(weights),
            "--device",
            "cpu",
            *extra,
        ]
        code = cmc_main(argv)
        out, err = capsys.readouterr()
        assert code == 0, err
        lines = out.strip().splitlines()
        assert len(lines) == 5 and FINAL.fullmatch(lines[-1]), out
        assert "2 queries, 2 gallery" in err  # folder default: half of the 4 identities are test ids
        assert f"tta {'none' if 'none' in extra else 'flip'}," in err  # flip by default

    assert (
        cmc_main(["--dataset", "folder", "--root", str(root), "--weights", str(tmp_path / "no.safetensors")])
        == 2
    )
    assert "weights file not found" in capsys.readouterr().err


def test_training_overlap_warning(folder_root: Path, tmp_path: Path) -> None:
    meta = {"train_data": [{"name": "folder", "root": str(folder_root)}], "split_seed": 0}
    same = [load_split("folder", folder_root, seed=0)]
    assert evaluate_cli.training_overlap_warning(meta, "folder", folder_root, same) is None
    others = [load_split("folder", folder_root, seed=s) for s in range(1, 6)]
    warning = evaluate_cli.training_overlap_warning(meta, "folder", folder_root, others)
    assert warning is not None and "training identities of these weights (folder split seed 0)" in warning
    assert evaluate_cli.training_overlap_warning({}, "folder", folder_root, others) is None
    assert evaluate_cli.training_overlap_warning(meta, "folder", tmp_path, others) is None  # other data
    assert evaluate_cli.training_overlap_warning(meta, "cuhk01", folder_root, others) is None


def test_cmc_prints_the_overlap_warning(folder_root: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    matcher = PidMatcher()
    matcher.meta = {"train_data": [{"name": "folder", "root": str(folder_root)}], "split_seed": 0}
    monkeypatch.setattr(evaluate_cli, "_load_matcher", lambda w, d: matcher)
    plain = ["--tta", "none"]
    assert cmc_main(["--dataset", "folder", "--root", str(folder_root), "--trials", "4", *plain]) == 0
    assert "warning: " in capsys.readouterr().err
    assert cmc_main(["--dataset", "folder", "--root", str(folder_root), "--tta", "none"]) == 0
    assert "warning: " not in capsys.readouterr().err


def test_pair_scores_file(folder_root: Path, fake_matcher: list, capsys, tmp_path: Path) -> None:
    path = tmp_path / "pairs.npz"
    argv = ["--dataset", "folder", "--root", str(folder_root), "--trials", "2", "--tta", "none"]
    code = cmc_main([*argv, "--pair-scores", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = np.load(path)
    n = int(np.sqrt(len(data["scores"]) / 2))  # two trials of n x n
    assert data["scores"].shape == data["same"].shape == (2 * n * n,)
    assert int(data["same"].sum()) == 2 * n  # one true match per query
    assert data["scores"][data["same"]].min() > data["scores"][~data["same"]].max()
    assert f"pairs: {2 * n} positive" in out and "AUC 1.000" in out


class RenormalisingMatcher(PidMatcher):
    """Fake matcher that can be renormalised: records each camera's crop count."""

    def __init__(self, meta: dict | None = None) -> None:
        super().__init__()
        self.meta = meta or {}
        self.renormalised_on: list[int] = []

    def renormalised(self, crops_bgr: Sequence[np.ndarray]) -> PidMatcher:
        self.renormalised_on.append(len(crops_bgr))
        return PidMatcher()


@pytest.fixture
def image_root(tmp_path: Path) -> Path:
    """Folder layout with real (random) images: 8 identities x cameras 1, 2, one image each."""
    import cv2

    root = tmp_path / "images"
    root.mkdir()
    rng = np.random.default_rng(0)
    for pid in range(1, 9):
        for cam in (1, 2):
            cv2.imwrite(
                str(root / f"{pid}_{cam}_000001.png"), rng.integers(0, 256, (40, 16, 3), dtype=np.uint8)
            )
    return root


@pytest.mark.parametrize(
    ("mode", "trained", "able", "applied"),
    [
        ("auto", False, True, True),  # cameras the weights never saw: their own moments
        ("auto", True, True, False),  # trained on this data set: the trained moments fit
        ("auto", False, False, False),  # a matcher that cannot (not torch): as it is
        ("on", True, True, True),
        ("off", False, True, False),
    ],
)
def test_camera_norm_choice(
    image_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
    mode: str,
    trained: bool,
    able: bool,
    applied: bool,
) -> None:
    meta = {"train_data": [{"name": "folder", "root": str(image_root)}], "split_seed": 0} if trained else {}
    matcher = RenormalisingMatcher(meta) if able else PidMatcher()
    monkeypatch.setattr(evaluate_cli, "_load_matcher", lambda w, d: matcher)
    argv = ["--dataset", "folder", "--root", str(image_root), "--tta", "none", "--camera-norm", mode]
    assert cmc_main(argv) == 0
    out, err = capsys.readouterr()
    assert f"camera norm {'on' if applied else 'off'}," in err
    assert FINAL.fullmatch(out.strip().splitlines()[-1])
    if able:  # one renormalised matcher per camera, each on that camera's test images (4 ids: 4 each)
        assert matcher.renormalised_on == ([4, 4] if applied else [])


def test_camera_norm_on_needs_a_torch_matcher(image_root: Path, fake_matcher: list, capsys) -> None:
    argv = ["--dataset", "folder", "--root", str(image_root), "--camera-norm", "on", "--tta", "none"]
    assert cmc_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--camera-norm on needs weights run by torch" in err


@pytest.mark.parametrize(
    ("trained", "name", "root_is_trained", "expected"),
    [
        ("folder", "folder", True, True),
        ("folder", "folder", False, False),  # a generic folder is known only by where it lies
        ("cuhk01", "cuhk01", False, True),  # a named data set is known by its name: the same cameras
        ("cuhk01", "cuhk03", True, False),
        ("folder", None, True, False),
    ],
)
def test_trained_on(
    tmp_path: Path, trained: str, name: str | None, root_is_trained: bool, expected: bool
) -> None:
    meta = {"train_data": [{"name": trained, "root": str(tmp_path / "a")}]}
    root = tmp_path / ("a" if root_is_trained else "b")
    assert evaluate_cli.trained_on(meta, name, root) is expected
    assert evaluate_cli.trained_on({}, "folder", tmp_path / "a") is False
