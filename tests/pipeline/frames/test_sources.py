"""pipeline.frames: sources, timestamps, skipped frames, reader threads, errors naming the source."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from infra.errors import UserError
from pipeline.frames import CameraSpec, FrameSource, default_cam_id, open_source
from pipeline.frames.reader import FrameReader


def _open(source: str, cam_id: str | None = None, default_fps: float = 25.0) -> FrameSource:
    return open_source(CameraSpec(source, cam_id or default_cam_id(source)), default_fps)


def _images(n: int, size_wh: tuple[int, int] = (64, 48)) -> list[np.ndarray]:
    w, h = size_wh
    return [np.full((h, w, 3), (10 * i) % 250, np.uint8) for i in range(n)]


def test_video_file_frames_and_container_times(tmp_path: Path, pl) -> None:
    path = pl.write_video(tmp_path / "cam_x.avi", _images(12), fps=10.0)
    src = _open(str(path))
    assert src.info.cam_id == "cam_x" and src.info.kind == "video"
    assert (src.info.width, src.info.height, src.info.num_frames) == (64, 48, 12)
    assert src.info.fps == pytest.approx(10.0)
    frames = list(src.frames())
    assert [f.index for f in frames] == list(range(12))
    assert [f.time_s for f in frames] == pytest.approx([i / 10.0 for i in range(12)])
    assert frames[0].image_bgr.shape == (48, 64, 3) and frames[0].image_bgr.dtype == np.uint8
    assert src.skipped == 0
    assert len(list(src.frames())) == 12  # files can be read again (second pass for --save-video)


def test_seqinfo_beside_a_video_wins_over_the_container_rate(tmp_path: Path, pl) -> None:
    path = pl.write_video(tmp_path / "seq.avi", _images(5), fps=30.0)
    (tmp_path / "seqinfo.ini").write_text("[Sequence]\nframeRate=25\nseqLength=5\n", encoding="utf-8")
    src = _open(str(path))
    assert src.info.fps == 25.0
    assert [f.time_s for f in src.frames()] == pytest.approx([i / 25.0 for i in range(5)])


def test_folder_of_frames_in_motchallenge_layout(tmp_path: Path) -> None:
    seq = tmp_path / "TUD-Tiny"
    (seq / "img1").mkdir(parents=True)
    for i, image in enumerate(_images(6)):
        cv2.imwrite(str(seq / "img1" / f"{i + 1:06d}.jpg"), image)
    (seq / "seqinfo.ini").write_text("[Sequence]\nframeRate=14\n", encoding="utf-8")
    for source in (seq, seq / "img1"):
        src = _open(str(source))
        assert src.info.cam_id == "TUD-Tiny" and src.info.kind == "folder"
        assert src.info.fps == 14.0 and src.info.num_frames == 6
        assert [f.time_s for f in src.frames()] == pytest.approx([i / 14.0 for i in range(6)], abs=1e-6)


def test_folder_without_seqinfo_uses_the_default_fps(tmp_path: Path, caplog) -> None:
    for i, image in enumerate(_images(3)):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), image)
    src = _open(str(tmp_path), cam_id="x", default_fps=12.5)
    assert src.info.fps == 12.5 and [f.time_s for f in src.frames()] == pytest.approx([0, 0.08, 0.16])
    assert "no usable seqinfo.ini frameRate; assuming 12.5 frames/s" in caplog.text


def test_a_truncated_video_is_read_to_its_last_frame_with_a_warning(tmp_path: Path, pl, caplog) -> None:
    path = pl.write_video(tmp_path / "cut.avi", pl.render_frames([pl.Walker(1, 0, 60, 10, 1.0)], 60))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # cut in half: the header still says 60 frames
    src = _open(str(path))
    frames = list(src.frames())
    assert 0 < len(frames) < 45
    assert f"states 60 frames but only {len(frames)} could be read: truncated or damaged?" in caplog.text
    caplog.clear()
    whole = pl.write_video(tmp_path / "whole.avi", pl.render_frames([pl.Walker(1, 0, 60, 10, 1.0)], 60))
    assert len(list(_open(str(whole)).frames())) == 60 and "truncated" not in caplog.text


def test_undecodable_image_is_skipped_and_counted(tmp_path: Path) -> None:
    for i, image in enumerate(_images(5)):
        cv2.imwrite(str(tmp_path / f"{i:03d}.jpg"), image)
    (tmp_path / "002.jpg").write_bytes(b"not a jpeg")
    src = _open(str(tmp_path))
    frames = list(src.frames())
    assert [f.index for f in frames] == [0, 1, 3, 4]  # indices stay those of the source
    assert src.skipped == 1
    assert all(f.image_bgr.any() or f.index == 0 for f in frames)  # no black stand-in frame


class _FakeCapture:
    """A capture whose ``grab``/``retrieve`` fail at given frames."""

    released = 0

    def __init__(self, n: int, bad_retrieve: set[int], bad_grab: set[int]) -> None:
        self.n, self.bad_retrieve, self.bad_grab, self.pos = n, bad_retrieve, bad_grab, -1

    def isOpened(self) -> bool:
        return True

    def grab(self) -> bool:
        self.pos += 1
        return self.pos < self.n and self.pos not in self.bad_grab

    def retrieve(self):
        if self.pos in self.bad_retrieve:
            return False, None
        return True, np.full((4, 4, 3), self.pos + 1, np.uint8)

    def read(self):
        return self.retrieve() if self.grab() else (False, None)

    def get(self, prop: int) -> float:
        return self.pos * 40.0 if prop == cv2.CAP_PROP_POS_MSEC else 0.0

    def release(self) -> None:
        _FakeCapture.released += 1


def test_mid_stream_decode_failures_are_skipped_and_counted(tmp_path: Path, pl, monkeypatch) -> None:
    path = pl.write_video(tmp_path / "v.avi", _images(10), fps=25.0)
    src = _open(str(path))
    fake = _FakeCapture(10, bad_retrieve={3}, bad_grab={6})
    src.close()  # the capture of the opening; reading again reopens the file
    monkeypatch.setattr(src, "_reopen", lambda: fake)
    released = _FakeCapture.released
    frames = list(src.frames())
    assert [f.index for f in frames] == [0, 1, 2, 4, 5, 7, 8, 9]
    assert src.skipped == 2
    assert frames[3].time_s == pytest.approx(0.16)  # container time of index 4
    assert _FakeCapture.released == released + 1  # released in finally


def test_capture_released_when_the_consumer_stops_early(tmp_path: Path, pl, monkeypatch) -> None:
    path = pl.write_video(tmp_path / "v.avi", _images(10), fps=25.0)
    src = _open(str(path))
    src.close()
    monkeypatch.setattr(src, "_reopen", lambda: _FakeCapture(10, set(), set()))
    released = _FakeCapture.released
    gen = src.frames()
    next(gen)
    gen.close()
    assert _FakeCapture.released == released + 1


@pytest.mark.parametrize("kind", ["missing", "empty_file", "not_video", "empty_folder", "no_images"])
def test_bad_sources_raise_user_error_naming_them(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.mp4"
    if kind == "empty_file":
        path.write_bytes(b"")
    elif kind == "not_video":
        path.write_text("hello, I am not a video\n" * 50, encoding="utf-8")
    elif kind == "empty_folder":
        path = tmp_path / "empty"
        path.mkdir()
    elif kind == "no_images":
        path = tmp_path / "docs"
        path.mkdir()
        (path / "readme.txt").write_text("x", encoding="utf-8")
    with pytest.raises(UserError) as info:
        _open(str(path))
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_video_with_zero_frames(tmp_path: Path) -> None:
    path = tmp_path / "zero.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (32, 32))
    writer.release()
    with pytest.raises(UserError, match=r"zero\.avi"):
        _open(str(path))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("videos/cam_a.mp4", "cam_a"),
        ("0", "webcam0"),
        ("rtsp://host:554/live/door", "door"),
        ("http://host/cam7.mjpg?x=1", "cam7"),
    ],
)
def test_default_cam_id(source: str, expected: str) -> None:
    assert default_cam_id(source) == expected


def test_reader_thread_delivers_every_frame_in_order(tmp_path: Path, pl) -> None:
    path = pl.write_video(tmp_path / "v.avi", _images(20), fps=25.0)
    reader = FrameReader(_open(str(path)), queue_size=2).start()
    try:
        assert [f.index for f in reader] == list(range(20))
        assert reader.get() is None  # stays at the end
    finally:
        reader.close()


def test_reader_queue_is_bounded(tmp_path: Path, pl) -> None:
    path = pl.write_video(tmp_path / "v.avi", _images(20), fps=25.0)
    reader = FrameReader(_open(str(path)), queue_size=3).start()
    try:
        time.sleep(0.5)
        assert reader._queue.qsize() <= 3
    finally:
        reader.close()
    assert not any(t.name == "reader-v" and t.is_alive() for t in threading.enumerate())


def test_reader_re_raises_errors_on_the_consumer(tmp_path: Path, pl, monkeypatch) -> None:
    path = pl.write_video(tmp_path / "v.avi", _images(3), fps=25.0)
    src = _open(str(path))

    def broken():
        yield from ()
        raise UserError(f"{path}: cannot open video")

    monkeypatch.setattr(src, "frames", broken)
    reader = FrameReader(src, queue_size=16).start()
    with pytest.raises(UserError, match="cannot open video"):
        list(reader)
    reader.close()


def test_a_live_source_is_opened_once_and_keeps_its_first_frame(monkeypatch) -> None:
    """The capture that checked the stream is the one read: no second connection, no lost frames."""
    from pipeline.frames.live import LiveSettings

    opened: list[object] = []

    def capture(target: object, *args: object) -> _FakeCapture:
        opened.append(target)
        return _FakeCapture(5, set(), set())

    monkeypatch.setattr(cv2, "VideoCapture", capture)
    no_reconnect = LiveSettings(1.0, 1.0, 0.01, 0.01, 0)
    src = open_source(CameraSpec("rtsp://127.0.0.1:1/live", "door"), 25.0, no_reconnect)
    assert src.info.kind == "stream" and not src.info.rewindable and src.info.num_frames is None
    frames = []
    with pytest.raises(UserError, match="stream ended; gave up after 0 reconnect tries"):
        for frame in src.frames():
            frames.append(frame)
    assert opened == ["rtsp://127.0.0.1:1/live"]
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert frames[0].image_bgr[0, 0, 0] == 1  # the frame read while opening
    assert [(g.t_to_s, g.reason) for g in src.gaps] == [(None, "stream ended")]
    with pytest.raises(UserError, match="cannot be read twice"):
        list(src.frames())


@pytest.mark.parametrize(
    ("source", "kind", "live"),
    [
        ("rtsp://host/live/door", "stream", True),
        ("http://host/cam.mjpg", "stream", True),
        ("0", "webcam", True),
        ("video.mp4", "video", False),
    ],
)
def test_the_kind_that_claims_a_source(source: str, kind: str, live: bool) -> None:
    spec = CameraSpec(source, "x")
    assert (spec.kind, spec.live) == (kind, live)


def test_a_folder_is_claimed_by_the_folder_kind(tmp_path: Path) -> None:
    assert CameraSpec(str(tmp_path), "x").kind == "folder"
