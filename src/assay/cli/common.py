"""Helpers shared by CLI commands: key=value parsing, the app instance, summaries."""

from __future__ import annotations

from typing import Any

from assay.app import Assay
from assay.errors import DefinitionError

__all__ = ["app_instance", "parse_pairs", "summary_line"]

_APP: Assay | None = None


def app_instance() -> Assay:
    """The process-wide :class:`Assay` (settings read from the environment)."""
    global _APP
    if _APP is None:
        _APP = Assay()
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
