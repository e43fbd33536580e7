"""A camera link model: where people leave, where they come back, after how long.

An ordered pair ``a → b`` (``a`` ends before ``b`` starts; same camera = a re-entry) is described
by the three features below, compared between the run's own confident links and all feasible
pairs (the background) as Dirichlet-smoothed log-ratios (natural log) and added (zones and place
form one joint key; that and transit time are treated as independent):

- **zones**: ``(camera of a, exit zone of a, camera of b, entry zone of b)`` (``left`` / ``right``
  / ``top`` / ``bottom`` / ``in``, :func:`~pipeline.identities.spacetime.border_zone`);
- **transit time**: ``(camera of a, camera of b, gap bin)``, bins of ``GAP_BINS_S`` seconds
  (log-spaced, finer than the zone model's: a walk across a blind strip takes a typical time);
- **place on the border**: when ``a`` leaves by a border and ``b`` enters by one, how far along
  its border ``b`` enters from where ``a`` left, as a fraction of the frame side
  (``OFFSET_BINS``): a person who walked out of the left border at mid-height comes back there,
  not at the top. ``in`` at either end: key ``in`` (no evidence either way).

Nothing is calibrated by hand: with few links the prior (``prior_links`` pseudo-links spread like
the background) keeps every ratio near 0, so a run that found few links gets little evidence.
This generalises :class:`~pipeline.identities.spacetime.ZoneModel` (which has the first key and
coarser transit bins).
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.identities.spacetime import Ends, _Dirichlet

__all__ = ["GAP_BINS_S", "OFFSET_BINS", "CameraLinkModel", "border_offset_bin"]

GAP_BINS_S = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)  # transit-time bin edges, seconds
OFFSET_BINS = (0.05, 0.1, 0.2, 0.4)  # |offset along the border| bin edges, fraction of the frame side


def _border_position(zone: str, xy: tuple[float, float], frame_wh: tuple[int, int]) -> float:
    """Where along its border a point is: ``y / height`` on left/right, ``x / width`` on top/bottom."""
    if zone in ("left", "right"):
        return xy[1] / max(frame_wh[1], 1)
    return xy[0] / max(frame_wh[0], 1)


def border_offset_bin(a: Ends, b: Ends) -> int:
    """Bin of ``|position of b's entry − position of a's exit|`` along their borders; -1 if either is ``in``.

    Example:
        >>> a = Ends("c", 0, 1, (300, 200), (2, 240), 100, 100, (0, 0), (0, 0), "in", "left", (640, 480))
        >>> b = Ends("c", 9, 12, (3, 250), (300, 250), 100, 100, (0, 0), (0, 0), "left", "in", (640, 480))
        >>> border_offset_bin(a, b)  # 10 px of 480 along the left border: the first bin
        0
    """
    if a.exit_zone == "in" or b.entry_zone == "in":
        return -1
    offset = abs(
        _border_position(b.entry_zone, b.start_xy, b.frame_wh)
        - _border_position(a.exit_zone, a.end_xy, a.frame_wh)
    )
    return sum(offset >= edge for edge in OFFSET_BINS)


def _keys(a: Ends, b: Ends) -> tuple[object, object]:
    gap = b.t_start_s - a.t_end_s
    place = (a.cam_id, a.exit_zone, b.cam_id, b.entry_zone, border_offset_bin(a, b))
    transit = (a.cam_id, b.cam_id, sum(gap >= edge for edge in GAP_BINS_S))
    return place, transit


class CameraLinkModel:
    """Zones, transit time and place on the border of links, learned from the run's own links.

    Args:
        links: ordered pairs ``(a, b)`` believed to be one person (``a`` ends before ``b`` starts).
        candidates: every feasible ordered pair (the background).
        prior_links: Dirichlet pseudo-links spread like ``candidates`` (how many links it takes
            before the evidence counts; higher = more cautious).

    ``logodds(a, b)`` (natural log) = the sum over two keys of log P(key | link) − log P(key |
    feasible pair): the zones and place on the border together (one key, so the zones are not
    counted twice), and the transit time.
    """

    def __init__(
        self, links: Iterable[tuple[Ends, Ends]], candidates: Iterable[tuple[Ends, Ends]], prior_links: float
    ) -> None:
        link_keys = [_keys(a, b) for a, b in links]
        cand_keys = [_keys(a, b) for a, b in candidates]
        self.models = [
            _Dirichlet([k[i] for k in link_keys], [k[i] for k in cand_keys], prior_links) for i in range(2)
        ]

    def logodds(self, a: Ends, b: Ends) -> float:
        """Evidence for ``a → b`` (0 when nothing was learned)."""
        return sum(m.logodds(k) for m, k in zip(self.models, _keys(a, b), strict=True))
