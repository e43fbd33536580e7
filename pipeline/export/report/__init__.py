"""The offline HTML report of a run: ``reid-pipeline ... --report DIR`` and ``reid-eval report``.

| module | what |
|---|---|
| :mod:`~pipeline.export.report.data` | the page's data: cameras, cards, tracklets, links, transitions |
| :mod:`~pipeline.export.report.crops` | which boxes make the best crops; cutting them as small JPEGs |
| :mod:`~pipeline.export.report.page` | ``index.html``: template, style, script (``assets/``), data inlined |
| :mod:`~pipeline.export.report.sink` | :class:`ReportSink` (``--report``) and :func:`write_report` |

Open ``DIR/index.html`` in any browser: no server, no network.
"""

from __future__ import annotations

from pipeline.export.report.sink import ReportSink, write_report

__all__ = ["ReportSink", "write_report"]
