"""Progress of a long job: a bar with ETA on a terminal, a plain periodic line otherwise.

A bar redraws itself with ``\\r``, which turns a log file into one long line of garbage; so
unless told otherwise (``mode``), a :class:`Progress` draws a bar (tqdm, with rate and ETA) only
when its stream is a terminal, and otherwise writes a plain line every ``interval_s`` seconds
(and one at the end)::

    cam_a: 1200/4500 frames (26.7%), 31.2 frames/s, ETA 1m46s

Modes (the ``--progress`` flag of ``reid-pipeline`` and ``reid-train``):

| mode | what |
|---|---|
| ``auto`` | ``bar`` when the stream is a terminal, else ``lines`` (default) |
| ``bar`` | a tqdm bar with rate and ETA, even into a file |
| ``lines`` | a plain line every ``interval_s`` seconds and at the end |
| ``off`` | nothing |
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["MODES", "Progress", "format_eta", "resolve_mode"]

MODES = ("auto", "bar", "lines", "off")


def resolve_mode(mode: str | bool | None, stream: TextIO | None = None) -> str:
    """``bar``, ``lines`` or ``off`` for a mode (``None``/``True`` = ``auto``, ``False`` = ``off``).

    >>> import io
    >>> resolve_mode("auto", io.StringIO()), resolve_mode(None, io.StringIO()), resolve_mode(False)
    ('lines', 'lines', 'off')
    """
    if mode is None or mode is True:
        mode = "auto"
    elif mode is False:
        mode = "off"
    if mode not in MODES:
        raise ValueError(f"progress mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return "bar" if isatty is not None and isatty() else "lines"


def format_eta(seconds: float) -> str:
    """A short duration: ``45s``, ``1m46s``, ``2h05m``.

    >>> format_eta(45.2), format_eta(106), format_eta(7500)
    ('45s', '1m46s', '2h05m')
    """
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


class Progress:
    """Counts work done towards ``total`` and shows it as its mode says (module docstring).

    Args:
        total: units of work in all, ``None`` when unknown (no percentage, no ETA).
        desc: what is counted (a camera id, ``train``).
        unit: name of one unit (``frame``, ``step``).
        mode: ``auto``, ``bar``, ``lines`` or ``off`` (``None``/``True`` = ``auto``, ``False`` = ``off``).
        interval_s: seconds between two plain lines.
        initial: units already done (a resumed job).
        stream: where to write (default: ``sys.stderr``).
        position: the bar's line among several bars (one per camera).
        clock: seconds now (tests pass a fake one).

    Example:
        >>> import io
        >>> out, now = io.StringIO(), [0.0]
        >>> p = Progress(100, "cam_a", "frame", "lines", interval_s=10, stream=out, clock=lambda: now[0])
        >>> now[0] = 5.0; p.update(20)   # too soon for a line
        >>> now[0] = 10.0; p.update(20)
        >>> print(out.getvalue().strip())
        cam_a: 40/100 frames (40.0%), 4.0 frames/s, ETA 15s
    """

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str,
        mode: str | bool | None = "auto",
        *,
        interval_s: float = 10.0,
        initial: int = 0,
        stream: TextIO | None = None,
        position: int = 0,
        clock: Any = time.monotonic,
    ) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.mode = resolve_mode(mode, self.stream)
        self.total, self.desc, self.unit = total, desc, unit
        self.interval_s = interval_s
        self.n = initial
        self._clock = clock
        self._start_n, self._start_t = initial, clock()
        self._next_line_t = self._start_t + interval_s
        self._closed = False
        self._bar: Any = None
        if self.mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                initial=initial,
                desc=desc,
                unit=unit,
                position=position,
                leave=True,
                file=self.stream,
                dynamic_ncols=True,
                mininterval=0.5,
            )

    def update(self, k: int = 1) -> None:
        """``k`` more units done."""
        self.n += k
        if self._bar is not None:
            self._bar.update(k)
        elif self.mode == "lines" and self._clock() >= self._next_line_t:
            self._line()

    def set_postfix(self, **values: Any) -> None:
        """Extra figures shown after the count (the bar only; lines stay short)."""
        if self._bar is not None:
            self._bar.set_postfix(refresh=False, **values)

    def write(self, text: str) -> None:
        """A line of text that does not break the bar."""
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def _line(self) -> None:
        now = self._clock()
        elapsed = now - self._start_t
        rate = (self.n - self._start_n) / elapsed if elapsed > 0 else 0.0
        units = f"{self.unit}s"
        text = f"{self.desc}: {self.n}"
        if self.total:
            text += f"/{self.total} {units} ({100.0 * self.n / self.total:.1f}%)"
        else:
            text += f" {units}"
        text += f", {rate:.1f} {units}/s"
        if self.total and rate > 0 and self.n < self.total:
            text += f", ETA {format_eta((self.total - self.n) / rate)}"
        print(text, file=self.stream, flush=True)
        self._next_line_t = now + self.interval_s

    def close(self) -> None:
        """Finish: the bar stays on screen; a last plain line is written."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self.mode == "lines":
            self._line()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
