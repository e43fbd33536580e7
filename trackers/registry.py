"""Trackers by name: ``create_tracker("sort", fps=29.97, max_age_s=2.0)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from trackers.bytetrack import ByteTracker
from trackers.config import DEFAULT_FPS
from trackers.sort import SortTracker

__all__ = ["available_trackers", "create_tracker", "register_tracker", "tracker_class"]

T = TypeVar("T", bound=type)

_REGISTRY: dict[str, type[SortTracker]] = {}


def register_tracker(name: str) -> Callable[[T], T]:
    """Class decorator registering a tracker class under ``name``; a duplicate name raises ValueError."""

    def decorate(cls: T) -> T:
        if name in _REGISTRY:
            raise ValueError(f"tracker {name!r} is already registered ({_REGISTRY[name].__name__})")
        _REGISTRY[name] = cls
        return cls

    return decorate


register_tracker("sort")(SortTracker)
register_tracker("bytetrack")(ByteTracker)


def available_trackers() -> tuple[str, ...]:
    """Registered tracker names, sorted."""
    return tuple(sorted(_REGISTRY))


def tracker_class(name: str) -> type[SortTracker]:
    """The class registered as ``name``; an unknown name raises ValueError listing the valid ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown tracker {name!r}; available: {', '.join(available_trackers())}") from None


def create_tracker(name: str, fps: float = DEFAULT_FPS, **kwargs: Any) -> SortTracker:
    """Build the tracker registered as ``name`` with its keyword arguments.

    Args:
        name: a name from :func:`available_trackers` (``"sort"``, ``"bytetrack"``).
        fps: the stream's real frame rate (float).
        **kwargs: constructor arguments of that tracker (see its class docstring); an unknown
            one raises TypeError.

    Raises:
        ValueError: unknown ``name`` (the message lists the valid names) or a bad value.
    """
    return tracker_class(name)(fps=fps, **kwargs)
