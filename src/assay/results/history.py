"""Test history: the recent executions of each workflow and the test-case rows they hold.

Every analytic (flaky, trends, traceability) looks at a bounded window: the last ``window``
finished executions of each workflow that recorded test cases. Those executions are picked
with a window function over ``executions`` (index ``ix_executions_workflow_queued``) and
their rows read from ``ix_test_cases_execution_cover`` alone, so the cost follows the window,
not the millions of rows of history behind it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.sql import Subquery

from assay.results.model import CaseStatus
from assay.status import ExecutionStatus
from assay.store.database import Database
from assay.store.tables import ExecutionRow, TestCaseRow

__all__ = [
    "FAILING",
    "Attempt",
    "RecentExecution",
    "TestInfo",
    "attempts_query",
    "describe_tests",
    "failing_attempts",
    "latest_attempts",
    "percentile",
    "recent_executions",
    "result_counts",
    "utc",
]

FAILING = frozenset(
    {CaseStatus.FAILED.value, CaseStatus.ERRORED.value, CaseStatus.QUARANTINED.value}
)
"""Statuses that count as a failure in analytics (a quarantined failure is still a failure)."""

_UNFINISHED = (ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value)


def utc(value: datetime) -> datetime:
    """A stored datetime as aware UTC (SQLite hands back naive UTC values)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class RecentExecution:
    """One execution inside the analysis window of its workflow."""

    id: str
    workflow: str
    name: str
    status: str
    sha: str | None
    branch: str | None
    queued_at: datetime
    order: int
    """Position in time among all selected executions, 0 = oldest."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One stored attempt of one test in a recent execution."""

    row_id: int
    test_id: str
    execution_id: str
    attempt: int
    status: str
    duration_ms: int


@dataclass(frozen=True, slots=True)
class TestInfo:
    """What identifies a test to a person: workflow + suite/class/name, file when known."""

    __test__ = False

    test_id: str
    workflow: str
    suite: str
    classname: str
    name: str
    file: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (camelCase) identity fields."""
        return {
            "testId": self.test_id,
            "workflow": self.workflow,
            "suite": self.suite,
            "classname": self.classname,
            "name": self.name,
            "file": self.file,
        }


def _window(workflow: str | None, window: int) -> Subquery:
    """The last ``window`` finished executions with test cases of each workflow: their ids
    and ``rank`` (1 = the newest of its workflow)."""
    rank = (
        func.row_number()
        .over(partition_by=ExecutionRow.workflow, order_by=ExecutionRow.queued_at.desc())
        .label("rank")
    )
    inner = select(ExecutionRow.id, rank).where(
        ExecutionRow.status.not_in(_UNFINISHED),
        ExecutionRow.summary["tests"].as_integer() > 0,
    )
    if workflow is not None:
        inner = inner.where(ExecutionRow.workflow == workflow)
    ranked = inner.subquery("ranked")
    return select(ranked.c.id, ranked.c.rank).where(ranked.c.rank <= window).subquery("recent")


def recent_executions(
    db: Database, *, workflow: str | None = None, window: int = 20
) -> list[RecentExecution]:
    """The last ``window`` executions (with test cases) of each workflow, oldest first."""
    recent = _window(workflow, window)
    query = (
        select(
            ExecutionRow.id,
            ExecutionRow.workflow,
            ExecutionRow.name,
            ExecutionRow.status,
            ExecutionRow.sha,
            ExecutionRow.branch,
            ExecutionRow.queued_at,
        )
        .join(recent, recent.c.id == ExecutionRow.id)
        .order_by(ExecutionRow.queued_at, ExecutionRow.id)
    )
    with db.engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        RecentExecution(
            id=row.id,
            workflow=row.workflow,
            name=row.name,
            status=row.status,
            sha=row.sha,
            branch=row.branch,
            queued_at=utc(row.queued_at),
            order=order,
        )
        for order, row in enumerate(rows)
    ]


def attempts_query(workflow: str | None, window: int) -> Select[int, str, str, int, str, int, int]:
    """Attempts of every test in the window, with the rank of their execution (read from the
    covering index ``ix_test_cases_execution_cover`` alone)."""
    recent = _window(workflow, window)
    return select(
        TestCaseRow.id,
        TestCaseRow.test_id,
        TestCaseRow.execution_id,
        TestCaseRow.attempt,
        TestCaseRow.status,
        TestCaseRow.duration_ms,
        recent.c.rank,
    ).join(recent, recent.c.id == TestCaseRow.execution_id)


def failing_attempts(
    db: Database, *, workflow: str | None = None, window: int = 20
) -> list[Attempt]:
    """Every attempt in the window of the tests that failed at least once in it (the only
    tests any flakiness rule can fire on), oldest first per test."""
    recent = _window(workflow, window)
    failed = (
        select(TestCaseRow.test_id)
        .join(recent, recent.c.id == TestCaseRow.execution_id)
        .where(TestCaseRow.status.in_(FAILING))
        .distinct()
    )
    with db.engine.connect() as connection:
        candidates = connection.execute(failed).scalars().all()
        if not candidates:
            return []
        query = attempts_query(workflow, window)
        # `test_id || ''` keeps SQLite on the covering index by execution (one pass over the
        # window, filtered by the list) instead of probing every (execution, test) pair
        chosen = (TestCaseRow.test_id + "").in_(candidates)
        if len(candidates) > _MAX_LISTED:
            chosen = TestCaseRow.test_id.in_(failed)
        columns = query.selected_columns
        query = query.where(chosen).order_by(columns.test_id, columns.rank.desc(), columns.attempt)
        return [Attempt(*row[:6]) for row in connection.execute(query).all()]


_MAX_LISTED = 5000


def latest_attempts(workflow: str | None, window: int) -> Subquery:
    """Per test, its last attempt in the newest execution of the window that ran it
    (columns of :func:`attempts_query`)."""
    attempts = attempts_query(workflow, window).subquery("attempts")
    pick = (
        func.row_number()
        .over(
            partition_by=attempts.c.test_id,
            order_by=(attempts.c.rank, attempts.c.attempt.desc()),
        )
        .label("pick")
    )
    picked = select(*attempts.c, pick).subquery("picked")
    return (
        select(*(picked.c[name] for name in (*_ATTEMPT_COLUMNS, "rank")))
        .where(picked.c.pick == 1)
        .subquery("latest")
    )


def result_counts(
    db: Database, *, workflow: str | None = None, window: int = 20
) -> dict[str, tuple[int, int]]:
    """Per test in the window: (attempts that were not skipped, id of one of its rows)."""
    attempts = attempts_query(workflow, window).subquery("attempts")
    query = select(
        attempts.c.test_id,
        func.sum(case((attempts.c.status == CaseStatus.SKIPPED.value, 0), else_=1)),
        func.max(attempts.c.id),
    ).group_by(attempts.c.test_id)
    with db.engine.connect() as connection:
        return {test_id: (int(n), row_id) for test_id, n, row_id in connection.execute(query)}


_ATTEMPT_COLUMNS = ("id", "test_id", "execution_id", "attempt", "status", "duration_ms")


def describe_tests(db: Database, row_ids: Iterable[int]) -> dict[str, TestInfo]:
    """Identity fields of tests, read from one stored row of each (by primary key)."""
    ids = sorted(set(row_ids))
    found: dict[str, TestInfo] = {}
    with db.engine.connect() as connection:
        for start in range(0, len(ids), 500):
            query = select(
                TestCaseRow.test_id,
                TestCaseRow.workflow,
                TestCaseRow.suite,
                TestCaseRow.classname,
                TestCaseRow.name,
                TestCaseRow.file,
            ).where(TestCaseRow.id.in_(ids[start : start + 500]))
            for row in connection.execute(query):
                found[row.test_id] = TestInfo(*row)
    return found


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` with linear interpolation; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
