"""The store on SQLite and on a real PostgreSQL: migrations, numbering, rows, round trips."""

from __future__ import annotations

import threading
from pathlib import Path

from assay.model import CaseStatus, TestCaseResult
from assay.status import ExecutionStatus, StepStatus
from assay.store import Database, DefinitionStore, ExecutionStore, StepOutcome
from assay.store.database import HEAD_REVISION


def test_head_revision_matches_migration_scripts() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import assay.store.database as database

    config = Config()
    config.set_main_option("script_location", str(Path(database.__file__).with_name("migrations")))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_execution_round_trip(db: Database) -> None:
    store = ExecutionStore(db)
    row = store.create("wf", runner="local", tags={"sha": "abc"}, config={"k": "v"})
    assert (row.number, row.name, row.status) == (1, "wf-1", "queued")
    store.start(row.id)
    cases = [
        TestCaseResult("s", "c", "t1", CaseStatus.FAILED, 5, message="boom", attempt=1),
        TestCaseResult("s", "c", "t1", CaseStatus.PASSED, 4, attempt=2),
        TestCaseResult("s", "c", "t2", CaseStatus.SKIPPED, properties={"requirement": ["BR-1"]}),
    ]
    summary = store.add_test_cases(row.id, "wf", cases)
    assert (summary.tests, summary.passed, summary.skipped, summary.failed) == (2, 1, 1, 0)
    done = store.finish(
        row.id,
        ExecutionStatus.PASSED,
        steps=[StepOutcome("1", "tests", StepStatus.PASSED, exit_code=0, attempts=2)],
        summary=summary,
    )
    assert done.duration_ms is not None and done.duration_ms >= 0
    again = store.get(row.name)
    assert again.id == row.id and again.summary["passed"] == 1 and again.tags == {"sha": "abc"}
    assert store.get(row.id[:10]).id == row.id
    assert [(s.name, s.attempts) for s in store.steps(row.id)] == [("tests", 2)]
    stored = store.test_cases(row.id)
    assert [(c.name, c.attempt, c.status) for c in stored] == [
        ("t1", 1, "failed"),
        ("t1", 2, "passed"),
        ("t2", 1, "skipped"),
    ]
    assert stored[0].test_id == stored[1].test_id != stored[2].test_id
    assert stored[2].properties == {"requirement": ["BR-1"]}
    assert store.create("wf", runner="local").number == 2
    assert [r.number for r in store.recent(workflow="wf")] == [2, 1]


def test_moments_read_back_in_utc_with_their_zone_on_every_store(db: Database) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from assay.app import execution_json

    store = ExecutionStore(db)
    row = store.create("wf", runner="local")
    store.start(row.id)
    done = store.finish(row.id, ExecutionStatus.PASSED, steps=[], summary=None)
    again = store.get(row.id)
    for moment in (again.queued_at, again.started_at, again.finished_at):
        assert moment is not None and moment.utcoffset() == timedelta(0)
    assert done.finished_at is not None
    assert abs(again.queued_at - datetime.now(UTC)) < timedelta(minutes=5)
    shape = execution_json(again)
    assert shape["queuedAt"].endswith("+00:00") and shape["finishedAt"].endswith("+00:00")
    # a moment given in another zone is kept as the same instant
    eastern = timezone(timedelta(hours=-5))
    with db.session(write=True) as session:
        stored = session.get_one(type(again), row.id)
        stored.finished_at = datetime(2026, 1, 1, 7, 0, tzinfo=eastern)
    assert store.get(row.id).finished_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_concurrent_creates_get_distinct_numbers(db: Database) -> None:
    store = ExecutionStore(db)
    numbers: list[int] = []
    lock = threading.Lock()

    def create() -> None:
        number = store.create("parallel", runner="local").number
        with lock:
            numbers.append(number)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(numbers) == list(range(1, 9))


def test_definitions_replace_by_kind_and_name(db: Database) -> None:
    store = DefinitionStore(db)
    doc = {"kind": "TestWorkflow", "metadata": {"name": "a", "labels": {"x": "1"}}}
    store.save([("TestWorkflow", "a", doc, "a.yaml")])
    store.save([("TestWorkflow", "a", {**doc, "spec": {}}, "b.yaml")])
    rows = store.all()
    assert len(rows) == 1 and rows[0].source == "b.yaml" and rows[0].labels == {"x": "1"}
    assert store.get("a", ["Test", "TestWorkflow"])[0] == "TestWorkflow"


def test_steps_recorded_live_then_replaced_by_the_final_ones(db: Database) -> None:
    store = ExecutionStore(db)
    row = store.create("wf", runner="local")
    store.start(row.id)
    store.record_steps(
        row.id,
        [
            StepOutcome("1", "build", StepStatus.PASSED, duration_ms=5),
            StepOutcome("2", "test", StepStatus.RUNNING),
        ],
    )
    assert [(s.name, s.status) for s in store.steps(row.id)] == [
        ("build", "passed"),
        ("test", "running"),
    ]
    store.finish(
        row.id,
        ExecutionStatus.FAILED,
        steps=[
            StepOutcome("1", "build", StepStatus.PASSED, duration_ms=5),
            StepOutcome("2", "test", StepStatus.FAILED, exit_code=1, duration_ms=9),
        ],
    )
    assert [(s.name, s.status, s.duration_ms) for s in store.steps(row.id)] == [
        ("build", "passed", 5),
        ("test", "failed", 9),
    ]
    store.record_steps(row.id, [])  # too late: the execution has ended
    assert len(store.steps(row.id)) == 2
    # a running step of an execution whose owner died ends aborted with it
    lost = store.create("wf", runner="local")
    store.start(lost.id)
    store.record_steps(lost.id, [StepOutcome("1", "test", StepStatus.RUNNING)])
    assert store.abandon(lost.id, "owner gone")
    assert [s.status for s in store.steps(lost.id)] == ["aborted"]


def test_postgresql_keeps_as_many_connections_as_a_server_uses_at_once(db: Database) -> None:
    """20 requests at once reuse 20 open connections instead of opening one each (SQLite's
    pool is left as SQLAlchemy makes it)."""
    from contextlib import ExitStack

    from assay.store.database import PG_POOL_SIZE

    if db.engine.dialect.name != "postgresql":
        return
    with ExitStack() as stack:
        for _ in range(PG_POOL_SIZE):
            stack.enter_context(db.engine.connect())
    assert db.engine.pool.checkedin() == PG_POOL_SIZE == 20  # type: ignore[attr-defined]
