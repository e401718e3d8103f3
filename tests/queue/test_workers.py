"""Workers in this process over SQLite and a real PostgreSQL: queued runs run with their
config, secrets and source; aborts, stops, limits and expired leases."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from queue_support import Apply, wait_until

from assay.app import Assay
from assay.engine.worker import WorkerPool, WorkerTiming
from assay.processes import group_alive, start_time
from assay.runners import LocalRunner, TaskSpec
from assay.status import ExecutionStatus
from assay.store import ExecutionStore
from assay.store.tables import ExecutionRow

FAST = WorkerTiming(lease_ttl=3.0, heartbeat=0.5, poll=0.1, abort_poll=0.2, reconcile=1.0)

Pools = Callable[..., WorkerPool]


@pytest.fixture
def pools(assay: Assay) -> Iterator[Pools]:
    """Start worker pools over the store (stopped at the end); their log lines go to
    ``pool.lines``."""
    started: list[WorkerPool] = []

    def start(count: int = 2, **options: object) -> WorkerPool:
        lines: list[str] = []
        pool = WorkerPool(assay.settings, count, timing=FAST, log=lines.append, **options)  # type: ignore[arg-type]
        pool.lines = lines  # type: ignore[attr-defined]
        pool.start()
        started.append(pool)
        return pool

    yield start
    for pool in started:
        pool.stop(timeout=30)


def _finished(assay: Assay, *rows: ExecutionRow, timeout: float = 120) -> list[ExecutionRow]:
    def done() -> bool:
        return all(ExecutionStatus(assay.executions.get(r.id).status).finished for r in rows)

    wait_until(done, timeout, "executions finished")
    return [assay.executions.get(r.id) for r in rows]


SOURCE = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: source}
spec:
  config:
    token: {type: string, sensitive: true}
    n: {type: integer, default: 1}
  container: {workingDir: /data/repo}
  steps:
    - shell: cat hello.txt; echo "n={{ config.n }} token={{ config.token }}"; echo "$PWD" > {pwd}
"""


def test_a_pool_runs_queued_runs_with_their_config_secrets_and_source(
    assay: Assay, apply: Apply, pools: Pools, tmp_path: Path
) -> None:
    apply(SOURCE.replace("{pwd}", str(tmp_path / "pwd")))
    archive = tmp_path / "src.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"hello from the archive\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    secret = "the-secret-token-value"
    row = assay.enqueue(
        "source", config={"token": secret, "n": "7"}, tags={}, source_archive=archive
    )
    pool = pools(2)
    [done] = _finished(assay, row)
    assert (done.status, done.error) == ("passed", None), done.error
    log = assay.log_path(done).read_text()
    assert "hello from the archive" in log
    assert "n=7 token=***" in log and secret not in log
    assert (tmp_path / "pwd").read_text().strip().endswith(f"work/{row.id}.source")  # /data/repo
    lines: list[str] = pool.lines  # type: ignore[attr-defined]
    wait_until(lambda: any(line.startswith("finished source-1 passed") for line in lines))
    assert not (assay.settings.work_dir / f"{row.id}.source").exists()
    assert not (assay.settings.work_dir / row.id).exists()
    assert done.lease_owner is not None and done.lease_owner.startswith(pool.prefix)
    assert f"claimed source-1 ({row.id}) by {done.lease_owner}" in lines


SLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: slow}
spec:
  steps:
    - shell: echo $$ > {marks}/$ASSAY_ID.pid; sleep 60
  after:
    - condition: always
      shell: echo cleaned > {marks}/$ASSAY_ID.cleaned
"""


def _slow(apply: Apply, marks: Path) -> None:
    marks.mkdir(exist_ok=True)
    apply(SLOW.replace("{marks}", str(marks)).replace("$ASSAY_ID", "{{ execution.id }}"))


def _step_pid(marks: Path, row: ExecutionRow) -> int:
    pidfile = marks / f"{row.id}.pid"
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip() != "", 120, "step")
    return int(pidfile.read_text())


def _gone(pid: int) -> bool:
    return start_time(pid) is None


def test_an_abort_stops_a_running_execution_and_its_always_steps_run(
    assay: Assay, apply: Apply, pools: Pools, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    _slow(apply, marks)
    row = assay.enqueue("slow", config={}, tags={})
    pools(1)
    pid = _step_pid(marks, row)
    asked = time.monotonic()
    flagged = assay.abort(row.name)
    assert flagged.status == "running" and flagged.abort_requested_at is not None
    [done] = _finished(assay, row, timeout=60)
    assert time.monotonic() - asked < 30  # about a second, on a machine that is not busy
    assert (done.status, done.error) == ("aborted", "aborted on request")
    assert (marks / f"{row.id}.cleaned").read_text() == "cleaned\n"
    assert _gone(pid)
    steps = assay.executions.steps(row.id)
    assert [s.status for s in steps] == ["aborted", "passed"]


def test_stopping_a_pool_aborts_what_runs_and_claims_no_more(
    assay: Assay, apply: Apply, pools: Pools, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    _slow(apply, marks)
    first, second = (assay.enqueue("slow", config={}, tags={}) for _ in range(2))
    pool = pools(1)
    pid = _step_pid(marks, first)
    assert pool.stop(timeout=30) == [first.name]
    done = assay.executions.get(first.id)
    assert (done.status, done.error) == ("aborted", "worker stopped")
    assert (marks / f"{first.id}.cleaned").exists()
    assert _gone(pid)
    assert assay.executions.get(second.id).status == "queued"


LIMITED = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: limited}
spec:
  {concurrency}
  steps:
    - shell: sleep 1
"""


@pytest.mark.parametrize("limit", ["group", "global"])
def test_at_most_the_limit_runs_at_once_and_the_rest_in_order(
    assay: Assay, apply: Apply, pools: Pools, limit: str
) -> None:
    concurrency = "concurrency: {max: 2}" if limit == "group" else ""
    apply(LIMITED.replace("{concurrency}", concurrency))
    rows = [assay.enqueue("limited", config={}, tags={}) for _ in range(5)]
    pools(4, max_running=2 if limit == "global" else None)
    done = _finished(assay, *rows)
    assert [r.status for r in done] == ["passed"] * 5
    events = sorted(
        [(r.started_at, 1) for r in done] + [(r.finished_at, -1) for r in done],
        key=lambda event: (event[0], event[1]),
    )
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    assert peak == 2
    starts = [r.started_at for r in done]
    assert starts == sorted(starts)  # claimed first in, first out


def test_an_expired_lease_is_closed_and_its_tasks_stopped(
    assay: Assay, pools: Pools, tmp_path: Path
) -> None:
    """A worker that stopped renewing (here: a claim no one renews, its task running on
    this host): another pool aborts the execution naming that worker and stops the task's
    process group."""
    from queue_support import REQUEST

    queue = assay.queue
    row = queue.enqueue("wf", runner="local", tags={}, config={}, request=REQUEST)
    claimed = queue.claim("lost-host/123/abc/0", ttl=1.0)
    assert claimed is not None and claimed.id == row.id
    workspace = assay.settings.work_dir / row.id
    workspace.mkdir(parents=True)
    runner = LocalRunner(grace_seconds=0.5)
    handle = runner.start(
        TaskSpec("wf-1/1", ["sh", "-c", "sleep 60 & sleep 60"], workspace, workspace)
    )
    ExecutionStore(assay.db).add_task(row.id, handle.to_dict())
    child = ExecutionStore(assay.db).create("child", runner="local", parent_id=row.id)
    ExecutionStore(assay.db).start(child.id)  # a suite's test: no lease of its own
    pgid = int(handle.data["pid"])
    assert group_alive(pgid)
    time.sleep(1.2)
    pool = pools(1)  # reconciles at start
    aborted = assay.executions.get(row.id)
    assert aborted.status == "aborted"
    assert aborted.error is not None
    assert aborted.error.startswith("its worker lost-host/123/abc/0 stopped renewing its lease")
    assert aborted.error.endswith("1 task process group(s) stopped")
    assert not group_alive(pgid)
    assert not workspace.exists()
    closed = assay.executions.get(child.id)
    assert closed.status == "aborted"
    assert closed.error == f"its parent {row.name} was aborted: {aborted.error.split(';')[0]}"
    assert f"reconciled {row.name}: aborted" in pool.lines  # type: ignore[attr-defined]
    runner.wait(handle)


def test_a_run_whose_secret_cannot_be_opened_ends_in_error_and_the_worker_goes_on(
    assay: Assay, apply: Apply, pools: Pools
) -> None:
    apply(
        LIMITED.replace("{concurrency}", "config: {t: {type: string, sensitive: true, default: d}}")
    )
    sealed = assay.enqueue("limited", config={"t": "x"}, tags={})
    (assay.settings.home / "queue.key").unlink()  # as on a machine without the key
    plain = assay.enqueue("limited", config={}, tags={})  # nothing sealed
    pools(1)
    failed, passed = _finished(assay, sealed, plain)
    assert passed.status == "passed"
    assert failed.status == "error"
    assert failed.error is not None and "no queue key" in failed.error
    assert "error: no queue key" in assay.log_path(failed).read_text()
