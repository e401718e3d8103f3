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

from collections.abc import Sequence

import numpy as np
from sqlalchemy import select

from assay.reports.model import (
    FAILING,
    NOT_PASSING,
    Attempt,
    BaseComparison,
    Counts,
    ExecutionReport,
    HistoryPoint,
    Report,
    ReportedExecution,
    TestOutcome,
)
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
    "ReportedExecution",
    "TestOutcome",
    "collect_report",
    "find_base",
    "load_history",
    "load_tests",
]

_FINISHED = tuple(s.value for s in ExecutionStatus if s.finished)
_PAGE = 100
_MAX_DEPTH = 8
_NO_DETAIL: CaseDetail = CaseDetail(None, None, None)


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
        reported = ReportedExecution.of(row)
        item = ExecutionReport(reported, tests, Counts.of(reported, tests))
        if with_base:
            base = find_base(store, row.workflow, base_branch, excluded)
            if base is not None:
                base_tests = load_tests(store, base)
                facts = ReportedExecution.of(base)
                item.base = BaseComparison(
                    facts, Counts.of(facts, base_tests), {t.test_id: t.status for t in base_tests}
                )
        items.append(item)
    report = Report(items, base_branch, now())
    if history > 0:
        for row in rows:
            if row.workflow not in report.history:
                report.history[row.workflow] = load_history(store, row.workflow, history)
    return report


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
