"""Factories for the pipeline tests: tiny synthetic videos, saved detections, a fake matcher.

Nothing here needs the network, a GPU or ``../shared``: videos are coloured rectangles moving
over a grey background, written with OpenCV into ``tmp_path``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

# Colour code → BGR colour of a synthetic person; the fake matcher reads it back from the crop.
PALETTE_BGR: dict[int, tuple[int, int, int]] = {
    1: (40, 40, 220),
    2: (40, 200, 40),
    3: (220, 60, 40),
    4: (30, 200, 220),
    5: (200, 40, 200),
}


@dataclasses.dataclass(frozen=True)
class Walker:
    """A synthetic person: a ``w × h`` rectangle of colour ``code`` moving from ``x0`` at ``vx`` px/frame.

    Visible in frames ``[start, end)`` (0-based), top at ``y``.
    """

    code: int
    start: int
    end: int
    x0: float
    vx: float
    y: float = 20.0
    w: float = 24.0
    h: float = 60.0

    def box(self, frame: int) -> tuple[float, float, float, float]:
        x = self.x0 + self.vx * (frame - self.start)
        return (x, self.y, x + self.w, self.y + self.h)


def render_frames(walkers: Sequence[Walker], num_frames: int, size_wh: tuple[int, int] = (160, 100)) -> list:
    """``num_frames`` BGR images with the walkers drawn (later walkers on top)."""
    w, h = size_wh
    frames = []
    for f in range(num_frames):
        image = np.full((h, w, 3), 128, np.uint8)
        for walker in walkers:
            if walker.start <= f < walker.end:
                x1, y1, x2, y2 = (round(v) for v in walker.box(f))
                image[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] = PALETTE_BGR[walker.code]
        frames.append(image)
    return frames


def write_video(path: Path, frames: Sequence[np.ndarray], fps: float = 25.0) -> Path:
    """Write ``frames`` as an MJPG ``.avi`` (always available in OpenCV builds) or the codec of ``path``."""
    import cv2

    h, w = frames[0].shape[:2]
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, (w, h))
    assert writer.isOpened(), f"cannot write {path}"
    for image in frames:
        writer.write(image)
    writer.release()
    return path


def write_detections(path: Path, walkers: Sequence[Walker], num_frames: int, score: float = 0.9) -> Path:
    """The walkers' boxes as MOTChallenge detections (``frame`` 1-based, ``id`` -1, tlwh)."""
    lines = []
    for f in range(num_frames):
        for walker in walkers:
            if walker.start <= f < walker.end:
                x1, y1, x2, y2 = walker.box(f)
                lines.append(f"{f + 1},-1,{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{score},-1,-1,-1")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class FakeEncoded:
    """Rows of colour codes (what the fake matcher 'encodes')."""

    def __init__(self, codes: Sequence[int]) -> None:
        self.codes = np.asarray(codes, np.int64)

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, index) -> FakeEncoded:
        return FakeEncoded(self.codes[np.asarray(index)])


class FakeMatcher:
    """A matcher whose P(same) is 0.95 for crops of the same colour code and 0.05 otherwise.

    ``encode`` reads the colour at the crop's centre and maps it to the nearest palette code;
    crops can also be given as ``np.full((h, w, 3), code)`` tiny arrays via :func:`code_crop`.
    """

    def __init__(self) -> None:
        self.encoded_crops = 0
        self.scored_pairs = 0
        self.renormalised_on: list[int] = []  # crops per camera normalisation (reid.camera_norm)

    def renormalised(self, crops_bgr: Sequence[np.ndarray]) -> FakeMatcher:
        """Camera normalisation: the codes do not depend on moments, so this matcher itself."""
        self.renormalised_on.append(len(crops_bgr))
        return self

    @staticmethod
    def code_of(crop: np.ndarray) -> int:
        centre = crop[crop.shape[0] // 2, crop.shape[1] // 2].astype(np.float64)
        if crop.shape[0] == 1 and crop.shape[1] == 1:
            return int(centre[0])
        dist = {c: float(np.abs(centre - np.asarray(bgr)).sum()) for c, bgr in PALETTE_BGR.items()}
        return min(dist, key=dist.__getitem__)

    def encode(self, crops_bgr: Sequence[np.ndarray]) -> FakeEncoded:
        self.encoded_crops += len(crops_bgr)
        return FakeEncoded([self.code_of(c) for c in crops_bgr])

    def embed(self, enc: FakeEncoded) -> np.ndarray:
        out = np.zeros((len(enc), 8), np.float32)
        out[np.arange(len(enc)), enc.codes % 8] = 1.0
        return out

    def score(self, enc_a: FakeEncoded, enc_b: FakeEncoded) -> np.ndarray:
        self.scored_pairs += len(enc_a) * len(enc_b)
        same = enc_a.codes[:, None] == enc_b.codes[None, :]
        return np.where(same, 0.95, 0.05).astype(np.float32)

    def pool(self, enc: FakeEncoded) -> FakeEncoded:
        """One row for a tracklet: its most frequent code (``association.crop_pooling: mean``)."""
        return FakeEncoded([int(np.bincount(enc.codes).argmax())])


def code_crop(code: int) -> np.ndarray:
    """A 1×1 'crop' carrying a colour code directly (for :class:`FakeMatcher`)."""
    return np.full((1, 1, 3), code, np.uint8)


@pytest.fixture
def fake_matcher() -> FakeMatcher:
    return FakeMatcher()


@pytest.fixture(scope="session")
def tiny_reid_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny, untrained Siamese network saved as ``reid_core`` weights (the real inference path)."""
    model_mod = pytest.importorskip("reid_core.model", reason="reid_core.model not there yet")
    weights_mod = pytest.importorskip("reid_core.weights", reason="reid_core.weights not there yet")
    pytest.importorskip("reid_core.inference", reason="reid_core.inference not there yet")
    import torch

    torch.manual_seed(0)
    cfg = model_mod.ModelConfig(pretrained=False, corr_channels=8, fc_dims=(16, 8), embed_dim=8)
    model = model_mod.build_model(cfg, load_imagenet=False)
    path = tmp_path_factory.mktemp("reid") / "tiny.safetensors"
    meta = {"format": weights_mod.FORMAT, "version": 1, "model": dataclasses.asdict(cfg)}
    weights_mod.save_weights(path, model.state_dict(), meta)
    return path


@pytest.fixture
def two_cam_scene(tmp_path: Path) -> dict:
    """Two synthetic cameras (MJPG .avi, 25 fps, 160×100, 50 frames) and their saved detections.

    Person 1 (red) walks through cam_a in frames 0–19 and then through cam_b in frames 25–49;
    person 2 (green) stays in cam_a for frames 0–49; person 3 (blue) is in cam_b for frames 0–14.
    """
    walkers = {
        "cam_a": [Walker(1, 0, 20, 10, 5.0), Walker(2, 0, 50, 110, 0.2)],
        "cam_b": [Walker(1, 25, 50, 10, 4.0), Walker(3, 0, 15, 100, -1.0)],
    }
    n = 50
    videos = {}
    dets = tmp_path / "dets"
    dets.mkdir()
    for cam, ws in walkers.items():
        videos[cam] = write_video(tmp_path / f"{cam}.avi", render_frames(ws, n))
        write_detections(dets / f"{cam}.txt", ws, n)
    return {"videos": videos, "dets": dets, "walkers": walkers, "num_frames": n, "root": tmp_path}


@pytest.fixture
def pl():
    """The helpers above, for test modules (conftest is not importable as a module here)."""
    import types

    return types.SimpleNamespace(
        PALETTE_BGR=PALETTE_BGR,
        Walker=Walker,
        render_frames=render_frames,
        write_video=write_video,
        write_detections=write_detections,
        FakeMatcher=FakeMatcher,
        FakeEncoded=FakeEncoded,
        code_crop=code_crop,
    )


@pytest.fixture
def sample_frames():
    """``sample_frames(step)``: every ``step``-th frame of the sample's cam_a, then cam_b (skips the
    test where ``sample_videos/`` is not in the checkout)."""
    from pipeline.frames import CameraSpec, open_source

    sample = Path(__file__).resolve().parents[2] / "sample_videos"
    if not (sample / "cam_a.mp4").is_file():
        pytest.skip("sample_videos/ not in this checkout")

    def frames(step: int) -> list:
        out = []
        for cam in ("cam_a", "cam_b"):
            source = open_source(CameraSpec(str(sample / f"{cam}.mp4"), cam), 25.0)
            out += [f for f in source.frames() if f.index % step == 0]
            source.close()
        return out

    return frames
