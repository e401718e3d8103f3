"""Retention: logs and artifacts of old executions go, in batches; results, summaries and
steps stay, so flaky detection still sees the whole history."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from assay.analytics.flaky import find_flaky
from assay.model import CaseStatus, TestCaseResult
from assay.ops.retention import Pruner, parse_age
from assay.status import ExecutionStatus, StepStatus
from assay.store import Database, ExecutionStore, StepOutcome
from assay.store.tables import ExecutionRow


def record(store: ExecutionStore, home: Path, workflow: str, passed: bool, age_days: int) -> str:
    row = store.create(workflow, runner="local")
    store.start(row.id)
    status = CaseStatus.PASSED if passed else CaseStatus.FAILED
    summary = store.add_test_cases(
        row.id, workflow, [TestCaseResult("suite", "tests.test_api", "test_flip", status, 5)]
    )
    directory = home / row.id
    (directory / "artifacts" / "screens").mkdir(parents=True)
    (directory / "log.txt").write_text("x" * 1000)
    (directory / "artifacts" / "screens" / "a.png").write_bytes(b"p" * 500)
    done = store.finish(
        row.id,
        ExecutionStatus.PASSED if passed else ExecutionStatus.FAILED,
        steps=[StepOutcome("1", "tests", StepStatus.PASSED if passed else StepStatus.FAILED)],
        summary=summary,
    )
    with store.db.session(write=True) as session:
        session.execute(
            update(ExecutionRow)
            .where(ExecutionRow.id == row.id)
            .values(
                queued_at=done.queued_at - timedelta(days=age_days),
                finished_at=(done.finished_at or done.queued_at) - timedelta(days=age_days),
            )
        )
    return row.id


def test_old_logs_and_artifacts_go_results_stay(db: Database, tmp_path: Path) -> None:
    home = tmp_path / "executions"
    store = ExecutionStore(db)
    ids = [record(store, home, "api", n % 2 == 0, age) for n, age in enumerate(range(40, 30, -1))]
    recent = [record(store, home, "api", n % 2 == 0, 2) for n in range(2)]
    other = record(store, home, "web", True, 60)  # the newest of its workflow: kept
    flaky_before = {
        t.test.name: (t.results, t.flips) for t in find_flaky(db, workflow="api", include_all=True)
    }

    pruner = Pruner(db, home, batch=3)  # ten old ones: four batches
    dry = pruner.run_once(timedelta(days=30), keep=1, dry_run=True)
    assert (dry.executions, dry.bytes) == (10, 15_000) and all((home / i).is_dir() for i in ids)
    done = pruner.run_once(timedelta(days=30), keep=1)
    assert (done.executions, done.bytes) == (10, 15_000)
    assert not any((home / i).exists() for i in ids)
    assert all((home / i / "log.txt").is_file() for i in [*recent, other])
    assert pruner.run_once(timedelta(days=30), keep=1).executions == 0  # nothing twice

    for execution_id in ids:
        row = store.get(execution_id)
        assert row.pruned_at is not None and row.summary["tests"] == 1
        assert [s.name for s in store.steps(execution_id)] == ["tests"]
        assert [c.name for c in store.test_cases(execution_id)] == ["test_flip"]
    assert store.get(other).pruned_at is None
    flaky_after = {
        t.test.name: (t.results, t.flips) for t in find_flaky(db, workflow="api", include_all=True)
    }
    assert flaky_after == flaky_before and flaky_after["test_flip"][1] > 0

    everything = Pruner(db, home).run_once(timedelta(days=1))  # keep 0: the rest goes too
    assert everything.executions == 3 and not (home / other).exists()


@pytest.mark.parametrize(
    ("text", "delta"),
    [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("2w", timedelta(weeks=2))],
)
def test_ages(text: str, delta: timedelta) -> None:
    assert parse_age(text) == delta


@pytest.mark.parametrize("text", ["30", "0d", "-1d", "1y", "d"])
def test_bad_ages(text: str) -> None:
    with pytest.raises(ValueError, match="expected a positive age"):
        parse_age(text)
