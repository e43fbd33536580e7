"""Registries: name → part, so that a new part is one file plus one registry line.

A :class:`Registry` maps names to parts of one kind (sources, associators, sinks, re-ID models…).
An entry is the part itself or a ``"module:attribute"`` string imported on first use, so that
listing the names never imports a heavy dependency. Asking for an unknown name raises
:class:`UnknownNameError`, a :class:`~infra.errors.ConfigError` that lists the valid names.

Example:
    >>> colours = Registry[str]("colour")
    >>> colours.add("red", "#f00")
    >>> colours.get("red"), colours.names()
    ('#f00', ['red'])
    >>> colours.get("blue")
    Traceback (most recent call last):
    ...
    infra.registry.UnknownNameError: unknown colour 'blue'; available: red
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, cast

from infra.errors import ConfigError

__all__ = ["Registry", "UnknownNameError"]

T = TypeVar("T")


class UnknownNameError(ConfigError):
    """A name that is not registered; the message lists the registered ones."""


class Registry(Generic[T]):
    """Name → part of one kind.

    Args:
        kind: what the parts are, for messages (``"associator"``, ``"output"``…).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T | str] = {}

    def add(self, name: str, part: T | str) -> None:
        """Register ``part`` (or a lazy ``"module:attribute"`` string) under ``name``.

        Raises:
            ValueError: ``name`` is already registered (remove it first to replace it).
        """
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = part

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`: ``@REGISTRY.register("name")``."""

        def decorate(part: T) -> T:
            self.add(name, part)
            return part

        return decorate

    def remove(self, name: str) -> None:
        """Forget ``name`` (a part registered by a test, say); no error if it is not there."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """The part registered as ``name`` (a lazy entry is imported now).

        Raises:
            UnknownNameError: ``name`` is not registered.
        """
        if name not in self._entries:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}")
        entry = self._entries[name]
        if isinstance(entry, str):
            module, _, attribute = entry.partition(":")
            entry = cast(T, getattr(importlib.import_module(module), attribute))
            self._entries[name] = entry
        return cast(T, entry)

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"

    def items(self) -> list[tuple[str, Any]]:
        """``(name, part)`` pairs in registration order (imports lazy entries)."""
        return [(name, self.get(name)) for name in self.names()]
