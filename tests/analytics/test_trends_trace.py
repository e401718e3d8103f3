"""Trends, slowest tests, newly failing against the base branch, and the requirement matrix
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from analytics_support import History, tid

from assay.analytics.traceability import Coverage, trace
from assay.analytics.trends import newly_failing, slowest_tests, trend_points
from assay.errors import DefinitionError

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_points_per_workflow_and_day(history: History) -> None:
    day1, day2 = NOW - timedelta(days=2), NOW - timedelta(days=1)
    history.run("wf", {"a": "passed", "b": "passed"}, at=day1, duration_ms=1000)
    history.run(
        "wf", {"a": "failed", "b": "passed"}, at=day1 + timedelta(hours=1), duration_ms=3000
    )
    history.run("wf", {"a": "passed", "b": "skipped", "c": "passed"}, at=day2, duration_ms=2000)
    history.run("other", {"x": "passed"}, at=day2, duration_ms=500)
    history.run("wf", {"a": "passed"}, at=NOW - timedelta(days=40))  # outside --days 30
    points = [p.as_dict() for p in trend_points(history.db, until=NOW)]
    assert points == [
        {
            "workflow": "other",
            "period": "2026-11-19",
            "executions": 1,
            "passed": 1,
            "passRate": 1.0,
            "testPassRate": 1.0,
            "durationP50Ms": 500,
            "durationP95Ms": 500,
            "tests": 1,
        },
        {
            "workflow": "wf",
            "period": "2026-11-18",
            "executions": 2,
            "passed": 1,
            "passRate": 0.5,
            "testPassRate": 0.75,
            "durationP50Ms": 2000,
            "durationP95Ms": 2900,
            "tests": 2,
        },
        {
            "workflow": "wf",
            "period": "2026-11-19",
            "executions": 1,
            "passed": 1,
            "passRate": 1.0,
            "testPassRate": 1.0,
            "durationP50Ms": 2000,
            "durationP95Ms": 2000,
            "tests": 3,
        },
    ]
    weekly = trend_points(history.db, workflow="wf", bucket="week", until=NOW)
    assert [(p.period, p.executions) for p in weekly] == [("2026-W47", 3)]
    last_day = trend_points(history.db, days=1, until=NOW)
    assert [(p.workflow, p.period) for p in last_day] == [
        ("other", "2026-11-19"),
        ("wf", "2026-11-19"),
    ]
    with pytest.raises(DefinitionError):
        trend_points(history.db, bucket="month")


def test_slowest_tests_over_the_window(history: History) -> None:
    history.run(
        "wf", {"fast": "passed", "slow": "passed", "mid": "failed"}, durations={"slow": 900}
    )
    history.run(
        "wf",
        {"fast": "passed", "slow": "passed", "mid": "passed", "gone": "skipped"},
        durations={"slow": 1100, "mid": 300, "fast": 1},
    )
    slow = [t.as_dict() for t in slowest_tests(history.db, top=2)]
    assert [(t["name"], t["meanMs"], t["maxMs"], t["results"]) for t in slow] == [
        ("slow", 1000, 1100, 2),
        ("mid", 155, 300, 2),
    ]
    assert slow[0]["testId"] == tid("wf", "slow")


def test_newly_failing_against_the_latest_base_execution(history: History) -> None:
    history.run("wf", {"a": "failed", "b": "passed", "c": "passed"}, branch="main")
    base = history.run("wf", {"a": "passed", "b": "failed", "c": "passed"}, branch="main")
    pr = history.run(
        "wf", {"a": "failed", "b": "failed", "c": "passed", "new": "errored"}, branch="pr-7"
    )
    (comparison,) = newly_failing(history.db)
    data = comparison.as_dict()
    assert (data["execution"], data["baseExecution"], data["branch"]) == (
        pr.name,
        base.name,
        "pr-7",
    )
    assert [(t["name"], t["status"], t["baseStatus"]) for t in data["tests"]] == [
        ("a", "failed", "passed"),
        ("new", "errored", None),
    ]
    # the latest execution on the base branch itself is compared with the previous one
    (again,) = newly_failing(history.db, execution=base)
    assert [(t.test.name, t.base_status) for t in again.failures] == [("b", "passed")]
    # no execution on the base branch: nothing to compare with
    (lonely,) = newly_failing(history.db, base="develop")
    assert lonely.base is None and lonely.failures == []


def test_requirement_matrix_with_latest_status(history: History) -> None:
    reqs = {"login": ["BR-E2E-001"], "logout": ["BR-E2E-001, BR-E2E-002"], "pay": ["BR-E2E-003"]}
    history.run("wf", {"login": "passed", "logout": "passed", "pay": "passed"}, requirements=reqs)
    latest = history.run(
        "wf", {"login": "failed", "logout": "passed", "pay": "failed"}, requirements=reqs
    )
    matrix = trace(history.db, requirements=["BR-E2E-004"])
    assert [(r.id, r.coverage) for r in matrix] == [
        ("BR-E2E-001", Coverage.PASSED),
        ("BR-E2E-002", Coverage.PASSED),
        ("BR-E2E-003", Coverage.FAILING),
        ("BR-E2E-004", Coverage.UNTESTED),
    ]
    first = matrix[0].as_dict()
    assert [(t["name"], t["status"], t["execution"]) for t in first["tests"]] == [
        ("login", "failed", latest.name),
        ("logout", "passed", latest.name),
    ]
    assert first["tests"][0]["testId"] == tid("wf", "login")


def test_matrix_follows_the_latest_result_of_each_test(history: History) -> None:
    history.run("wf", {"t": "passed"}, requirements={"t": ["BR-1"]})
    history.run("wf", {"t": ["failed", "passed"]}, requirements={"t": ["BR-2"]})
    (only,) = trace(history.db)
    assert (only.id, only.coverage, only.tests[0].status) == ("BR-2", Coverage.PASSED, "passed")
    assert trace(history.db, workflow="elsewhere") == []


def test_newly_failing_on_an_empty_store_is_empty(history: History) -> None:
    # an empty list of executions once indexed an empty array (IndexError in `assay trends`)
    assert newly_failing(history.db) == []
