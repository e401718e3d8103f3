"""Recording and querying executions, steps and test cases."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Select, bindparam, delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from assay.errors import ConflictError, DefinitionError, NotFoundError
from assay.model import Summary, TestCaseResult
from assay.processes import ProcessId
from assay.status import ExecutionStatus, StepStatus
from assay.store.database import Database
from assay.store.outbox import record_events
from assay.store.tables import ExecutionRow, ExecutionTagRow, StepRow, TaskRow, indexed_tag

if TYPE_CHECKING:
    from assay.store.test_cases import StoredCase

__all__ = [
    "ExecutionQuery",
    "ExecutionStore",
    "Listed",
    "ListedStep",
    "QueueFields",
    "StepOutcome",
    "check_execution_name",
    "close_row",
    "now",
]

_Row = TypeVar("_Row")
_UNFINISHED = (ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value)


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class QueueFields:
    """What a queued run request records besides an execution's usual columns."""

    request: dict[str, Any]
    """What a worker needs to run it (no secret in clear text)."""
    group: str | None = None
    """Concurrency group (``spec.concurrency.group``), None without a limit."""
    max: int | None = None
    """Running executions of ``group`` at most."""


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


@dataclass(slots=True)
class Listed:
    """An execution as lists show it (:func:`assay.app.execution_json`): plain attributes,
    read several times cheaper than a result row's, made from one in :data:`LISTED` order."""

    id: str
    name: str
    number: int
    workflow: str
    status: str
    runner: str
    tags: dict[str, str] | None
    config: dict[str, Any] | None
    summary: dict[str, int] | None
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    parent_id: str | None
    error: str | None


@dataclass(slots=True)
class ListedStep:
    """A step as lists show it, with its execution's id (the columns of
    :data:`LISTED_STEP`, in order)."""

    execution_id: str
    ref: str
    name: str
    status: str
    exit_code: int | None
    attempts: int
    duration_ms: int | None
    message: str | None


LISTED = tuple(field.name for field in fields(Listed))
"""The columns of an execution that lists show."""
LISTED_STEP = tuple(field.name for field in fields(ListedStep))
"""The columns of a step that lists show."""


@cache
def _page_select() -> Select[Any]:
    """The newest-first select of :data:`LISTED` (built once: statements are immutable)."""
    table = ExecutionRow.__table__.c
    return select(*(table[name] for name in LISTED)).order_by(
        table.queued_at.desc(), table.id.desc()
    )


@cache
def _steps_select() -> Select[Any]:
    """The steps of the executions given as ``ids``, in order (built once)."""
    steps = StepRow.__table__.c
    return (
        select(*(steps[name] for name in LISTED_STEP))
        .where(steps.execution_id.in_(bindparam("ids", expanding=True)))
        .order_by(steps.execution_id, steps.position)
    )


@dataclass(frozen=True, slots=True)
class ExecutionQuery:
    """Which executions to list, newest first: a page (0-based) of ``page_size``."""

    page: int = 0
    page_size: int = 100
    workflow: str | None = None
    statuses: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    """Every (key, value) must match; ``sha`` and ``branch`` use their indexed columns."""
    since: datetime | None = None
    """Queued at or after."""
    until: datetime | None = None
    """Queued before."""


_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$")
_AUTOMATIC = re.compile(r"-[0-9]+$")
_HEX = re.compile(r"^[0-9a-f]+$")


def check_execution_name(name: str) -> str:
    """``name`` if it may name an execution, else a DefinitionError naming the field: 1-253
    letters, digits, ``.``, ``_`` and ``-`` starting and ending with a letter or digit; not
    ending in ``-NUMBER`` (automatic names, ``WORKFLOW-N``, are of that form, so the two
    never meet) and not all hexadecimal digits (it would read as an id prefix)."""
    if not _NAME.match(name):
        raise DefinitionError(
            f"name {name!r}: 1-253 letters, digits, '.', '_' or '-', starting and ending "
            "with a letter or digit"
        )
    if _AUTOMATIC.search(name):
        raise DefinitionError(
            f"name {name!r}: names ending in -NUMBER are kept for the automatic WORKFLOW-N"
        )
    if _HEX.match(name):
        raise DefinitionError(f"name {name!r}: hexadecimal digits only read as an execution id")
    return name


def close_row(row: ExecutionRow, status: ExecutionStatus, error: str | None) -> None:
    """Set the final status, end time, duration and error of ``row``."""
    finished = now()
    started = row.started_at or row.queued_at
    row.status = status.value
    row.finished_at = finished
    row.duration_ms = int((finished - started).total_seconds() * 1000)
    row.error = error


def _replace_steps(session: Session, execution_id: str, steps: Sequence[StepOutcome]) -> None:
    session.execute(delete(StepRow).where(StepRow.execution_id == execution_id))
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
        queue: QueueFields | None = None,
        name: str | None = None,
    ) -> ExecutionRow:
        """Queue a new execution with the next number of its workflow, owned by this
        process (see :mod:`assay.engine.recovery`); with ``queue``, a run request that no
        process owns until a worker claims it (:mod:`assay.store.queue`). It is named
        ``WORKFLOW-N`` unless ``name`` is given (checked by :func:`check_execution_name`),
        which no other execution may have (ConflictError naming the field)."""
        owner = None if queue is not None else ProcessId.current()
        for _ in range(20):
            try:
                with self.db.session(write=True) as session:
                    if session.bind and session.bind.dialect.name == "postgresql":
                        session.execute(  # numbers of one workflow are taken one at a time
                            text("SELECT pg_advisory_xact_lock(hashtext(:workflow))"),
                            {"workflow": workflow},
                        )
                    if name is not None:
                        self._claim_name(session, name)
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
                        name=name or f"{workflow}-{number}",
                        status=status.value,
                        runner=runner,
                        tags=dict(tags or {}),
                        config=dict(config or {}),
                        summary={},
                        parent_id=parent_id,
                        queued_at=now(),
                        sha=(tags or {}).get("sha", "")[:255] or None,
                        branch=(tags or {}).get("branch", "")[:255] or None,
                        owner_pid=owner.pid if owner else None,
                        owner_started=owner.started if owner else None,
                        owner_host=owner.host[:253] if owner else None,
                        request=queue.request if queue else None,
                        concurrency_group=queue.group if queue else None,
                        concurrency_max=queue.max if queue else None,
                    )
                    session.add(row)
                    session.flush()  # the execution before its tags (foreign key)
                    session.add_all(
                        ExecutionTagRow(execution_id=row.id, key=key, value=value)
                        for key, value in (tags or {}).items()
                        if indexed_tag(key, value)
                    )
                    if status is ExecutionStatus.QUEUED:
                        record_events(session, row, "queued", row.queued_at)
                return row
            except IntegrityError:  # another process took this number
                continue
        raise DefinitionError(f"could not allocate an execution number for {workflow!r}")

    @staticmethod
    def _claim_name(session: Session, name: str) -> None:
        """Refuse ``name`` if an execution has it; on PostgreSQL, first wait for any other
        transaction giving the same name (SQLite's writers take turns already)."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(  # class 1 of the two-key locks: execution names
                text("SELECT pg_advisory_xact_lock(1, hashtext(:name))"), {"name": name}
            )
        taken = session.scalar(select(ExecutionRow.id).where(ExecutionRow.name == name).limit(1))
        if taken is not None:
            raise ConflictError(f"name: an execution named {name!r} exists already ({taken})")

    def start(self, execution_id: str) -> None:
        """Mark an execution running (a claimed run request keeps its claim's start, and
        gets no second ``start-testworkflow`` event)."""
        with self.db.session(write=True) as session:
            row = session.get_one(ExecutionRow, execution_id)
            starting = row.status != ExecutionStatus.RUNNING.value
            row.status = ExecutionStatus.RUNNING.value
            row.started_at = row.started_at or now()
            if starting:
                record_events(session, row, "started", row.started_at)

    def finish(
        self,
        execution_id: str,
        status: ExecutionStatus,
        *,
        steps: Sequence[StepOutcome] = (),
        summary: Summary | None = None,
        error: str | None = None,
    ) -> ExecutionRow:
        """Record the final state, steps and summary of an execution. An execution closed
        already (aborted by reconciliation while its worker still ran it) keeps its first
        final state and error; the steps and summary are added."""
        with self.db.session(write=True) as session:
            row = session.get_one(ExecutionRow, execution_id)
            closing = row.status in _UNFINISHED
            if closing:
                close_row(row, status, error)
            if summary is not None:
                row.summary = summary.as_dict()
                row.summary_tests = summary.tests
                row.summary_skipped = summary.skipped
                row.summary_passed = summary.passed
            if steps or closing:  # the final steps replace those recorded live
                _replace_steps(session, execution_id, steps)
            session.execute(delete(TaskRow).where(TaskRow.execution_id == execution_id))
            if closing:
                record_events(session, row, "finished", now())
        return row

    def record_steps(self, execution_id: str, steps: Sequence[StepOutcome]) -> None:
        """Record the steps of a running execution as they stand (a step under way is
        ``running``), so that its page shows them before it ends; :meth:`finish` replaces
        them with the final ones. Nothing is written once the execution has ended."""
        with self.db.session(write=True) as session:
            status = session.scalar(
                select(ExecutionRow.status).where(ExecutionRow.id == execution_id)
            )
            if status in _UNFINISHED:
                _replace_steps(session, execution_id, steps)

    # -- crash recovery -------------------------------------------------------------------

    def add_task(self, execution_id: str, handle: dict[str, Any]) -> None:
        """Remember a started task until it ends (``handle``: ``TaskHandle.to_dict()``)."""
        with self.db.session(write=True) as session:
            session.add(
                TaskRow(execution_id=execution_id, task_id=handle["task_id"], handle=handle)
            )

    def remove_task(self, execution_id: str, task_id: str) -> None:
        """Forget a task that ended."""
        with self.db.session(write=True) as session:
            session.execute(
                delete(TaskRow).where(
                    TaskRow.execution_id == execution_id, TaskRow.task_id == task_id
                )
            )

    def tasks(self, execution_id: str) -> list[dict[str, Any]]:
        """Handles of the tasks an execution has not seen end."""
        with self.db.session() as session:
            return list(
                session.scalars(select(TaskRow.handle).where(TaskRow.execution_id == execution_id))
            )

    def unfinished_on(self, host: str) -> list[ExecutionRow]:
        """Queued or running executions owned by a process of ``host`` (one indexed query)."""
        return self._all(
            select(ExecutionRow).where(
                ExecutionRow.owner_host == host[:253], ExecutionRow.status.in_(_UNFINISHED)
            )
        )

    def abandon(self, execution_id: str, reason: str) -> bool:
        """Mark an unfinished execution aborted with ``reason``; False if it had finished
        (another process got there first, or its owner finished it after all)."""
        with self.db.session(write=True) as session:
            row = session.get(ExecutionRow, execution_id)
            if row is None or row.status not in _UNFINISHED:
                return False
            close_row(row, ExecutionStatus.ABORTED, reason)
            session.execute(  # steps recorded running when its owner died ended with it
                update(StepRow)
                .where(
                    StepRow.execution_id == execution_id,
                    StepRow.status == StepStatus.RUNNING.value,
                )
                .values(status=StepStatus.ABORTED.value)
            )
            session.execute(delete(TaskRow).where(TaskRow.execution_id == execution_id))
            record_events(session, row, "finished", now())
        return True

    def add_test_cases(
        self, execution_id: str, workflow: str, cases: Iterable[TestCaseResult]
    ) -> Summary:
        """Store test-case attempts in one transaction; return the summary over final attempts
        (storage layout: :mod:`assay.store.test_cases`)."""
        rows = list(cases)
        if not rows:  # nothing to store, and numpy stays unloaded (an aborted run ends sooner)
            return Summary()
        from assay.store.case_writer import write_cases  # no numpy (nor readers) to write

        try:
            with self.db.writing(), self.db.engine.begin() as connection:
                if self.db.engine.dialect.name == "sqlite":
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                return write_cases(connection, execution_id, workflow, rows)
        except OperationalError as exc:
            raise self.db.fault(exc) from exc

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

    def page(self, query: ExecutionQuery) -> tuple[list[Listed], bool]:
        """One page of executions (no ORM objects to build), newest first, and whether more
        follow. One query served by the ``queued_at`` indexes; no count of every match."""
        table = ExecutionRow.__table__.c
        select_ = _page_select()
        if query.workflow:
            select_ = select_.where(table.workflow == query.workflow)
        if query.statuses:
            select_ = select_.where(table.status.in_(query.statuses))
        for key, value in query.tags:
            if key in ("sha", "branch"):
                select_ = select_.where(table[key] == value[:255])
            select_ = select_.where(ExecutionRow.tags[key].as_string() == value)
        if query.since is not None:
            select_ = select_.where(table.queued_at >= query.since)
        if query.until is not None:
            select_ = select_.where(table.queued_at < query.until)
        select_ = select_.offset(query.page * query.page_size).limit(query.page_size + 1)
        with self.db.engine.connect() as connection:
            rows = [Listed(*row) for row in connection.execute(select_)]
        return rows[: query.page_size], len(rows) > query.page_size

    def steps_of(self, execution_ids: Sequence[str]) -> dict[str, list[ListedStep]]:
        """The steps of several executions in order, by execution id (one query)."""
        if not execution_ids:
            return {}
        found: dict[str, list[ListedStep]] = {}
        with self.db.engine.connect() as connection:
            for row in connection.execute(_steps_select(), {"ids": list(execution_ids)}):
                step = ListedStep(*row)
                found.setdefault(step.execution_id, []).append(step)
        return found

    def test_cases(self, execution_id: str) -> list[StoredCase]:
        """Test-case attempts of an execution (every attempt), in stored order."""
        from assay.store.test_cases import read_cases

        with self.db.engine.connect() as connection:
            return read_cases(connection, execution_id)

    def _all(self, query: Select[_Row]) -> list[_Row]:
        with self.db.session() as session:
            return list(session.scalars(query))
