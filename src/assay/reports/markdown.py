"""The Markdown report: compact enough for a pull-request comment.

It starts with :data:`MARKER` (a hidden HTML comment) so that a bot can find and update its
own comment, then shows one table row per execution with ``+n``/``-n`` deltas against the
base, the failing tests with the first lines of their messages (the newly failing ones marked
``new``), and collapsed sections for flaky and quarantined tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from assay.reports.model import ExecutionReport, Report, TestOutcome
from assay.status import ExecutionStatus

__all__ = [
    "MARKER",
    "first_lines",
    "format_delta",
    "format_duration",
    "render_markdown",
    "status_icon",
]

MARKER = "<!-- assay-report -->"
"""First line of every Markdown report."""

MAX_LISTED = 25
"""Tests listed per section; the rest are counted."""

MESSAGE_LINES = 3
MESSAGE_WIDTH = 160

_ICONS = {
    ExecutionStatus.PASSED.value: "✅",
    ExecutionStatus.FAILED.value: "❌",
    ExecutionStatus.ERROR.value: "💥",
    ExecutionStatus.TIMEOUT.value: "⏱️",
    ExecutionStatus.ABORTED.value: "⛔",
}
_COUNT_COLUMNS = (
    ("tests", "Tests"),
    ("passed", "Passed"),
    ("failed", "Failed"),
    ("skipped", "Skipped"),
    ("flaky", "Flaky"),
    ("quarantined", "Quarantined"),
)
_DELTA_FIELDS = frozenset({"tests", "passed", "failed", "skipped", "flaky", "duration_ms"})


def render_markdown(report: Report) -> str:
    """The whole report as Markdown (ends with a newline)."""
    lines = [MARKER, f"### {_headline(report)}", ""]
    lines += _table(report)
    lines += _base_note(report)
    lines += _failed_section(report)
    lines += _listed_section(
        report,
        "Flaky tests (passed on retry)",
        [(item, t) for item in report.executions for t in item.flaky],
        _flaky_detail,
    )
    lines += _listed_section(
        report,
        "Quarantined failures",
        [(item, t) for item in report.executions for t in item.quarantined],
        _quarantined_detail,
    )
    return "\n".join(lines).rstrip("\n") + "\n"


# --- formatting helpers (shared with the HTML report) -------------------------------------


def status_icon(status: str) -> str:
    """An emoji for an execution status."""
    return _ICONS.get(status, "⏳")


def format_duration(ms: int) -> str:
    """``850 ms``, ``12.3 s``, ``4m 05s``, ``2h 01m``."""
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_delta(value: int, *, duration: bool = False) -> str:
    """``+3``, ``-1`` (empty for 0); durations as ``+1.2 s``."""
    if value == 0:
        return ""
    sign = "+" if value > 0 else "-"
    return f"{sign}{format_duration(abs(value)) if duration else abs(value)}"


def first_lines(message: str | None, count: int = MESSAGE_LINES, width: int = MESSAGE_WIDTH) -> str:
    """The first non-blank lines of a message, each cut to ``width`` characters."""
    if not message:
        return ""
    picked = []
    for line in message.splitlines():
        if not line.strip():
            continue
        line = line.rstrip()
        picked.append(line if len(line) <= width else line[: width - 1] + "…")
        if len(picked) == count:
            break
    return "\n".join(picked)


# --- sections -------------------------------------------------------------------------------


def _headline(report: Report) -> str:
    items = report.executions
    bad = [i for i in items if i.execution.status != ExecutionStatus.PASSED.value]
    total = report.total
    icon = "❌" if bad else "✅"
    if len(items) == 1:
        what = f"{items[0].execution.name} {items[0].execution.status}"
    elif bad:
        what = f"{len(bad)} of {len(items)} executions did not pass"
    else:
        what = f"{len(items)} executions passed"
    return f"{icon} assay: {what} — {total.tests} tests, {total.failed} failed"


def _cell(value: int, delta: int | None, *, duration: bool = False) -> str:
    text = format_duration(value) if duration else str(value)
    change = format_delta(delta, duration=duration) if delta else ""
    return f"{text} ({change})" if change else text


def _row(label: str, counts: dict[str, int], delta: dict[str, int] | None) -> str:
    cells = [label]
    for key, _ in _COUNT_COLUMNS:
        cells.append(_cell(counts[key], delta.get(key) if delta and key in _DELTA_FIELDS else 0))
    cells.append(_cell(counts["duration_ms"], delta["duration_ms"] if delta else 0, duration=True))
    return "| " + " | ".join(cells) + " |"


def _table(report: Report) -> list[str]:
    header = ["Execution", *(title for _, title in _COUNT_COLUMNS), "Duration"]
    lines = [
        "| " + " | ".join(header) + " |",
        "| --- |" + " ---: |" * (len(header) - 1),
    ]
    for item in report.executions:
        row = item.execution
        label = f"{status_icon(row.status)} **{_escape_text(row.name)}**"
        lines.append(_row(label, item.counts.as_dict(), item.delta))
    if len(report.executions) > 1:
        deltas = [i.delta for i in report.executions]
        total_delta = None
        if all(d is not None for d in deltas):
            total_delta = {k: sum(d[k] for d in deltas if d is not None) for k in deltas[0] or {}}
        lines.append(_row("**Total**", report.total.as_dict(), total_delta))
    return [*lines, ""]


def _base_note(report: Report) -> list[str]:
    with_base = [i for i in report.executions if i.base is not None]
    branch = f"`{report.base_branch}`"
    if not with_base:
        return [f"<sub>No finished execution on {branch} to compare with.</sub>", ""]
    names = ", ".join(_escape_text(i.base.execution.name) for i in with_base if i.base)
    missing = [i.execution.name for i in report.executions if i.base is None]
    note = f"<sub>Changes against the latest {branch} execution: {names}"
    if missing:
        note += f"; none for {', '.join(_escape_text(m) for m in missing)}"
    return [note + ".</sub>", ""]


def _failed_section(report: Report) -> list[str]:
    failing = [(item, t) for item in report.executions for t in item.failing]
    if not failing:
        return []
    new = sum(item.is_new_failure(t) for item, t in failing)
    title = f"#### Failed tests ({len(failing)}" + (f", {new} new)" if new else ")")
    # new failures first, then in stored order
    failing.sort(key=lambda pair: not pair[0].is_new_failure(pair[1]))
    lines = [title, ""]
    for item, test in failing[:MAX_LISTED]:
        marker = " **new**" if item.is_new_failure(test) else ""
        lines.append(f"- {_code(test.label)}{_where(report, item)}{marker}")
        lines += _message_block(test.message)
    lines += _more(len(failing))
    return [*lines, ""]


def _listed_section(
    report: Report,
    title: str,
    tests: list[tuple[ExecutionReport, TestOutcome]],
    detail: Callable[[TestOutcome], str],
) -> list[str]:
    if not tests:
        return []
    lines = [f"<details><summary>{title}: {len(tests)}</summary>", ""]
    for item, test in tests[:MAX_LISTED]:
        lines.append(f"- {_code(test.label)}{_where(report, item)} — {detail(test)}")
    lines += _more(len(tests))
    return [*lines, "", "</details>", ""]


def _flaky_detail(test: TestOutcome) -> str:
    failures = test.failed_attempts
    text = f"passed on attempt {len(test.attempts)} after {failures} failure"
    text += "s" if failures != 1 else ""
    failed = [a for a in test.attempts if a.message]
    if failed:
        text += f": {_code(first_lines(failed[-1].message, 1, 120))}"
    return text


def _quarantined_detail(test: TestOutcome) -> str:
    line = first_lines(test.message, 1, 120)
    return _code(line) if line else "failed (quarantined)"


def _where(report: Report, item: ExecutionReport) -> str:
    return f" ({_escape_text(item.execution.name)})" if len(report.executions) > 1 else ""


def _more(count: int) -> list[str]:
    hidden = count - MAX_LISTED
    return [f"- … and {hidden} more"] if hidden > 0 else []


def _message_block(message: str | None) -> list[str]:
    text = first_lines(message)
    if not text:
        return []
    fence = "`" * max(3, _longest_run(text, "`") + 1)
    return [f"  {fence}text", *(f"  {line}" for line in text.splitlines()), f"  {fence}"]


def _longest_run(text: str, char: str) -> int:
    runs: Iterable[str] = re.findall(f"{re.escape(char)}+", text)
    return max((len(r) for r in runs), default=0)


def _code(text: str) -> str:
    """An inline code span that survives backticks in ``text``."""
    text = text.replace("\n", " ")
    ticks = "`" * (_longest_run(text, "`") + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _escape_text(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", text)
