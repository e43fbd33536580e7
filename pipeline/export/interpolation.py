"""Fill each identity's gaps within one camera by smoothed interpolation (GSI of StrongSORT++).

Once identities are final, the boxes of one identity in one camera (all its tracklets there, in
frame order) have gaps: frames without a box inside a tracklet (missed detections the tracker
bridged) and between two tracklets the association joined (the tracker lost the person, e.g.
behind an occluder). :func:`interpolate_tracks` fills a gap frame by frame when

- it lasts at most ``max_gap_s`` seconds (box before to box after), and
- the person plausibly stayed in view: **not** both the box before and the box after touch a
  border of the frame (within 3 % of its size, :func:`pipeline.identities.spacetime.border_zone`).
  Leaving the view and coming back needs an exit at a border and an entry at a border; when
  either end is inside the view, the straight path between the two boxes runs inside it.

The filled boxes are linear in time between the two ends (``xyxy`` and ``time_s`` interpolated
by frame index); then each run of boxes joined by filled gaps is smoothed: ``x1, y1, x2, y2``
(equivalently centre, width, height: the maps are linear) are convolved over time with a Gaussian
of standard deviation ``smoothing_s`` seconds (``scipy.ndimage.gaussian_filter1d``, edges held:
the Gaussian-kernel equivalent of GSI's Gaussian-process regression, linear in the number of
boxes). Tracked boxes keep their frame, time and score and move with the smoothing; filled boxes
get ``score=None`` and ``interpolated=True``. A box filled between two tracklets belongs to the
earlier one, whose ``end_frame``/``t_end_s`` then cover it.

Left as they are: identities whose tracklets in a camera share a frame (no order to fill), and
boxes already marked interpolated count as tracked (running it twice adds nothing new).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d

from pipeline.identities.spacetime import border_zone
from pipeline.records import BoxRecord, CameraRecord, IdentityRecord, TrackletRecord, TracksFile

__all__ = ["count_interpolated", "interpolate_tracks"]

_EPS_S = 1e-6  # seconds: a gap of exactly max_gap_s is filled despite float rounding


def count_interpolated(tracks: TracksFile) -> int:
    """How many boxes of ``tracks`` are marked interpolated."""
    return sum(b.interpolated for i in tracks.identities for t in i.tracklets for b in t.boxes)


def interpolate_tracks(tracks: TracksFile, *, max_gap_s: float, smoothing_s: float) -> TracksFile:
    """``tracks`` with each identity's gaps within a camera filled and smoothed (module docstring).

    Args:
        tracks: the final records.
        max_gap_s: seconds; longest gap filled (box before to box after), > 0.
        smoothing_s: seconds; standard deviation of the Gaussian smoothing over time; 0 = none.

    Returns:
        A new :class:`TracksFile` (the input is not changed); identities, tracklets and cameras in
        the same order.

    Example:
        >>> cam = CameraRecord("a", "a.mp4", 10.0, 640, 480, 10)
        >>> boxes = (BoxRecord(0, 0.0, (100, 100, 150, 200)), BoxRecord(3, 0.3, (130, 100, 180, 200)))
        >>> t = TrackletRecord("a", 1, 0, 3, 0.0, 0.3, boxes)
        >>> tracks = TracksFile((cam,), (IdentityRecord(1, (t,)),))
        >>> out = interpolate_tracks(tracks, max_gap_s=1, smoothing_s=0)
        >>> [(b.frame, b.xyxy[0], b.interpolated) for b in out.identities[0].tracklets[0].boxes]
        [(0, 100.0, False), (1, 110.0, True), (2, 120.0, True), (3, 130.0, False)]
    """
    if max_gap_s <= 0 or smoothing_s < 0:
        raise ValueError(f"max_gap_s must be > 0 and smoothing_s >= 0, got {max_gap_s}, {smoothing_s}")
    cameras = {c.cam_id: c for c in tracks.cameras}
    identities = tuple(_identity(i, cameras, max_gap_s, smoothing_s) for i in tracks.identities)
    return dataclasses.replace(tracks, identities=identities)


def _identity(
    identity: IdentityRecord, cameras: dict[str, CameraRecord], max_gap_s: float, smoothing_s: float
) -> IdentityRecord:
    tracklets = list(identity.tracklets)
    for cam_id in dict.fromkeys(t.cam_id for t in identity.tracklets):
        index = [n for n, t in enumerate(tracklets) if t.cam_id == cam_id and t.boxes]
        new = _camera(
            [tracklets[n] for n in index],
            _frame_wh(cameras.get(cam_id), tracklets, cam_id),
            max_gap_s,
            smoothing_s,
        )
        for n, record in zip(index, new, strict=True):
            tracklets[n] = record
    return dataclasses.replace(identity, tracklets=tuple(tracklets))


def _frame_wh(
    camera: CameraRecord | None, tracklets: Sequence[TrackletRecord], cam_id: str
) -> tuple[int, int]:
    """The camera's frame size; unknown: the extent of its boxes (their far edges touch the border)."""
    if camera is not None and camera.width and camera.height:
        return (int(camera.width), int(camera.height))
    boxes = [b.xyxy for t in tracklets if t.cam_id == cam_id for b in t.boxes]
    return (max(1, int(max(b[2] for b in boxes))), max(1, int(max(b[3] for b in boxes))))


def _camera(
    tracklets: list[TrackletRecord], frame_wh: tuple[int, int], max_gap_s: float, smoothing_s: float
) -> list[TrackletRecord]:
    """The tracklets of one identity in one camera, filled and smoothed (same order, same count)."""
    if not tracklets:
        return tracklets
    owned = sorted(((b, n) for n, t in enumerate(tracklets) for b in t.boxes), key=lambda bn: bn[0].frame)
    frames = [b.frame for b, _ in owned]
    if len(set(frames)) != len(frames):
        return tracklets  # two tracklets (or two boxes) share a frame: no order to fill in
    runs: list[list[tuple[BoxRecord, int]]] = [[owned[0]]]
    for prev, nxt in itertools.pairwise(owned):
        if nxt[0].frame == prev[0].frame + 1 or _fillable(prev[0], nxt[0], frame_wh, max_gap_s):
            runs[-1].append(nxt)
        else:
            runs.append([nxt])
    boxes: list[list[BoxRecord]] = [[] for _ in tracklets]
    for run in runs:
        for box, owner in _fill_run(run, smoothing_s):
            boxes[owner].append(box)
    out = []
    for tracklet, own in zip(tracklets, boxes, strict=True):
        out.append(
            dataclasses.replace(
                tracklet,
                boxes=tuple(own),
                start_frame=min(tracklet.start_frame, own[0].frame),
                end_frame=max(tracklet.end_frame, own[-1].frame),
                t_start_s=min(tracklet.t_start_s, own[0].time_s),
                t_end_s=max(tracklet.t_end_s, own[-1].time_s),
            )
        )
    return out


def _fillable(before: BoxRecord, after: BoxRecord, frame_wh: tuple[int, int], max_gap_s: float) -> bool:
    """Whether the gap between two boxes is short enough and the person plausibly stayed in view."""
    if after.time_s - before.time_s > max_gap_s + _EPS_S:
        return False
    return border_zone(before.xyxy, frame_wh) == "in" or border_zone(after.xyxy, frame_wh) == "in"


def _fill_run(run: list[tuple[BoxRecord, int]], smoothing_s: float) -> list[tuple[BoxRecord, int]]:
    """One run of boxes whose gaps are all to be filled: every frame from first to last, smoothed."""
    if len(run) == 1:
        return run
    obs_frames = np.array([b.frame for b, _ in run], np.float64)
    obs_times = np.array([b.time_s for b, _ in run], np.float64)
    obs_xyxy = np.array([b.xyxy for b, _ in run], np.float64)
    frames = np.arange(int(obs_frames[0]), int(obs_frames[-1]) + 1)
    times = np.interp(frames, obs_frames, obs_times)
    xyxy = np.stack([np.interp(frames, obs_frames, obs_xyxy[:, k]) for k in range(4)], axis=1)
    if smoothing_s > 0 and len(frames) >= 3 and times[-1] > times[0]:
        seconds_per_frame = (times[-1] - times[0]) / (len(frames) - 1)
        xyxy = gaussian_filter1d(xyxy, sigma=smoothing_s / seconds_per_frame, axis=0, mode="nearest")
    tracked = {b.frame: (b, owner) for b, owner in run}
    out: list[tuple[BoxRecord, int]] = []
    owner = run[0][1]
    for k, frame in enumerate(frames.tolist()):
        box_xyxy = (float(xyxy[k, 0]), float(xyxy[k, 1]), float(xyxy[k, 2]), float(xyxy[k, 3]))
        if frame in tracked:
            box, owner = tracked[frame]
            out.append((dataclasses.replace(box, xyxy=box_xyxy), owner))
        else:
            out.append((BoxRecord(frame, float(times[k]), box_xyxy, None, True), owner))
    return out
