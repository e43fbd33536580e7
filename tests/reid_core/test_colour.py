"""reid_core.data.colour: per-camera grey-world gains, their running mean and their bounds."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from reid_core.data.colour import MAX_GAIN, REFERENCE_BGR, GreyWorld, frame_mean_bgr


def flat(bgr: tuple[float, float, float], size: int = 16) -> np.ndarray:
    return np.broadcast_to(np.asarray(bgr, np.uint8), (size, size, 3)).copy()


@pytest.mark.parametrize(
    ("frame_bgr", "gains"),
    [
        (tuple(REFERENCE_BGR.round()), (1.0, 1.0, 1.0)),  # an average camera is left alone
        ((52.0, 58.0, 62.0), tuple(REFERENCE_BGR / [52.0, 58.0, 62.0])),  # dark: brightened
        ((200.0, 116.0, 124.0), (REFERENCE_BGR[0] / 200.0, 1.0, 1.0)),  # blue cast: blue damped
        ((10.0, 116.0, 250.0), (MAX_GAIN, 1.0, 1.0 / MAX_GAIN)),  # extreme: clipped to the bounds
        ((0.0, 0.0, 0.0), (MAX_GAIN,) * 3),  # black: no division by zero
    ],
)
def test_gains_map_the_mean_frame_colour_to_the_reference(
    frame_bgr: tuple[float, ...], gains: tuple[float, ...]
) -> None:
    gw = GreyWorld(window_s=60.0)
    gw.observe("a", flat(frame_bgr), 0.0)  # type: ignore[arg-type]
    assert gw.gains("a") == pytest.approx(gains, abs=0.01)


def test_unseen_camera_has_unit_gains_and_cameras_are_independent() -> None:
    gw = GreyWorld(window_s=60.0)
    gw.observe("a", flat((50, 50, 50)), 0.0)
    assert gw.gains("b") == pytest.approx([1, 1, 1])
    assert gw.gains("a")[0] > 1.5


@pytest.mark.parametrize(
    ("history", "expected_mean"),
    [
        # (value, seconds since the previous frame) per frame; window 20 s
        ([(100, 0.0), (60, 0.04)], 80.0),  # at first the plain mean of the frames so far
        ([(0, 0.0)] + [(100, 0.04)] * 9, 90.0),  # a black first frame is soon outvoted
        # after a long run the exponential average: one frame 10 s later weighs 1 - exp(-10 / 20)
        ([(100, 0.0)] + [(100, 0.04)] * 999 + [(60, 10.0)], 100.0 - 40.0 * (1.0 - np.exp(-0.5))),
    ],
)
def test_running_mean_is_the_plain_mean_then_an_exponential_average(
    history: list[tuple[int, float]], expected_mean: float
) -> None:
    gw = GreyWorld(window_s=20.0)
    t = 5.0
    for value, dt in history:
        t += dt
        gw.observe("a", flat((value, value, value)), t)
    assert gw.gains("a")[1] == pytest.approx(REFERENCE_BGR[1] / expected_mean, rel=1e-3)


def test_apply_scales_rounds_and_saturates_without_touching_the_input() -> None:
    gw = GreyWorld(window_s=60.0)
    gw.observe("a", flat((52, 58, 62)), 0.0)  # gains ~ (2.0, 2.0, 2.0)
    crop = flat((10, 100, 200), size=4)
    out = gw.apply("a", crop)
    assert out.dtype == np.uint8 and out.shape == crop.shape
    expected = np.clip(np.array([10, 100, 200]) * gw.gains("a") + 0.5, 0, 255).astype(np.uint8)
    assert (out == expected).all() and out[0, 0, 2] == 255
    assert (crop == flat((10, 100, 200), size=4)).all()


@pytest.mark.parametrize("window_s", [0.0, -1.0, float("nan")])
def test_bad_window_is_refused(window_s: float) -> None:
    with pytest.raises(ValueError, match="window_s"):
        GreyWorld(window_s=window_s)


@pytest.mark.parametrize(
    ("size_wh", "exact"),
    [((640, 360), True), ((640, 480), True), ((960, 540), True), ((1280, 720), False), ((1920, 1080), False)],
)
def test_frame_mean_every_pixel_up_to_960x540_and_close_above(size_wh: tuple[int, int], exact: bool) -> None:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (45, 80, 3), dtype=np.uint8)  # smooth-ish content once scaled up
    image = cv2.resize(small, size_wh, interpolation=cv2.INTER_CUBIC)
    full = np.asarray(cv2.mean(image)[:3], np.float32)
    got = frame_mean_bgr(image)
    assert got.shape == (3,) and got.dtype == np.float32
    if exact:
        np.testing.assert_array_equal(got, full)
    else:
        np.testing.assert_allclose(got, full, atol=0.5)
