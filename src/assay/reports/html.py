"""The HTML report: one self-contained file, charts drawn by matplotlib as inline SVG.

Nothing is fetched when the page is opened: the styles are inline, the charts are SVG
elements inside the page (text kept as text, so they stay small and searchable), and there
is no script.  matplotlib is imported only here, on first use, with the Agg backend.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from assay.reports.markdown import (
    first_lines,
    format_delta,
    format_duration,
)
from assay.reports.model import ExecutionReport, HistoryPoint, Report, TestOutcome

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["render_html"]

SLOWEST = 15
"""Tests in the "slowest tests" chart and table."""

MAX_ROWS = 500
"""Tests listed per table; the rest are counted."""

_COLORS = {
    "passed": "#2da44e",
    "flaky": "#d4a72c",
    "failed": "#cf222e",
    "skipped": "#8c959f",
    "quarantined": "#8250df",
    "duration": "#0969da",
}
_SVG_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.S)
_SVG_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_SVG_IDS = re.compile(r'(\bid="|\bhref="#|url\(#)([^")]+)')


@dataclass(frozen=True, slots=True)
class _Chart:
    title: str
    svg: Markup


def render_html(report: Report) -> str:
    """The whole report as one HTML document."""
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True)
    env.filters["duration"] = format_duration
    env.filters["first_lines"] = first_lines
    template = env.from_string(_TEMPLATE)
    return template.render(
        report=report,
        rows=[_row(item) for item in report.executions],
        total=report.total.as_dict() if len(report.executions) > 1 else None,
        charts=_charts(report),
        failing=_listed(report, lambda item: item.failing, new_first=True),
        flaky=_listed(report, lambda item: item.flaky),
        quarantined=_listed(report, lambda item: item.quarantined),
        slowest=_slowest(report)[:SLOWEST],
        max_rows=MAX_ROWS,
    )


# --- data for the template ------------------------------------------------------------------


def _row(item: ExecutionReport) -> dict[str, Any]:
    counts = item.counts.as_dict()
    delta = item.delta or {}
    changes = {
        key: format_delta(value, duration=key == "duration_ms") for key, value in delta.items()
    }
    return {
        "execution": item.execution,
        "counts": counts,
        "changes": changes,
        "base": item.base.execution if item.base else None,
        "new": sum(item.is_new_failure(t) for t in item.tests),
    }


def _listed(
    report: Report,
    pick: Callable[[ExecutionReport], list[TestOutcome]],
    *,
    new_first: bool = False,
) -> list[dict[str, Any]]:
    listed = [
        {"execution": item.execution.name, "test": test, "new": item.is_new_failure(test)}
        for item in report.executions
        for test in pick(item)
    ]
    if new_first:
        listed.sort(key=lambda entry: not entry["new"])
    return listed


def _slowest(report: Report) -> list[tuple[str, TestOutcome]]:
    tests = [(item.execution.name, t) for item in report.executions for t in item.tests]
    tests.sort(key=lambda pair: pair[1].duration_ms, reverse=True)
    return [pair for pair in tests if pair[1].duration_ms > 0]


# --- charts ---------------------------------------------------------------------------------


def _charts(report: Report) -> list[_Chart]:
    charts = []
    if any(item.counts.tests for item in report.executions):
        charts.append(_Chart("Outcomes", _svg(_outcomes_figure(report), "outcomes")))
    slowest = _slowest(report)[:SLOWEST]
    if slowest:
        several = len(report.executions) > 1
        charts.append(_Chart("Slowest tests", _svg(_slowest_figure(slowest, several), "slowest")))
    history = {wf: rows for wf, rows in report.history.items() if len(rows) > 1}
    if history:
        charts.append(_Chart("History", _svg(_history_figure(history), "history")))
    return charts


@contextmanager
def _style(salt: str) -> Iterator[None]:
    import matplotlib

    matplotlib.use("Agg")
    with matplotlib.rc_context(
        {
            "svg.fonttype": "none",  # text stays text: small, searchable, selectable
            "svg.hashsalt": f"assay-{salt}",  # stable, distinct ids per chart
            "text.parse_math": False,  # "$" in test names is just a dollar
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    ):
        yield


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _svg(build: Callable[[], Figure], salt: str) -> Markup:
    with _style(salt):
        figure = build()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = _SVG_METADATA.sub("", _SVG_PROLOG.sub("", buffer.getvalue(), count=1))
    # several charts share the page: give each one's ids (and references to them) a prefix
    text = _SVG_IDS.sub(lambda m: f"{m.group(1)}{salt}-{m.group(2)}", text)
    return Markup(text)  # matplotlib escapes every label it writes


def _outcomes_figure(report: Report) -> Callable[[], Figure]:
    def build() -> Figure:
        from matplotlib.ticker import MaxNLocator

        items = report.executions
        figure = _new_figure(8, 0.9 + 0.45 * len(items))
        axes = figure.add_subplot()
        names = [item.execution.name for item in items][::-1]
        counts = [item.counts for item in items][::-1]
        segments = {
            "passed": [c.passed - c.flaky for c in counts],
            "flaky": [c.flaky for c in counts],
            "failed": [c.failed for c in counts],
            "quarantined": [c.quarantined for c in counts],
            "skipped": [c.skipped for c in counts],
        }
        left = [0] * len(items)
        for label, values in segments.items():
            if any(values):
                axes.barh(names, values, left=left, color=_COLORS[label], label=label)
                left = [a + b for a, b in zip(left, values, strict=True)]
        axes.set_xlabel("tests")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=5, frameon=False)
        return figure

    return build


def _slowest_figure(
    slowest: Sequence[tuple[str, TestOutcome]], several: bool
) -> Callable[[], Figure]:
    def build() -> Figure:
        figure = _new_figure(8, 0.8 + 0.28 * len(slowest))
        axes = figure.add_subplot()
        labels = [_short(t.label, 70) + (f"  ({name})" if several else "") for name, t in slowest]
        seconds = [t.duration_ms / 1000 for _, t in slowest]
        colors = [_COLORS["failed"] if t.failing else _COLORS["duration"] for _, t in slowest]
        axes.barh(labels[::-1], seconds[::-1], color=colors[::-1])
        axes.set_xlabel("seconds (every attempt)")
        return figure

    return build


def _history_figure(history: dict[str, list[HistoryPoint]]) -> Callable[[], Figure]:
    def build() -> Figure:
        from matplotlib.ticker import MaxNLocator

        workflows = list(history.items())
        figure = _new_figure(8, 2.8 * len(workflows))
        for index, (workflow, points) in enumerate(workflows, start=1):
            axes = figure.add_subplot(len(workflows), 1, index)
            labels = [f"#{point.number}" for point in points]
            summaries = [point.summary for point in points]
            passed = [s.get("passed", 0) for s in summaries]
            failed = [s.get("failed", 0) + s.get("errored", 0) for s in summaries]
            skipped = [s.get("skipped", 0) for s in summaries]
            axes.bar(labels, passed, color=_COLORS["passed"], label="passed")
            axes.bar(labels, failed, bottom=passed, color=_COLORS["failed"], label="failed")
            bottoms = [p + f for p, f in zip(passed, failed, strict=True)]
            axes.bar(labels, skipped, bottom=bottoms, color=_COLORS["skipped"], label="skipped")
            axes.set_ylabel("tests")
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
            axes.set_title(workflow, loc="left", fontweight="bold")
            durations = axes.twinx()
            durations.spines["right"].set_visible(True)
            seconds = [point.duration_ms / 1000 for point in points]
            durations.plot(labels, seconds, color=_COLORS["duration"], marker="o", label="duration")
            durations.set_ylabel("seconds")
            durations.set_ylim(0, max(seconds) * 1.15 or 1.0)  # markers not clipped
            axes.tick_params(axis="x", labelrotation=45)
            bars, bar_labels = axes.get_legend_handles_labels()
            line, line_labels = durations.get_legend_handles_labels()
            axes.legend(
                bars + line,
                bar_labels + line_labels,
                loc="lower right",
                bbox_to_anchor=(1.0, 1.0),
                ncols=4,
                frameon=False,
            )
        return figure

    return build


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="assay">
<title>assay report: {{ report.executions | map(attribute='execution.name') | join(', ') }}</title>
<style>
  :root { color-scheme: light; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; }
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
         margin: 2rem auto; max-width: 72rem; padding: 0 1rem; }
  h1 { font-size: 1.5rem; margin-bottom: .2rem; }
  h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid var(--line); }
  .muted { color: var(--muted); }
  table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
  th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line);
           vertical-align: top; }
  td.num, th.num { text-align: right; white-space: nowrap; }
  .delta { color: var(--muted); font-size: .85em; }
  .new { background: #cf222e; color: #fff; border-radius: .6em; padding: 0 .45em;
         font-size: .8em; }
  code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
  pre { background: #f6f8fa; padding: .5rem; overflow-x: auto; margin: .3rem 0; }
  figure { margin: 1rem 0; }
  figure svg { max-width: 100%; height: auto; }
  figcaption { font-weight: 600; }
  .status { border-radius: .6em; padding: .05em .5em; font-size: .85em; color: #fff;
            background: #9a6700; white-space: nowrap; }
  .status.passed { background: #1a7f37; }
  .status.failed, .status.error, .status.timeout { background: #cf222e; }
  h1 .status { font-size: .6em; vertical-align: middle; }
</style>
</head>
<body>
{% set verdict = 'failed' if report.failed else 'passed' %}
<h1>assay report <span class="status {{ verdict }}">{{ verdict }}</span></h1>
<p class="muted">Generated {{ report.generated_at.strftime('%Y-%m-%d %H:%M UTC') }};
changes are against the latest finished <code>{{ report.base_branch }}</code> execution of
each workflow.</p>

<h2>Executions</h2>
<table>
<thead><tr><th>Execution</th><th>Status</th><th class="num">Tests</th><th class="num">Passed</th>
<th class="num">Failed</th><th class="num">Skipped</th><th class="num">Flaky</th>
<th class="num">Quarantined</th><th class="num">Duration</th><th>Base</th></tr></thead>
<tbody>
{% for row in rows %}
<tr>
  <td><strong>{{ row.execution.name }}</strong><br>
    <code class="muted">{{ row.execution.id }}</code></td>
  <td><span class="status {{ row.execution.status }}">{{ row.execution.status }}</span></td>
{% for key in ['tests', 'passed', 'failed', 'skipped', 'flaky', 'quarantined', 'duration_ms'] %}
  <td class="num">{{ row.counts[key] | duration if key == 'duration_ms' else row.counts[key] }}
{%- if row.changes.get(key) and key != 'quarantined' %}
 <span class="delta">({{ row.changes[key] }})</span>{% endif %}</td>
{% endfor %}
  <td>{{ row.base.name if row.base else '—' }}
{%- if row.new %} <span class="new">{{ row.new }} new</span>{% endif %}</td>
</tr>
{% endfor %}
{% if total %}
<tr><td><strong>Total</strong></td><td></td>
{% for key in ['tests', 'passed', 'failed', 'skipped', 'flaky', 'quarantined'] %}
  <td class="num">{{ total[key] }}</td>
{% endfor %}
  <td class="num">{{ total['duration_ms'] | duration }}</td><td></td></tr>
{% endif %}
</tbody>
</table>

{% for chart in charts %}
<figure>
<figcaption>{{ chart.title }}</figcaption>
{{ chart.svg }}
</figure>
{% endfor %}

{% macro tests_table(entries, show_new) %}
<table>
<thead><tr><th>Test</th><th>Execution</th><th class="num">Attempts</th>
<th class="num">Time</th><th>Message</th></tr></thead>
<tbody>
{% for entry in entries[:max_rows] %}
<tr>
  <td><code>{{ entry.test.label }}</code>
{%- if show_new and entry.new %} <span class="new">new</span>{% endif %}
{% if entry.test.file %}
  <br><span class="muted">{{ entry.test.file }}
{%- if entry.test.line is not none %}:{{ entry.test.line }}{% endif %}</span>
{% endif %}
  </td>
  <td>{{ entry.execution }}</td>
  <td class="num">{{ entry.test.attempts | length }}</td>
  <td class="num">{{ entry.test.duration_ms | duration }}</td>
  <td>{% if entry.test.message %}<details>
    <summary>{{ entry.test.message | first_lines(1, 120) }}</summary>
    <pre>{{ entry.test.message }}</pre>
{%- if entry.test.trace and entry.test.trace != entry.test.message %}
    <pre class="trace">{{ entry.test.trace }}</pre>{% endif %}</details>{% endif %}</td>
</tr>
{% endfor %}
</tbody>
</table>
{% if entries | length > max_rows %}
<p class="muted">… and {{ entries | length - max_rows }} more.</p>
{% endif %}
{% endmacro %}

<h2>Failed tests ({{ failing | length }})</h2>
{% if failing %}{{ tests_table(failing, true) }}{% else %}<p class="muted">None.</p>{% endif %}

<h2>Flaky tests: passed on retry ({{ flaky | length }})</h2>
{% if flaky %}{{ tests_table(flaky, false) }}{% else %}<p class="muted">None.</p>{% endif %}

<h2>Quarantined failures ({{ quarantined | length }})</h2>
{% if quarantined %}{{ tests_table(quarantined, false) }}
{% else %}<p class="muted">None.</p>{% endif %}

<h2>Slowest tests</h2>
{% if slowest %}
<table>
<thead><tr><th>Test</th><th>Execution</th><th>Status</th><th class="num">Time</th></tr></thead>
<tbody>
{% for name, test in slowest %}
<tr><td><code>{{ test.label }}</code></td><td>{{ name }}</td><td>{{ test.status }}</td>
<td class="num">{{ test.duration_ms | duration }}</td></tr>
{% endfor %}
</tbody>
</table>
{% else %}<p class="muted">No recorded durations.</p>{% endif %}
</body>
</html>
"""
