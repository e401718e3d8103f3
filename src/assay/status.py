"""Execution and step states (Testkube's, plus ``error`` for infrastructure faults)."""

from __future__ import annotations

from enum import IntEnum, StrEnum

__all__ = ["ExecutionStatus", "ExitCode", "StepStatus"]


class ExecutionStatus(StrEnum):
    """State of an execution."""

    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ABORTED = "aborted"
    TIMEOUT = "timeout"
    ERROR = "error"

    @property
    def finished(self) -> bool:
        """True once the execution reached a final state."""
        return self not in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)

    @property
    def exit_code(self) -> ExitCode:
        """The CLI exit code for this final state."""
        if self is ExecutionStatus.PASSED:
            return ExitCode.PASSED
        if self is ExecutionStatus.ERROR:
            return ExitCode.INFRASTRUCTURE
        return ExitCode.TESTS_FAILED


class StepStatus(StrEnum):
    """State of a step."""

    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ABORTED = "aborted"
    TIMEOUT = "timeout"
    ERROR = "error"
    SKIPPED = "skipped"

    @property
    def ok(self) -> bool:
        """Passed, or skipped (which does not fail its parent)."""
        return self in (StepStatus.PASSED, StepStatus.SKIPPED)


class ExitCode(IntEnum):
    """Exit codes of the ``assay`` CLI."""

    PASSED = 0
    TESTS_FAILED = 1
    BAD_INPUT = 2
    INFRASTRUCTURE = 3
