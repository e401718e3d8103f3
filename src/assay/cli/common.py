"""Helpers shared by CLI commands: key=value parsing, the app instance, summaries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.errors import DefinitionError

if TYPE_CHECKING:
    from assay.app import Assay
    from assay.store import ExecutionStore

__all__ = ["app_instance", "current_app", "failing_test_lines", "parse_pairs", "summary_line"]

_APP: Assay | None = None


def app_instance() -> Assay:
    """The process-wide :class:`Assay` (settings read from the environment)."""
    global _APP
    if _APP is None:
        from assay.app import Assay

        _APP = Assay()
    return _APP


def current_app() -> Assay | None:
    """The process-wide :class:`Assay` if a command created it, else None."""
    return _APP


def parse_pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """``["k=v", ...]`` as a dict; a malformed pair is a DefinitionError naming the option."""
    pairs: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DefinitionError(f"{option} expects KEY=VALUE, got {item!r}")
        pairs[key.strip()] = value
    return pairs


def summary_line(execution: dict[str, Any]) -> str:
    """One line: name, status, counts and duration."""
    s = execution["summary"]
    seconds = (execution.get("durationMs") or 0) / 1000
    counts = (
        f"{s['tests']} tests: {s['passed']} passed, {s['failed']} failed, "
        f"{s['errored']} errored, {s['skipped']} skipped"
    )
    return f"{execution['name']} {execution['status']} — {counts} in {seconds:.1f}s"


FAILING_SHOWN = 20
"""Most failing tests named at the end of a run."""


def failing_test_lines(store: ExecutionStore, execution: dict[str, Any]) -> list[str]:
    """``FAILED classname::name: message`` for each test whose last attempt failed."""
    summary = execution.get("summary") or {}
    if not int(summary.get("failed", 0)) + int(summary.get("errored", 0)):
        return []
    last: dict[str, Any] = {}
    for case in store.test_cases(execution["id"]):
        last[case.test_id] = case
    failing = [case for case in last.values() if case.status in ("failed", "errored")]
    lines = []
    for case in failing[:FAILING_SHOWN]:
        label = f"{case.classname}::{case.name}" if case.classname else case.name
        message = (case.message or "").strip().splitlines()
        lines.append(f"{case.status.upper()} {label}" + (f": {message[0]}" if message else ""))
    if len(failing) > FAILING_SHOWN:
        lines.append(
            f"... and {len(failing) - FAILING_SHOWN} more: assay get testcases {execution['id']}"
        )
    return lines
