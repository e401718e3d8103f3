"""Trend points added up by the database against a plain per-execution computation over a
random history (SQLite and PostgreSQL): every field, day and week buckets, a workflow, a
branch, a window edge."""

from __future__ import annotations

import random
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from assay.analytics.history import percentile
from assay.analytics.trends import TrendPoint, trend_points
from assay.store import Database
from assay.store.tables import ExecutionRow

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
STATUSES = ["passed"] * 6 + ["failed", "error", "timeout", "aborted", "queued", "running"]


@dataclass(frozen=True)
class Execution:
    workflow: str
    branch: str | None
    status: str
    queued_at: datetime
    duration_ms: int | None
    tests: int | None
    skipped: int | None
    passed: int | None


def random_history(rng: random.Random, count: int) -> list[Execution]:
    """``count`` executions over the last 40 days (each at its own microsecond)."""
    moments = rng.sample(range(40 * 86_400_000_000), count)
    executions = []
    for moment in moments:
        tests = rng.choice([None, 0, rng.randint(1, 50)])
        skipped = None if tests is None else rng.randint(0, tests)
        executions.append(
            Execution(
                workflow=f"wf-{rng.randint(0, 3)}",
                branch=rng.choice([None, "main", "main", "feature"]),
                status=rng.choice(STATUSES),
                queued_at=NOW - timedelta(microseconds=moment),
                duration_ms=rng.choice([None, rng.randint(0, 5), rng.randint(0, 600_000)]),
                tests=tests,
                skipped=skipped,
                passed=None if tests is None or skipped is None else tests - skipped,
            )
        )
    return executions


def store(db: Database, executions: list[Execution]) -> None:
    rows = [
        {
            "id": f"{index:032x}",
            "workflow": e.workflow,
            "number": index + 1,
            "name": f"{e.workflow}-{index + 1}",
            "status": e.status,
            "runner": "fake",
            "tags": {"branch": e.branch} if e.branch else {},
            "config": {},
            "summary": {},
            "queued_at": e.queued_at,
            "duration_ms": e.duration_ms,
            "branch": e.branch,
            "summary_tests": e.tests,
            "summary_skipped": e.skipped,
            "summary_passed": e.passed,
        }
        for index, e in enumerate(executions)
    ]
    with db.engine.begin() as connection:
        connection.execute(insert(ExecutionRow), rows)


def reference(
    executions: list[Execution],
    *,
    days: int,
    bucket: str,
    workflow: str | None = None,
    branch: str | None = None,
) -> list[TrendPoint]:
    """One execution at a time, oldest first: what the trends are defined to be."""
    chosen = sorted(
        (
            e
            for e in executions
            if NOW - timedelta(days=days) <= e.queued_at <= NOW
            and e.status not in ("queued", "running")
            and workflow in (None, e.workflow)
            and branch in (None, e.branch)
        ),
        key=lambda e: e.queued_at,
    )
    groups: dict[tuple[str, str], list[Execution]] = {}
    for e in chosen:
        day = e.queued_at.astimezone(UTC).date()
        year, week, _ = day.isocalendar()
        period = f"{year}-W{week:02d}" if bucket == "week" else day.isoformat()
        groups.setdefault((e.workflow, period), []).append(e)
    points = []
    for (name, period), group in sorted(groups.items()):
        counted = sum((e.tests or 0) - (e.skipped or 0) for e in group)
        durations = [float(e.duration_ms) for e in group if e.duration_ms is not None]
        points.append(
            TrendPoint(
                workflow=name,
                period=period,
                executions=len(group),
                passed=sum(e.status == "passed" for e in group),
                tests=group[-1].tests or 0,
                test_pass_rate=sum(e.passed or 0 for e in group) / counted if counted else None,
                duration_p50_ms=percentile(durations, 0.5),
                duration_p95_ms=percentile(durations, 0.95),
            )
        )
    return points


@pytest.mark.parametrize(
    ("days", "bucket", "workflow", "branch"),
    [
        (30, "day", None, None),
        (30, "week", None, None),
        (7, "day", "wf-2", None),
        (90, "week", None, "main"),
        (1, "day", None, "feature"),
    ],
)
def test_points_match_a_plain_computation(
    any_db: Database, days: int, bucket: str, workflow: str | None, branch: str | None
) -> None:
    executions = random_history(random.Random(f"{days}{bucket}{workflow}{branch}"), 1500)
    store(any_db, executions)
    expected = reference(executions, days=days, bucket=bucket, workflow=workflow, branch=branch)
    got = trend_points(
        any_db, days=days, bucket=bucket, workflow=workflow, branch=branch, until=NOW
    )
    assert len(expected) > 3
    assert got == expected
    types = [type(value) for point in got for value in astuple(point)]  # no Decimal, no str
    assert types == [type(value) for point in expected for value in astuple(point)]
