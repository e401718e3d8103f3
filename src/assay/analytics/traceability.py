"""Requirement traceability: requirement -> tests -> latest status.

A test is linked to a requirement by a JUnit property named ``requirement`` (the pytest
marker ``@pytest.mark.requirement("BR-E2E-001")`` of :mod:`assay.testing` writes one per id;
a value may also list several ids separated by commas). The matrix reflects each test's
latest result: its last attempt in the latest of the recent executions (the last ``window``
of each workflow) in which it ran, with the requirements that result carried.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.analytics.history import RecentExecution, TestInfo, Window, describe_tests
from assay.model import CaseStatus
from assay.store.database import Database
from assay.store.test_cases import CaseColumns, read_details

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
    recent: Window | None = None,
) -> list[Requirement]:
    """The requirement matrix, sorted by requirement id; ``requirements`` are always listed
    (``untested`` when no test names them)."""
    if recent is None:
        recent = Window.load(db, workflow=workflow, window=window)
    latest = recent.latest()
    # only the executions holding a latest result (usually the newest of each workflow),
    # not the whole window: its other details would be read and decoded for nothing
    holding = [latest.execution_ids[i] for i in np.unique(latest.execution).tolist()]
    with db.engine.connect() as connection:
        details = read_details(connection, holding, with_properties=True)
    linked = {
        key: ids for key, detail in details.items() if (ids := _requirement_ids(detail.properties))
    }
    traced: dict[str, tuple[RecentExecution, str, list[str]]] = {}
    for attempt in recent.attempts(latest.take(_at(latest, linked))):
        ids = linked[(attempt.execution_id, attempt.position)]
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


def _at(columns: CaseColumns, keys: Collection[tuple[str, int]]) -> npt.NDArray[np.bool_]:
    """Mask of the attempts of ``columns`` at the (execution id, position) ``keys``."""
    index = {execution_id: i for i, execution_id in enumerate(columns.execution_ids)}
    wanted = np.array(
        [index[e] << 32 | position for e, position in keys if e in index], dtype=np.int64
    )
    return np.isin(columns.execution << 32 | columns.position, wanted)


def _requirement_ids(properties: Any) -> list[str]:
    values = properties.get(PROPERTY) or [] if isinstance(properties, dict) else []
    if isinstance(values, str):
        values = [values]
    ids = (part.strip() for value in values for part in str(value).split(","))
    return list(dict.fromkeys(rid for rid in ids if rid))
