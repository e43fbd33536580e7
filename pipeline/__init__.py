"""Orchestration: videos in, cross-camera tracks (JSON) out.

The stage modules are named after what they emit, so the listing is the data flow:
``frames → detections → tracks → tracklets → identities → export``; :mod:`pipeline.loop` is the
only module that knows the order, :mod:`pipeline.run` builds the parts from the config, and
:mod:`pipeline.cli` is the ``reid-pipeline`` command. ``docs/architecture.md`` shows the parts,
their protocols and where to add a new one.

Example (Python instead of the command)::

    from pipeline import CameraSpec, load_config, run
    from pipeline.export.tracks_json import TracksJsonSink

    cams = [CameraSpec("cam_a.mp4", "cam_a"), CameraSpec("cam_b.mp4", "cam_b")]
    summary = run(cams, [TracksJsonSink("tracks.json")], load_config())
    print(summary.format())

Names are imported lazily, so ``import pipeline.export`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["CameraSpec", "PipelineConfig", "RunSummary", "load_config", "run"]

_LAZY = {
    "CameraSpec": "pipeline.frames",
    "RunSummary": "pipeline.loop",
    "run": "pipeline.run",
    "PipelineConfig": "pipeline.config",
    "load_config": "pipeline.config",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
