"""Progress: a bar on a terminal, plain periodic lines otherwise (never ``\\r`` into a file), or nothing."""

from __future__ import annotations

import io

import pytest

from infra.progress import Progress, format_eta, resolve_mode


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("mode", "stream", "expected"),
    [
        ("auto", _Tty(), "bar"),
        ("auto", io.StringIO(), "lines"),
        (None, _Tty(), "bar"),
        (True, io.StringIO(), "lines"),
        (False, _Tty(), "off"),
        ("bar", io.StringIO(), "bar"),
        ("lines", _Tty(), "lines"),
        ("off", _Tty(), "off"),
    ],
)
def test_resolve_mode(mode, stream, expected: str) -> None:
    assert resolve_mode(mode, stream) == expected


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="one of auto, bar, lines, off"):
        resolve_mode("fancy")


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0s"), (59.6, "1m00s"), (61, "1m01s"), (3600, "1h00m")])
def test_format_eta(seconds: float, text: str) -> None:
    assert format_eta(seconds) == text


def _run(mode: str, stream: io.StringIO, total: int | None = 100) -> str:
    now = [0.0]
    progress = Progress(total, "cam_a", "frame", mode, interval_s=10.0, stream=stream, clock=lambda: now[0])
    for _ in range(10):
        now[0] += 3.0
        progress.update(5)
    progress.close()
    progress.close()  # a second close writes nothing more
    return stream.getvalue()


def test_lines_are_periodic_plain_and_end_with_a_last_line() -> None:
    out = _run("auto", io.StringIO())
    assert "\r" not in out
    assert out.splitlines() == [
        "cam_a: 20/100 frames (20.0%), 1.7 frames/s, ETA 48s",  # at 12 s (updates every 3 s, 5 frames each)
        "cam_a: 40/100 frames (40.0%), 1.7 frames/s, ETA 36s",  # at 24 s: 10 s after the last line
        "cam_a: 50/100 frames (50.0%), 1.7 frames/s, ETA 30s",  # the closing line, at 30 s
    ]


def test_unknown_total_gives_no_percentage_or_eta() -> None:
    out = _run("lines", io.StringIO(), total=None)
    assert out.splitlines()[-1] == "cam_a: 50 frames, 1.7 frames/s"


def test_a_bar_on_a_terminal_shows_eta_and_off_shows_nothing() -> None:
    tty = _Tty()
    _run("auto", tty)
    assert "\r" in tty.getvalue() and "50/100" in tty.getvalue()
    quiet = io.StringIO()
    _run("off", quiet)
    assert quiet.getvalue() == ""
