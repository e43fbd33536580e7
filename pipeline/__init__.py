"""Orchestration: videos in, cross-camera tracks (JSON) out.

The stage modules are named after what they emit, so the listing is the data flow:
``frames → detections → tracks → tracklets → identities → export``; :mod:`pipeline.run` is the
only module that knows the order, :mod:`pipeline.cli` is the ``reid-pipeline`` command.

Example (Python instead of the command)::

    from pathlib import Path
    from pipeline import CameraSpec, RunOutputs, load_config, run

    cams = [CameraSpec("cam_a.mp4", "cam_a"), CameraSpec("cam_b.mp4", "cam_b")]
    summary = run(cams, RunOutputs(out=Path("tracks.json")), load_config())
    print(summary.format())

Names are imported lazily, so ``import pipeline.export`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["CameraSpec", "PipelineConfig", "RunOutputs", "RunSummary", "load_config", "run"]

_LAZY = {
    "CameraSpec": "pipeline.run",
    "RunOutputs": "pipeline.run",
    "RunSummary": "pipeline.run",
    "run": "pipeline.run",
    "PipelineConfig": "pipeline.config",
    "load_config": "pipeline.config",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
