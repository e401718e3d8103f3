"""The cron scheduler on a simulated clock: exactly once across restarts and replicas, on
SQLite and on a real PostgreSQL; catch-up after downtime fires once."""

from __future__ import annotations

import itertools
import random
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ops_support import SimulatedClock, apply, next_minute, workflow
from sqlalchemy import func, insert, select

from assay.errors import DefinitionError
from assay.ops.scheduler import TICK_TAG, Scheduler
from assay.store import Database, ExecutionStore
from assay.store.executions import now
from assay.store.schedules import TickStore
from assay.store.tables import ExecutionRow, ScheduleTickRow, WorkflowRow


class Crash(BaseException):
    """A scheduler process dying (not an error any code path catches)."""


_numbers = itertools.count(1)


def insert_into(db: Database) -> Any:
    """An enqueue that records a queued execution in one INSERT (what the scheduler needs
    of a queue: an id, and the tags by which a restarted scheduler finds the run)."""

    def enqueue(name: str, config: dict[str, Any], tags: dict[str, str]) -> str:
        number = next(_numbers)
        execution_id = uuid.uuid4().hex
        with db.writing(), db.engine.begin() as connection:  # Core: no ORM session per tick
            connection.execute(
                insert(ExecutionRow).values(
                    id=execution_id,
                    workflow=name,
                    number=number,
                    name=f"{name}-{number}",
                    status="queued",
                    runner="schedule",
                    tags=tags,
                    config=config,
                    summary={},
                    queued_at=now(),
                )
            )
        return execution_id

    return enqueue


def applied_minute(db: Database) -> datetime:
    """The start of the minute after the definitions were applied."""
    with db.session() as session:
        applied = session.scalar(select(func.max(WorkflowRow.updated_at)))
    assert applied is not None
    applied = applied.astimezone(UTC) if applied.tzinfo else applied.replace(tzinfo=UTC)
    return applied.replace(second=0, microsecond=0) + timedelta(minutes=1)


def enqueue_into(db: Database) -> Any:
    store = ExecutionStore(db)

    def enqueue(name: str, config: dict[str, Any], tags: dict[str, str]) -> str:
        return store.create(name, runner="schedule", config=config, tags=tags).id

    return enqueue


@pytest.mark.slow
def test_every_tick_fires_exactly_once_across_restarts_and_two_replicas(db: Database) -> None:
    """10,000 ticks (40 workflows x 250 minutes), two schedulers racing on the same store in
    lockstep, each crashing now and then before or after queueing, and restarted at once."""
    names = [f"every-minute-{n}" for n in range(40)]
    apply(db, *(workflow(name, {"cron": "* * * * *"}) for name in names))
    start = applied_minute(db)
    clock = SimulatedClock(start)
    minutes = 250
    crashes = Counter[str]()

    def replica(seed: int) -> None:
        rng = random.Random(seed)
        store = Database(db.url)

        def enqueue(name: str, config: dict[str, Any], tags: dict[str, str]) -> str:
            roll = rng.random()
            if roll < 0.001:
                crashes["before"] += 1
                raise Crash  # claimed, nothing queued
            execution_id = insert_into(store)(name, config, tags)
            if roll < 0.002:
                crashes["after"] += 1
                raise Crash  # queued, not confirmed
            return execution_id

        scheduler = Scheduler(store, enqueue, clock=clock)
        for _ in range(minutes + 8):  # 258 minutes: 10,320 ticks
            barrier.wait()
            while True:
                try:
                    scheduler.run_once()
                    break
                except Crash:  # the process is gone; a new one starts and passes at once
                    store.close()
                    store = Database(db.url)
                    scheduler = Scheduler(store, enqueue, clock=clock)
            barrier.wait()
        store.close()

    # the clock moves one minute between the two barriers of each turn
    barrier = threading.Barrier(
        2, action=_once_per_turn(lambda: clock.advance(timedelta(minutes=1)))
    )
    threads = [threading.Thread(target=replica, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=1200)
    assert not any(thread.is_alive() for thread in threads)
    assert crashes["before"] and crashes["after"], "the run should have crashed both ways"
    clock.advance(timedelta(minutes=10))  # every lease lapsed: a last pass recovers the rest
    Scheduler(db, insert_into(db), clock=clock).run_once()

    last = start + timedelta(minutes=minutes + 7)  # the last lockstep minute
    with db.session() as session:
        ticks = list(
            session.scalars(select(ScheduleTickRow).where(ScheduleTickRow.scheduled_at <= last))
        )
        executions = list(session.scalars(select(ExecutionRow)))
    expected = {
        (name, start + timedelta(minutes=m))
        for name in names
        for m in range(int((last - start).total_seconds() // 60) + 1)
    }
    assert len(expected) >= 10_000
    fired = Counter((t.workflow, t.scheduled_at.replace(tzinfo=UTC)) for t in ticks)
    assert set(fired) == expected and set(fired.values()) == {1}
    assert {t.state for t in ticks} == {"queued"} and {t.missed for t in ticks} == {0}
    by_tick = Counter((e.tags or {}).get(TICK_TAG) for e in executions)
    assert max(by_tick.values()) == 1, "a tick was queued twice"
    assert {t.id for t in ticks} <= set(by_tick)
    assert {t.execution_id for t in ticks} == {
        e.id for e in executions if (e.tags or {}).get(TICK_TAG) in {t.id for t in ticks}
    }


def _once_per_turn(action: Any) -> Any:
    """A barrier action that runs every other time (between a turn's two barriers)."""
    state = {"calls": 0}

    def run() -> None:
        state["calls"] += 1
        if state["calls"] % 2 == 0:
            action()

    return run


def test_catch_up_after_downtime_fires_once(db: Database) -> None:
    apply(db, workflow("five", {"cron": "*/5 * * * *", "tags": {"kind": "nightly"}}))
    clock = SimulatedClock(next_minute().replace(minute=0) + timedelta(hours=1))
    scheduler = Scheduler(db, enqueue_into(db), clock=clock)
    [first] = scheduler.run_once()  # applied before this hour: the first run is a catch-up
    assert first.scheduled_at == clock.now
    assert scheduler.run_once() == []  # nothing new: the same tick is not fired again
    clock.advance(timedelta(hours=3, minutes=2))  # the server was down for three hours
    restarted = Scheduler(Database(db.url), enqueue_into(db), clock=clock)
    [caught_up] = restarted.run_once()
    assert caught_up.scheduled_at == clock.now - timedelta(minutes=2)
    assert caught_up.missed == 35  # 36 fire times were due; one execution runs
    assert restarted.run_once() == []
    clock.advance(timedelta(minutes=3))
    [regular] = restarted.run_once()
    assert regular.missed == 0 and regular.scheduled_at == clock.now
    execution = ExecutionStore(db).get(caught_up.execution_id or "")
    assert execution.tags["kind"] == "nightly" and execution.tags["schedule"] == "*/5 * * * * (UTC)"
    assert len(ExecutionStore(db).recent(workflow="five")) == 3


def test_time_zones_and_next_fire_times(db: Database) -> None:
    apply(
        db,
        workflow("berlin", {"cron": "0 3 * * *", "timezone": "Europe/Berlin"}),
        workflow("utc", {"cron": "0 3 * * *"}),
    )
    winter = datetime(2031, 1, 15, 12, 0, tzinfo=UTC)
    summer = datetime(2031, 7, 15, 12, 0, tzinfo=UTC)
    scheduler = Scheduler(db, enqueue_into(db), clock=SimulatedClock(winter), timezone="UTC")
    by_name = {s.workflow: s for s in scheduler.schedules()}
    assert by_name["berlin"].next_fire(winter) == [datetime(2031, 1, 16, 2, 0, tzinfo=UTC)]
    assert by_name["berlin"].next_fire(summer) == [datetime(2031, 7, 16, 1, 0, tzinfo=UTC)]
    assert by_name["utc"].next_fire(winter, 2) == [
        datetime(2031, 1, 16, 3, 0, tzinfo=UTC),
        datetime(2031, 1, 17, 3, 0, tzinfo=UTC),
    ]
    shifted = Scheduler(db, enqueue_into(db), clock=SimulatedClock(winter), timezone="Asia/Tokyo")
    tokyo = {s.workflow: s for s in shifted.schedules()}["utc"]  # no timezone: the server's
    assert tokyo.next_fire(winter) == [datetime(2031, 1, 15, 18, 0, tzinfo=UTC)]


def test_a_tick_that_cannot_be_queued_is_recorded_failed_and_not_retried(db: Database) -> None:
    apply(db, workflow("broken", {"cron": "* * * * *"}))
    clock = SimulatedClock(next_minute())
    calls: list[str] = []

    def refuse(name: str, config: dict[str, Any], tags: dict[str, str]) -> str:
        calls.append(name)
        raise DefinitionError("config 'n': expected an integer")

    scheduler = Scheduler(db, refuse, clock=clock)
    [failed] = scheduler.run_once()
    assert failed.execution_id is None and failed.error == "config 'n': expected an integer"
    clock.advance(timedelta(minutes=10, seconds=30))
    [later] = scheduler.run_once()  # a new (caught-up) tick; the failed one is not retried
    assert later.scheduled_at == clock.now - timedelta(seconds=30) and len(calls) == 2
    states = [t.state for t in TickStore(db).recent(workflow="broken")]
    assert states == ["failed", "failed"]


@pytest.mark.parametrize("edit", ["cron", "removed"])
def test_an_edited_schedule_starts_afresh(db: Database, edit: str) -> None:
    apply(db, workflow("edited", {"cron": "* * * * *"}))
    clock = SimulatedClock(next_minute())
    scheduler = Scheduler(db, enqueue_into(db), clock=clock)
    assert len(scheduler.run_once()) == 1
    clock.advance(timedelta(hours=1))
    if edit == "cron":
        apply(db, workflow("edited", {"cron": "0 0 1 1 *"}))  # applied now (wall clock)
        assert scheduler.run_once() == []  # the old cron's missed ticks are not caught up
    else:
        apply(db, workflow("edited"))
        assert scheduler.run_once() == [] and scheduler.next_wake() is None


def test_legacy_tests_and_suites_keep_their_schedule(db: Database) -> None:
    def legacy(kind: str, name: str, schedule: str) -> dict[str, Any]:
        return {
            "apiVersion": "tests.testkube.io/v3",
            "kind": kind,
            "metadata": {"name": name},
            "spec": {"schedule": schedule},
        }

    apply(db, legacy("Test", "old-test", "*/5 * * * *"), legacy("TestSuite", "bad", "every day"))
    scheduler = Scheduler(db, enqueue_into(db), clock=SimulatedClock(next_minute()))
    assert [(s.workflow, s.cron) for s in scheduler.schedules()] == [("old-test", "*/5 * * * *")]
