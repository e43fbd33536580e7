"""infra/quiet.py: native writes to stderr dropped inside the block, and only there."""

from __future__ import annotations

import os

import pytest

from infra.quiet import native_stderr_off


@pytest.mark.parametrize("enabled", [True, False])
def test_native_stderr_is_dropped_only_inside(capfd: pytest.CaptureFixture[str], enabled: bool) -> None:
    os.write(2, b"before\n")
    with native_stderr_off(enabled):
        os.write(2, b"inside\n")
    os.write(2, b"after\n")
    err = capfd.readouterr().err
    assert err == ("before\nafter\n" if enabled else "before\ninside\nafter\n")


def test_stderr_comes_back_after_an_error(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RuntimeError), native_stderr_off():
        raise RuntimeError("boom")
    os.write(2, b"back\n")
    assert capfd.readouterr().err == "back\n"
