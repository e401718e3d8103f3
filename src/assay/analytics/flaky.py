"""Flaky-test detection over the recent history of each workflow, every verdict with evidence.

A test is **flaky** when at least one of these holds within the analysis window (the last
``window`` executions of its workflow; a failure is ``failed``, ``errored`` or ``quarantined``,
``skipped`` attempts are ignored, and so are the results of executions that ended in ``error``:
an infrastructure fault, not the tests' doing, scores neither a failure nor a flip):

(a) ``same-commit``  it passed in one execution and failed in another of the same commit
                     (executions tagged with the same ``sha``);
(b) ``retry``        within one execution it failed and then passed on a later attempt;
(c) ``flip-rate``    over its last ``window`` results (attempts, oldest first; at least
                     ``min_results`` of them) status changes / results >= ``flip_threshold``;
    ``failure-rate`` failures / results >= ``failure_threshold`` while it passed at least once.

A test that failed every one of its recent results is **failing** (broken, not flaky); any
other test is **stable**.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import groupby
from typing import Any

from assay.analytics.history import (
    FAILING,
    Attempt,
    RecentExecution,
    TestInfo,
    Window,
    describe_tests,
)
from assay.model import CaseStatus
from assay.status import ExecutionStatus
from assay.store.database import Database

__all__ = ["Evidence", "FlakyTest", "Reason", "ResultRef", "Thresholds", "Verdict", "find_flaky"]

_PASSED = CaseStatus.PASSED.value
_SKIPPED = CaseStatus.SKIPPED.value
_INFRASTRUCTURE = ExecutionStatus.ERROR.value


class Reason(StrEnum):
    """Why a test is flaky: the rules (a), (b) and (c) of the module docstring."""

    SAME_COMMIT = "same-commit"
    RETRY = "retry"
    FLIP_RATE = "flip-rate"
    FAILURE_RATE = "failure-rate"


_Cite = Callable[["Attempt"], "ResultRef"]


class Verdict(StrEnum):
    """The verdict on one test."""

    FLAKY = "flaky"
    FAILING = "failing"
    STABLE = "stable"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Tunable limits of the rules (defaults match the CLI options)."""

    window: int = 20
    flip_threshold: float = 0.3
    failure_threshold: float = 0.2
    min_results: int = 5


@dataclass(frozen=True, slots=True)
class ResultRef:
    """One attempt cited as evidence."""

    execution_id: str
    execution: str
    attempt: int
    status: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "executionId": self.execution_id,
            "execution": self.execution,
            "attempt": self.attempt,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class Evidence:
    """The attempts that support one reason."""

    reason: Reason
    results: tuple[ResultRef, ...]
    sha: str | None = None

    @property
    def execution_ids(self) -> list[str]:
        """Executions cited, in order of first mention."""
        return list(dict.fromkeys(ref.execution_id for ref in self.results))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        data: dict[str, Any] = {"reason": self.reason.value, "executionIds": self.execution_ids}
        if self.sha is not None:
            data["sha"] = self.sha
        data["results"] = [ref.as_dict() for ref in self.results]
        return data


@dataclass(frozen=True, slots=True)
class FlakyTest:
    """The verdict on one test, with the numbers and the evidence behind it."""

    test: TestInfo
    verdict: Verdict
    results: int
    failures: int
    flips: int
    evidence: tuple[Evidence, ...] = field(default=())

    @property
    def reasons(self) -> list[Reason]:
        """The rules that fired, each once, in rule order."""
        return list(dict.fromkeys(item.reason for item in self.evidence))

    @property
    def flip_rate(self) -> float:
        """Status changes / results over the window."""
        return self.flips / self.results if self.results else 0.0

    @property
    def failure_rate(self) -> float:
        """Failures / results over the window."""
        return self.failures / self.results if self.results else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (camelCase)."""
        return {
            **self.test.as_dict(),
            "verdict": self.verdict.value,
            "reasons": [reason.value for reason in self.reasons],
            "flipRate": round(self.flip_rate, 3),
            "failureRate": round(self.failure_rate, 3),
            "results": self.results,
            "failures": self.failures,
            "flips": self.flips,
            "evidence": [item.as_dict() for item in self.evidence],
        }


def find_flaky(
    db: Database,
    *,
    workflow: str | None = None,
    thresholds: Thresholds | None = None,
    include_all: bool = False,
    recent: Window | None = None,
) -> list[FlakyTest]:
    """Judge every test seen in the window; return the flaky ones (or all with ``include_all``).

    Flaky tests come first, most reasons and highest flip rate first.
    """
    limits = thresholds or Thresholds()
    if recent is None:  # a caller asking several questions of one window loads it once
        recent = Window.load(db, workflow=workflow, window=limits.window)
    executions = recent.by_id
    judged: list[tuple[str, RecentExecution, Verdict, int, int, int, tuple[Evidence, ...]]] = []
    for test_id, group in groupby(recent.failing_attempts(), key=lambda a: a.test_id):
        series = [
            a
            for a in group
            if a.status != _SKIPPED and executions[a.execution_id].status != _INFRASTRUCTURE
        ]
        if not series:
            continue
        verdict, results, failures, flips, evidence = _judge(series, executions, limits)
        if include_all or verdict is Verdict.FLAKY:
            newest = executions[series[-1].execution_id]
            judged.append((test_id, newest, verdict, results, failures, flips, evidence))
    if include_all:
        seen = {item[0] for item in judged}
        judged.extend(
            (test_id, newest, Verdict.STABLE, min(n, limits.window), 0, 0, ())
            for test_id, (n, newest) in recent.result_counts().items()
            if test_id not in seen
        )
    info = describe_tests(db, {test_id: newest for test_id, newest, *_ in judged})
    found = [
        FlakyTest(info[test_id], verdict, results, failures, flips, evidence)
        for test_id, _, verdict, results, failures, flips, evidence in judged
        if test_id in info
    ]
    order = list(Verdict)
    found.sort(
        key=lambda t: (
            order.index(t.verdict),
            -len(t.reasons),
            -t.flip_rate,
            -t.failure_rate,
            t.test.workflow,
            t.test.classname,
            t.test.name,
        )
    )
    return found


def _judge(
    attempts: list[Attempt], executions: dict[str, RecentExecution], limits: Thresholds
) -> tuple[Verdict, int, int, int, tuple[Evidence, ...]]:
    """Apply rules (a), (b), (c) to one test's attempts (oldest first, skipped removed)."""

    def ref(attempt: Attempt) -> ResultRef:
        return ResultRef(
            attempt.execution_id,
            executions[attempt.execution_id].name,
            attempt.attempt,
            attempt.status,
        )

    evidence: list[Evidence] = []
    evidence.extend(_same_commit(attempts, executions, ref))
    retried = _retried(attempts, ref)
    if retried:
        evidence.append(Evidence(Reason.RETRY, tuple(retried)))
    series = attempts[-limits.window :]
    failing = [a.status in FAILING for a in series]
    failures = sum(failing)
    changed = [series[i] for i in range(1, len(series)) if failing[i] != failing[i - 1]]
    results = len(series)
    if results and results >= limits.min_results:
        if len(changed) / results >= limits.flip_threshold:
            evidence.append(Evidence(Reason.FLIP_RATE, tuple(ref(a) for a in changed)))
        if failures < results and failures / results >= limits.failure_threshold:
            failed = tuple(ref(a) for a, bad in zip(series, failing, strict=True) if bad)
            evidence.append(Evidence(Reason.FAILURE_RATE, failed))
    if evidence:
        verdict = Verdict.FLAKY
    elif results and failures == results:
        verdict = Verdict.FAILING
    else:
        verdict = Verdict.STABLE
    return verdict, results, failures, len(changed), tuple(evidence)


def _retried(attempts: Iterable[Attempt], ref: _Cite) -> list[ResultRef]:
    """(b): per execution, the first failed attempt and the later attempt that passed."""
    cited: list[ResultRef] = []
    for _, group in groupby(attempts, key=lambda a: a.execution_id):
        first_failure: Attempt | None = None
        for attempt in group:
            if attempt.status in FAILING:
                first_failure = first_failure or attempt
            elif first_failure is not None and attempt.status == _PASSED:
                cited.extend((ref(first_failure), ref(attempt)))
                break
    return cited


def _same_commit(
    attempts: Iterable[Attempt], executions: dict[str, RecentExecution], ref: _Cite
) -> list[Evidence]:
    """(a): per commit, a pass and a failure in two different executions."""
    failed: dict[str, dict[str, Attempt]] = defaultdict(dict)
    passed: dict[str, dict[str, Attempt]] = defaultdict(dict)
    for attempt in attempts:
        sha = executions[attempt.execution_id].sha
        if sha is None:
            continue
        bucket = failed if attempt.status in FAILING else passed
        bucket[sha].setdefault(attempt.execution_id, attempt)
    evidence: list[Evidence] = []
    for sha, failures in failed.items():
        passes = passed.get(sha, {})
        if passes and len(failures.keys() | passes.keys()) > 1:
            cited = sorted(
                [*failures.values(), *passes.values()],
                key=lambda a: (executions[a.execution_id].order, a.attempt),
            )
            evidence.append(Evidence(Reason.SAME_COMMIT, tuple(ref(a) for a in cited), sha))
    return evidence
