"""The report's data: what the page shows, as one JSON-ready dict (no pixels, no HTML).

:func:`report_data` turns a run's :class:`~pipeline.records.TracksFile` (and, when known, its
summary, configuration, link scores and written crops/videos) into the dict the page embeds.
Its shape (times in seconds of source time, frames 0-based)::

    {"complete": bool,                                              # false: a run stopped early
     "cameras": [{"cam_id", "source", "width", "height", "fps", "num_frames", "duration_s",
                  "frames_dropped", "gaps", "video"}],              # video: relative path or null
     "summary": {...} | null,                                       # pipeline.loop.RunSummary figures
     "config": "<yaml text>" | null,
     "identities": [{"gid", "colour", "cams", "t_first_s", "t_last_s", "tracklets": [index, ...],
                     "per_camera": [{"cam_id", "t_first_s", "t_last_s", "crops": [path, ...]}],
                     "low_margin": bool}],
     "tracklets": [{"cam_id", "track_id", "gid", "t_start_s", "t_end_s", "start_frame",
                    "end_frame", "boxes", "short", "link": {"score", "margin_logodds", "low"} | null}],
     "transitions": [{"from", "to", "count", "median_transit_s"}],
     "unlinked": [tracklet index, ...], "short": [tracklet index, ...],
     "settings": {"cards_per_page", "short_tracklet_s", "low_margin_logodds", "duration_s"}}

A **link** is the decision that joined a tracklet to an identity that already existed: its
score is P(same person) in [0, 1]; its margin is how far that score's log-odds beat the
association threshold's (``logit(score) − logit(threshold)``). A link is *low* when that margin
is under ``report.low_margin_logodds``. Link scores come from the ``--events`` decisions of the
run, or from a ``link`` field of a tracklet (a float, or ``{"score": …}``) when a tracks file
carries one; without either the page shows no scores.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.records import TrackletRecord, TracksFile

__all__ = ["LinkScore", "link_margin_logodds", "report_data", "transitions"]

LinkScore = float
"""P(same person) in [0, 1] of the link that joined a tracklet to an existing identity."""


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1.0 - 1e-6)
    return math.log(p / (1.0 - p))


def link_margin_logodds(score: float, threshold: float) -> float:
    """How far ``score``'s log-odds beat ``threshold``'s (negative: under it).

    >>> round(link_margin_logodds(0.9, 0.5), 3), link_margin_logodds(0.9, 0.9)
    (2.197, 0.0)
    """
    return _logit(score) - _logit(threshold)


def _record_link(tracklet: TrackletRecord) -> float | None:
    """A ``link`` score carried by the record itself (a float or a mapping with ``score``), if any."""
    link = getattr(tracklet, "link", None)
    if isinstance(link, Mapping):
        link = link.get("score")
    elif link is not None and not isinstance(link, int | float):
        link = getattr(link, "score", None)
    return float(link) if isinstance(link, int | float) and not isinstance(link, bool) else None


def transitions(tracks: TracksFile) -> list[dict[str, Any]]:
    """Camera-to-camera moves: per ordered camera pair, how many, and the median transit in seconds.

    Each identity's tracklets are taken in time order; every change of camera between two
    consecutive ones is one move, its transit the gap from the end of the first to the start of
    the second (negative when two views overlap in time).

    Example:
        >>> from pipeline.records import CameraRecord, IdentityRecord
        >>> a, b = TrackletRecord("a", 1, 0, 9, 0.0, 1.0), TrackletRecord("b", 1, 40, 60, 4.0, 6.0)
        >>> cams = (CameraRecord("a", "a", 10.0, 8, 8, 100), CameraRecord("b", "b", 10.0, 8, 8, 100))
        >>> transitions(TracksFile(cams, (IdentityRecord(1, (b, a)),)))
        [{'from': 'a', 'to': 'b', 'count': 1, 'median_transit_s': 3.0}]
    """
    gaps: dict[tuple[str, str], list[float]] = defaultdict(list)
    for identity in tracks.identities:
        ordered = sorted(identity.tracklets, key=lambda t: (t.t_start_s, t.t_end_s))
        for prev, nxt in itertools.pairwise(ordered):
            if prev.cam_id != nxt.cam_id:
                gaps[(prev.cam_id, nxt.cam_id)].append(nxt.t_start_s - prev.t_end_s)
    return [
        {"from": a, "to": b, "count": len(v), "median_transit_s": round(statistics.median(v), 3)}
        for (a, b), v in sorted(gaps.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]


def _camera(cam: Any, video: str | None) -> dict[str, Any]:
    duration = cam.num_frames / cam.fps if cam.fps and cam.num_frames is not None else None
    gaps = [g.to_dict() if hasattr(g, "to_dict") else g for g in getattr(cam, "gaps", None) or ()]
    return {
        "cam_id": cam.cam_id,
        "source": cam.source,
        "width": cam.width,
        "height": cam.height,
        "fps": cam.fps,
        "num_frames": cam.num_frames,
        "duration_s": None if duration is None else round(duration, 3),
        "frames_dropped": getattr(cam, "frames_dropped", None),
        "gaps": gaps,
        "video": video,
    }


def _summary(summary: Any) -> dict[str, Any] | None:
    if summary is None:
        return None
    stage_fps = summary.stage_fps() if hasattr(summary, "stage_fps") else {}
    return {
        "frames": dict(summary.frames),
        "skipped": dict(summary.skipped),
        "tracklets": summary.tracklets,
        "tracklets_dropped": summary.tracklets_dropped,
        "identities": summary.identities,
        "cross_camera_identities": summary.cross_camera_identities,
        "wall_s": round(summary.wall_s, 3) if summary.wall_s > 0 else None,  # unknown while sinks finish
        "stage_s": {k: round(v, 3) for k, v in summary.stage_s.items()},
        "stage_fps": {k: (None if v is None else round(v, 1)) for k, v in stage_fps.items()},
        "device": summary.device,
    }


def _link_entry(score: float | None, threshold: float | None, settings: Any) -> dict[str, Any] | None:
    """The ``link`` of a tracklet row: its P(same), margin over ``threshold`` (log-odds) and whether
    that margin is below ``settings.low_margin_logodds``; ``None`` for a tracklet that started its
    identity."""
    if score is None:
        return None
    margin = None if threshold is None else link_margin_logodds(score, threshold)
    return {
        "score": round(score, 4),
        "margin_logodds": None if margin is None else round(margin, 3),
        "low": margin is not None and margin < settings.low_margin_logodds,
    }


def _tracklet_row(t: Any, gid: int, link: dict[str, Any] | None, settings: Any) -> dict[str, Any]:
    """One entry of the page's ``tracklets`` list (times in seconds, frames as recorded)."""
    return {
        "cam_id": t.cam_id,
        "track_id": t.track_id,
        "gid": gid,
        "t_start_s": round(t.t_start_s, 3),
        "t_end_s": round(t.t_end_s, 3),
        "start_frame": t.start_frame,
        "end_frame": t.end_frame,
        "boxes": len(t.boxes),
        "short": t.t_end_s - t.t_start_s < settings.short_tracklet_s,
        "link": link,
    }


def report_data(
    tracks: TracksFile,
    *,
    summary: Any = None,
    config: Any = None,
    config_text: str | None = None,
    links: Mapping[tuple[str, int], float | None] | None = None,
    crops: Mapping[tuple[int, str], Sequence[str]] | None = None,
    videos: Mapping[str, str] | None = None,
    colours: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """The dict the page embeds (shape in the module docstring).

    Args:
        tracks: the run's cameras and identities.
        summary: the run's :class:`~pipeline.loop.RunSummary`, or ``None`` (an existing tracks file).
        config: the :class:`~pipeline.config.PipelineConfig` used (report settings, link threshold).
        config_text: the configuration shown on the page (YAML); ``None`` = not shown.
        links: ``(cam_id, track_id) → P(same)`` of the link that joined the tracklet (``None`` = it
            started its identity); tracklets absent here use their record's ``link`` field.
        crops: ``(global_id, cam_id) → crop paths`` relative to the page.
        videos: ``cam_id → annotated video path`` relative to the page.
        colours: ``global_id → CSS colour``; default: grey.
    """
    from pipeline.config import ReportConfig

    settings = config.report if config is not None else ReportConfig()
    threshold = config.association.threshold if config is not None else None
    links, crops, videos, colours = links or {}, crops or {}, videos or {}, colours or {}
    cameras = [_camera(c, videos.get(c.cam_id)) for c in tracks.cameras]
    rows: list[dict[str, Any]] = []
    cards: list[dict[str, Any]] = []
    for identity in sorted(tracks.identities, key=lambda i: i.global_id):
        gid = identity.global_id
        indices: list[int] = []
        per_cam: dict[str, list[float]] = {}
        for t in sorted(identity.tracklets, key=lambda t: (t.t_start_s, t.cam_id, t.track_id)):
            key = (t.cam_id, t.track_id)
            link = _link_entry(links[key] if key in links else _record_link(t), threshold, settings)
            indices.append(len(rows))
            rows.append(_tracklet_row(t, gid, link, settings))
            span = per_cam.setdefault(t.cam_id, [t.t_start_s, t.t_end_s])
            span[0], span[1] = min(span[0], t.t_start_s), max(span[1], t.t_end_s)
        low_margin = any(rows[i]["link"] is not None and rows[i]["link"]["low"] for i in indices)
        cards.append(
            {
                "gid": gid,
                "colour": colours.get(gid, "#888888"),
                "cams": sorted(per_cam),
                "t_first_s": round(min(s[0] for s in per_cam.values()), 3) if per_cam else 0.0,
                "t_last_s": round(max(s[1] for s in per_cam.values()), 3) if per_cam else 0.0,
                "tracklets": indices,
                "per_camera": [
                    {
                        "cam_id": c,
                        "t_first_s": round(s[0], 3),
                        "t_last_s": round(s[1], 3),
                        "crops": list(crops.get((gid, c), ())),
                    }
                    for c, s in sorted(per_cam.items())
                ],
                "low_margin": low_margin,
            }
        )
    durations = [c["duration_s"] for c in cameras if c["duration_s"] is not None]
    duration = max([*durations, *(r["t_end_s"] for r in rows)], default=0.0)
    return {
        "complete": bool(getattr(tracks, "complete", True)),
        "cameras": cameras,
        "summary": _summary(summary),
        "config": config_text,
        "identities": cards,
        "tracklets": rows,
        "transitions": transitions(tracks),
        "unlinked": [i for card in cards if len(card["tracklets"]) == 1 for i in card["tracklets"]],
        "short": [i for i, r in enumerate(rows) if r["short"]],
        "settings": {**dataclasses.asdict(settings), "duration_s": round(duration, 3)},
    }
