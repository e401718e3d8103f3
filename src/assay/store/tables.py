"""SQLAlchemy tables of the store. Changes need an Alembic migration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from assay.moments import as_utc

__all__ = [
    "ApiTokenRow",
    "Base",
    "ExecutionRow",
    "ExecutionTagRow",
    "QuarantineRow",
    "ScheduleTickRow",
    "StepRow",
    "TaskRow",
    "TestCaseDetailRow",
    "TestResultsRow",
    "UtcDateTime",
    "WebhookAttemptRow",
    "WebhookDeliveryRow",
    "WorkflowRow",
    "indexed_tag",
]


class UtcDateTime(TypeDecorator[datetime]):
    """A moment, kept in UTC and read back with its zone on every store.

    The column is ``DateTime(timezone=True)``. PostgreSQL keeps the zone; SQLite keeps
    none, so its values are written in UTC and read back as UTC, and the API, the CLI and
    the dashboard print the same ``...+00:00`` moments on both stores.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value  # naive moments are UTC already
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class WorkflowRow(Base):
    """An applied definition (workflow, template, legacy test or suite)."""

    __tablename__ = "workflows"
    __table_args__ = (UniqueConstraint("kind", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(253), index=True)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    definition: Mapped[dict[str, Any]]
    source: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ExecutionRow(Base):
    """One execution of a workflow."""

    __tablename__ = "executions"
    __table_args__ = (
        UniqueConstraint("workflow", "number"),
        Index("ix_executions_workflow_queued", "workflow", "queued_at"),
        Index("ix_executions_owner", "owner_host", "status"),
        Index("ix_executions_status_queued", "status", "queued_at"),
        Index("ix_executions_pruned_finished", "pruned_at", "finished_at"),
        Index(
            "ix_executions_trends",
            "queued_at",
            "status",
            "workflow",
            "branch",
            "duration_ms",
            "summary_tests",
            "summary_skipped",
            "summary_passed",
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workflow: Mapped[str] = mapped_column(String(253))
    number: Mapped[int]
    name: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), index=True)
    runner: Mapped[str] = mapped_column(String(40))
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("executions.id"), index=True)
    queued_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    duration_ms: Mapped[int | None]
    sha: Mapped[str | None] = mapped_column(String(255), index=True)
    """The commit under test (tag ``sha``): same-commit flakiness."""
    branch: Mapped[str | None] = mapped_column(String(255), index=True)
    """The branch under test (tag ``branch``): comparisons against the base branch."""
    owner_pid: Mapped[int | None]
    """The assay process running the execution (crash recovery, :mod:`assay.engine.recovery`)."""
    owner_started: Mapped[int | None] = mapped_column(BigInteger)
    """Its start time (clock ticks after boot), so a reused pid is not taken for the owner."""
    owner_host: Mapped[str | None] = mapped_column(String(253))
    """The host it runs on: only that host can tell whether it is still alive."""
    request: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    """What a worker needs to run a queued execution (the resolved definition, options);
    no secret in clear text."""
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    """The worker that claimed the execution (server queue)."""
    lease_expires: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """When the claim lapses unless the worker renews it (heartbeat)."""
    concurrency_group: Mapped[str | None] = mapped_column(String(300))
    """``spec.concurrency.group`` (default: the workflow name when a max is set)."""
    concurrency_max: Mapped[int | None]
    """``spec.concurrency.max``: running executions of the group at most."""
    abort_requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """Set by an abort through the API; the worker running the execution stops it."""
    pruned_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """When retention deleted the execution's log and artifacts (its results stay)."""
    summary_tests: Mapped[int | None]
    """``summary["tests"]``, ``["skipped"]``, ``["passed"]`` as columns: the trends read
    them from the covering index ``ix_executions_trends``, not from each row's JSON."""
    summary_skipped: Mapped[int | None]
    summary_passed: Mapped[int | None]


TAG_KEY_MAX, TAG_VALUE_MAX = 253, 255
"""The longest tag key and value kept in ``execution_tags``."""


def indexed_tag(key: str, value: str) -> bool:
    """Whether the tag ``key=value`` has its row in ``execution_tags``."""
    return len(key) <= TAG_KEY_MAX and len(value) <= TAG_VALUE_MAX


class ExecutionTagRow(Base):
    """One tag of an execution, so that a tag filter finds a rare value through an index
    (the ``tags`` JSON stays the execution's record). Keys over 253 or values over 255
    characters are not kept here; a filter on such a value reads the JSON."""

    __tablename__ = "execution_tags"
    __table_args__ = (Index("ix_execution_tags_lookup", "key", "value"),)

    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(253), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class TaskRow(Base):
    """A task (process group) of a running execution, kept until the task ends, so that
    the tasks of a crashed execution can be found and stopped."""

    __tablename__ = "execution_tasks"

    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id"), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    handle: Mapped[dict[str, Any]]
    """:meth:`assay.runners.base.TaskHandle.to_dict`, what the runner needs to find it again."""


class StepRow(Base):
    """The outcome of one step (nested steps flattened with a dotted ref)."""

    __tablename__ = "steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id"), index=True)
    position: Mapped[int]
    ref: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))
    exit_code: Mapped[int | None]
    attempts: Mapped[int] = mapped_column(default=1)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    duration_ms: Mapped[int | None]
    message: Mapped[str | None] = mapped_column(Text)


class TestResultsRow(Base):
    """Test-case attempts of one execution, column-wise (see :mod:`assay.store.test_cases`).

    An execution's attempts are one or more segments (one per ingest), read in order.
    """

    __tablename__ = "test_results"
    __test__ = False

    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id"), primary_key=True)
    segment: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    cases: Mapped[int]
    """Number of attempts in the segment (the length of every array)."""
    test_ids: Mapped[bytes] = mapped_column(LargeBinary)
    attempts: Mapped[bytes] = mapped_column(LargeBinary)
    statuses: Mapped[bytes] = mapped_column(LargeBinary)
    durations: Mapped[bytes] = mapped_column(LargeBinary)
    lines: Mapped[bytes] = mapped_column(LargeBinary)
    groups: Mapped[bytes] = mapped_column(LargeBinary)
    classes: Mapped[bytes] = mapped_column(LargeBinary)
    names: Mapped[bytes] = mapped_column(LargeBinary)


class TestCaseDetailRow(Base):
    """The message, properties and trace of an attempt that has any (few do)."""

    __tablename__ = "test_case_details"
    __test__ = False

    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    """Index of the attempt among all of its execution's attempts, in stored order."""
    message: Mapped[str | None] = mapped_column(Text)
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    """None is stored as SQL NULL, not as the JSON text `null`."""
    trace: Mapped[str | None] = mapped_column(Text)
    """The text of a failure or error (cut to its end when long)."""


class QuarantineRow(Base):
    """A quarantined test: its failures are recorded but fail nothing until ``until``."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    test_id: Mapped[str] = mapped_column(String(16), unique=True)
    workflow: Mapped[str] = mapped_column(String(253))
    classname: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ApiTokenRow(Base):
    """A bearer token of the server API; only its SHA-256 is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    scope: Mapped[str] = mapped_column(String(20))
    """read, run or admin (each includes the ones before)."""
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ScheduleTickRow(Base):
    """One firing of a ``spec.events[].cronjob`` schedule, recorded before its execution is
    queued: the unique (workflow, event, time) lets exactly one scheduler fire it."""

    __tablename__ = "schedule_ticks"
    __table_args__ = (
        UniqueConstraint("workflow", "event_index", "scheduled_at"),
        Index("ix_schedule_ticks_state", "state", "claim_expires"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workflow: Mapped[str] = mapped_column(String(253))
    event_index: Mapped[int]
    """Position of the cronjob in ``spec.events``."""
    cron: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    scheduled_at: Mapped[datetime] = mapped_column(UtcDateTime())
    missed: Mapped[int] = mapped_column(default=0)
    """Earlier ticks skipped by this one (a catch-up after downtime fires once)."""
    state: Mapped[str] = mapped_column(String(20))
    """claimed (being queued), queued, or failed (the workflow could not be queued)."""
    claimed_by: Mapped[str] = mapped_column(String(100))
    claim_expires: Mapped[datetime] = mapped_column(UtcDateTime())
    """A claim not confirmed by then is taken over (its scheduler died mid-tick)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    execution_id: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)


class WebhookDeliveryRow(Base):
    """An outbox entry: one event for one receiver (a Webhook, or a Slack message), written
    in the transaction that changed the execution; sent, retried and logged by the sender."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_created", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    """webhook (a CloudEvent to an applied Webhook) or slack (a Block Kit message)."""
    target: Mapped[str] = mapped_column(String(253))
    """The Webhook's name (its URI is read when sending); ``slack`` for Slack."""
    event_id: Mapped[str] = mapped_column(String(64))
    """The CloudEvent ``id``: the same on every attempt, so receivers can de-duplicate."""
    event_type: Mapped[str] = mapped_column(String(60))
    execution_id: Mapped[str | None] = mapped_column(String(32), index=True)
    workflow: Mapped[str | None] = mapped_column(String(253))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20))
    """pending, delivered or failed (retries exhausted; ``assay webhooks replay`` resends)."""
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class WebhookAttemptRow(Base):
    """One attempt to send a delivery: HTTP status (or the error), latency."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    number: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status_code: Mapped[int | None]
    latency_ms: Mapped[int]
    error: Mapped[str | None] = mapped_column(Text)
