"""The loop split: producers' batches merged by close key give the associator the same calls, whatever
the grouping of cameras, the order batches arrive in, or a producer replaying from the start."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest
from fake_reid_config import fake_reid_config

from pipeline.config import load_config
from pipeline.frames import CameraSpec
from pipeline.identities import MATCHERS, Assignment, Identity
from pipeline.loop import (
    END_OF_STREAM,
    AssociationConsumer,
    CameraEntry,
    LoopResult,
    RunSummary,
    StreamLoop,
    TrackletBatch,
)
from pipeline.parts import build_detector, build_producer, open_sources
from pipeline.tracklets import Tracklet


class RecordingAssociator:
    """Records every call; refuses a tracklet given twice (as the online associator does)."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.seen: set[tuple[str, int]] = set()

    def add(self, tracklets: Sequence[Tracklet]) -> list[Assignment]:
        keys = sorted(t.key for t in tracklets)
        assert not self.seen.intersection(keys), "tracklet added twice"
        self.seen.update(keys)
        self.calls.append(("add", tuple(keys)))
        return []

    def evict_before(self, t_s: float) -> None:
        self.calls.append(("evict", t_s))

    def finish(self) -> list[Identity]:
        return [Identity(k, (key,)) for k, key in enumerate(sorted(self.seen), 1)]

    @property
    def num_identities(self) -> int:
        return len(self.seen)


def _entry(cam: str, t: float, ids: Sequence[int], open_s: float | None, phase: int = 0) -> CameraEntry:
    return CameraEntry(
        cam, (t, phase), [Tracklet(cam, i, [0], [t], [(0, 0, 1, 1)], [1.0]) for i in ids], open_s
    )


def _batch(entries: list[CameraEntry], watermarks: dict) -> TrackletBatch:
    return TrackletBatch(entries, dict(watermarks), {})


# Producer "A" (cam_a) and producer "B" (cam_b), two batches each; the last one ends the camera.
A1 = _batch([_entry("cam_a", 0.04, [1], 0.0), _entry("cam_a", 0.08, [], 0.08)], {"cam_a": (0.08, 0)})
A2 = _batch([_entry("cam_a", 0.12, [2], None), _entry("cam_a", 0.12, [3], None, 1)], {"cam_a": END_OF_STREAM})
B1 = _batch([_entry("cam_b", 0.04, [7], 0.02)], {"cam_b": (0.10, 0)})
B2 = _batch([_entry("cam_b", 0.12, [8], None), _entry("cam_b", 0.16, [9], None, 1)], {"cam_b": END_OF_STREAM})


def _run(order: Sequence[TrackletBatch]) -> list[tuple]:
    assoc = RecordingAssociator()
    consumer = AssociationConsumer(assoc, ["cam_a", "cam_b"], {"reid": 0.0})
    for batch in order:
        consumer.push(batch)
    assert consumer.done
    consumer.finish()
    return assoc.calls


@pytest.mark.parametrize(
    "order",
    [
        [A1, B1, A2, B2],
        [B1, B2, A1, A2],
        [A1, A2, B1, B2],
        [B1, A1, B2, A2],
        [A1, B1, A1, A2, B1, B2, A2],  # a restarted producer resending what was received: ignored
    ],
    ids=["interleaved", "b-first", "a-first", "b-then-a", "replayed"],
)
def test_the_associator_sees_the_same_calls_whatever_the_arrival_order(order: list[TrackletBatch]) -> None:
    calls = _run(order)
    assert calls[0] == ("add", (("cam_a", 1), ("cam_b", 7)))
    # after key 0.04: cam_a's oldest open starts at 0.0, cam_b's at 0.02 → evict before 0.0
    assert calls[1] == ("evict", 0.0)
    assert calls[2:] == [
        ("add", (("cam_a", 2), ("cam_b", 8))),
        ("add", (("cam_a", 3),)),
        ("add", (("cam_b", 9),)),
    ]


def test_a_key_waits_until_every_camera_passed_it() -> None:
    assoc = RecordingAssociator()
    consumer = AssociationConsumer(assoc, ["cam_a", "cam_b"], {"reid": 0.0})
    consumer.push(A1)
    assert assoc.calls == []  # cam_b has not reached 0.04 yet
    consumer.push(_batch([], {"cam_b": (0.04, 0)}))
    assert assoc.calls == [("add", (("cam_a", 1),)), ("evict", 0.0)]
    assert not consumer.done
    with pytest.raises(RuntimeError, match="cam_a"):
        consumer.finish()


def test_a_lost_camera_is_reported_and_the_others_go_on() -> None:
    assoc = RecordingAssociator()
    consumer = AssociationConsumer(assoc, ["cam_a", "cam_b"], {"reid": 0.0})
    consumer.push(A1)
    consumer.push(A2)
    consumer.push(B1)
    consumer.lose(["cam_b"])
    consumer.lose(["cam_b"])  # twice: reported once
    assert consumer.done and consumer.lost == ["cam_b"]
    assert [c for c in assoc.calls if c[0] == "add"] == [
        ("add", (("cam_a", 1), ("cam_b", 7))),
        ("add", (("cam_a", 2),)),
        ("add", (("cam_a", 3),)),
    ]
    result = LoopResult.from_parts(consumer, consumer.finish(), [])
    assert result.lost == ["cam_b"] and set(result.tracklets) == {
        ("cam_a", 1),
        ("cam_a", 2),
        ("cam_a", 3),
        ("cam_b", 7),
    }


def test_end_of_stream_orders_after_every_frame_key() -> None:
    assert (0.12, 0) < (0.12, 1) < END_OF_STREAM
    assert END_OF_STREAM[0] == math.inf


@pytest.fixture
def fake_reid(fake_matcher):
    MATCHERS.add("fake", lambda weights, device: fake_matcher)
    yield fake_matcher
    MATCHERS.remove("fake")


def _grouped_run(scene: dict, groups: list[list[str]]) -> LoopResult:
    """One producer per group of cameras, their batches pushed round-robin into one consumer."""
    from pipeline.parts import load_matcher
    from pipeline.run import _build_associator

    cfg = fake_reid_config()
    cams = [CameraSpec(str(p), c) for c, p in scene["videos"].items()]
    sources = open_sources(cams, cfg.runtime.default_fps)
    try:
        matcher = load_matcher(cfg)
        consumer = AssociationConsumer(
            _build_associator(cfg, matcher, sources, []), list(sources), {"reid": 0.0}
        )
        producers = [
            build_producer(
                cfg,
                {c: sources[c] for c in group},
                build_detector(cfg, group, scene["dets"]),
                matcher,
                progress=False,
            )
            for group in groups
        ]
        if len(producers) == 1:
            return StreamLoop(producers[0], consumer, RunSummary()).run()
        streams = [p.batches() for p in producers]
        while streams:
            for stream in list(streams):
                batch = next(stream, None)
                if batch is None:
                    streams.remove(stream)
                else:
                    consumer.push(batch)
        return LoopResult.from_parts(consumer, consumer.finish(), [p.stats() for p in producers])
    finally:
        for source in sources.values():
            source.close()


def test_grouping_cameras_into_producers_does_not_change_the_identities(
    two_cam_scene: dict, fake_reid
) -> None:
    one = _grouped_run(two_cam_scene, [["cam_a", "cam_b"]])
    two = _grouped_run(two_cam_scene, [["cam_b"], ["cam_a"]])
    assert one.identities == two.identities and len(one.identities) == 3
    assert {k: t.to_record() for k, t in one.tracklets.items()} == {
        k: t.to_record() for k, t in two.tracklets.items()
    }
    assert one.frames == two.frames == {"cam_a": 50, "cam_b": 50}
    assert all(t.encoded and not t.crops for t in two.tracklets.values())  # encodings travel, never crops


def _produce(cfg, scene: dict, matcher) -> tuple:
    """One producer for the scene's cameras, run to the end: (producer, sources (closed), batches)."""
    cams = [CameraSpec(str(p), c) for c, p in scene["videos"].items()]
    sources = open_sources(cams, cfg.runtime.default_fps)
    try:
        detector = build_detector(cfg, list(sources), scene["dets"])
        producer = build_producer(cfg, sources, detector, matcher, progress=False)
        return producer, sources, list(producer.batches())
    finally:
        for source in sources.values():
            source.close()


def test_the_producer_emits_watermarks_for_every_camera_and_ends_them(
    two_cam_scene: dict, tmp_path: Path
) -> None:
    producer, sources, batches = _produce(load_config(), two_cam_scene, None)
    assert all(producer.trackers[c].frame_wh == sources[c].info.frame_wh for c in sources)  # border rule
    assert all(set(b.watermarks) == {"cam_a", "cam_b"} for b in batches)
    assert batches[-1].watermarks == {"cam_a": END_OF_STREAM, "cam_b": END_OF_STREAM}
    keys = {c: [e.key for b in batches for e in b.entries if e.cam_id == c] for c in ("cam_a", "cam_b")}
    assert all(k == sorted(k) for k in keys.values())  # per camera, keys only go forward
    assert producer.stats().frames == {"cam_a": 50, "cam_b": 50}


@pytest.mark.parametrize(("threads", "expected"), [(1, 1), (2, 2), (0, None)])
def test_reid_threads_set_torch_threads_for_a_cpu_matcher(
    fake_reid, threads: int, expected: int | None
) -> None:
    """``reid.threads`` caps torch's CPU threads (process-wide) when the model loads; 0 leaves them."""
    import torch

    from pipeline.parts import load_matcher

    before = torch.get_num_threads()
    cfg = load_config()
    try:
        torch.set_num_threads(3)
        load_matcher(cfg.replace(reid=type(cfg.reid)(model="fake", threads=threads)))
        assert torch.get_num_threads() == (3 if expected is None else expected)
    finally:
        torch.set_num_threads(before)


# -- camera normalisation: a camera's tracklets wait for its moments ------------------------------
def _closed(cam: str, track_id: int, n_crops: int, code: int = 1) -> Tracklet:
    import numpy as np

    from pipeline.tracklets import Crop

    t = Tracklet(cam, track_id, [0], [0.0], [(0, 0, 1, 1)], [1.0])
    t.crops = [Crop(i, 0.1 * i, 1.0, np.full((1, 1, 3), code, np.uint8)) for i in range(n_crops)]
    return t


@pytest.mark.parametrize(
    ("crops", "max_wait_s", "steps", "ready", "measured_on"),
    [
        # (camera, crops of the tracklet closing (None: none closes), media second, source ended)
        (
            4,
            None,
            [("a", 2, 1.0, False), ("a", None, 2.0, False), ("a", 3, 3.0, False)],
            [False, False, True],
            [4],
        ),
        (100, None, [("a", 2, 1.0, False), ("a", None, 2.0, True)], [False, True], [2]),  # the end flushes
        (
            100,
            5.0,
            [("a", 2, 1.0, False), ("a", None, 5.9, False), ("a", None, 6.0, False)],
            [False, False, True],
            [2],
        ),
        (
            4,
            None,
            [("a", None, 1.0, False), ("a", None, 2.0, True)],
            [True, True],
            [],
        ),  # nothing held, nothing waits
        (
            2,
            None,
            [("a", 2, 1.0, False), ("a", 5, 2.0, False)],
            [True, True],
            [2],
        ),  # measured once, then encoded at once
        (
            2,
            None,
            [("a", 2, 1.0, False), ("b", 1, 1.0, False), ("b", 1, 2.0, False)],
            [True, False, True],
            [2, 2],
        ),
        (0, None, [("a", 2, 1.0, False)], [True], []),  # no camera normalisation
    ],
)
def test_a_cameras_tracklets_wait_for_its_moments(
    fake_matcher,
    crops: int,
    max_wait_s: float | None,
    steps: list[tuple[str, int | None, float, bool]],
    ready: list[bool],
    measured_on: list[int],
) -> None:
    from pipeline.loop import TrackletEncoder

    encoder = TrackletEncoder(
        fake_matcher, crops_per_pair=4, camera_norm_crops=crops or None, camera_norm_max_wait_s=max_wait_s
    )
    given: list[Tracklet] = []
    got = []
    for k, (cam, n, now_s, final) in enumerate(steps):
        closed = [] if n is None else [_closed(cam, k, n)]
        given += closed
        got.append(encoder.take(cam, closed, now_s=now_s, final=final))
        if got[-1]:  # ready: every tracklet of that camera given so far is encoded, crops freed
            assert all(t.encoded and not t.crops for t in given if t.cam_id == cam)
        else:
            assert not any(t.encoded for t in given if t.cam_id == cam)
    assert got == ready
    assert fake_matcher.renormalised_on == measured_on


def test_a_matcher_that_cannot_renormalise_encodes_at_once() -> None:
    from pipeline.loop import TrackletEncoder

    class Plain:
        def encode(self, crops):  # pragma: no cover - not reached: FakeEncoded below
            raise AssertionError

    encoder = TrackletEncoder(None, crops_per_pair=4, camera_norm_crops=8)
    t = _closed("a", 1, 3)
    assert encoder.camera_norm_crops is None and encoder.take("a", [t], now_s=0.0, final=False)
    assert not t.crops and not t.encoded  # linking off: crops freed, nothing encoded
    assert TrackletEncoder(Plain(), crops_per_pair=4, camera_norm_crops=8).camera_norm_crops is None


def test_held_tracklets_keep_the_close_key_order(two_cam_scene: dict, fake_reid) -> None:
    """Camera normalisation holds a camera's entries and watermark: keys and watermarks still only
    go forward, and the same tracklets are sent as by a run that encodes at once."""
    import dataclasses

    from pipeline.parts import load_matcher

    cfg = fake_reid_config()
    held = dataclasses.replace(
        cfg, reid=dataclasses.replace(cfg.reid, camera_norm=True, camera_norm_crops=10)
    )
    off = dataclasses.replace(cfg, reid=dataclasses.replace(cfg.reid, camera_norm=False))
    runs = {}
    for name, c in (("held", held), ("off", off)):
        matcher = load_matcher(c)
        _, sources, batches = _produce(c, two_cam_scene, matcher)
        keys = {cam: [e.key for b in batches for e in b.entries if e.cam_id == cam] for cam in sources}
        assert all(k == sorted(k) for k in keys.values())
        marks = {cam: [b.watermarks[cam] for b in batches] for cam in sources}
        assert all(m == sorted(m) for m in marks.values())  # watermarks never go back
        for cam in sources:  # no entry is sent after the watermark passed its key
            for i, b in enumerate(batches):
                for e in b.entries:
                    if e.cam_id == cam and i > 0:
                        assert e.key > batches[i - 1].watermarks[cam]
        runs[name] = [sorted(t.key for e in b.entries for t in e.tracklets) for b in batches]
        runs[name + "-renormalised"] = list(matcher.renormalised_on)
        matcher.renormalised_on.clear()  # one fake matcher for both runs
    flat = {n: [k for b in runs[n] for k in b] for n in ("held", "off")}
    assert sorted(flat["held"]) == sorted(flat["off"]) and flat["held"]
    assert runs["held-renormalised"] and all(n >= 1 for n in runs["held-renormalised"])
    assert runs["off-renormalised"] == []
