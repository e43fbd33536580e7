"""infra.registry: lookup, lazy entries, unknown names listing the valid ones, duplicates."""

from __future__ import annotations

import json

import pytest

from infra.errors import ConfigError
from infra.registry import Registry, UnknownNameError


def test_get_returns_the_part_and_imports_lazy_entries_once() -> None:
    reg: Registry[object] = Registry("thing")
    reg.add("dumps", "json:dumps")
    reg.add("one", 1)
    assert reg.get("dumps") is json.dumps and reg.get("one") == 1
    assert reg.names() == ["dumps", "one"] and "one" in reg and "two" not in reg


@pytest.mark.parametrize(
    ("setup", "name", "error", "match"),
    [
        (lambda r: r.add("a", 1), "b", UnknownNameError, "unknown thing 'b'; available: a"),
        (lambda r: None, "b", ConfigError, "available: $"),
        (lambda r: r.add("bad", "json:no_such_attribute"), "bad", AttributeError, "no_such_attribute"),
        (lambda r: r.add("bad", "no_such_module_xyz:x"), "bad", ModuleNotFoundError, "no_such_module_xyz"),
    ],
)
def test_get_errors(setup, name: str, error: type[Exception], match: str) -> None:
    reg: Registry[object] = Registry("thing")
    setup(reg)
    with pytest.raises(error, match=match):
        reg.get(name)


def test_duplicates_are_refused_and_remove_allows_replacing() -> None:
    reg: Registry[int] = Registry("thing")

    @reg.register("a")
    def _a() -> int:
        return 1

    with pytest.raises(ValueError, match="already registered"):
        reg.add("a", 2)
    reg.remove("a")
    reg.remove("not-there")  # no error
    reg.add("a", 2)
    assert reg.get("a") == 2
