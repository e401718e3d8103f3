"""`assay worker` as a real process: signals, a frozen worker losing its lease, and the
acceptance test: kill -9 with 20 runs in flight, restart, every run ends once."""

from __future__ import annotations

import collections
import fcntl
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from queue_support import Apply, wait_until

from assay.app import Assay
from assay.engine.worker import WorkerPool, WorkerTiming
from assay.envvars import EXIT_FILE
from assay.processes import pids_with_env, start_time
from assay.status import ExecutionStatus
from assay.store.tables import ExecutionRow
from support import ASSAY

SLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: slow}
spec:
  config:
    seconds: {type: integer, default: {seconds}}
  steps:
    - shell: echo "{{ execution.id }} $$" >> {marks}/runs; sleep {{ config.seconds }}
  after:
    - condition: always
      shell: echo "{{ execution.id }}" >> {marks}/cleaned
"""


class Workers:
    """`assay worker` processes started by a test (killed at its end if still there)."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, *args: str) -> subprocess.Popen[str]:
        env = {key: value for key, value in os.environ.items() if key != "PYTEST_ADDOPTS"}
        proc = subprocess.Popen(
            [ASSAY, "worker", *args],
            cwd=self.cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    started = Workers(tmp_path)
    yield started
    for proc in started.procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)


def _slow(apply: Apply, marks: Path, seconds: float) -> None:
    marks.mkdir(exist_ok=True)
    apply(SLOW.replace("{marks}", str(marks)).replace("{seconds}", str(seconds)))


def _runs(marks: Path) -> list[tuple[str, int]]:
    path = marks / "runs"
    if not path.exists():
        return []
    lines = [line.split() for line in path.read_text().splitlines()]
    return [(parts[0], int(parts[1])) for parts in lines if len(parts) == 2]


def _alive(pid: int) -> bool:
    return start_time(pid) is not None


def _statuses(assay: Assay, rows: list[ExecutionRow]) -> list[str]:
    return [assay.executions.get(row.id).status for row in rows]


def test_worker_stops_cleanly_on_a_signal_when_idle(assay: Assay, workers: Workers) -> None:
    proc = workers.start()
    wait_until(lambda: (proc.poll() is None) and _waiting_line(proc), 120, "worker up")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "SIGTERM: stopping" in out and out.rstrip().endswith("stopped")


def _waiting_line(proc: subprocess.Popen[str]) -> bool:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return "waiting for queued runs" in line


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_aborts_the_running_execution_which_cleans_up(
    assay: Assay, apply: Apply, workers: Workers, tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    marks = tmp_path / "marks"
    _slow(apply, marks, 60)
    row = assay.enqueue("slow", config={}, tags={})
    proc = workers.start("--count", "2")
    wait_until(lambda: len(_runs(marks)) == 1, 120, "step started")
    [(_, pid)] = _runs(marks)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, (out, err)
    assert err.strip().splitlines()[-1] == (
        f"error: stopped by {sig.name}: 1 execution(s) aborted (slow-1)"
    )
    assert "Traceback" not in err
    assert f"claimed slow-1 ({row.id})" in out
    assert "finished slow-1 aborted" in out
    done = assay.executions.get(row.id)
    assert (done.status, done.error) == ("aborted", "worker stopped")
    assert (marks / "cleaned").read_text() == f"{row.id}\n"
    assert not _alive(pid)


def _freeze_between_writes(proc: subprocess.Popen[str], assay: Assay) -> None:
    """SIGSTOP ``proc`` at a moment it does not hold a SQLite store's write lock: a process
    frozen inside a write transaction holds every writer of that file (SQLite is one host's
    store, see docs/server.md); PostgreSQL has no such lock to wait for."""
    database = assay.db.engine.url.database
    lock_path = f"{database}.lock" if assay.db.engine.dialect.name == "sqlite" else None
    for _ in range(200):
        proc.send_signal(signal.SIGSTOP)
        if lock_path is None:
            return
        with open(lock_path, "a+b") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass
            else:
                fcntl.flock(lock, fcntl.LOCK_UN)
                return
        proc.send_signal(signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError("the worker held the store's write lock at every try")


def test_a_frozen_worker_loses_its_lease_and_another_aborts_its_run(
    assay: Assay, apply: Apply, workers: Workers, tmp_path: Path
) -> None:
    """SIGSTOP: the worker stays alive (so this host's dead-owner check leaves it) but stops
    renewing; another worker's reconciliation closes the run once the lease expires and
    stops its step. Resumed, the frozen worker sees its lease lost; the run keeps the
    reason it was closed with."""
    marks = tmp_path / "marks"
    _slow(apply, marks, 60)
    row = assay.enqueue("slow", config={}, tags={})
    frozen = workers.start("--lease-ttl", "2", "--heartbeat", "0.5")
    wait_until(lambda: len(_runs(marks)) == 1, 120, "step started")
    [(_, pid)] = _runs(marks)
    lease_owner = assay.executions.get(row.id).lease_owner
    _freeze_between_writes(frozen, assay)
    try:
        timing = WorkerTiming(lease_ttl=2, heartbeat=0.5, poll=0.2, reconcile=0.5)
        other = WorkerPool(assay.settings, 1, timing=timing)
        other.start()
        try:
            wait_until(lambda: assay.executions.get(row.id).status == "aborted", 60, "lease closed")
        finally:
            other.stop()
        wait_until(lambda: not _alive(pid), 30, "step stopped")
    finally:
        frozen.send_signal(signal.SIGCONT)
    done = assay.executions.get(row.id)
    assert done.error is not None
    assert done.error.startswith(f"its worker {lease_owner} stopped renewing its lease")
    assert done.error.endswith("task process group(s) stopped")
    lines: list[str] = []  # the resumed worker notices that its lease is gone
    assert frozen.stdout is not None and frozen.stderr is not None
    stdout = frozen.stdout
    reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")))
    reader.start()
    # its watcher finds the lease gone, or (when the killed step is seen first) the run ends
    # and the worker reports the status the store kept, not its own
    lost, kept = f"lost the lease of {row.name}", f"finished {row.name} aborted"
    wait_until(lambda: any(lost in ln or kept in ln for ln in lines), 60, "lease loss noticed")
    frozen.send_signal(signal.SIGTERM)
    reader.join(timeout=60)
    assert frozen.wait(timeout=60) in (0, 143), ("".join(lines), frozen.stderr.read())
    assert assay.executions.get(row.id).error == done.error  # the first word stays
    assert [run_id for run_id, _ in _runs(marks)] == [row.id]


@pytest.mark.slow
def test_kill_9_with_twenty_runs_in_flight_then_restart_every_run_ends_once(
    assay: Assay, apply: Apply, workers: Workers, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    _slow(apply, marks, 2)
    long = [assay.enqueue("slow", config={"seconds": "120"}, tags={}) for _ in range(8)]
    short = [assay.enqueue("slow", config={}, tags={}) for _ in range(12)]
    first = [workers.start("--count", "4") for _ in range(2)]
    # the 8 oldest are claimed first and hold all 8 workers: 8 running, 12 queued
    wait_until(lambda: len(_runs(marks)) == 8, 180, "8 runs in flight")
    for proc in first:
        proc.kill()  # SIGKILL: no handler, no clean-up
        proc.communicate(timeout=60)
    assert {run_id for run_id, _ in _runs(marks)} == {row.id for row in long}
    assert _statuses(assay, long + short) == ["running"] * 8 + ["queued"] * 12
    restarted = time.monotonic()
    workers.start("--count", "4")
    wait_until(
        lambda: all(ExecutionStatus(s).finished for s in _statuses(assay, long + short)),
        60,
        "20 terminal states after the restart",
    )
    assert time.monotonic() - restarted < 60
    runs = collections.Counter(run_id for run_id, _ in _runs(marks))
    assert sorted(runs) == sorted(row.id for row in long + short)
    assert set(runs.values()) == {1}, "a run ran twice"
    for row in long:  # stopped, closed with the reason, never run again
        done = assay.executions.get(row.id)
        assert done.status == "aborted"
        assert done.error is not None and "ended while it was running" in done.error
        assert done.error.endswith("; 1 task process group(s) stopped")
        steps = [s.status for s in assay.executions.steps(row.id)]  # as recorded live
        assert steps[-1:] == ["aborted"] and "running" not in steps, steps
    for row in short:
        done = assay.executions.get(row.id)
        assert (done.status, done.error) == ("passed", None)
        assert [s.status for s in assay.executions.steps(row.id)] == ["passed", "passed"]
    cleaned = sorted((marks / "cleaned").read_text().split())
    assert cleaned == sorted(row.id for row in short)  # no one was left to clean up the killed
    for _, pid in _runs(marks):
        assert not _alive(pid)
    assert pids_with_env(EXIT_FILE, f"{assay.settings.work_dir}/") == []
    assert not any((assay.settings.work_dir).iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "0"], "error: --count 0: at least 1"),
        (["--max-running", "0"], "error: --max-running 0: at least 1"),
        (["--lease-ttl", "5", "--heartbeat", "5"], "error: --lease-ttl 5.0 / --heartbeat 5.0:"),
    ],
)
def test_bad_arguments_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    env = {**os.environ, "ASSAY_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [ASSAY, "worker", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(message)
    assert not (tmp_path / "home").exists()  # nothing opened


def test_a_store_that_cannot_be_reached_is_one_line_and_exit_3(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ASSAY_HOME": str(tmp_path / "home"),
        "ASSAY_DATABASE_URL": "postgresql+psycopg://assay@127.0.0.1:1/assay",
    }
    done = subprocess.run([ASSAY, "worker"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(
        "error: cannot open the store at postgresql+psycopg://assay@127.0.0.1:1/"
    )
