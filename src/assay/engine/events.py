"""Progress events the engine emits while an execution runs (for ``--watch``)."""

from __future__ import annotations

from typing import Protocol

from assay.status import ExecutionStatus, StepStatus

__all__ = ["EventSink", "NullSink"]


class EventSink(Protocol):
    """Receives progress; implementations must be thread-safe."""

    def execution_started(self, execution_id: str, name: str) -> None:
        """An execution began."""

    def step_started(self, ref: str, name: str) -> None:
        """A step began."""

    def log(self, ref: str, line: str) -> None:
        """One (masked) output line of a step."""

    def warning(self, message: str) -> None:
        """Something the user should know (unsupported settings, ignored images)."""

    def step_finished(self, ref: str, name: str, status: StepStatus, seconds: float) -> None:
        """A step ended."""

    def execution_finished(self, execution_id: str, status: ExecutionStatus) -> None:
        """The execution reached a final state."""


class NullSink:
    """Discards every event."""

    def execution_started(self, execution_id: str, name: str) -> None:
        """Ignore."""

    def step_started(self, ref: str, name: str) -> None:
        """Ignore."""

    def log(self, ref: str, line: str) -> None:
        """Ignore."""

    def warning(self, message: str) -> None:
        """Ignore."""

    def step_finished(self, ref: str, name: str, status: StepStatus, seconds: float) -> None:
        """Ignore."""

    def execution_finished(self, execution_id: str, status: ExecutionStatus) -> None:
        """Ignore."""
