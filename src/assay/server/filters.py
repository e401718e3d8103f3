"""The executions-list filter of query parameters, shared by the dashboard's list and the
executions-wide event stream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from assay.errors import DefinitionError

if TYPE_CHECKING:
    from assay.store.listing import ExecutionFilter

__all__ = ["RANGES", "execution_filter"]

_RANGES = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
RANGES = {"": "any time", "1h": "last hour", "24h": "last 24 hours", "7d": "last 7 days"}


def execution_filter(params: dict[str, str]) -> ExecutionFilter:
    """The list filter of the query parameters (workflow, status, branch, tag=KEY=VALUE,
    range, q); DefinitionError naming the parameter when one is malformed."""
    from assay.store.listing import ExecutionFilter

    tag = None
    if raw := params.get("tag", "").strip():
        key, sep, value = raw.partition("=")
        if not sep or not key:
            raise DefinitionError(f"tag {raw!r}: write KEY=VALUE")
        tag = (key.strip(), value.strip())
    since = None
    if span := params.get("range", ""):
        if span not in _RANGES:
            raise DefinitionError(f"range {span!r}: one of {', '.join(_RANGES)}")
        since = datetime.now(UTC) - _RANGES[span]
    return ExecutionFilter(
        workflow=params.get("workflow") or None,
        status=params.get("status") or None,
        branch=params.get("branch") or None,
        tag=tag,
        since=since,
        search=params.get("q", "").strip() or None,
        top_level=False,
    )
