"""The run queue in the store: queued run requests, claims, leases, abort requests.

A run request is an execution row in ``queued`` with a ``request`` (what a worker needs) and
no owner. Workers on any number of machines share the queue through the database alone:

- :meth:`QueueStore.claim` takes the oldest queued request there is room for and marks it
  ``running`` with a lease (worker id, expiry) and the worker's process as owner, in one
  transaction. Claims are serialised: on PostgreSQL by a transaction-scoped advisory lock,
  then ``SELECT ... FOR UPDATE SKIP LOCKED`` on the candidate (a row another transaction is
  changing, an abort, is skipped rather than waited for); on SQLite by the store's write
  lock and ``BEGIN IMMEDIATE``. Serialising is what makes the limits exact: under READ
  COMMITTED two claimers counting at once would both see room for one more.
- Limits: a global maximum of running (claimed) executions, given by the claimer, and per
  execution its ``concurrency_group`` / ``concurrency_max``; a request without room waits,
  and the requests of one group leave the queue in order.
- A worker renews its leases (:meth:`renew`); :meth:`expired` lists those not renewed in
  time, for :mod:`assay.engine.recovery` to close. Lease times are the store's clock on
  PostgreSQL, so the machines' clocks need not agree.
- A running execution whose work outlives its worker (a Job in a cluster) is taken over by
  another worker (:meth:`adopt`): compare-and-set on the lease's owner, so one adopter wins.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, text, update
from sqlalchemy.orm import Session

from assay.errors import DefinitionError, NotFoundError
from assay.processes import ProcessId
from assay.status import ExecutionStatus
from assay.store.database import Database
from assay.store.executions import ExecutionStore, QueueFields, close_row, now
from assay.store.outbox import record_events
from assay.store.tables import ExecutionRow

__all__ = ["QueueStore"]

_PG_CLAIM_LOCK = 0x61737371  # "assq": the pg_advisory_xact_lock key of claims
_QUEUED = ExecutionStatus.QUEUED.value
_RUNNING = ExecutionStatus.RUNNING.value


def _leased() -> ColumnElement[bool]:
    """Running executions claimed from the queue (what the limits count)."""
    return and_(ExecutionRow.status == _RUNNING, ExecutionRow.lease_owner.is_not(None))


def _waiting() -> ColumnElement[bool]:
    """Queued run requests (an ``assay run`` execution is queued an instant, with an owner
    and no request: never claimed)."""
    return and_(
        ExecutionRow.status == _QUEUED,
        ExecutionRow.request.is_not(None),
        ExecutionRow.owner_pid.is_(None),
    )


def _leased_to(execution_id: str, worker: str) -> ColumnElement[bool]:
    """The running execution ``execution_id`` while ``worker`` holds its lease."""
    return and_(
        ExecutionRow.id == execution_id,
        ExecutionRow.lease_owner == worker[:100],
        ExecutionRow.status == _RUNNING,
    )


def _clock(session: Session) -> datetime:
    """Now by the store's clock: PostgreSQL's when workers on several machines share it (so
    that their clocks need not agree for leases), this machine's for SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        stamp = session.scalar(select(func.now()))
        if isinstance(stamp, datetime):
            return stamp
    return now()


class QueueStore:
    """Run requests in the SQL store (see the module doc)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.executions = ExecutionStore(db)

    def enqueue(
        self,
        workflow: str,
        *,
        runner: str,
        tags: dict[str, str],
        config: dict[str, Any],
        request: dict[str, Any],
        group: str | None = None,
        max_running: int | None = None,
        name: str | None = None,
    ) -> ExecutionRow:
        """Record a ``queued`` run request (``config``: the masked values shown to users;
        ``request``: what the worker needs, no secret in clear text), named ``name``
        (unique) or ``WORKFLOW-N``."""
        too_low = max_running is not None and max_running < 1
        if (group is None) != (max_running is None) or too_low:
            raise DefinitionError("a concurrency group needs a max of at least 1")
        return self.executions.create(
            workflow,
            runner=runner,
            tags=tags,
            config=config,
            queue=QueueFields(request=request, group=group, max=max_running),
            name=name,
        )

    def has_waiting(self) -> bool:
        """True when some run request is queued (a read: no lock taken)."""
        with self.db.session() as session:
            return session.scalar(select(ExecutionRow.id).where(_waiting()).limit(1)) is not None

    def waiting(self, limit: int = 1000) -> list[ExecutionRow]:
        """Queued run requests, in the order they are claimed when there is room."""
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(ExecutionRow)
                    .where(_waiting())
                    .order_by(ExecutionRow.queued_at, ExecutionRow.id)
                    .limit(limit)
                )
            )

    def claim(
        self,
        worker: str,
        *,
        ttl: float,
        max_running: int | None = None,
        default_runner: str = "local",
    ) -> ExecutionRow | None:
        """Take the oldest queued request there is room for: mark it ``running``, leased to
        ``worker`` for ``ttl`` seconds and owned by this process; None when there is
        nothing to take. ``max_running``: running claimed executions at most, all workers
        together. The runner is the request's, else ``default_runner``."""
        me = ProcessId.current()
        with self.db.session(write=True) as session:
            postgres = self.db.engine.dialect.name == "postgresql"
            if postgres:
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_CLAIM_LOCK})
            if max_running is not None:
                running = session.scalar(select(func.count()).where(_leased())) or 0
                if running >= max_running:
                    return None
            group = ExecutionRow.concurrency_group
            counts: dict[str, int] = {
                name: count
                for name, count in session.execute(
                    select(group, func.count()).where(_leased(), group.is_not(None)).group_by(group)
                )
                if name is not None
            }
            room: list[ColumnElement[bool]] = [group.is_(None)]
            room.append(group.not_in(list(counts)) if counts else group.is_not(None))
            room += [
                and_(group == name, ExecutionRow.concurrency_max > count)
                for name, count in counts.items()
            ]
            query = (
                select(ExecutionRow)
                .where(_waiting(), or_(*room))
                .order_by(ExecutionRow.queued_at, ExecutionRow.id)
                .limit(1)
            )
            if postgres:
                query = query.with_for_update(skip_locked=True)
            row = session.scalars(query).first()
            if row is None:
                return None
            row.status = _RUNNING
            row.started_at = now()
            row.runner = str((row.request or {}).get("runner") or default_runner)
            row.lease_owner = worker[:100]
            row.lease_expires = _clock(session) + timedelta(seconds=ttl)
            row.owner_pid = me.pid
            row.owner_started = me.started
            row.owner_host = me.host[:253]
            record_events(session, row, "started", row.started_at)
        return row

    def renew(self, execution_id: str, worker: str, ttl: float) -> bool:
        """Extend ``worker``'s lease on a running execution; False when it is not (or no
        longer) its lease: finished, or closed by reconciliation."""
        with self.db.session(write=True) as session:
            result = session.execute(
                update(ExecutionRow)
                .where(_leased_to(execution_id, worker))
                .values(lease_expires=_clock(session) + timedelta(seconds=ttl))
            )
            return bool(getattr(result, "rowcount", 0))

    def adopt(
        self, execution_id: str, previous: str, worker: str, ttl: float
    ) -> ExecutionRow | None:
        """Take over the lease of a running execution from ``previous`` (a worker that is
        gone): ``worker``'s for ``ttl`` seconds, owned by this process; None when the lease
        is no longer ``previous``'s (another worker adopted it first) or it has ended."""
        me = ProcessId.current()
        with self.db.session(write=True) as session:
            result = session.execute(
                update(ExecutionRow)
                .where(_leased_to(execution_id, previous))
                .values(
                    lease_owner=worker[:100],
                    lease_expires=_clock(session) + timedelta(seconds=ttl),
                    owner_pid=me.pid,
                    owner_started=me.started,
                    owner_host=me.host[:253],
                )
            )
            if not getattr(result, "rowcount", 0):
                return None
            return session.get(ExecutionRow, execution_id)

    def expired(self, at: datetime | None = None) -> list[ExecutionRow]:
        """Running claimed executions whose lease ran out (before ``at``, default now by
        the store's clock)."""
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(ExecutionRow)
                    .where(_leased(), ExecutionRow.lease_expires < (at or _clock(session)))
                    .order_by(ExecutionRow.lease_expires)
                )
            )

    def abort_requested(self, execution_ids: Collection[str]) -> set[str]:
        """Those of ``execution_ids`` whose abort was requested (a read)."""
        if not execution_ids:
            return set()
        with self.db.session() as session:
            return set(
                session.scalars(
                    select(ExecutionRow.id).where(
                        ExecutionRow.id.in_(list(execution_ids)),
                        ExecutionRow.abort_requested_at.is_not(None),
                    )
                )
            )

    def request_abort(self, execution_id: str, reason: str) -> ExecutionRow:
        """Abort a run request: a queued one is closed ``aborted`` with ``reason`` at once;
        for a running one ``abort_requested_at`` is set and the worker running it stops it
        (:mod:`assay.engine.worker`). A finished one is returned as it is. An execution not
        started through the queue (``assay run``, a suite's child) is refused: only the
        process running it can stop it."""
        with self.db.session(write=True) as session:
            row = session.get(ExecutionRow, execution_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"no execution {execution_id!r}")
            if ExecutionStatus(row.status).finished:
                return row
            if row.request is None:
                where = f" (pid {row.owner_pid} on {row.owner_host})" if row.owner_pid else ""
                raise DefinitionError(
                    f"execution {row.name} was not started through the queue: stop the "
                    f"`assay run` that runs it{where}, or abort its parent"
                )
            if row.status == _QUEUED:
                close_row(row, ExecutionStatus.ABORTED, reason)
                record_events(session, row, "finished", now())
            elif row.abort_requested_at is None:
                row.abort_requested_at = now()
        return row
