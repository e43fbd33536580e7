"""The shipped pipeline config set up for the tests' fake re-ID model (``reid.model: fake``)."""

from __future__ import annotations

import dataclasses

from pipeline.config import PipelineConfig, load_config


def fake_reid_config() -> PipelineConfig:
    """The shipped config with the fake re-ID model (conftest's ``FakeMatcher``), whose scores are
    probabilities already (no calibration) and which reads colour codes from crops (kept as seen)."""
    cfg = load_config()
    identity = {"score_scale": 1.0, "score_bias_logodds": 0.0}
    identity |= {"same_camera_score_scale": 1.0, "same_camera_score_bias_logodds": 0.0}
    return cfg.replace(
        reid=type(cfg.reid)(model="fake"),
        association=dataclasses.replace(cfg.association, **identity),
        tracklets=dataclasses.replace(cfg.tracklets, crop_colour="as_seen"),
    )
