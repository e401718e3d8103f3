"""Requirement traceability: requirement -> tests -> latest status.

A test is linked to a requirement by a JUnit property named ``requirement`` (the pytest
marker ``@pytest.mark.requirement("BR-E2E-001")`` of :mod:`assay.testing` writes one per id;
a value may also list several ids separated by commas). The matrix reflects each test's
latest result: its last attempt in the latest of the recent executions (the last ``window``
of each workflow) in which it ran, with the requirements that result carried.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from assay.analytics.history import RecentExecution, TestInfo, Window, describe_tests
from assay.model import CaseStatus
from assay.store.database import Database
from assay.store.test_cases import read_details

__all__ = ["PROPERTY", "Coverage", "Requirement", "TracedTest", "trace"]

PROPERTY = "requirement"


class Coverage(StrEnum):
    """The state of one requirement."""

    PASSED = "passed"
    """At least one of its tests passed in its latest result."""
    FAILING = "failing"
    """It has tests, but none passed in its latest result."""
    UNTESTED = "untested"
    """No test names it (only for requirements asked for explicitly)."""


@dataclass(frozen=True, slots=True)
class TracedTest:
    """A test linked to a requirement, with its latest result."""

    test: TestInfo
    status: str
    execution: RecentExecution

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (camelCase)."""
        return {
            **self.test.as_dict(),
            "status": self.status,
            "executionId": self.execution.id,
            "execution": self.execution.name,
        }


@dataclass(slots=True)
class Requirement:
    """One requirement and the tests that verify it."""

    id: str
    tests: list[TracedTest] = field(default_factory=list)

    @property
    def coverage(self) -> Coverage:
        """passed, failing or untested."""
        if any(test.status == CaseStatus.PASSED.value for test in self.tests):
            return Coverage.PASSED
        return Coverage.FAILING if self.tests else Coverage.UNTESTED

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (camelCase)."""
        return {
            "requirement": self.id,
            "status": self.coverage.value,
            "tests": [test.as_dict() for test in self.tests],
        }


def trace(
    db: Database,
    *,
    workflow: str | None = None,
    window: int = 20,
    requirements: Iterable[str] = (),
) -> list[Requirement]:
    """The requirement matrix, sorted by requirement id; ``requirements`` are always listed
    (``untested`` when no test names them)."""
    recent = Window.load(db, workflow=workflow, window=window)
    latest = recent.latest()
    with db.engine.connect() as connection:
        details = read_details(connection, latest.execution_ids, with_properties=True)
    traced: dict[str, tuple[RecentExecution, str, list[str]]] = {}
    for attempt in recent.attempts(latest):
        detail = details.get((attempt.execution_id, attempt.position))
        ids = _requirement_ids(None if detail is None else detail.properties)
        if ids:
            traced[attempt.test_id] = (recent.by_id[attempt.execution_id], attempt.status, ids)
    info = describe_tests(db, {test_id: found[0] for test_id, found in traced.items()})
    matrix: dict[str, Requirement] = {rid: Requirement(rid) for rid in requirements}
    for test_id, (execution, status, ids) in traced.items():
        if test_id not in info:
            continue
        test = TracedTest(info[test_id], status, execution)
        for rid in ids:
            matrix.setdefault(rid, Requirement(rid)).tests.append(test)
    for requirement in matrix.values():
        requirement.tests.sort(key=lambda t: (t.test.workflow, t.test.classname, t.test.name))
    return [matrix[rid] for rid in sorted(matrix)]


def _requirement_ids(properties: Any) -> list[str]:
    values = properties.get(PROPERTY) or [] if isinstance(properties, dict) else []
    if isinstance(values, str):
        values = [values]
    ids = (part.strip() for value in values for part in str(value).split(","))
    return list(dict.fromkeys(rid for rid in ids if rid))
