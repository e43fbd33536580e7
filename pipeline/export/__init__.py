"""⑥ Identities → outputs: the sinks of a run, behind a registry.

| name | flag | module | writes |
|---|---|---|---|
| ``json`` | ``--out`` | :mod:`~pipeline.export.tracks_json` | ``tracks.json`` (``pipeline/schema/``) |
| ``mot`` | ``--mot-dir`` | :mod:`~pipeline.export.mot` | ``<cam_id>.txt`` MOT files, global ids |
| ``video`` | ``--save-video`` | :mod:`~pipeline.export.video` | ``<cam_id>.mp4`` annotated videos |
| ``events`` | ``--events`` | :mod:`~pipeline.export.events` | identity decisions as JSON lines, live |
| ``report`` | ``--report`` | :mod:`~pipeline.export.report` | ``index.html``: cards, timeline, videos |

A sink's moments (check, on_assign, finish, abort) are described in :mod:`pipeline.export.base`.
A new output is one module with a :class:`BaseSink` subclass plus one line below; its class
attributes give the ``reid-pipeline`` flag that creates it.
"""

from __future__ import annotations

from infra.registry import Registry
from pipeline.export.base import BaseSink, RunResult, Sink, check_sinks

__all__ = ["SINKS", "BaseSink", "RunResult", "Sink", "check_sinks"]

SINKS: Registry[type[BaseSink]] = Registry("output")
SINKS.add("json", "pipeline.export.tracks_json:TracksJsonSink")
SINKS.add("mot", "pipeline.export.mot:MotSink")
SINKS.add("video", "pipeline.export.video:VideoSink")
SINKS.add("events", "pipeline.export.events:EventsSink")
SINKS.add("report", "pipeline.export.report:ReportSink")
