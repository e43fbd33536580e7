"""pipeline.config: the YAML, the dataclasses and the constructors they feed stay in step."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path

import pytest
import yaml

from infra.errors import ConfigError
from pipeline import config as config_mod
from pipeline.config import AssociationConfig, PipelineConfig, load_config, resolve_tracker_params

ROOT = Path(__file__).resolve().parents[2]
YAML = ROOT / "configs" / "pipeline.yaml"

# config section → the class built from it by ``from_config`` (in pipeline.run)
FED = {
    "tracklets": "pipeline.tracklets:TrackletBuilder",
    "association": "pipeline.identities.online:OnlineAssociator",
    "detector": "pipeline.detections.litert:LiteRTDetector",
    "detector/ultralytics": "pipeline.detections.yolo:YoloDetector",
}
# fields a section's class does not take: the registry picks the class, or the field is another back end's
NOT_TAKEN = {
    "tracklets": set(),
    # topology reaches the part as camera_rules, the adaptive_* and *negative_* keys as adaptive
    # (AdaptiveCalibration.from_config); offline_threshold is offline's only
    "association": {
        "method",
        "topology",
        "offline_threshold",
        "adaptive_calibration",
        "negative_q50_logodds",
        "negative_q90_logodds",
        "same_camera_negative_q50_logodds",
        "same_camera_negative_q90_logodds",
        "adaptive_min_standard_errors",
        "adaptive_max_pairs",
        "contrast",  # the contrast_* keys reach the parts as negative_contrast (NegativeContrast.from_config)
        "contrast_max_negatives",
        "contrast_prior_negatives",
    },
    "detector": {"backend", "batch_frames", "fp16", "every_n_frames"},
    "detector/ultralytics": {"backend", "threads", "parallelism", "every_n_frames"},
}


def _target(spec: str):
    module, name = spec.split(":")
    return getattr(__import__(module, fromlist=[name]), name)


def test_shipped_yaml_equals_the_packaged_copy() -> None:
    assert YAML.read_text(encoding="utf-8") == config_mod.default_config_text(), (
        "configs/pipeline.yaml and pipeline/pipeline.yaml must be identical (copy one onto the other)"
    )


def test_yaml_has_every_field_and_no_other() -> None:
    data = yaml.safe_load(YAML.read_text(encoding="utf-8"))
    hints = typing.get_type_hints(PipelineConfig)
    sections = {f.name for f in dataclasses.fields(PipelineConfig) if f.name != "source"}
    assert set(data) == sections
    for name in sections:
        cls = hints[name]
        assert set(data[name]) == {f.name for f in dataclasses.fields(cls)}, name


def test_yaml_values_are_the_dataclass_defaults() -> None:
    """The file documents the defaults; a run without --config behaves as the code says."""
    cfg = load_config(YAML)
    default = PipelineConfig()
    for section in (
        "detector",
        "tracklets",
        "association",
        "reid",
        "runtime",
        "report",
        "executor",
        "export",
    ):
        assert getattr(cfg, section) == getattr(default, section), section
    assert cfg.tracker.name == default.tracker.name


def test_every_knob_is_documented() -> None:
    """Every key line carries a comment (unit or range, and which way to turn it)."""
    for line in YAML.read_text(encoding="utf-8").splitlines():
        if ":" in line and not line.lstrip().startswith("#") and not line.rstrip().endswith(":"):
            assert "#" in line, f"undocumented key: {line.strip()}"


def test_default_tracker_params_are_the_shipped_tracker_configs() -> None:
    """No second copy of tracker values: the defaults are configs/trackers/<name>.yaml's."""
    from trackers import TRACKER_CONFIGS

    cfg = load_config()
    for name in TRACKER_CONFIGS:
        params = resolve_tracker_params(dataclasses.replace(cfg.tracker, name=name))
        shipped = ROOT / "configs" / "trackers" / f"{name}.yaml"
        if shipped.is_file():
            assert params == yaml.safe_load(shipped.read_text(encoding="utf-8")), name


@pytest.mark.parametrize("section", sorted(FED))
def test_sections_match_the_constructors_they_feed(section: str) -> None:
    params = set(inspect.signature(_target(FED[section])).parameters)
    hints = typing.get_type_hints(PipelineConfig)
    fields = {f.name for f in dataclasses.fields(hints[section.split("/")[0]])}
    assert fields - NOT_TAKEN[section] <= params, fields - NOT_TAKEN[section] - params
    assert not NOT_TAKEN[section] & params, "a field listed as not taken is a parameter"


@pytest.mark.parametrize("section", sorted(FED))
def test_constructors_write_no_default_of_their_own(section: str) -> None:
    """One default per setting: the config dataclass holds it, the constructor requires the value."""
    signature = inspect.signature(_target(FED[section]))
    fields = {
        f.name for f in dataclasses.fields(typing.get_type_hints(PipelineConfig)[section.split("/")[0]])
    }
    defaulted = [
        name for name, p in signature.parameters.items() if name in fields and p.default is not p.empty
    ]
    assert defaulted == []


KEPT = {"contrast"}  # excludes adaptive_calibration (a config error with both): see the contrast test below


def _changed(section_cfg: object) -> object:
    """The section with every number, flag and optional value changed from its default."""
    changes: dict[str, object] = {}
    for f in dataclasses.fields(section_cfg):  # type: ignore[arg-type]
        value = getattr(section_cfg, f.name)
        if f.name in KEPT:
            continue
        if isinstance(value, bool):
            changes[f.name] = not value
        elif isinstance(value, int):
            changes[f.name] = value + 1
        elif isinstance(value, float):
            changes[f.name] = value * 0.5 if value else 0.25
    return dataclasses.replace(section_cfg, **changes)  # type: ignore[type-var]


@pytest.mark.parametrize(
    ("section", "build"),
    [
        (
            "tracklets",
            lambda cfg, m: __import__("pipeline.tracklets", fromlist=["x"]).TrackletBuilder.from_config(cfg),
        ),
        (
            "association",
            lambda cfg, m: __import__(
                "pipeline.identities.online", fromlist=["x"]
            ).OnlineAssociator.from_config(cfg, matcher=m, cameras={}, on_assign=None),
        ),
    ],
)
def test_from_config_passes_every_value(section: str, build, fake_matcher) -> None:
    """The values reach the part unchanged (a value compare, not only the names)."""
    section_cfg = _changed(getattr(PipelineConfig(), section))
    part = build(section_cfg, fake_matcher)
    for f in dataclasses.fields(section_cfg):  # type: ignore[arg-type]
        if hasattr(part, f.name):
            assert getattr(part, f.name) == getattr(section_cfg, f.name), f.name


@pytest.mark.parametrize("module", ["online", "offline"])
def test_the_contrast_values_reach_both_associators(module: str, fake_matcher) -> None:
    cfg = dataclasses.replace(
        AssociationConfig(),
        contrast=True,
        contrast_max_negatives=3,
        contrast_prior_negatives=1.5,
        negative_q50_logodds=-2.0,
        same_camera_negative_q50_logodds=0.5,
    )
    mod = __import__(f"pipeline.identities.{module}", fromlist=["x"])
    cls = mod.OnlineAssociator if module == "online" else mod.OfflineAssociator
    contrast = cls.from_config(cfg, matcher=fake_matcher, cameras={}, on_assign=None).negative_contrast
    assert (contrast.max_per_camera, contrast.prior_negatives) == (3, 1.5)
    assert contrast.references == {False: -2.0, True: 0.5}


def test_tracker_params_match_the_tracker_constructor() -> None:
    from trackers import tracker_class

    cfg = load_config(YAML)
    params = resolve_tracker_params(cfg.tracker)
    signature = inspect.signature(tracker_class(cfg.tracker.name).__init__)
    accepted = set(signature.parameters) - {"self", "fps", "frame_wh"}  # the video's, not the config's
    assert set(params) == accepted


def test_default_config_loads_without_a_path() -> None:
    cfg = load_config()
    assert cfg.detector.classes == (0,) and cfg.tracker.name == "bytetrack"
    assert "shipped default" in cfg.source


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            "detector:\n  conf_treshold: 0.3\n",
            "unknown key 'detector.conf_treshold' (did you mean 'detector.conf_threshold'?)",
        ),
        ("detektor: {}\n", "unknown key 'detektor' (did you mean 'detector'?)"),
        (
            "association:\n  topology:\n    pairz: []\n",
            "unknown key 'association.topology.pairz' (did you mean",
        ),
        (
            "reid:\n  xyz: 1\n",
            "unknown key 'reid.xyz' (valid: model, weights, threads, backend, camera_norm, ",
        ),
        (
            "reid: {xyz: 1}\nexecutor: {ray: {adress: auto}}\n",
            "camera_norm_max_wait_s); unknown key 'executor.ray.adress'",
        ),
        ("association:\n  threshold: high\n", "association.threshold"),
        ("association:\n  threshold: 1.5\n", "threshold"),
        ("association:\n  crop_pooling: max\n", "association.crop_pooling must be one of pairs, mean"),
        ("reid:\n  backend: tensorflow\n", "reid.backend must be one of auto, onnxruntime, torch"),
        ("reid:\n  camera_norm_crops: 0\n", "reid.camera_norm_crops must be >= 1"),
        ("reid:\n  camera_norm_max_wait_s: -1\n", "reid.camera_norm_max_wait_s must be >= 0 seconds or null"),
        ("tracklets:\n  crop_colour: sepia\n", "tracklets.crop_colour must be one of grey_world, as_seen"),
        ("tracklets:\n  crop_colour_window_s: 0\n", "tracklets.crop_colour_window_s must be > 0 seconds"),
        ("tracker:\n  name: sortt\n", "available: bytetrack, sort"),
        ("tracker:\n  params:\n    max_age: 2\n", "max_age"),
        ("runtime:\n  device: gpu\n", "runtime.device"),
        ("export:\n  interpolation:\n    max_gap_s: 0\n", "export.interpolation.max_gap_s"),
        ("export:\n  interpolation:\n    smoothing_s: -1\n", "export.interpolation.smoothing_s"),
        ("export:\n  interpolation:\n    max_gap: 1\n", "max_gap"),
        ("export:\n  interpolate: {}\n", "interpolate"),
        ("source: x\n", "source"),
        ("- a\n- b\n", "mapping"),
        ("detector: [\n", "invalid YAML"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and needle in message


def test_partial_config_keeps_other_defaults(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, "association:\n  threshold: 0.7\n"))
    assert cfg.association.threshold == 0.7 and cfg.tracklets == PipelineConfig().tracklets


def test_tracker_params_file_then_inline_overrides(tmp_path: Path) -> None:
    (tmp_path / "trackers").mkdir()
    (tmp_path / "trackers" / "bytetrack.yaml").write_text("max_age_s: 2.5\nmin_hits: 2\n", encoding="utf-8")
    text = "tracker:\n  name: bytetrack\n  params_file: trackers/bytetrack.yaml\n  params:\n    min_hits: 4\n"
    cfg = load_config(_write(tmp_path, text))
    params = resolve_tracker_params(cfg.tracker)
    assert params["max_age_s"] == 2.5 and params["min_hits"] == 4 and "high_score_threshold" in params


def test_tracker_params_file_with_unknown_key(tmp_path: Path) -> None:
    (tmp_path / "sort.yaml").write_text("max_age: 2.5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sort\.yaml.*max_age"):
        load_config(_write(tmp_path, "tracker:\n  params_file: sort.yaml\n"))


def test_config_is_frozen() -> None:
    cfg = load_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.detector.conf_threshold = 0.1  # type: ignore[misc]
