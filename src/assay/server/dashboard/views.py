"""What the dashboard's pages show, gathered through the application facade and the
analytics and reports packages (the calls the API makes), shaped for the templates."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from assay.server.filters import RANGES, execution_filter
from assay.status import ExecutionStatus

if TYPE_CHECKING:
    from assay.analytics.trends import TrendPoint
    from assay.app import Assay
    from assay.reports.model import TestOutcome
    from assay.spec.workflow import ParamSpec
    from assay.store.tables import ExecutionRow

__all__ = [
    "RANGES",
    "STATUS_MARKS",
    "ConfigField",
    "LogSection",
    "config_fields",
    "execution_filter",
    "execution_summary",
    "log_sections",
]

STATUS_MARKS: dict[str, str] = {
    "queued": "◷",
    "running": "▶",
    "passed": "✓",
    "failed": "✗",
    "errored": "✗",
    "error": "!",
    "aborted": "■",
    "timeout": "⌛",
    "skipped": "\u2013",
    "quarantined": "⊘",
    "flaky": "≈",
}
"""A symbol beside every status word: status is never told by colour alone."""

_STEP_HEADER = re.compile(r"^=== step (?P<name>.*) ===$")


def execution_summary(row: ExecutionRow) -> dict[str, Any]:
    """One execution as a list row (also the JSON of the live list)."""
    summary = row.summary or {}
    return {
        "id": row.id,
        "name": row.name,
        "workflow": row.workflow,
        "status": row.status,
        "mark": STATUS_MARKS.get(row.status, "?"),
        "queuedAt": row.queued_at.isoformat(),
        "durationMs": row.duration_ms,
        "branch": row.branch,
        "sha": row.sha,
        "tags": {k: v for k, v in (row.tags or {}).items() if k not in ("branch", "sha")},
        "tests": int(summary.get("tests", 0)),
        "failed": int(summary.get("failed", 0)) + int(summary.get("errored", 0)),
        "passed": int(summary.get("passed", 0)),
        "finished": ExecutionStatus(row.status).finished,
    }


@dataclass(slots=True)
class LogSection:
    """The lines a step wrote (``name`` empty for what came before the first step)."""

    name: str
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The section's lines joined."""
        return "\n".join(self.lines)


def log_sections(text: str) -> list[LogSection]:
    """A finished execution's log cut at each ``=== step NAME ===`` header."""
    sections = [LogSection("")]
    for line in text.splitlines():
        match = _STEP_HEADER.match(line)
        if match:
            sections.append(LogSection(match["name"]))
        else:
            sections[-1].lines.append(line)
    return [s for s in sections if s.name or s.lines]


@dataclass(frozen=True, slots=True)
class ConfigField:
    """One input of the Run form, made from ``spec.config.NAME``."""

    name: str
    type: str
    """string, integer, number or boolean."""
    default: Any
    enum: list[Any] | None
    description: str | None
    sensitive: bool
    required: bool

    @property
    def input_type(self) -> str:
        """The HTML input type."""
        if self.sensitive:
            return "password"
        return {"integer": "number", "number": "number", "boolean": "checkbox"}.get(
            self.type, "text"
        )

    @property
    def step(self) -> str | None:
        """The ``step`` attribute of a number input."""
        return {"integer": "1", "number": "any"}.get(self.type)


def config_fields(params: dict[str, ParamSpec]) -> list[ConfigField]:
    """The Run form's inputs, in declaration order."""
    return [
        ConfigField(
            name=name,
            type=spec.type,
            default=spec.default,
            enum=spec.enum,
            description=spec.description,
            sensitive=spec.sensitive,
            required=spec.default is None,
        )
        for name, spec in params.items()
    ]


def config_values(fields: list[ConfigField], form: dict[str, str]) -> dict[str, str]:
    """The config a submitted Run form gives, as ``--config`` would (text): a checkbox is
    ``true`` or ``false``; an empty optional field is left to its default. Types and enums
    are checked where every run's config is (``engine/config.py``)."""
    values: dict[str, str] = {}
    for item in fields:
        raw = form.get(f"config.{item.name}")
        if item.type == "boolean":
            values[item.name] = "true" if raw is not None else "false"
        elif raw is not None and (raw != "" or item.required):
            values[item.name] = raw
    return values


def failed_first(tests: list[TestOutcome]) -> list[TestOutcome]:
    """Failing tests first, then flaky ones, then the rest, each group in stored order."""

    def rank(test: TestOutcome) -> int:
        if test.failing:
            return 0
        if test.flaky:
            return 1
        return 2 if test.status != "quarantined" else 1

    return sorted(tests, key=rank)


def artifact_names(assay: Assay, row: ExecutionRow) -> list[tuple[str, int]]:
    """(path relative to the artifacts folder, size) of each stored artifact."""
    base = assay.settings.executions_dir / row.id / "artifacts"
    return [
        (path.relative_to(base).as_posix(), path.stat().st_size) for path in assay.artifacts(row)
    ]


def finished(row: ExecutionRow) -> bool:
    """Whether ``row`` reached a final state."""
    return ExecutionStatus(row.status).finished


def trigger_of(row: ExecutionRow) -> str:
    """How the execution was started."""
    if row.parent_id:
        return "a parent execution"
    if row.request is not None:
        return f"the server's queue (Run, API or re-run; {row.runner} runner)"
    return {"import": "assay import"}.get(row.runner, f"assay run ({row.runner} runner)")


def schedules(raw: dict[str, Any]) -> list[str]:
    """The cron expressions of a definition's ``spec.events`` (``cronjob.cron``)."""
    events = (raw.get("spec") or {}).get("events") or []
    found = []
    for event in events:
        cron = (event.get("cronjob") or {}).get("cron") if isinstance(event, dict) else None
        if isinstance(cron, str):
            found.append(cron)
    return found


def _series(points: list[TrendPoint], value: Any) -> list[dict[str, Any]]:
    by_workflow: dict[str, dict[str, list[Any]]] = {}
    for point in points:
        series = by_workflow.setdefault(point.workflow, {"x": [], "y": []})
        series["x"].append(point.period)
        series["y"].append(value(point))
    return [{"name": name, **series} for name, series in by_workflow.items()]


def trend_charts(points: list[TrendPoint]) -> list[dict[str, Any]]:
    """The charts of the trends page (plotly traces, drawn by dashboard.js)."""
    return [
        {
            "id": "pass-rate",
            "title": "Pass rate (passed executions / finished), per day",
            "kind": "line",
            "unit": "%",
            "series": _series(points, lambda p: round(p.pass_rate * 100, 1)),
        },
        {
            "id": "duration-p50",
            "title": "Duration p50 (s), per day",
            "kind": "line",
            "unit": "s",
            "series": _series(points, lambda p: _seconds(p.duration_p50_ms)),
        },
        {
            "id": "duration-p95",
            "title": "Duration p95 (s), per day",
            "kind": "line",
            "unit": "s",
            "series": _series(points, lambda p: _seconds(p.duration_p95_ms)),
        },
        {
            "id": "failures",
            "title": "Failed executions per day",
            "kind": "bar",
            "unit": "",
            "series": _series(points, lambda p: p.executions - p.passed),
        },
    ]


def chart_rows(series: list[dict[str, Any]]) -> Markup:
    """The rows of a chart's data table: one per series and period, a dash for no value.

    Built here, not in the template: there each escaped cell stayed an object of its own
    until the table was joined (11,000 for 30 days of every workflow), enough to make the
    garbage collector run a full collection on one request in eight."""
    rows = []
    for item in series:
        name = escape(item["name"])
        for x, y in zip(item["x"], item["y"], strict=True):
            value = escape("\u2013" if y is None else y)
            rows.append(f'<tr><td>{name}</td><td>{escape(x)}</td><td class="num">{value}</td></tr>')
    return Markup("".join(rows))


def workflow_charts(points: list[TrendPoint]) -> list[dict[str, Any]]:
    """The pass-rate and duration charts of a workflow's page."""
    charts = trend_charts(points)
    return [charts[0], charts[1]]


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else round(ms / 1000, 2)


_TRACE_LOCATION = re.compile(
    r'^(?:(?P<path>[^\s:>"][^:\n]*?):(?P<line>\d+):(?: |$)'
    r'|[ \t]*File "(?P<py>[^"\n]+)", line (?P<py_line>\d+))',
    re.MULTILINE,
)


def failure_location(test: TestOutcome) -> str | None:
    """``file:line`` of a failure: the last location its trace names (pytest's
    ``path:line: Error`` or Python's ``File "path", line N``), else the test's own."""
    found = None
    for match in _TRACE_LOCATION.finditer(test.trace or ""):
        found = f"{match['path'] or match['py']}:{match['line'] or match['py_line']}"
    if found is None and test.file:
        found = f"{test.file}:{test.line}" if test.line else test.file
    return found
