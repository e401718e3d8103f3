"""The run queue in the store: exclusive claims, limits, FIFO, leases, abort requests, on
SQLite and a real PostgreSQL, with threads and processes claiming at once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from queue_support import enqueue

from assay.errors import DefinitionError
from assay.processes import ProcessId
from assay.status import ExecutionStatus
from assay.store import Database, ExecutionStore
from assay.store.executions import now
from assay.store.queue import QueueStore


def _claim_all(db: Database, worker: str, claimed: list[str]) -> None:
    queue = QueueStore(db)
    while (row := queue.claim(worker, ttl=30)) is not None:
        claimed.append(row.id)


def test_eight_threads_claim_fifty_runs_each_exactly_once(any_db: Database) -> None:
    rows = [enqueue(any_db) for _ in range(50)]
    claims: list[list[str]] = [[] for _ in range(8)]
    threads = [
        threading.Thread(target=_claim_all, args=(any_db, f"w{i}", claims[i])) for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    claimed = [row_id for worker in claims for row_id in worker]
    assert sorted(claimed) == sorted(row.id for row in rows)
    assert sum(1 for worker in claims if worker) > 1  # they did claim concurrently
    store = ExecutionStore(any_db)
    me = ProcessId.current()
    for index, worker in enumerate(claims):
        for row_id in worker:
            row = store.get(row_id)
            assert (row.status, row.lease_owner) == ("running", f"w{index}")
            assert (row.owner_pid, row.owner_host) == (me.pid, me.host)
            assert row.lease_expires is not None and row.started_at is not None


_CLAIMER = """
import sys
from assay.store import Database
from assay.store.queue import QueueStore
queue = QueueStore(Database(sys.argv[1]))
while (row := queue.claim(sys.argv[2], ttl=30)) is not None:
    print(row.id, flush=True)
"""


def test_eight_processes_claim_fifty_runs_each_exactly_once(tmp_path: Path) -> None:
    """On SQLite (PostgreSQL's claimers above are separate connections already)."""
    db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    rows = [enqueue(db) for _ in range(50)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, db.url, f"p{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    claimed = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        claimed += out.split()
    assert sorted(claimed) == sorted(row.id for row in rows)


def test_the_global_max_holds_and_the_rest_wait_in_order(any_db: Database) -> None:
    queue = QueueStore(any_db)
    rows = [enqueue(any_db) for _ in range(5)]
    first = [queue.claim("w", ttl=30, max_running=2) for _ in range(3)]
    assert [r.id if r else None for r in first] == [rows[0].id, rows[1].id, None]
    assert [r.id for r in queue.waiting()] == [r.id for r in rows[2:]]
    ExecutionStore(any_db).finish(rows[0].id, ExecutionStatus.PASSED)
    third = queue.claim("w", ttl=30, max_running=2)
    assert third is not None and third.id == rows[2].id
    assert queue.claim("w", ttl=30, max_running=2) is None
    assert queue.claim("w", ttl=30, max_running=4) is not None  # another worker's limit


def test_a_concurrency_group_runs_at_most_its_max_and_keeps_its_order(any_db: Database) -> None:
    queue = QueueStore(any_db)
    a1, a2, b1, a3, free = (
        enqueue(any_db, "a", "g", 2),
        enqueue(any_db, "a", "g", 2),
        enqueue(any_db, "b", "h", 1),
        enqueue(any_db, "a", "g", 2),
        enqueue(any_db, "c"),
    )
    order = []
    while (row := queue.claim("w", ttl=30)) is not None:
        order.append(row.id)
    assert order == [a1.id, a2.id, b1.id, free.id]  # a3 waits: g runs 2 already
    assert [r.id for r in queue.waiting()] == [a3.id]
    a4 = enqueue(any_db, "a", "g", 2)
    ExecutionStore(any_db).finish(a2.id, ExecutionStatus.FAILED)
    claimed = queue.claim("w", ttl=30)
    assert claimed is not None and claimed.id == a3.id  # first in, first out
    assert queue.claim("w", ttl=30) is None
    assert [r.id for r in queue.waiting()] == [a4.id]


def test_runs_of_assay_run_and_of_the_past_are_never_claimed(any_db: Database) -> None:
    """An `assay run` execution is queued an instant, owned, with no request."""
    ExecutionStore(any_db).create("wf", runner="local")
    assert QueueStore(any_db).claim("w", ttl=30) is None
    assert not QueueStore(any_db).has_waiting()


def test_a_lease_is_renewed_by_its_worker_only_and_expires_unrenewed(any_db: Database) -> None:
    queue = QueueStore(any_db)
    row = enqueue(any_db)
    other = enqueue(any_db)
    assert queue.claim("w1", ttl=0.2) is not None
    assert queue.claim("w2", ttl=60) is not None
    time.sleep(0.3)
    assert [r.id for r in queue.expired()] == [row.id]
    assert not queue.renew(row.id, "w2", 60)
    assert queue.renew(row.id, "w1", 60)
    assert queue.expired() == []
    later = queue.expired(now() + timedelta(seconds=120))
    assert sorted(r.id for r in later) == sorted([row.id, other.id])
    ExecutionStore(any_db).finish(row.id, ExecutionStatus.PASSED)
    assert not queue.renew(row.id, "w1", 60)  # finished: nothing to renew


def test_one_adopter_takes_over_a_lease_and_the_old_worker_can_no_longer_renew(
    any_db: Database,
) -> None:
    queue = QueueStore(any_db)
    row = enqueue(any_db)
    assert queue.claim("lost", ttl=0.1) is not None
    results: list[bool] = []

    def adopt(worker: str) -> None:
        results.append(queue.adopt(row.id, "lost", worker, 60) is not None)

    threads = [threading.Thread(target=adopt, args=(f"a{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    adopted = ExecutionStore(any_db).get(row.id)
    assert adopted.lease_owner is not None and adopted.lease_owner.startswith("a")
    assert adopted.owner_pid == ProcessId.current().pid
    assert (adopted.status, queue.expired()) == ("running", [])
    assert not queue.renew(row.id, "lost", 60)
    assert queue.renew(row.id, adopted.lease_owner, 60)
    ExecutionStore(any_db).finish(row.id, ExecutionStatus.PASSED)
    assert queue.adopt(row.id, adopted.lease_owner, "late", 60) is None  # ended: nothing to adopt


def test_abort_requests(any_db: Database) -> None:
    queue = QueueStore(any_db)
    store = ExecutionStore(any_db)
    queued, running, done = enqueue(any_db), enqueue(any_db), enqueue(any_db)
    assert queue.claim("w", ttl=30) is not None  # `queued`, the oldest
    store.abandon(queued.id, "test")  # it is finished: take the next two
    claimed = [queue.claim("w", ttl=30), queue.claim("w", ttl=30)]
    assert [r.id for r in claimed if r] == [running.id, done.id]
    store.finish(done.id, ExecutionStatus.PASSED)
    waiting = enqueue(any_db)

    aborted = queue.request_abort(waiting.id, "aborted while queued")
    assert (aborted.status, aborted.error) == ("aborted", "aborted while queued")
    assert store.get(waiting.id).status == "aborted"
    assert queue.claim("w", ttl=30) is None

    assert queue.abort_requested([running.id, done.id]) == set()
    flagged = queue.request_abort(running.id, "unused")
    assert flagged.status == "running" and flagged.abort_requested_at is not None
    assert queue.abort_requested([running.id, done.id]) == {running.id}
    assert queue.request_abort(done.id, "unused").status == "passed"

    local = store.create("wf", runner="local")  # as `assay run` records it
    with pytest.raises(DefinitionError, match="not started through the queue"):
        queue.request_abort(local.id, "unused")
    assert store.get(local.id).status == "queued"


def test_a_group_needs_a_max(any_db: Database) -> None:
    with pytest.raises(DefinitionError):
        enqueue(any_db, group="g")
    with pytest.raises(DefinitionError):
        enqueue(any_db, group="g", limit=0)
    assert ExecutionStore(any_db).recent() == []


def test_on_postgresql_a_claim_skips_a_row_another_transaction_holds(
    request: pytest.FixtureRequest,
) -> None:
    """`FOR UPDATE SKIP LOCKED`: a queued row locked elsewhere (an abort being written) is
    passed over at once, not waited for."""
    from sqlalchemy import select

    from assay.store.tables import ExecutionRow
    from support import postgres_database

    db = Database(postgres_database(request))
    try:
        first, second = enqueue(db), enqueue(db)
        with db.session(write=True) as holder:
            holder.execute(
                select(ExecutionRow).where(ExecutionRow.id == first.id).with_for_update()
            )
            got: list[str | None] = []
            claimer = threading.Thread(
                target=lambda: got.append(getattr(QueueStore(db).claim("w", ttl=30), "id", None)),
                daemon=True,
            )
            claimer.start()
            claimer.join(20)  # waiting for the lock would never end: `holder` is this thread
            assert not claimer.is_alive(), "the claim waited for a locked row"
            assert got == [second.id]
        claimed = QueueStore(db).claim("w", ttl=30)
        assert claimed is not None and claimed.id == first.id
    finally:
        db.close()
