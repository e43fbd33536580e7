"""⑤ Closed tracklets → global identities across cameras: associators and re-ID models, behind registries.

An **associator** receives closed tracklets (:meth:`Associator.add`, in the order they close),
may stream its decisions (``on_assign``, e.g. to ``--events``), and returns the final
identities once every source has ended (:meth:`Associator.finish`). It is chosen by
``association.method`` from :data:`ASSOCIATORS` and built by its ``from_config`` class method:

    ``Cls.from_config(cfg: AssociationConfig, *, matcher, cameras, on_assign) -> Associator``

where ``matcher`` is the re-ID model (``None`` when linking is off), ``cameras`` maps each
``cam_id`` to its :class:`~pipeline.frames.SourceInfo` (frame size, fps, liveness) and
``on_assign`` receives each :class:`Assignment` as it is made.

The **re-ID model** is chosen by ``reid.model`` from :data:`MATCHERS`: a loader
``(weights: str | None, device: str) -> MatcherLike``. With ``association.crop_pooling: mean``
(the default) it also needs ``pool(enc) -> enc``: a tracklet's encoded crops averaged into one
row (:meth:`reid_core.inference.Encoded.mean`); a model without it runs with ``pairs``.

| name | module | |
|---|---|---|
| ``online`` (associator) | :mod:`~pipeline.identities.online` | links each tracklet as it closes |
| ``offline`` (associator) | :mod:`~pipeline.identities.offline` | clusters all tracklets at the end |
| ``siamese`` (re-ID model) | :func:`reid_core.inference.load_matcher` | the paper's correspondence network |

A new associator or re-ID model is one module plus one line below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from infra.registry import Registry

if TYPE_CHECKING:
    from pipeline.config import AssociationConfig
    from pipeline.frames import SourceInfo
    from pipeline.tracklets import Tracklet

__all__ = [
    "ASSOCIATORS",
    "MATCHERS",
    "Assignment",
    "Associator",
    "AssociatorFactory",
    "Identity",
    "LinkScore",
    "MatcherLike",
    "TrackletKey",
    "resolve_method",
]

TrackletKey = tuple[str, int]
"""``(cam_id, track_id)``: a tracklet's identity within a run."""


class MatcherLike(Protocol):
    """What association needs of a re-ID model (``reid_core.inference.Matcher``; a fake one in tests)."""

    def encode(self, crops_bgr: Sequence[np.ndarray]) -> Any:
        """Encode ``(h, w, 3)`` uint8 BGR crops; the result supports ``len`` and integer-array indexing."""
        ...

    def embed(self, enc: Any) -> np.ndarray:
        """``(N, D)`` float32 L2-normalised embeddings of encoded crops (for shortlists)."""
        ...

    def score(self, enc_a: Any, enc_b: Any) -> np.ndarray:
        """``(Na, Nb)`` P(same person) of every crop pair, ``enc_a`` as the first image."""
        ...


@dataclass(frozen=True, slots=True)
class Assignment:
    """One identity decision about one tracklet.

    Attributes:
        cam_id, track_id: the tracklet.
        global_id: the identity it joined.
        new_identity: whether the identity was started by this tracklet.
        score: P(same person) of the link to an existing identity, ``None`` for a new identity.
        t_start_s, t_end_s: the tracklet's time span in seconds.
    """

    cam_id: str
    track_id: int
    global_id: int
    new_identity: bool
    score: float | None
    t_start_s: float
    t_end_s: float

    def to_dict(self) -> dict[str, Any]:
        """The ``--events`` line of this decision."""
        return {
            "event": "assign",
            "cam_id": self.cam_id,
            "track_id": int(self.track_id),
            "global_id": int(self.global_id),
            "new_identity": bool(self.new_identity),
            "score": None if self.score is None else float(self.score),
            "t_start_s": float(self.t_start_s),
            "t_end_s": float(self.t_end_s),
        }


@dataclass(frozen=True, slots=True)
class LinkScore:
    """How firmly a tracklet belongs to its identity (an associator that can say so reports it).

    Attributes:
        score: calibrated P(same person) of the tracklet with the other members, in [0, 1].
        margin_logodds: its log-odds with its identity minus that with the best other identity
            it could have joined (natural log; large = a clear decision, near 0 = a look-alike
            stood close); ``None`` when no other identity could take it.
    """

    score: float
    margin_logodds: float | None


@dataclass(frozen=True, slots=True)
class Identity:
    """One global person identity: its id, its tracklets in time order and, optionally, per
    member how firmly it was linked (``links``: empty, or one entry per member, ``None`` for a
    member alone in its identity)."""

    global_id: int
    members: tuple[TrackletKey, ...]
    links: tuple[LinkScore | None, ...] = ()


class Associator(Protocol):
    """Closed tracklets in, global identities out (see the module docstring)."""

    def add(self, tracklets: Sequence[Tracklet]) -> list[Assignment]:
        """Take tracklets that closed together (crops attached; free them once encoded)."""
        ...

    def evict_before(self, t_s: float) -> None:
        """No tracklet closing from now on starts before ``t_s`` seconds: free what only older ones need."""
        ...

    def finish(self) -> list[Identity]:
        """Every source ended: the final identities, in increasing ``global_id`` order."""
        ...

    @property
    def num_identities(self) -> int:
        """Identities so far (for progress lines)."""
        ...


class AssociatorFactory(Protocol):
    """What :data:`ASSOCIATORS` holds: a class (or callable) with ``from_config``."""

    def from_config(
        self,
        cfg: AssociationConfig,
        *,
        matcher: MatcherLike | None,
        cameras: Mapping[str, SourceInfo],
        on_assign: Callable[[Assignment], None] | None,
    ) -> Associator: ...


MatcherLoader = Callable[[str | None, str], MatcherLike]

ASSOCIATORS: Registry[AssociatorFactory] = Registry("association method")
ASSOCIATORS.add("online", "pipeline.identities.online:OnlineAssociator")
ASSOCIATORS.add("offline", "pipeline.identities.offline:OfflineAssociator")


def resolve_method(method: str, live: Iterable[bool]) -> str:
    """The associator ``association.method`` names for sources whose ``live`` flags are given.

    ``auto`` is ``offline`` when every source is finite (files, frame folders: all tracklets are
    known at the end) and ``online`` when any is live (a stream never ends: decisions are needed as
    tracklets close); other names are returned as they are.

    >>> resolve_method("auto", [False, False]), resolve_method("auto", [False, True])
    ('offline', 'online')
    >>> resolve_method("online", [False])
    'online'
    """
    if method != "auto":
        return method
    return "online" if any(live) else "offline"


MATCHERS: Registry[MatcherLoader] = Registry("re-ID model")
MATCHERS.add("siamese", "reid_core.inference:load_matcher")
