"""What a report is made of, without the store: executions, their tests with every
attempt, counts, the base, and its JSON form (``GET /v1/reports?format=data``), so that the
remote CLI judges gates and publishes to GitHub from what the server collected
(:mod:`assay.reports.data` collects it from the store)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from assay.model import CaseStatus, display_name
from assay.status import ExecutionStatus

__all__ = [
    "FAILING",
    "NOT_PASSING",
    "Attempt",
    "BaseComparison",
    "Counts",
    "ExecutionReport",
    "HistoryPoint",
    "Report",
    "ReportedExecution",
    "TestOutcome",
    "report_from_json",
    "report_to_json",
]


@dataclass(frozen=True, slots=True)
class ReportedExecution:
    """The facts of an execution a report shows (a copy of its stored row)."""

    id: str
    name: str
    number: int
    workflow: str
    status: str
    runner: str
    tags: dict[str, str]
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None

    @classmethod
    def of(cls, row: Any) -> ReportedExecution:
        """From a stored execution row (anything with its attributes)."""
        return cls(
            id=row.id,
            name=row.name,
            number=row.number,
            workflow=row.workflow,
            status=row.status,
            runner=row.runner,
            tags=dict(row.tags or {}),
            queued_at=row.queued_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            duration_ms=row.duration_ms,
        )

    def as_json(self) -> dict[str, Any]:
        """JSON-ready (camelCase)."""
        return {
            "id": self.id,
            "name": self.name,
            "number": self.number,
            "workflow": self.workflow,
            "status": self.status,
            "runner": self.runner,
            "tags": self.tags,
            "queuedAt": _iso(self.queued_at),
            "startedAt": _iso(self.started_at),
            "finishedAt": _iso(self.finished_at),
            "durationMs": self.duration_ms,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReportedExecution:
        """The inverse of :meth:`as_json`."""
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            number=int(data["number"]),
            workflow=str(data["workflow"]),
            status=str(data["status"]),
            runner=str(data["runner"]),
            tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
            queued_at=_moment(data.get("queuedAt")),
            started_at=_moment(data.get("startedAt")),
            finished_at=_moment(data.get("finishedAt")),
            duration_ms=None if data.get("durationMs") is None else int(data["durationMs"]),
        )


FAILING = frozenset({CaseStatus.FAILED.value, CaseStatus.ERRORED.value})
"""Final statuses that fail an execution."""

NOT_PASSING = FAILING | {CaseStatus.QUARANTINED.value}
"""Final statuses of a test that does not pass (a quarantined failure still fails to pass)."""


class Attempt(NamedTuple):
    """One attempt of one test case, as stored."""

    attempt: int
    status: str
    duration_ms: int
    message: str | None
    properties: dict[str, list[str]] | None
    trace: str | None = None
    """The text of a failure or error (its end, when long)."""


@dataclass(slots=True)
class TestOutcome:
    """One test of an execution with all its attempts, oldest first."""

    __test__ = False  # not a pytest test class

    test_id: str
    execution: str
    """Name of the execution that ran it (a child execution for suites)."""
    suite: str
    classname: str
    name: str
    file: str | None
    line: int | None
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def final(self) -> Attempt:
        """The last attempt: it decides the test's status."""
        return self.attempts[-1]

    @property
    def status(self) -> str:
        """Final status (a :class:`CaseStatus` value)."""
        return self.final.status

    @property
    def failing(self) -> bool:
        """Failed or errored on its final attempt."""
        return self.final.status in FAILING

    @property
    def flaky(self) -> bool:
        """Passed on its final attempt after a failed or errored one."""
        return self.final.status == CaseStatus.PASSED.value and any(
            a.status in FAILING for a in self.attempts[:-1]
        )

    @property
    def failed_attempts(self) -> int:
        """How many attempts failed or errored."""
        return sum(a.status in FAILING for a in self.attempts)

    @property
    def message(self) -> str | None:
        """The final attempt's message, else the latest failed attempt's."""
        if self.final.message:
            return self.final.message
        for attempt in reversed(self.attempts):
            if attempt.message:
                return attempt.message
        return None

    @property
    def trace(self) -> str | None:
        """The trace of the latest attempt that says why it failed (a message or a trace): the
        final attempt's for a failing test, the last failed attempt's for a flaky one."""
        for attempt in reversed(self.attempts):
            if attempt.message or attempt.trace:
                return attempt.trace or None
        return None

    @property
    def duration_ms(self) -> int:
        """Time spent on the test over every attempt."""
        return sum(a.duration_ms for a in self.attempts)

    @property
    def label(self) -> str:
        """``classname::name`` (or the name alone when there is no class)."""
        return display_name(self.classname, self.name)


@dataclass(slots=True)
class Counts:
    """Totals of one execution, over final attempts.

    ``failed`` counts failures and errors alike; ``flaky`` tests are also in ``passed``;
    ``quarantined`` failures are in neither.  ``duration_ms`` is the execution's wall time,
    or, for imported executions (which have none worth the name), the sum of their test
    durations over every attempt.
    """

    tests: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    flaky: int = 0
    quarantined: int = 0
    duration_ms: int = 0

    FIELDS = ("tests", "passed", "failed", "skipped", "flaky", "quarantined", "duration_ms")

    @classmethod
    def of(cls, execution: ReportedExecution, tests: Iterable[TestOutcome]) -> Counts:
        """Count the final status of each test."""
        counts = cls()
        test_time = 0
        for test in tests:
            counts.tests += 1
            test_time += test.duration_ms
            status = test.status
            if status == CaseStatus.PASSED.value:
                counts.passed += 1
                counts.flaky += test.flaky
            elif status in FAILING:
                counts.failed += 1
            elif status == CaseStatus.SKIPPED.value:
                counts.skipped += 1
            elif status == CaseStatus.QUARANTINED.value:
                counts.quarantined += 1
        wall = execution.duration_ms
        counts.duration_ms = test_time if execution.runner == "import" or wall is None else wall
        return counts

    def as_dict(self) -> dict[str, int]:
        """JSON-ready counts."""
        return {name: int(getattr(self, name)) for name in self.FIELDS}

    def delta(self, base: Counts) -> dict[str, int]:
        """Each count minus the base's."""
        return {name: getattr(self, name) - getattr(base, name) for name in self.FIELDS}

    def __iadd__(self, other: Counts) -> Counts:
        for name in self.FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


@dataclass(slots=True)
class BaseComparison:
    """The base execution of a reported one, and its tests' final statuses."""

    execution: ReportedExecution
    counts: Counts
    statuses: dict[str, str]
    """test_id -> final status in the base."""


@dataclass(slots=True)
class ExecutionReport:
    """One reported execution."""

    execution: ReportedExecution
    tests: list[TestOutcome]
    counts: Counts
    base: BaseComparison | None = None

    @property
    def failing(self) -> list[TestOutcome]:
        """Tests whose final attempt failed or errored."""
        return [t for t in self.tests if t.failing]

    @property
    def flaky(self) -> list[TestOutcome]:
        """Tests that passed on retry."""
        return [t for t in self.tests if t.flaky]

    @property
    def quarantined(self) -> list[TestOutcome]:
        """Failures of quarantined tests."""
        return [t for t in self.tests if t.status == CaseStatus.QUARANTINED.value]

    def is_new_failure(self, test: TestOutcome) -> bool:
        """Failing now, and passing, skipped or absent in the base (False without a base)."""
        if self.base is None or not test.failing:
            return False
        return self.base.statuses.get(test.test_id) not in NOT_PASSING

    @property
    def delta(self) -> dict[str, int] | None:
        """Counts minus the base's counts, or None without a base."""
        return None if self.base is None else self.counts.delta(self.base.counts)


@dataclass(slots=True)
class Report:
    """Everything a report renders."""

    executions: list[ExecutionReport]
    base_branch: str
    generated_at: datetime
    history: dict[str, list[HistoryPoint]] = field(default_factory=dict)
    """workflow -> its latest finished executions, oldest first (when asked for)."""

    @property
    def total(self) -> Counts:
        """Counts added up over the executions."""
        total = Counts()
        for item in self.executions:
            total += item.counts
        return total

    @property
    def failed(self) -> bool:
        """True when any reported execution did not pass."""
        return any(i.execution.status != ExecutionStatus.PASSED.value for i in self.executions)


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One past execution in a trend: its stored summary and duration."""

    name: str
    number: int
    status: str
    summary: dict[str, int]
    duration_ms: int
    """Wall time, or for imported executions their test time (as in :class:`Counts`)."""


def report_to_json(report: Report) -> dict[str, Any]:
    """A report's data as JSON (what :func:`report_from_json` reads back)."""
    return {
        "baseBranch": report.base_branch,
        "generatedAt": report.generated_at.isoformat(),
        "executions": [
            {
                "execution": item.execution.as_json(),
                "counts": item.counts.as_dict(),
                "tests": [_test_json(test) for test in item.tests],
                "base": None
                if item.base is None
                else {
                    "execution": item.base.execution.as_json(),
                    "counts": item.base.counts.as_dict(),
                    "statuses": item.base.statuses,
                },
            }
            for item in report.executions
        ],
        "history": {
            workflow: [
                {
                    "name": point.name,
                    "number": point.number,
                    "status": point.status,
                    "summary": point.summary,
                    "durationMs": point.duration_ms,
                }
                for point in points
            ]
            for workflow, points in report.history.items()
        },
    }


def report_from_json(data: dict[str, Any]) -> Report:
    """A report from its JSON (:func:`report_to_json`)."""
    items = []
    for item in data["executions"]:
        base = item.get("base")
        items.append(
            ExecutionReport(
                ReportedExecution.from_json(item["execution"]),
                [_test_from_json(test) for test in item["tests"]],
                _counts(item["counts"]),
                None
                if base is None
                else BaseComparison(
                    ReportedExecution.from_json(base["execution"]),
                    _counts(base["counts"]),
                    {str(k): str(v) for k, v in base["statuses"].items()},
                ),
            )
        )
    history = {
        str(workflow): [
            HistoryPoint(
                str(point["name"]),
                int(point["number"]),
                str(point["status"]),
                {str(k): int(v) for k, v in point["summary"].items()},
                int(point["durationMs"]),
            )
            for point in points
        ]
        for workflow, points in (data.get("history") or {}).items()
    }
    generated = _moment(data["generatedAt"])
    assert generated is not None
    return Report(items, str(data["baseBranch"]), generated, history)


def _test_json(test: TestOutcome) -> dict[str, Any]:
    return {
        "testId": test.test_id,
        "execution": test.execution,
        "suite": test.suite,
        "classname": test.classname,
        "name": test.name,
        "file": test.file,
        "line": test.line,
        "attempts": [list(attempt) for attempt in test.attempts],
    }


def _test_from_json(data: dict[str, Any]) -> TestOutcome:
    return TestOutcome(
        test_id=str(data["testId"]),
        execution=str(data["execution"]),
        suite=str(data["suite"]),
        classname=str(data["classname"]),
        name=str(data["name"]),
        file=data.get("file"),
        line=data.get("line"),
        attempts=[
            Attempt(int(a), str(s), int(d), m, p, t) for a, s, d, m, p, t in data["attempts"]
        ],
    )


def _counts(data: dict[str, Any]) -> Counts:
    return Counts(**{name: int(data[name]) for name in Counts.FIELDS})


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _moment(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))
