"""configs/trackers/<name>.yaml, trackers.config dataclasses and constructors stay in step."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

from infra.errors import ConfigError
from infra.yaml_config import load_dataclass
from trackers import TRACKER_CONFIGS, available_trackers, create_tracker, tracker_class

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "trackers"


def constructor_params(name: str) -> dict[str, inspect.Parameter]:
    params = dict(inspect.signature(tracker_class(name).__init__).parameters)
    params.pop("self")
    params.pop("fps")  # the video's properties, passed by the caller, never in a config
    params.pop("frame_wh")
    return params


@pytest.mark.parametrize("name", available_trackers())
def test_yaml_keys_equal_constructor_params(name: str) -> None:
    import yaml

    keys = set(yaml.safe_load((CONFIG_DIR / f"{name}.yaml").read_text(encoding="utf-8")))
    assert keys == set(constructor_params(name))


@pytest.mark.parametrize("name", available_trackers())
def test_config_dataclass_mirrors_the_constructor(name: str) -> None:
    cls = TRACKER_CONFIGS[name]
    assert cls.__dataclass_params__.frozen
    fields = {f.name: f for f in dataclasses.fields(cls)}
    params = constructor_params(name)
    assert set(fields) == set(params)
    for key, param in params.items():
        assert fields[key].default == param.default, f"{name}.{key}: defaults differ"
        assert fields[key].type == param.annotation, f"{name}.{key}: types differ"


@pytest.mark.parametrize("name", available_trackers())
def test_yaml_loads_into_the_dataclass_and_builds_the_tracker(name: str) -> None:
    cfg = load_dataclass(TRACKER_CONFIGS[name], CONFIG_DIR / f"{name}.yaml")
    assert cfg == TRACKER_CONFIGS[name](), "shipped YAML should hold the constructor defaults"
    tracker = create_tracker(name, fps=29.97, **dataclasses.asdict(cfg))
    assert type(tracker) is tracker_class(name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.min_hits = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_age: 30\n", "unknown key"),
        ("min_hits: three\n", "min_hits"),
    ],
)
def test_bad_yaml_is_a_config_error_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sort.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as err:
        load_dataclass(TRACKER_CONFIGS["sort"], path)
    assert str(path) in str(err.value)
