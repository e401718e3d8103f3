"""The webhook outbox: deliveries written in the transaction that changes an execution.

:func:`record_events` is called by :class:`~assay.store.executions.ExecutionStore` inside
the transaction that queues, starts or finishes an execution: for each applied Webhook
subscribed to the event (and whose ``selector`` matches the workflow's labels) it adds a
``webhook_deliveries`` row, so a delivery exists if and only if the state change does.
Without any applied Webhook it costs one indexed query. The sender
(:mod:`assay.ops.webhooks`) sends, retries and logs them.

Events: ``queue-``, ``start-testworkflow``; ``end-testworkflow-success`` (passed),
``-failed`` (failed, timeout, error), ``-aborted``; ``become-testworkflow-up`` /
``-down`` / ``-failed`` / ``-aborted`` only when the previous finished execution of the
workflow ended otherwise (no previous one: no transition).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from assay.status import ExecutionStatus
from assay.store.database import Database
from assay.store.tables import ExecutionRow, WebhookAttemptRow, WebhookDeliveryRow, WorkflowRow

__all__ = [
    "DELIVERED",
    "FAILED",
    "PENDING",
    "Outbox",
    "event_data",
    "finish_events",
    "record_events",
]

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"

_FINISHED = tuple(s.value for s in ExecutionStatus if s.finished)
_FAILING = frozenset({"failed", "timeout", "error"})


def _end_event(status: str) -> str:
    if status == ExecutionStatus.PASSED.value:
        return "end-testworkflow-success"
    if status == ExecutionStatus.ABORTED.value:
        return "end-testworkflow-aborted"
    return "end-testworkflow-failed"


def finish_events(status: str, previous: str | None) -> list[str]:
    """The events of an execution ending in ``status`` after one that ended in
    ``previous`` (None: no finished execution before it)."""
    events = [_end_event(status)]
    if previous is None:
        return events
    passed, was_passed = status == "passed", previous == "passed"
    if passed and not was_passed:
        events.append("become-testworkflow-up")
    if was_passed and not passed:
        events.append("become-testworkflow-down")
    if status in _FAILING and previous not in _FAILING:
        events.append("become-testworkflow-failed")
    if status == "aborted" and previous != "aborted":
        events.append("become-testworkflow-aborted")
    return events


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def event_data(event: str, row: ExecutionRow, labels: dict[str, str]) -> dict[str, Any]:
    """The data of an event: the execution as it is in this transaction."""
    return {
        "type": event,
        "workflow": {"name": row.workflow, "labels": labels},
        "execution": {
            "id": row.id,
            "name": row.name,
            "number": row.number,
            "status": row.status,
            "runner": row.runner,
            "tags": dict(row.tags or {}),
            "queuedAt": _iso(row.queued_at),
            "startedAt": _iso(row.started_at),
            "finishedAt": _iso(row.finished_at),
            "durationMs": row.duration_ms,
            "error": row.error,
            "summary": dict(row.summary or {}),
            "parentId": row.parent_id,
        },
    }


def record_events(session: Session, row: ExecutionRow, transition: str, now: datetime) -> int:
    """Add the deliveries of ``row``'s ``transition`` (queued, started, finished) to the
    current transaction; how many were added."""
    hooks = session.execute(
        select(WorkflowRow.name, WorkflowRow.definition).where(WorkflowRow.kind == "Webhook")
    ).all()
    if not hooks:
        return 0
    subscribed = [
        (name, definition.get("spec") or {})
        for name, definition in hooks
        if not (definition.get("spec") or {}).get("disabled")
    ]
    wanted = {event for _, spec in subscribed for event in spec.get("events") or []}
    if transition == "queued":
        events = ["queue-testworkflow"]
    elif transition == "started":
        events = ["start-testworkflow"]
    else:
        previous = None
        if any(event.startswith("become-") for event in wanted):
            previous = session.scalar(
                select(ExecutionRow.status)
                .where(
                    ExecutionRow.workflow == row.workflow,
                    ExecutionRow.number < row.number,
                    ExecutionRow.status.in_(_FINISHED),
                )
                .order_by(ExecutionRow.number.desc())
                .limit(1)
            )
        events = finish_events(row.status, previous)
    events = [event for event in events if event in wanted]
    if not events:
        return 0
    from assay.spec.webhook import selector_matches

    labels: dict[str, str] = (
        session.scalar(
            select(WorkflowRow.labels).where(
                WorkflowRow.kind == "TestWorkflow", WorkflowRow.name == row.workflow
            )
        )
        or {}
    )
    added = 0
    for event in events:
        data = event_data(event, row, labels)
        for name, spec in subscribed:
            if event in (spec.get("events") or []) and selector_matches(
                spec.get("selector"), labels
            ):
                session.add(_delivery("webhook", name, event, row, data, now))
                added += 1
    return added


def _delivery(
    kind: str,
    target: str,
    event: str,
    row: ExecutionRow | None,
    payload: dict[str, Any],
    now: datetime,
    *,
    due: bool = True,
) -> WebhookDeliveryRow:
    return WebhookDeliveryRow(
        id=uuid.uuid4().hex,
        kind=kind,
        target=target,
        event_id=str(uuid.uuid4()),
        event_type=event,
        execution_id=None if row is None else row.id,
        workflow=None if row is None else row.workflow,
        payload=payload,
        status=PENDING,
        attempts=0,
        next_attempt_at=now if due else None,
        created_at=now,
    )


class Outbox:
    """Deliveries and their attempts."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add_slack(
        self, payload: dict[str, Any], execution: ExecutionRow | None, now: datetime
    ) -> WebhookDeliveryRow:
        """A Slack message to send now by the caller, who holds the URL (never stored):
        not due for the sender loop."""
        row = _delivery("slack", "slack", "slack-notification", execution, payload, now, due=False)
        with self.db.session(write=True) as session:
            session.add(row)
        return row

    def get(self, ref: str) -> WebhookDeliveryRow:
        """A delivery by id or unique id prefix."""
        from assay.errors import NotFoundError

        with self.db.session() as session:
            rows = session.scalars(
                select(WebhookDeliveryRow).where(WebhookDeliveryRow.id.startswith(ref)).limit(2)
            ).all()
        if len(rows) == 1:
            return rows[0]
        raise NotFoundError(
            f"no delivery {ref!r}" if not rows else f"delivery {ref!r} is ambiguous"
        )

    def recent(
        self, *, status: str | None = None, execution_id: str | None = None, limit: int = 50
    ) -> list[WebhookDeliveryRow]:
        """Deliveries, newest first."""
        query = select(WebhookDeliveryRow).order_by(WebhookDeliveryRow.created_at.desc())
        if status:
            query = query.where(WebhookDeliveryRow.status == status)
        if execution_id:
            query = query.where(WebhookDeliveryRow.execution_id == execution_id)
        with self.db.session() as session:
            return list(session.scalars(query.limit(limit)))

    def attempts(self, delivery_id: str) -> list[WebhookAttemptRow]:
        """Every attempt of a delivery, in order."""
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(WebhookAttemptRow)
                    .where(WebhookAttemptRow.delivery_id == delivery_id)
                    .order_by(WebhookAttemptRow.number)
                )
            )

    def claim_due(
        self, *, owner: str, now: datetime, lease_until: datetime, limit: int = 20
    ) -> list[WebhookDeliveryRow]:
        """Pending deliveries that are due and not leased, leased to ``owner`` (PostgreSQL:
        ``FOR UPDATE SKIP LOCKED``; SQLite: the store's write lock)."""
        with self.db.session(write=True) as session:
            query = (
                select(WebhookDeliveryRow.id)
                .where(
                    WebhookDeliveryRow.kind == "webhook",
                    WebhookDeliveryRow.status == PENDING,
                    WebhookDeliveryRow.next_attempt_at <= now,
                    (WebhookDeliveryRow.lease_expires.is_(None))
                    | (WebhookDeliveryRow.lease_expires < now),
                )
                .order_by(WebhookDeliveryRow.next_attempt_at)
                .limit(limit)
            )
            if self.db.engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list(session.scalars(query))
            if not ids:
                return []
            session.execute(
                update(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.id.in_(ids))
                .values(lease_owner=owner[:100], lease_expires=lease_until)
            )
            return list(
                session.scalars(
                    select(WebhookDeliveryRow)
                    .where(WebhookDeliveryRow.id.in_(ids))
                    .order_by(WebhookDeliveryRow.next_attempt_at)
                )
            )

    def record_attempt(
        self,
        delivery_id: str,
        *,
        started_at: datetime,
        status_code: int | None,
        latency_ms: int,
        error: str | None,
        outcome: str,
        next_attempt_at: datetime | None,
    ) -> int:
        """Log one attempt and move the delivery to ``outcome`` (pending with its next
        attempt time, delivered or failed) in one transaction; the attempt's number."""
        with self.db.session(write=True) as session:
            number = (
                session.scalar(
                    select(func.count())
                    .select_from(WebhookAttemptRow)
                    .where(WebhookAttemptRow.delivery_id == delivery_id)
                )
                or 0
            ) + 1
            session.add(
                WebhookAttemptRow(
                    delivery_id=delivery_id,
                    number=number,
                    started_at=started_at,
                    status_code=status_code,
                    latency_ms=latency_ms,
                    error=error,
                )
            )
            session.execute(
                update(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.id == delivery_id)
                .values(
                    attempts=WebhookDeliveryRow.attempts + 1,
                    status=outcome,
                    next_attempt_at=next_attempt_at,
                    lease_owner=None,
                    lease_expires=None,
                    last_status_code=status_code,
                    last_error=error,
                    finished_at=None if outcome == PENDING else started_at,
                )
            )
        return number

    def replay(self, delivery_id: str, now: datetime) -> None:
        """Make a delivery pending again, due now, with a fresh round of attempts (the
        same event id)."""
        self.reschedule([delivery_id], now)

    def reschedule(self, ids: Sequence[str], now: datetime) -> None:
        """Pending, due ``now``, attempts counted afresh."""
        statement = (
            update(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.id == bindparam("did"))
            .values(
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                lease_owner=None,
                lease_expires=None,
                finished_at=None,
            )
        )
        with self.db.session(write=True) as session:
            session.connection().execute(statement, [{"did": i} for i in ids])
