"""The data table under each chart: one row per series and period, a dash for no value, the
series name escaped."""

from __future__ import annotations

import re

from assay.analytics.trends import TrendPoint
from assay.server.dashboard.routes import environment
from assay.server.dashboard.views import trend_charts


def point(workflow: str, period: str, p50: float | None) -> TrendPoint:
    return TrendPoint(workflow, period, 2, 1, 3, 1.0, p50, p50)


def test_rows_follow_each_series_with_a_dash_for_no_value() -> None:
    points = [
        point("a<b", "2026-11-18", 1500.0),
        point("a<b", "2026-11-19", None),
        point("wf", "2026-11-19", 250.0),
    ]
    chart = trend_charts(points)[1]  # duration p50, in seconds
    macro = environment().from_string('{% from "macros.html" import chart %}{{ chart(item) }}')
    html = macro.render(item=chart)
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td class=\"num\">(.*?)</td></tr>", html)
    assert rows == [
        ("a&lt;b", "2026-11-18", "1.5"),
        ("a&lt;b", "2026-11-19", "\u2013"),  # an en dash
        ("wf", "2026-11-19", "0.25"),
    ]
