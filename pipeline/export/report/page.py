"""The report page: one ``index.html`` holding its style, its script and its data.

The template, style sheet and script ship as package data in ``assets/`` (``page.html``,
``style.css``, ``app.js``: vanilla JavaScript, no library, no network). :func:`page_html`
inlines them with the report's data as JSON in ``<script id="report-data"
type="application/json">``, so the page opens from ``file://`` in any browser; crops and videos
are files beside it, loaded lazily.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["page_html"]


def _asset(name: str) -> str:
    return resources.files("pipeline.export.report").joinpath("assets", name).read_text(encoding="utf-8")


def _json_for_script(data: dict[str, Any]) -> str:
    """JSON that cannot end its ``<script>`` element early (``<``, ``>``, ``&`` escaped).

    >>> _json_for_script({"a": "</script>"})
    '{"a":"\\\\u003c/script\\\\u003e"}'
    """
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page_html(data: dict[str, Any]) -> str:
    """The whole ``index.html`` for ``data`` (:func:`pipeline.export.report.data.report_data`)."""
    page = _asset("page.html")
    for marker, text in (
        ("/*STYLE*/", _asset("style.css")),
        ("/*SCRIPT*/", _asset("app.js")),
        ("/*DATA*/", _json_for_script(data)),
    ):
        head, sep, tail = page.partition(marker)
        if not sep:
            raise RuntimeError(f"report template lacks {marker}")
        page = head + text + tail
    return page
