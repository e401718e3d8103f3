"""Recording and querying executions, steps and test cases."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Select, func, insert, or_, select
from sqlalchemy.exc import IntegrityError

from assay.errors import DefinitionError, NotFoundError
from assay.results.model import CaseStatus, Summary, TestCaseResult
from assay.status import ExecutionStatus, StepStatus
from assay.store.database import Database
from assay.store.tables import ExecutionRow, StepRow, TestCaseRow

__all__ = ["ExecutionStore", "StepOutcome", "now"]

_BATCH = 5000
_Row = TypeVar("_Row")
_CASE_COLUMNS = (
    "execution_id",
    "test_id",
    "workflow",
    "suite",
    "classname",
    "name",
    "file",
    "line",
    "status",
    "duration_ms",
    "message",
    "attempt",
    "properties",
)
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}
_SQLITE_BULK_CACHE_KIB = 64 * 1024


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(slots=True)
class StepOutcome:
    """What happened to one step, ready to be stored."""

    ref: str
    name: str
    status: StepStatus
    exit_code: int | None = None
    attempts: int = 1
    started_at: datetime | None = None
    duration_ms: int | None = None
    message: str | None = None


class ExecutionStore:
    """Executions in the SQL store."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        workflow: str,
        *,
        runner: str,
        tags: dict[str, str] | None = None,
        config: dict[str, Any] | None = None,
        parent_id: str | None = None,
        status: ExecutionStatus = ExecutionStatus.QUEUED,
    ) -> ExecutionRow:
        """Queue a new execution with the next number of its workflow."""
        for _ in range(20):
            try:
                with self.db.session() as session:
                    number = (
                        session.scalar(
                            select(func.max(ExecutionRow.number)).where(
                                ExecutionRow.workflow == workflow
                            )
                        )
                        or 0
                    ) + 1
                    row = ExecutionRow(
                        id=uuid.uuid4().hex,
                        workflow=workflow,
                        number=number,
                        name=f"{workflow}-{number}",
                        status=status.value,
                        runner=runner,
                        tags=dict(tags or {}),
                        config=dict(config or {}),
                        summary={},
                        parent_id=parent_id,
                        queued_at=now(),
                        sha=(tags or {}).get("sha", "")[:255] or None,
                        branch=(tags or {}).get("branch", "")[:255] or None,
                    )
                    session.add(row)
                return row
            except IntegrityError:  # another process took this number
                continue
        raise DefinitionError(f"could not allocate an execution number for {workflow!r}")

    def start(self, execution_id: str) -> None:
        """Mark an execution running."""
        with self.db.session() as session:
            row = session.get_one(ExecutionRow, execution_id)
            row.status = ExecutionStatus.RUNNING.value
            row.started_at = now()

    def finish(
        self,
        execution_id: str,
        status: ExecutionStatus,
        *,
        steps: Sequence[StepOutcome] = (),
        summary: Summary | None = None,
        error: str | None = None,
    ) -> ExecutionRow:
        """Record the final state, steps and summary of an execution."""
        finished = now()
        with self.db.session() as session:
            row = session.get_one(ExecutionRow, execution_id)
            row.status = status.value
            row.finished_at = finished
            started = row.started_at or row.queued_at
            if started.tzinfo is None:
                started = started.replace(tzinfo=UTC)
            row.duration_ms = int((finished - started).total_seconds() * 1000)
            row.error = error
            if summary is not None:
                row.summary = summary.as_dict()
            for position, step in enumerate(steps):
                session.add(
                    StepRow(
                        execution_id=execution_id,
                        position=position,
                        ref=step.ref,
                        name=step.name,
                        status=step.status.value,
                        exit_code=step.exit_code,
                        attempts=step.attempts,
                        started_at=step.started_at,
                        duration_ms=step.duration_ms,
                        message=step.message,
                    )
                )
        return row

    def add_test_cases(
        self, execution_id: str, workflow: str, cases: Iterable[TestCaseResult]
    ) -> Summary:
        """Store test-case rows in one transaction; return the summary over final attempts.

        The ingest hot path (see bench/ingest.py): rows reach the driver as plain tuples
        through one prepared INSERT (``executemany``), test ids are hashed from a per-class
        prefix and properties are serialised here, since SQLAlchemy's ``insert()`` with a
        dict per row cost more than SQLite's own work.  On SQLite the connection's page cache
        is raised for the transaction, so that the random inserts into the indexes keyed by
        test id stay in memory.
        """
        final: dict[str, CaseStatus] = {}
        failed_before: set[str] = set()
        failing = (CaseStatus.FAILED, CaseStatus.ERRORED)
        prefixes: dict[tuple[str, str], str] = {}
        sha1 = hashlib.sha1
        dumps = json.dumps
        with self.db.engine.begin() as connection, _bulk_insert(connection) as store_rows:
            rows: list[tuple[Any, ...]] = []
            append = rows.append
            for case in cases:
                suite, classname, name, status = case.suite, case.classname, case.name, case.status
                prefix = prefixes.get((suite, classname))
                if prefix is None:  # the key of test_identity(), less the name
                    prefix = prefixes[(suite, classname)] = (
                        f"{workflow}\x1f{suite}\x1f{classname}\x1f"
                    )
                test_id = sha1((prefix + name).encode(), usedforsecurity=False).hexdigest()[:16]
                previous = final.get(test_id)
                if previous is not None and previous in failing:
                    failed_before.add(test_id)
                final[test_id] = status
                properties = case.properties
                append(
                    (
                        execution_id,
                        test_id,
                        workflow,
                        suite,
                        classname,
                        name,
                        case.file,
                        case.line,
                        status.value,
                        case.duration_ms,
                        case.message,
                        case.attempt,
                        dumps(properties) if properties else None,
                    )
                )
                if len(rows) >= _BATCH:
                    store_rows(rows)
                    rows = []
                    append = rows.append
            if rows:
                store_rows(rows)
        summary = Summary()
        for test_id, status in final.items():
            summary.add(status, flaky=test_id in failed_before)
        return summary

    def get(self, ref: str) -> ExecutionRow:
        """Find an execution by id, unique id prefix, or name (``workflow-number``)."""
        with self.db.session() as session:
            row = session.get(ExecutionRow, ref)
            if row is not None:
                return row
            rows = session.scalars(
                select(ExecutionRow)
                .where(or_(ExecutionRow.name == ref, ExecutionRow.id.startswith(ref)))
                .limit(2)
            ).all()
        if len(rows) == 1:
            return rows[0]
        if not rows:
            raise NotFoundError(f"no execution {ref!r}")
        raise NotFoundError(f"execution reference {ref!r} is ambiguous; give more of the id")

    def steps(self, execution_id: str) -> list[StepRow]:
        """The steps of an execution in order."""
        return self._all(
            select(StepRow).where(StepRow.execution_id == execution_id).order_by(StepRow.position)
        )

    def children(self, execution_id: str) -> list[ExecutionRow]:
        """Child executions (tests of a suite, workflows of an execute step)."""
        return self._all(
            select(ExecutionRow)
            .where(ExecutionRow.parent_id == execution_id)
            .order_by(ExecutionRow.queued_at)
        )

    def recent(self, *, workflow: str | None = None, limit: int = 20) -> list[ExecutionRow]:
        """Executions, newest first."""
        query = select(ExecutionRow).order_by(ExecutionRow.queued_at.desc()).limit(limit)
        if workflow:
            query = query.where(ExecutionRow.workflow == workflow)
        return self._all(query)

    def test_cases(self, execution_id: str) -> list[TestCaseRow]:
        """Test-case rows of an execution (every attempt)."""
        return self._all(
            select(TestCaseRow)
            .where(TestCaseRow.execution_id == execution_id)
            .order_by(TestCaseRow.id)
        )

    def _all(self, query: Select[_Row]) -> list[_Row]:
        with self.db.session() as session:
            return list(session.scalars(query))


@contextmanager
def _bulk_insert(connection: Connection) -> Iterator[Callable[[list[tuple[Any, ...]]], None]]:
    """A function storing test-case tuples (in ``_CASE_COLUMNS`` order) on ``connection``."""
    dialect = connection.dialect
    mark = _PLACEHOLDERS.get(dialect.paramstyle)
    if mark is None:  # a driver with named or numeric parameters: the Core insert

        def store_dicts(rows: list[tuple[Any, ...]]) -> None:
            records = [dict(zip(_CASE_COLUMNS, row, strict=True)) for row in rows]
            for record in records:
                if record["properties"] is not None:
                    record["properties"] = json.loads(record["properties"])
            connection.execute(insert(TestCaseRow), records)

        yield store_dicts
        return
    sql = (
        f"INSERT INTO {TestCaseRow.__tablename__} ({', '.join(_CASE_COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(_CASE_COLUMNS))})"
    )

    def store_tuples(rows: list[tuple[Any, ...]]) -> None:
        connection.exec_driver_sql(sql, rows)

    if dialect.name != "sqlite":
        yield store_tuples
        return
    cache = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size=-{_SQLITE_BULK_CACHE_KIB}")
    try:
        yield store_tuples
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size={int(cache or -2000)}")
