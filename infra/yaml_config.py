"""YAML files → frozen dataclasses, in one place.

:func:`load_dataclass` parses a YAML mapping into a (frozen) dataclass with
`dacite <https://github.com/konradhalas/dacite>`_ in strict mode: unknown keys and
wrong types are :class:`~infra.errors.ConfigError` naming the file and the key.
Library classes never take these config objects; callers unpack them into plain
keyword arguments (``SortTracker(**dataclasses.asdict(cfg.tracker))``).
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import dacite
import yaml

from infra.errors import ConfigError, UserError
from infra.fileio import read_text_bounded, short_repr

__all__ = ["MAX_CONFIG_BYTES", "load_dataclass", "load_yaml_mapping", "parse_dataclass"]

MAX_CONFIG_BYTES = 1 << 20  # a config is a few KiB; more is the wrong file (or /dev/zero)

T = TypeVar("T")

_DACITE = dacite.Config(strict=True, check_types=True, cast=[tuple])


def load_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML file whose top level is a mapping (an empty file is ``{}``)."""
    path = Path(path)
    try:
        text = read_text_bounded(path, MAX_CONFIG_BYTES, "config")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except UserError as err:
        raise ConfigError(str(err)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: invalid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def parse_dataclass(cls: type[T], data: Mapping[str, Any], source: str | Path = "<config>") -> T:
    """Build ``cls`` from ``data``; unknown keys and wrong types raise ConfigError naming ``source``.

    ``__post_init__`` checks of the dataclass that raise ``ValueError`` are reported the same way.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    try:
        return dacite.from_dict(cls, dict(data), config=_DACITE)
    except dacite.UnexpectedDataError as err:
        unknown = _unknown_keys(cls, data)
        if unknown:
            raise ConfigError(f"{source}: " + "; ".join(unknown)) from None
        keys = ", ".join(sorted(repr(k) for k in err.keys))
        raise ConfigError(f"{source}: unknown key(s) {keys} for {cls.__name__}") from None
    except dacite.WrongTypeError as err:
        raise ConfigError(
            f"{source}: key '{err.field_path}' should be {_type_name(err.field_type)}, "
            f"got {short_repr(err.value)}"
        ) from None
    except dacite.MissingValueError as err:
        raise ConfigError(f"{source}: missing required key '{err.field_path}'") from None
    except dacite.DaciteError as err:
        raise ConfigError(f"{source}: {err}") from None
    except (ValueError, OverflowError) as err:
        raise ConfigError(f"{source}: {_cut(str(err))}") from None


def load_dataclass(cls: type[T], path: str | Path) -> T:
    """Load a YAML file into ``cls`` (see :func:`parse_dataclass`)."""
    return parse_dataclass(cls, load_yaml_mapping(path), source=path)


def _unknown_keys(cls: type, data: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``unknown key 'section.key' (did you mean 'kee'?)`` for every key of ``data`` (nested
    sections included) that is not a field of the dataclass ``cls``; ``[]`` if there is none."""
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # unresolvable annotations: dacite's own message will do
        return []
    names = [f.name for f in dataclasses.fields(cls)]
    found: list[str] = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else f" (valid: {', '.join(names)})"
            found.append(f"unknown key '{path}'{hint}")
            continue
        section = _dataclass_of(hints.get(str(key)))
        if section is not None and isinstance(value, Mapping):
            found += _unknown_keys(section, value, f"{path}.")
    return found


def _dataclass_of(tp: Any) -> type | None:
    """The dataclass ``tp`` is, or holds as ``X | None``; ``None`` otherwise."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if len(args) == 1 and isinstance(args[0], type) and dataclasses.is_dataclass(args[0]):
        return args[0]
    return None


def _cut(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else f"{message[:limit]}... ({len(message)} chars)"


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")
