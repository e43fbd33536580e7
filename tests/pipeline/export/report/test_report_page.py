"""The page: every part inlined, and data that cannot end its script element early."""

from __future__ import annotations

import json
import re

import pytest

from pipeline.export.report.page import page_html


@pytest.mark.parametrize(
    "text",
    ["</script><script>alert(1)</script>", "<!-- a & b -->", "ünïcode ✓", "line\nbreak \u2028 sep"],
)
def test_data_round_trips_through_the_page(text: str) -> None:
    data = {"config": text, "cameras": [{"source": text}]}
    html = page_html(data)
    assert html.count("<script") == page_html({}).count("<script")  # nothing injected by the data
    match = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', html, re.S)
    assert match is not None and json.loads(match.group(1)) == data


def test_style_and_script_are_inlined_and_nothing_is_fetched() -> None:
    html = page_html({})
    assert "/*STYLE*/" not in html and "/*SCRIPT*/" not in html and "/*DATA*/" not in html
    assert "report-data" in html and ".card" in html and "openVideo" in html
    assert not re.search(r"""(src|href)=["']https?://""", html), (
        "the page must not load anything from the network"
    )
