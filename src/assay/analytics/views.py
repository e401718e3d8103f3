"""The analytics questions as JSON-ready answers: what ``assay flaky/trends/trace`` print
with ``-o json`` and what the server's ``/v1/analytics/...`` endpoints return."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from assay.analytics.flaky import Thresholds, find_flaky
from assay.analytics.traceability import Coverage, trace
from assay.analytics.trends import newly_failing, slowest_tests, trend_points
from assay.store.database import Database
from assay.store.tables import ExecutionRow

__all__ = ["flaky_view", "trace_view", "trends_view"]


def flaky_view(
    db: Database,
    *,
    workflow: str | None = None,
    thresholds: Thresholds | None = None,
    include_all: bool = False,
) -> list[dict[str, Any]]:
    """Flaky tests (every judged test with ``include_all``), with reasons and evidence."""
    found = find_flaky(db, workflow=workflow, thresholds=thresholds, include_all=include_all)
    return [test.as_dict() for test in found]


def trends_view(
    db: Database,
    *,
    workflow: str | None = None,
    days: int = 30,
    bucket: str = "day",
    window: int = 20,
    top: int = 10,
    base: str = "main",
    execution: ExecutionRow | None = None,
) -> dict[str, Any]:
    """Trend points, slowest tests and tests newly failing against ``base``; with
    ``execution``, that one is compared (and its workflow is the default)."""
    if execution is not None:
        workflow = workflow or execution.workflow
    points = trend_points(db, workflow=workflow, days=days, bucket=bucket)
    slowest = slowest_tests(db, workflow=workflow, window=window, top=top)
    comparisons = newly_failing(db, workflow=workflow, base=base, execution=execution)
    return {
        "points": [point.as_dict() for point in points],
        "slowest": [test.as_dict() for test in slowest],
        "base": base,
        "newlyFailing": [comparison.as_dict() for comparison in comparisons],
    }


def trace_view(
    db: Database,
    *,
    workflow: str | None = None,
    window: int = 20,
    requirements: Iterable[str] = (),
    require_all: bool = False,
) -> dict[str, Any]:
    """The requirement matrix and the checked requirements without a passing test (those
    in ``requirements``, or every one with ``require_all``)."""
    listed = list(dict.fromkeys(requirements))
    matrix = trace(db, workflow=workflow, window=window, requirements=listed)
    checked = {item.id for item in matrix} if require_all else set(listed)
    unsatisfied = [
        item.id for item in matrix if item.id in checked and item.coverage is not Coverage.PASSED
    ]
    return {"requirements": [item.as_dict() for item in matrix], "unsatisfied": unsatisfied}
