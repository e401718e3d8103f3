"""Test history: the recent executions of each workflow and the attempts they recorded.

Every analytic (flaky, trends, traceability) looks at a bounded window: the last ``window``
finished executions of each workflow that recorded test cases. Those executions are picked
with a window function over ``executions`` (index ``ix_executions_workflow_queued``) and
their attempts read column-wise (:mod:`assay.store.test_cases`) into numpy arrays, so the
cost follows the window, not the millions of attempts of history behind it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Select, bindparam, func, select

from assay.model import CaseStatus
from assay.status import ExecutionStatus
from assay.store.database import Database
from assay.store.tables import ExecutionRow
from assay.store.test_cases import (
    STATUS_VALUES,
    CaseColumns,
    id_hex,
    positions_of,
    read_columns,
    read_names,
    status_codes,
)

__all__ = [
    "FAILING",
    "Attempt",
    "RecentExecution",
    "TestInfo",
    "Window",
    "describe_tests",
    "final_attempts",
    "percentile",
    "recent_executions",
]

FAILING = frozenset(
    {CaseStatus.FAILED.value, CaseStatus.ERRORED.value, CaseStatus.QUARANTINED.value}
)
"""Statuses that count as a failure in analytics (a quarantined failure is still a failure)."""

FAILING_CODES = np.array(status_codes(sorted(FAILING)), dtype=np.int64)
SKIPPED_CODE = status_codes([CaseStatus.SKIPPED.value])[0]

_UNFINISHED = (ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value)


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

    test_id: str
    execution_id: str
    position: int
    """Index of the attempt within its execution."""
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


def recent_executions(
    db: Database, *, workflow: str | None = None, window: int = 20
) -> list[RecentExecution]:
    """The last ``window`` finished executions with test cases of each workflow, oldest
    first. One query per workflow, each walking the (workflow, queued_at) index from the
    newest and stopping at ``window``: the cost does not grow with the history (a window
    function over every execution took seconds at 100,000 executions)."""
    wanted = (
        ExecutionRow.id,
        ExecutionRow.workflow,
        ExecutionRow.name,
        ExecutionRow.status,
        ExecutionRow.sha,
        ExecutionRow.branch,
        ExecutionRow.queued_at,
    )
    newest = (  # built once, run once per workflow (building it took half the time)
        select(*wanted)
        .where(
            ExecutionRow.workflow == bindparam("workflow"),
            ExecutionRow.status.not_in(_UNFINISHED),
            ExecutionRow.summary["tests"].as_integer() > 0,
        )
        .order_by(ExecutionRow.queued_at.desc(), ExecutionRow.id.desc())
        .limit(window)
    )
    rows: list[Any] = []
    with db.engine.connect() as connection:
        names = (
            [workflow]
            if workflow is not None
            else connection.execute(_workflow_names()).scalars().all()
        )
        for name in names:
            rows.extend(connection.execute(newest, {"workflow": name}))
    rows.sort(key=lambda row: (row.queued_at, row.id))
    return [
        RecentExecution(
            id=row.id,
            workflow=row.workflow,
            name=row.name,
            status=row.status,
            sha=row.sha,
            branch=row.branch,
            queued_at=row.queued_at,
            order=order,
        )
        for order, row in enumerate(rows)
    ]


def _workflow_names() -> Select[tuple[str]]:
    """Every workflow with an execution, in order: one seek of the (workflow, queued_at)
    index per name, where ``SELECT DISTINCT`` read the whole index (3.8 -> 0.3 ms at
    100,000 executions, and it stays so as the history grows)."""
    names = select(func.min(ExecutionRow.workflow).label("name")).cte("names", recursive=True)
    following = (
        select(func.min(ExecutionRow.workflow))
        .where(ExecutionRow.workflow > names.c.name)
        .scalar_subquery()
    )
    names = names.union_all(select(following).where(names.c.name.is_not(None)))
    return select(names.c.name).where(names.c.name.is_not(None))


@dataclass(frozen=True, slots=True)
class Window:
    """The recent executions of each workflow and every attempt they recorded."""

    executions: list[RecentExecution]
    """Oldest first; ``columns.execution`` indexes this list."""
    columns: CaseColumns
    by_id: dict[str, RecentExecution] = field(init=False)
    """The executions by id."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {e.id: e for e in self.executions})

    @classmethod
    def load(cls, db: Database, *, workflow: str | None = None, window: int = 20) -> Window:
        """The last ``window`` executions (with test cases) of each workflow."""
        executions = recent_executions(db, workflow=workflow, window=window)
        with db.engine.connect() as connection:
            columns = read_columns(connection, [e.id for e in executions])
        return cls(executions, columns)

    def failing_attempts(self) -> list[Attempt]:
        """Every attempt of the tests that failed at least once in the window (the only tests
        any flakiness rule can fire on): per test (by id), oldest execution first, then by
        attempt number."""
        columns = self.columns
        failed = np.unique(columns.test_id[np.isin(columns.status, FAILING_CODES)])
        chosen = columns.take(np.flatnonzero(np.isin(columns.test_id, failed)))
        order = np.lexsort((chosen.position, chosen.attempt, chosen.execution, chosen.test_id))
        return self.attempts(chosen.take(order))

    def attempts(self, columns: CaseColumns) -> list[Attempt]:
        """``columns`` (of this window) as :class:`Attempt` objects, in their order."""
        ids = [execution.id for execution in self.executions]
        test_ids = columns.test_id.tolist()
        hexes = {test_id: id_hex(test_id) for test_id in set(test_ids)}
        return [
            Attempt(hexes[test_id], ids[execution], position, attempt, STATUS_VALUES[status], ms)
            for test_id, execution, position, attempt, status, ms in zip(
                test_ids,
                columns.execution.tolist(),
                columns.position.tolist(),
                columns.attempt.tolist(),
                columns.status.tolist(),
                columns.duration_ms.tolist(),
                strict=True,
            )
        ]

    def result_counts(self) -> dict[str, tuple[int, RecentExecution]]:
        """Per test: (attempts that were not skipped, the newest execution that ran it)."""
        columns = self.columns
        ids, inverse = np.unique(columns.test_id, return_inverse=True)
        counted = np.bincount(inverse, weights=columns.status != SKIPPED_CODE, minlength=len(ids))
        newest = np.zeros(len(ids), dtype=np.int64)
        np.maximum.at(newest, inverse, columns.execution)
        return {
            id_hex(test_id): (int(n), self.executions[e])
            for test_id, n, e in zip(ids.tolist(), counted.tolist(), newest.tolist(), strict=True)
        }

    def latest(self) -> CaseColumns:
        """Per test, its last attempt in the newest execution of the window that ran it."""
        columns = self.columns
        order = np.lexsort((columns.position, columns.attempt, columns.execution, columns.test_id))
        return columns.take(order[_last_of_each(columns.test_id[order])])


def _last_of_each(sorted_ids: npt.NDArray[Any]) -> npt.NDArray[np.intp]:
    """Indexes of the last entry of each run of equal values in ``sorted_ids``."""
    if not len(sorted_ids):
        return np.zeros(0, dtype=np.intp)
    return np.flatnonzero(np.append(sorted_ids[1:] != sorted_ids[:-1], True))


def final_attempts(columns: CaseColumns) -> CaseColumns:
    """The last attempt of each test in each execution (by attempt number, then position)."""
    if not len(columns.execution):
        return columns
    order = np.lexsort((columns.position, columns.attempt, columns.test_id, columns.execution))
    ordered = columns.take(order)
    execution, test_id = ordered.execution, ordered.test_id
    same = (execution[1:] == execution[:-1]) & (test_id[1:] == test_id[:-1])
    return ordered.take(np.flatnonzero(np.append(~same, True)))


def describe_tests(db: Database, wanted: Mapping[str, RecentExecution]) -> dict[str, TestInfo]:
    """Identity fields of tests (by id), read from the names stored with the given execution
    of each."""
    by_execution: dict[str, dict[int, str]] = defaultdict(dict)
    workflows: dict[str, str] = {}
    for test_id, execution in wanted.items():
        by_execution[execution.id][int(test_id, 16)] = test_id
        workflows[execution.id] = execution.workflow
    found: dict[str, TestInfo] = {}
    with db.engine.connect() as connection:
        for execution_id, tests in by_execution.items():
            names = read_names(connection, execution_id)
            for number, position in positions_of(names.test_ids, tests).items():
                suite, classname, name, file, _ = names.identity(position)
                hex_id = tests[number]
                found[hex_id] = TestInfo(
                    hex_id, workflows[execution_id], suite, classname, name, file
                )
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
