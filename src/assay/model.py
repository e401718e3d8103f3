"""Per-test-case result rows, the unit every analytic works on.

The ground floor shared by parsing (:mod:`assay.results`), storage (:mod:`assay.store`),
analytics and reports: it imports nothing from assay.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["CaseStatus", "Summary", "TestCaseResult", "display_name", "test_identity"]


class CaseStatus(StrEnum):
    """Outcome of one test case attempt."""

    PASSED = "passed"
    FAILED = "failed"
    ERRORED = "errored"
    SKIPPED = "skipped"
    QUARANTINED = "quarantined"
    """A failure of a quarantined test: recorded and shown, but it fails nothing."""


@dataclass(slots=True)
class TestCaseResult:
    """One attempt of one test case, as read from a report."""

    __test__ = False  # not a pytest test class

    suite: str
    classname: str
    name: str
    status: CaseStatus
    duration_ms: int = 0
    file: str | None = None
    line: int | None = None
    message: str | None = None
    attempt: int = 1
    properties: dict[str, list[str]] = field(default_factory=dict)
    trace: str | None = None
    """The text of a failure or error (a stack trace, pytest's report of the failure),
    kept besides ``message``; its end when it is long (see :mod:`assay.results.junit`)."""

    def identity(self, workflow: str) -> str:
        """Stable id of this test across executions of ``workflow``."""
        return test_identity(workflow, self.suite, self.classname, self.name)

    def apply_quarantine(self, workflow: str, quarantined: Collection[str]) -> None:
        """Turn a failure or error of a quarantined test into ``quarantined``."""
        bad = self.status in (CaseStatus.FAILED, CaseStatus.ERRORED)
        if bad and quarantined and self.identity(workflow) in quarantined:
            self.status = CaseStatus.QUARANTINED


def test_identity(workflow: str, suite: str, classname: str, name: str) -> str:
    """Hash workflow + suite/class/name into a short, stable test id."""
    key = "\x1f".join((workflow, suite, classname, name))
    return hashlib.sha1(key.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


def display_name(classname: str, name: str) -> str:
    """How a test is named in reports and shard plans: ``classname::name``."""
    return f"{classname}::{name}" if classname else name


test_identity.__test__ = False  # type: ignore[attr-defined]


@dataclass(slots=True)
class Summary:
    """Counts over the test cases of an execution (last attempt of each test).

    ``flaky`` counts tests that passed on their last attempt after failing an earlier
    one (they are also in ``passed``); ``quarantined`` counts failures of quarantined
    tests (not in ``failed`` nor ``errored``).
    """

    tests: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errored: int = 0
    flaky: int = 0
    quarantined: int = 0

    def add(self, status: CaseStatus, *, flaky: bool = False) -> None:
        """Count one test case with its final status."""
        self.tests += 1
        if status is CaseStatus.PASSED:
            self.passed += 1
            self.flaky += flaky
        elif status is CaseStatus.FAILED:
            self.failed += 1
        elif status is CaseStatus.SKIPPED:
            self.skipped += 1
        elif status is CaseStatus.QUARANTINED:
            self.quarantined += 1
        else:
            self.errored += 1

    def as_dict(self) -> dict[str, int]:
        """JSON-ready counts."""
        return {
            "tests": self.tests,
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "errored": self.errored,
            "flaky": self.flaky,
            "quarantined": self.quarantined,
        }
