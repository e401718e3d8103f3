"""Trends: pass rate, duration and test count per workflow over time; the slowest tests;
tests newly failing against the latest execution on the base branch.

Points come from the ``executions`` table alone (its stored summary), so they cost one row per
execution. The slowest tests and the comparison with the base branch read the stored attempts
of a few recent executions (column-wise, see :mod:`assay.store.test_cases`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import ARRAY, ColumnElement, Integer, String, cast, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from assay.analytics.history import (
    FAILING_CODES,
    SKIPPED_CODE,
    RecentExecution,
    TestInfo,
    Window,
    describe_tests,
    final_attempts,
    percentile,
    recent_executions,
)
from assay.errors import DefinitionError
from assay.moments import as_utc
from assay.status import ExecutionStatus
from assay.store.database import Database
from assay.store.executions import now
from assay.store.tables import ExecutionRow
from assay.store.test_cases import STATUS_VALUES, id_hex, read_columns

__all__ = [
    "BUCKETS",
    "Comparison",
    "NewFailure",
    "SlowTest",
    "TrendPoint",
    "newly_failing",
    "slowest_tests",
    "trend_points",
]

BUCKETS = ("day", "week")
_UNFINISHED = (ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value)


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One period of one workflow."""

    workflow: str
    period: str
    executions: int
    passed: int
    tests: int
    """Test count of the period's latest execution."""
    test_pass_rate: float | None
    duration_p50_ms: float | None
    duration_p95_ms: float | None

    @property
    def pass_rate(self) -> float:
        """Passed executions / finished executions."""
        return self.passed / self.executions if self.executions else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (camelCase)."""
        return {
            "workflow": self.workflow,
            "period": self.period,
            "executions": self.executions,
            "passed": self.passed,
            "passRate": round(self.pass_rate, 3),
            "testPassRate": _round(self.test_pass_rate, 3),
            "durationP50Ms": _ms(self.duration_p50_ms),
            "durationP95Ms": _ms(self.duration_p95_ms),
            "tests": self.tests,
        }


@dataclass(frozen=True, slots=True)
class SlowTest:
    """A test with its duration over the window."""

    test: TestInfo
    mean_ms: float
    max_ms: int
    results: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (camelCase)."""
        return {
            **self.test.as_dict(),
            "meanMs": round(self.mean_ms),
            "maxMs": self.max_ms,
            "results": self.results,
        }


@dataclass(frozen=True, slots=True)
class NewFailure:
    """A test failing in the execution compared that did not fail on the base branch."""

    test: TestInfo
    status: str
    base_status: str | None
    """Its status on the base branch; None when the test did not run there."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (camelCase)."""
        return {**self.test.as_dict(), "status": self.status, "baseStatus": self.base_status}


@dataclass(frozen=True, slots=True)
class Comparison:
    """The latest execution of a workflow against the latest one on the base branch."""

    workflow: str
    execution: RecentExecution
    base: RecentExecution | None
    failures: list[NewFailure] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (camelCase)."""
        return {
            "workflow": self.workflow,
            "executionId": self.execution.id,
            "execution": self.execution.name,
            "branch": self.execution.branch,
            "baseExecutionId": self.base.id if self.base else None,
            "baseExecution": self.base.name if self.base else None,
            "tests": [failure.as_dict() for failure in self.failures],
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _ms(value: float | None) -> int | None:
    return None if value is None else round(value)


def _period_of(day: date, bucket: str) -> str:
    if bucket == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.isoformat()


def trend_points(
    db: Database,
    *,
    workflow: str | None = None,
    days: int = 30,
    bucket: str = "day",
    until: datetime | None = None,
    branch: str | None = None,
) -> list[TrendPoint]:
    """Per workflow and period (``day`` or ``week``, UTC) over the last ``days`` days (of
    ``branch`` only, when given).

    The database adds up each workflow's day (one row per day, not per execution, read from
    the covering index ``ix_executions_trends``) with the day's durations as one string; the
    days of a week are added up here, and the percentiles taken here
    (:func:`~assay.analytics.history.percentile`, as everywhere else)."""
    if bucket not in BUCKETS:
        raise DefinitionError(f"bucket must be one of {', '.join(BUCKETS)}, got {bucket!r}")
    end = as_utc(until or now())
    day = _utc_day(db, ExecutionRow.queued_at)
    tests = func.coalesce(ExecutionRow.summary_tests, 0)
    query = (
        select(
            ExecutionRow.workflow,
            day,
            func.count(),
            func.count().filter(ExecutionRow.status == ExecutionStatus.PASSED.value),
            func.sum(tests - func.coalesce(ExecutionRow.summary_skipped, 0)),
            func.sum(func.coalesce(ExecutionRow.summary_passed, 0)),
            func.max(ExecutionRow.queued_at),
            _latest(db, tests),
            func.aggregate_strings(cast(ExecutionRow.duration_ms, String), ","),
        )
        .where(
            ExecutionRow.queued_at >= end - timedelta(days=days),
            ExecutionRow.queued_at <= end,
            ExecutionRow.status.not_in(_UNFINISHED),
        )
        .group_by(ExecutionRow.workflow, day)
    )
    if workflow is not None:
        query = query.where(ExecutionRow.workflow == workflow)
    if branch is not None:
        query = query.where(ExecutionRow.branch == branch)
    groups: dict[tuple[str, str], _Period] = {}
    with db.engine.connect() as connection:
        rows = connection.execute(query).all()
    for name, day_text, executions, passed, counted, passed_tests, last, latest, spans in rows:
        key = (name, _period_of(date.fromisoformat(day_text), bucket))
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Period()
        group.add(executions, passed, counted, passed_tests, last, latest, spans)
    return [
        TrendPoint(
            workflow=name,
            period=period,
            executions=group.executions,
            passed=group.passed,
            tests=group.tests,
            test_pass_rate=group.passed_tests / group.counted if group.counted else None,
            duration_p50_ms=percentile(group.durations, 0.5),
            duration_p95_ms=percentile(group.durations, 0.95),
        )
        for (name, period), group in sorted(groups.items())
    ]


@dataclass(slots=True)
class _Period:
    """What one workflow's executions of one period add up to."""

    executions: int = 0
    passed: int = 0
    counted: int = 0
    passed_tests: int = 0
    tests: int = 0
    """Test count of the latest execution (queued at ``last``)."""
    last: datetime | None = None
    durations: list[float] = field(default_factory=list)

    def add(
        self,
        executions: int,
        passed: int,
        counted: int,
        passed_tests: int,
        last: datetime,
        tests: int,
        durations: str | None,
    ) -> None:
        """Add one day's sums (``durations``: comma-separated milliseconds, or None)."""
        self.executions += executions
        self.passed += passed
        self.counted += counted
        self.passed_tests += passed_tests
        if self.last is None or last > self.last:
            self.last, self.tests = last, tests
        if durations:
            self.durations.extend(map(float, durations.split(",")))


def _utc_day(db: Database, column: Any) -> ColumnElement[str]:
    """``YYYY-MM-DD`` of a stored time, UTC (SQLite keeps naive UTC text)."""
    if db.engine.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)


def _latest(db: Database, value: ColumnElement[int]) -> ColumnElement[int]:
    """``value`` of the group's latest execution (by ``queued_at``; on a tie, any of them)."""
    if db.engine.dialect.name == "postgresql":
        ordered = aggregate_order_by(value, ExecutionRow.queued_at.desc())
        return func.array_agg(ordered, type_=ARRAY(Integer))[1]
    return value  # SQLite: a bare column comes from the row of the query's one max()


def slowest_tests(
    db: Database,
    *,
    workflow: str | None = None,
    window: int = 20,
    top: int = 10,
    recent: Window | None = None,
) -> list[SlowTest]:
    """The ``top`` tests by mean duration over the last ``window`` executions per workflow."""
    if recent is None:
        recent = Window.load(db, workflow=workflow, window=window)
    columns = recent.columns.take(recent.columns.status != SKIPPED_CODE)
    if not len(columns):
        return []
    ids, inverse = np.unique(columns.test_id, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(ids))
    means = np.bincount(inverse, weights=columns.duration_ms, minlength=len(ids)) / counts
    longest = np.zeros(len(ids), dtype=np.int64)
    np.maximum.at(longest, inverse, columns.duration_ms)
    newest = np.zeros(len(ids), dtype=np.int64)
    np.maximum.at(newest, inverse, columns.execution)
    top_rows = np.lexsort((ids, -means))[:top]  # slowest first, ties by test id
    picked = {id_hex(int(ids[i])): int(i) for i in top_rows}
    info = describe_tests(
        db, {test_id: recent.executions[int(newest[i])] for test_id, i in picked.items()}
    )
    return [
        SlowTest(info[test_id], float(means[i]), int(longest[i]), int(counts[i]))
        for test_id, i in picked.items()
        if test_id in info
    ]


def newly_failing(
    db: Database,
    *,
    workflow: str | None = None,
    base: str = "main",
    execution: ExecutionRow | None = None,
) -> list[Comparison]:
    """Compare the latest execution of each workflow (or ``execution``) with the latest
    other execution on branch ``base`` queued before it; list tests failing now that did
    not fail there."""
    if execution is not None:
        target = _recent(execution)
        pairs = [(target, _base_execution(db, target, base))]
    else:
        targets = recent_executions(db, workflow=workflow, window=1)
        pairs = _base_executions(db, targets, base, workflow)
    finals = _final_statuses(db, [e.id for pair in pairs for e in pair if e is not None])
    comparisons = []
    found: dict[str, RecentExecution] = {}
    failures: list[tuple[Comparison, str, str, str | None]] = []
    for target, reference in pairs:
        comparison = Comparison(target.workflow, target, reference)
        comparisons.append(comparison)
        if reference is None:
            continue
        now_ids, now_codes = finals.get(target.id, _NONE)
        base_ids, base_codes = finals.get(reference.id, _NONE)
        failing = np.isin(now_codes, FAILING_CODES)
        was_failing = np.isin(now_ids, base_ids[np.isin(base_codes, FAILING_CODES)])
        before = dict(zip(base_ids.tolist(), base_codes.tolist(), strict=True))
        for i in np.flatnonzero(failing & ~was_failing).tolist():
            old = before.get(int(now_ids[i]))
            was = None if old is None else STATUS_VALUES[old]
            hex_id = id_hex(int(now_ids[i]))
            failures.append((comparison, hex_id, STATUS_VALUES[int(now_codes[i])], was))
            found[hex_id] = target
    info = describe_tests(db, found)
    for comparison, test_id, status, old_status in failures:
        if test_id in info:
            comparison.failures.append(NewFailure(info[test_id], status, old_status))
    for comparison in comparisons:
        comparison.failures.sort(key=lambda f: (f.test.classname, f.test.name))
    return comparisons


def _recent(row: ExecutionRow) -> RecentExecution:
    return RecentExecution(
        row.id, row.workflow, row.name, row.status, row.sha, row.branch, row.queued_at, 0
    )


def _on_branch(branch: str) -> list[ColumnElement[bool]]:
    return [
        ExecutionRow.branch == branch,
        ExecutionRow.status.not_in(_UNFINISHED),
        ExecutionRow.summary["tests"].as_integer() > 0,
    ]


def _base_execution(db: Database, target: RecentExecution, branch: str) -> RecentExecution | None:
    query = (
        select(ExecutionRow)
        .where(
            ExecutionRow.workflow == target.workflow,
            ExecutionRow.id != target.id,
            ExecutionRow.queued_at <= target.queued_at,
            *_on_branch(branch),
        )
        .order_by(ExecutionRow.queued_at.desc())
        .limit(1)
    )
    with db.session() as session:
        row = session.scalars(query).first()
    return None if row is None else _recent(row)


def _base_executions(
    db: Database, targets: list[RecentExecution], branch: str, workflow: str | None
) -> list[tuple[RecentExecution, RecentExecution | None]]:
    """For the newest execution of each workflow, the newest other one on ``branch`` (one
    query: the two newest on the branch per workflow)."""
    rank = (
        func.row_number()
        .over(partition_by=ExecutionRow.workflow, order_by=ExecutionRow.queued_at.desc())
        .label("rank")
    )
    inner = select(ExecutionRow.id, rank).where(*_on_branch(branch))
    if workflow is not None:
        inner = inner.where(ExecutionRow.workflow == workflow)
    ranked = inner.subquery("ranked")
    query = (
        select(ExecutionRow)
        .join(ranked, ranked.c.id == ExecutionRow.id)
        .where(ranked.c.rank <= 2)
        .order_by(ExecutionRow.queued_at.desc())
    )
    candidates: dict[str, list[RecentExecution]] = defaultdict(list)
    with db.session() as session:
        for row in session.scalars(query):
            candidates[row.workflow].append(_recent(row))
    return [
        (
            target,
            next(
                (
                    c
                    for c in candidates[target.workflow]
                    if c.id != target.id and c.queued_at <= target.queued_at
                ),
                None,
            ),
        )
        for target in targets
    ]


_NONE = (np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64))


def _final_statuses(
    db: Database, execution_ids: list[str]
) -> dict[str, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]:
    """Execution id -> (test ids, status code of each test's last attempt)."""
    with db.engine.connect() as connection:
        columns = final_attempts(read_columns(connection, execution_ids))
    finals = {}
    for index, execution_id in enumerate(columns.execution_ids):
        mine = columns.execution == index
        finals[execution_id] = (columns.test_id[mine], columns.status[mine])
    return finals
