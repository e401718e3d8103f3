"""SQLAlchemy tables of the store. Changes need an Alembic migration."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "ExecutionRow", "QuarantineRow", "StepRow", "TestCaseRow", "WorkflowRow"]


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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ExecutionRow(Base):
    """One execution of a workflow."""

    __tablename__ = "executions"
    __table_args__ = (
        UniqueConstraint("workflow", "number"),
        Index("ix_executions_workflow_queued", "workflow", "queued_at"),
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
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int | None]
    sha: Mapped[str | None] = mapped_column(String(255), index=True)
    """The commit under test (tag ``sha``): same-commit flakiness."""
    branch: Mapped[str | None] = mapped_column(String(255), index=True)
    """The branch under test (tag ``branch``): comparisons against the base branch."""


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
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int | None]
    message: Mapped[str | None] = mapped_column(Text)


class TestCaseRow(Base):
    """One attempt of one test case, keyed by a test identity across executions."""

    __tablename__ = "test_cases"
    __table_args__ = (
        Index("ix_test_cases_test_execution", "test_id", "execution_id"),
        # analytics read the recent executions' rows from this index alone (no table lookups)
        Index(
            "ix_test_cases_execution_cover",
            "execution_id",
            "test_id",
            "attempt",
            "status",
            "duration_ms",
        ),
    )
    __test__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id"))
    """Looked up through ``ix_test_cases_execution_cover``, which starts with it."""
    test_id: Mapped[str] = mapped_column(String(16))
    workflow: Mapped[str] = mapped_column(String(253))
    suite: Mapped[str] = mapped_column(Text)
    classname: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    file: Mapped[str | None] = mapped_column(Text)
    line: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(20))
    duration_ms: Mapped[int] = mapped_column(default=0)
    message: Mapped[str | None] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(default=1)
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class QuarantineRow(Base):
    """A quarantined test: its failures are recorded but fail nothing until ``until``."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    test_id: Mapped[str] = mapped_column(String(16), unique=True)
    workflow: Mapped[str] = mapped_column(String(253))
    classname: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
