"""What reports need from the store: executions, their tests with every attempt, the base.

A report covers one or more executions.  For each one it gathers the test-case attempts of
the execution and of its child executions (a suite's tests run as children, and the parent's
summary already counts them), groups the attempts of each test (one ``test_id``) into a
:class:`TestOutcome` with its attempts in order, and counts them into :class:`Counts`.

The *base* of an execution is the latest finished execution of the same workflow whose
``branch`` tag is the base branch (``main`` by default), the reported executions excluded.
Deltas and "newly failing" tests are computed against it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import numpy as np
from sqlalchemy import select

from assay.model import CaseStatus, display_name
from assay.status import ExecutionStatus
from assay.store.executions import ExecutionStore, now
from assay.store.tables import ExecutionRow
from assay.store.test_cases import (
    STATUS_VALUES,
    CaseColumns,
    CaseDetail,
    CaseNames,
    id_hex,
    read_columns,
    read_details,
    read_names,
)

__all__ = [
    "FAILING",
    "NOT_PASSING",
    "Attempt",
    "BaseComparison",
    "Counts",
    "ExecutionReport",
    "HistoryPoint",
    "Report",
    "TestOutcome",
    "collect_report",
    "find_base",
    "load_history",
    "load_tests",
]

FAILING = frozenset({CaseStatus.FAILED.value, CaseStatus.ERRORED.value})
"""Final statuses that fail an execution."""

NOT_PASSING = FAILING | {CaseStatus.QUARANTINED.value}
"""Final statuses of a test that does not pass (a quarantined failure still fails to pass)."""

_FINISHED = tuple(s.value for s in ExecutionStatus if s.finished)
_PAGE = 100
_MAX_DEPTH = 8
_NO_DETAIL: CaseDetail = CaseDetail(None, None, None)


class Attempt(NamedTuple):
    """One attempt of one test case, as stored."""

    attempt: int
    status: str
    duration_ms: int
    message: str | None
    properties: dict[str, list[str]] | None
    trace: str | None = None
    """The text of a failure or error (its end, when long)."""


@dataclass(slots=True)
class TestOutcome:
    """One test of an execution with all its attempts, oldest first."""

    __test__ = False  # not a pytest test class

    test_id: str
    execution: str
    """Name of the execution that ran it (a child execution for suites)."""
    suite: str
    classname: str
    name: str
    file: str | None
    line: int | None
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def final(self) -> Attempt:
        """The last attempt: it decides the test's status."""
        return self.attempts[-1]

    @property
    def status(self) -> str:
        """Final status (a :class:`CaseStatus` value)."""
        return self.final.status

    @property
    def failing(self) -> bool:
        """Failed or errored on its final attempt."""
        return self.final.status in FAILING

    @property
    def flaky(self) -> bool:
        """Passed on its final attempt after a failed or errored one."""
        return self.final.status == CaseStatus.PASSED.value and any(
            a.status in FAILING for a in self.attempts[:-1]
        )

    @property
    def failed_attempts(self) -> int:
        """How many attempts failed or errored."""
        return sum(a.status in FAILING for a in self.attempts)

    @property
    def message(self) -> str | None:
        """The final attempt's message, else the latest failed attempt's."""
        if self.final.message:
            return self.final.message
        for attempt in reversed(self.attempts):
            if attempt.message:
                return attempt.message
        return None

    @property
    def trace(self) -> str | None:
        """The trace of the latest attempt that says why it failed (a message or a trace): the
        final attempt's for a failing test, the last failed attempt's for a flaky one."""
        for attempt in reversed(self.attempts):
            if attempt.message or attempt.trace:
                return attempt.trace or None
        return None

    @property
    def duration_ms(self) -> int:
        """Time spent on the test over every attempt."""
        return sum(a.duration_ms for a in self.attempts)

    @property
    def label(self) -> str:
        """``classname::name`` (or the name alone when there is no class)."""
        return display_name(self.classname, self.name)


@dataclass(slots=True)
class Counts:
    """Totals of one execution, over final attempts.

    ``failed`` counts failures and errors alike; ``flaky`` tests are also in ``passed``;
    ``quarantined`` failures are in neither.  ``duration_ms`` is the execution's wall time,
    or, for imported executions (which have none worth the name), the sum of their test
    durations over every attempt.
    """

    tests: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    flaky: int = 0
    quarantined: int = 0
    duration_ms: int = 0

    FIELDS = ("tests", "passed", "failed", "skipped", "flaky", "quarantined", "duration_ms")

    @classmethod
    def of(cls, execution: ExecutionRow, tests: Iterable[TestOutcome]) -> Counts:
        """Count the final status of each test."""
        counts = cls()
        test_time = 0
        for test in tests:
            counts.tests += 1
            test_time += test.duration_ms
            status = test.status
            if status == CaseStatus.PASSED.value:
                counts.passed += 1
                counts.flaky += test.flaky
            elif status in FAILING:
                counts.failed += 1
            elif status == CaseStatus.SKIPPED.value:
                counts.skipped += 1
            elif status == CaseStatus.QUARANTINED.value:
                counts.quarantined += 1
        wall = execution.duration_ms
        counts.duration_ms = test_time if execution.runner == "import" or wall is None else wall
        return counts

    def as_dict(self) -> dict[str, int]:
        """JSON-ready counts."""
        return {name: int(getattr(self, name)) for name in self.FIELDS}

    def delta(self, base: Counts) -> dict[str, int]:
        """Each count minus the base's."""
        return {name: getattr(self, name) - getattr(base, name) for name in self.FIELDS}

    def __iadd__(self, other: Counts) -> Counts:
        for name in self.FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


@dataclass(slots=True)
class BaseComparison:
    """The base execution of a reported one, and its tests' final statuses."""

    execution: ExecutionRow
    counts: Counts
    statuses: dict[str, str]
    """test_id -> final status in the base."""


@dataclass(slots=True)
class ExecutionReport:
    """One reported execution."""

    execution: ExecutionRow
    tests: list[TestOutcome]
    counts: Counts
    base: BaseComparison | None = None

    @property
    def failing(self) -> list[TestOutcome]:
        """Tests whose final attempt failed or errored."""
        return [t for t in self.tests if t.failing]

    @property
    def flaky(self) -> list[TestOutcome]:
        """Tests that passed on retry."""
        return [t for t in self.tests if t.flaky]

    @property
    def quarantined(self) -> list[TestOutcome]:
        """Failures of quarantined tests."""
        return [t for t in self.tests if t.status == CaseStatus.QUARANTINED.value]

    def is_new_failure(self, test: TestOutcome) -> bool:
        """Failing now, and passing, skipped or absent in the base (False without a base)."""
        if self.base is None or not test.failing:
            return False
        return self.base.statuses.get(test.test_id) not in NOT_PASSING

    @property
    def delta(self) -> dict[str, int] | None:
        """Counts minus the base's counts, or None without a base."""
        return None if self.base is None else self.counts.delta(self.base.counts)


@dataclass(slots=True)
class Report:
    """Everything a report renders."""

    executions: list[ExecutionReport]
    base_branch: str
    generated_at: datetime
    history: dict[str, list[HistoryPoint]] = field(default_factory=dict)
    """workflow -> its latest finished executions, oldest first (when asked for)."""

    @property
    def total(self) -> Counts:
        """Counts added up over the executions."""
        total = Counts()
        for item in self.executions:
            total += item.counts
        return total

    @property
    def failed(self) -> bool:
        """True when any reported execution did not pass."""
        return any(i.execution.status != ExecutionStatus.PASSED.value for i in self.executions)


def collect_report(
    store: ExecutionStore,
    refs: Sequence[str],
    *,
    base_branch: str = "main",
    with_base: bool = True,
    history: int = 0,
) -> Report:
    """Gather the executions named by ``refs`` (ids, id prefixes or names) and their bases.

    ``history`` > 0 also loads that many latest finished executions of each workflow (for
    trend charts).  Raises :class:`~assay.errors.NotFoundError` for an unknown reference; a
    reference given twice is reported once.
    """
    rows: list[ExecutionRow] = []
    for ref in refs:
        row = store.get(ref)
        if all(row.id != seen.id for seen in rows):
            rows.append(row)
    excluded = {row.id for row in rows}
    items: list[ExecutionReport] = []
    for row in rows:
        tests = load_tests(store, row)
        item = ExecutionReport(row, tests, Counts.of(row, tests))
        if with_base:
            base = find_base(store, row.workflow, base_branch, excluded)
            if base is not None:
                base_tests = load_tests(store, base)
                item.base = BaseComparison(
                    base, Counts.of(base, base_tests), {t.test_id: t.status for t in base_tests}
                )
        items.append(item)
    report = Report(items, base_branch, now())
    if history > 0:
        for row in rows:
            if row.workflow not in report.history:
                report.history[row.workflow] = load_history(store, row.workflow, history)
    return report


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One past execution in a trend: its stored summary and duration."""

    name: str
    number: int
    status: str
    summary: dict[str, int]
    duration_ms: int
    """Wall time, or for imported executions their test time (as in :class:`Counts`)."""


def load_history(store: ExecutionStore, workflow: str, limit: int) -> list[HistoryPoint]:
    """The latest ``limit`` finished executions of ``workflow``, oldest first."""
    with store.db.session() as session:
        rows = list(
            session.scalars(
                select(ExecutionRow)
                .where(ExecutionRow.workflow == workflow, ExecutionRow.status.in_(_FINISHED))
                .order_by(ExecutionRow.queued_at.desc(), ExecutionRow.number.desc())
                .limit(limit)
            )
        )
        imported = [row.id for row in rows if row.runner == "import" or row.duration_ms is None]
        test_time: dict[str, int] = {}
        if imported:
            columns = read_columns(session.connection(), imported)
            totals = np.bincount(
                columns.execution, weights=columns.duration_ms, minlength=len(imported)
            )
            test_time = {
                execution_id: int(total)
                for execution_id, total in zip(columns.execution_ids, totals.tolist(), strict=True)
            }
    return [
        HistoryPoint(
            row.name,
            row.number,
            row.status,
            {k: int(v) for k, v in (row.summary or {}).items()},
            test_time.get(row.id, 0) if row.id in imported else int(row.duration_ms or 0),
        )
        for row in reversed(rows)
    ]


def find_base(
    store: ExecutionStore, workflow: str, branch: str, excluded: set[str]
) -> ExecutionRow | None:
    """The latest finished execution of ``workflow`` tagged ``branch=<branch>``."""
    offset = 0
    while True:
        with store.db.session() as session:
            page = list(
                session.scalars(
                    select(ExecutionRow)
                    .where(ExecutionRow.workflow == workflow, ExecutionRow.status.in_(_FINISHED))
                    .order_by(ExecutionRow.queued_at.desc(), ExecutionRow.number.desc())
                    .offset(offset)
                    .limit(_PAGE)
                )
            )
        for row in page:
            if row.id not in excluded and (row.tags or {}).get("branch") == branch:
                return row
        if len(page) < _PAGE:
            return None
        offset += _PAGE


def load_tests(store: ExecutionStore, execution: ExecutionRow) -> list[TestOutcome]:
    """The tests of an execution and of its descendants, attempts grouped, in stored order."""
    names = _with_descendants(store, execution)
    tests: dict[tuple[str, int], TestOutcome] = {}
    with store.db.engine.connect() as connection:
        columns = read_columns(connection, list(names))
        details = read_details(connection, columns.execution_ids)
        bounds = np.searchsorted(columns.execution, np.arange(len(columns.execution_ids) + 1))
        for index, execution_id in enumerate(columns.execution_ids):
            start, end = int(bounds[index]), int(bounds[index + 1])
            if start == end:
                continue
            _add_execution(
                tests,
                execution_id,
                names[execution_id],
                columns.take(np.arange(start, end)),
                read_names(connection, execution_id),
                details,
            )
    outcomes = list(tests.values())
    for outcome in outcomes:
        # stable: equal attempt numbers keep their stored order, the later one last
        outcome.attempts.sort(key=lambda a: a.attempt)
    return outcomes


def _add_execution(
    tests: dict[tuple[str, int], TestOutcome],
    execution_id: str,
    execution: str,
    columns: CaseColumns,
    names: CaseNames,
    details: dict[tuple[str, int], CaseDetail],
) -> None:
    """Group the attempts of one execution (``columns``, in stored order) into ``tests``."""
    rows = zip(
        columns.test_id.tolist(),
        columns.position.tolist(),
        columns.attempt.tolist(),
        columns.status.tolist(),
        columns.duration_ms.tolist(),
        strict=True,
    )
    for test_id, position, attempt, status, duration_ms in rows:
        key = (execution_id, test_id)
        outcome = tests.get(key)
        if outcome is None:
            suite, classname, name, file, line = names.identity(position)
            outcome = tests[key] = TestOutcome(
                test_id=id_hex(test_id),
                execution=execution,
                suite=suite,
                classname=classname,
                name=name,
                file=file,
                line=line,
            )
        detail: CaseDetail = details.get((execution_id, position), _NO_DETAIL)
        message, properties, trace = detail
        outcome.attempts.append(
            Attempt(attempt, STATUS_VALUES[status], duration_ms, message, properties, trace)
        )


def _with_descendants(store: ExecutionStore, execution: ExecutionRow) -> dict[str, str]:
    """execution id -> name, for the execution and its children, grandchildren..."""
    found = {execution.id: execution.name}
    frontier = [execution.id]
    for _ in range(_MAX_DEPTH):
        if not frontier:
            break
        children = [child for parent in frontier for child in store.children(parent)]
        frontier = [c.id for c in children if c.id not in found]
        found.update((c.id, c.name) for c in children)
    return found
