"""Crash recovery and concurrent use of one store, on real processes and real databases."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from assay import processes
from assay.engine.recovery import Reconciler
from assay.processes import ProcessId, group_alive, pids_with_env, start_time
from assay.runners import LocalRunner, TaskHandle, TaskSpec
from assay.settings import Settings
from assay.status import ExecutionStatus
from assay.store import Database, ExecutionStore
from assay.store.tables import ExecutionRow
from support import postgres_database, write_files


def _running(pid: int) -> bool:
    return start_time(pid) is not None  # None once gone or a zombie


@pytest.fixture
def dead_owner() -> ProcessId:
    """A process that has ended (its pid and start time, as an owner would have them)."""
    proc = subprocess.Popen(["sleep", "30"])
    owner = ProcessId(proc.pid, start_time(proc.pid), ProcessId.current().host)
    proc.kill()
    proc.wait()
    assert not owner.alive()
    return owner


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'home/a.db'}")


@pytest.fixture
def runner() -> Iterator[LocalRunner]:
    yield LocalRunner(grace_seconds=0.5)


def _orphan(
    db: Database, settings: Settings, owner: ProcessId, runner: LocalRunner
) -> tuple[ExecutionStore, ExecutionRow, TaskHandle]:
    """A running execution owned by ``owner`` with one long task still running."""
    store = ExecutionStore(db)
    row = store.create("wf", runner="local")
    store.start(row.id)
    workspace = settings.work_dir / row.id
    workspace.mkdir(parents=True)
    handle = runner.start(
        TaskSpec("wf-1/1", ["sh", "-c", "sleep 60 & sleep 60"], workspace, workspace)
    )
    store.add_task(row.id, handle.to_dict())
    with db.session(write=True) as session:
        session.execute(
            update(ExecutionRow)
            .where(ExecutionRow.id == row.id)
            .values(owner_pid=owner.pid, owner_started=owner.started)
        )
    return store, row, handle


def test_reconciler_stops_the_tasks_of_a_dead_owner_and_aborts_its_execution(
    any_db: Database, settings: Settings, dead_owner: ProcessId, runner: LocalRunner
) -> None:
    store, row, handle = _orphan(any_db, settings, dead_owner, runner)
    mine = store.create("wf", runner="local")  # owned by this (live) process: left alone
    pgid = int(handle.data["pid"])
    assert group_alive(pgid)

    assert Reconciler(store, settings).run_once() == [row.name]

    deadline = time.monotonic() + 10
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not group_alive(pgid)
    aborted = store.get(row.id)
    assert aborted.status == "aborted"
    assert aborted.error is not None
    assert (
        f"pid {dead_owner.pid}" in aborted.error
        and "1 task process group(s) stopped" in aborted.error
    )
    assert aborted.finished_at is not None and aborted.duration_ms is not None
    assert store.tasks(row.id) == []
    assert not (settings.work_dir / row.id).exists()
    assert store.get(mine.id).status == "queued"
    assert Reconciler(store, settings).run_once() == []  # once only
    runner.wait(handle)


def test_only_executions_whose_recorded_owner_died_are_aborted_each_saying_why(
    any_db: Database, settings: Settings, dead_owner: ProcessId
) -> None:
    """Executions owned by a live process, or with no owner pid, are left alone wherever
    they come in the query; one whose owner died is aborted, the reason in its error and
    log, its workspace removed (no task was recorded: no count of stopped groups)."""
    store = ExecutionStore(any_db)
    live, unowned, gone = (store.create("wf", runner="local") for _ in range(3))
    with any_db.session(write=True) as session:
        for row_id, pid, started in (
            (unowned.id, None, None),
            (gone.id, dead_owner.pid, dead_owner.started),
        ):
            session.execute(
                update(ExecutionRow)
                .where(ExecutionRow.id == row_id)
                .values(owner_pid=pid, owner_started=started)
            )
    write_files(settings.work_dir / gone.id, {"left.txt": "x"})
    write_files(settings.executions_dir / gone.id, {"log.txt": "step 1\n"})

    assert Reconciler(store, settings).run_once() == [gone.name]

    reason = (
        f"the assay process that ran it (pid {dead_owner.pid} on {dead_owner.host}) "
        "ended while it was queued"
    )
    assert store.get(gone.id).status == "aborted"
    assert store.get(gone.id).error == reason
    log = (settings.executions_dir / gone.id / "log.txt").read_text()
    assert log == f"step 1\naborted: {reason}\n"
    assert not (settings.work_dir / gone.id).exists()
    assert [store.get(r.id).status for r in (live, unowned)] == ["queued", "queued"]


def test_a_container_started_before_its_task_was_recorded_is_removed(
    any_db: Database, settings: Settings, dead_owner: ProcessId, docker_image: str
) -> None:
    """A docker execution whose owner died with no task recorded: a container labelled
    with its workspace (started the moment before the record) is found and removed, and
    the reason counts it."""
    from assay.runners.docker import docker_client
    from assay.runners.docker_job import LABEL_TASK, LABEL_WORKSPACE

    store = ExecutionStore(any_db)
    row = store.create("wf", runner="docker")
    with any_db.session(write=True) as session:
        session.execute(
            update(ExecutionRow)
            .where(ExecutionRow.id == row.id)
            .values(owner_pid=dead_owner.pid, owner_started=dead_owner.started)
        )
    workspace = settings.work_dir / row.id
    workspace.mkdir(parents=True)
    client = docker_client()
    labels = {LABEL_WORKSPACE: str(workspace), LABEL_TASK: "wf-1/1"}
    container = client.containers.run(docker_image, ["sleep", "60"], labels=labels, detach=True)
    try:
        assert store.tasks(row.id) == []
        assert Reconciler(store, settings).run_once() == [row.name]

        filters = {"label": f"{LABEL_WORKSPACE}={workspace}"}
        assert client.containers.list(all=True, filters=filters) == []
        assert store.get(row.id).status == "aborted"
        assert store.get(row.id).error == (
            f"the assay process that ran it (pid {dead_owner.pid} on {dead_owner.host}) "
            "ended while it was queued; 1 task process group(s) stopped"
        )
        assert not workspace.exists()
    finally:
        with contextlib.suppress(Exception):
            container.remove(force=True)
        client.close()


def test_an_execution_finished_meanwhile_is_left_and_a_missing_workspace_is_no_fault(
    any_db: Database, settings: Settings, dead_owner: ProcessId, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the query and the abort, the owner may finish its execution after all: it
    keeps its status, nothing is logged or removed. A run that died before making its
    workspace is aborted all the same."""
    store = ExecutionStore(any_db)
    finished, bare = (store.create("wf", runner="local") for _ in range(2))
    with any_db.session(write=True) as session:
        session.execute(
            update(ExecutionRow)
            .where(ExecutionRow.id.in_([finished.id, bare.id]))
            .values(owner_pid=dead_owner.pid, owner_started=dead_owner.started)
        )
    write_files(settings.work_dir / finished.id, {"kept.txt": "x"})
    write_files(settings.executions_dir / finished.id, {"log.txt": "done\n"})
    query = store.unfinished_on

    def racing(host: str) -> list[ExecutionRow]:
        rows = query(host)
        store.finish(finished.id, ExecutionStatus.PASSED)
        return rows

    monkeypatch.setattr(store, "unfinished_on", racing)
    assert Reconciler(store, settings).run_once() == [bare.name]
    assert store.get(finished.id).status == "passed"
    assert (settings.executions_dir / finished.id / "log.txt").read_text() == "done\n"
    assert (settings.work_dir / finished.id / "kept.txt").exists()
    assert store.get(bare.id).status == "aborted"


def test_a_reused_pid_is_not_killed(
    any_db: Database, settings: Settings, dead_owner: ProcessId, runner: LocalRunner
) -> None:
    """A recorded task's pid that now names another process (another start time) is left
    alone, as is its group."""
    store, row, handle = _orphan(any_db, settings, dead_owner, runner)
    foreign = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        reused = {**handle.to_dict(), "task_id": "reused"}
        reused["data"] = {**handle.data, "pid": foreign.pid, "started": start_time(foreign.pid)}
        reused["data"]["started"] -= 1  # as if the pid had been another process's before
        store.add_task(row.id, reused)

        assert Reconciler(store, settings).run_once() == [row.name]
        assert _running(foreign.pid), "a process that is not the recorded task was signalled"
        assert not group_alive(int(handle.data["pid"]))  # the real task was stopped
    finally:
        foreign.kill()
        foreign.wait()
    runner.wait(handle)


def test_a_recorded_task_is_stopped_even_with_nothing_in_its_environment(
    any_db: Database, settings: Settings, dead_owner: ProcessId, runner: LocalRunner
) -> None:
    """The record alone is enough: a recorded group whose processes no longer carry the
    task's environment (``env -i``, a daemon that reset it) is stopped all the same."""
    store, row, handle = _orphan(any_db, settings, dead_owner, runner)
    bare = subprocess.Popen(["sleep", "60"], start_new_session=True, env={})
    try:
        recorded = {**handle.to_dict(), "task_id": "bare"}
        recorded["data"] = {**handle.data, "pid": bare.pid, "started": start_time(bare.pid)}
        store.add_task(row.id, recorded)
        assert Reconciler(store, settings).run_once() == [row.name]
        assert bare.wait(timeout=10) < 0  # ended by a signal
    finally:
        bare.kill()
        bare.wait()
    runner.wait(handle)


def test_a_task_started_but_not_yet_recorded_is_found_by_its_environment(
    any_db: Database, settings: Settings, dead_owner: ProcessId, runner: LocalRunner
) -> None:
    """The owner died between starting a task and recording it: the task's environment
    (ASSAY_EXIT_FILE under the execution's workspace) still ties it to the execution."""
    store, row, handle = _orphan(any_db, settings, dead_owner, runner)
    store.remove_task(row.id, handle.task_id)
    assert Reconciler(store, settings).run_once() == [row.name]
    assert not group_alive(int(handle.data["pid"]))
    assert "1 task process group(s) stopped" in (store.get(row.id).error or "")
    runner.wait(handle)


def test_group_alive_ignores_zombies_waiting_for_their_parent() -> None:
    proc = subprocess.Popen(["true"], start_new_session=True)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{proc.pid}").exists() and _running(proc.pid):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(proc.pid, 0)  # the zombie still answers signals...
    assert not group_alive(proc.pid)  # ...but nothing of the group runs
    proc.wait()
    assert not group_alive(proc.pid)


def test_a_process_whose_name_is_not_utf8_is_seen_running(tmp_path: Path) -> None:
    """The command name in /proc/<pid>/stat is the program's file name, any bytes: such a
    task must not read as gone (it would be left running, neither found nor stopped)."""
    program = os.path.join(os.fsencode(tmp_path), b"s) l\xffp")  # ")": the name ends at the last
    os.symlink(b"/bin/sleep", program)
    env = {**os.environ, "ASSAY_PROBE": f"{tmp_path}/x"}
    proc = subprocess.Popen([program, "60"], start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + 10
        while b"\xff" not in Path(f"/proc/{proc.pid}/stat").read_bytes():  # exec'd
            assert time.monotonic() < deadline
            time.sleep(0.01)
        started = start_time(proc.pid)
        assert started is not None
        assert ProcessId(proc.pid, started, "h").alive()
        assert group_alive(proc.pid)
        assert pids_with_env("ASSAY_PROBE", str(tmp_path)) == [proc.pid]
    finally:
        proc.kill()
        proc.wait()
    assert not group_alive(proc.pid)


def test_a_start_time_counts_from_boot_and_grows() -> None:
    mine = start_time(os.getpid())
    proc = subprocess.Popen(["sleep", "60"])
    try:
        theirs = start_time(proc.pid)
        assert mine is not None and theirs is not None
        assert 0 < mine <= theirs  # clock ticks after boot: a later process, a later time
    finally:
        proc.kill()
        proc.wait()


def test_looking_at_a_group_sends_it_nothing() -> None:
    code = (
        "import signal, sys; got = []; signal.signal(signal.SIGHUP, lambda *a: got.append(1));"
        "print('ready', flush=True); sys.stdin.read(); print(len(got))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    assert group_alive(proc.pid)
    assert ProcessId(proc.pid, None, "h").alive()  # the pid alone: probed the same way
    assert proc.communicate("", timeout=30)[0] == "0\n"  # no signal was received


def test_a_group_inside_this_session_is_seen() -> None:
    proc = subprocess.Popen(["sleep", "60"], process_group=0)  # its own group, our session
    try:
        assert os.getsid(proc.pid) != proc.pid
        assert group_alive(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def test_a_process_of_another_user_is_alive() -> None:
    """Signalling another user's process is refused (EPERM): it runs all the same."""
    if os.geteuid() != 0:
        pytest.skip("acting as another user needs root")
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        code = (
            "from assay.processes import ProcessId, group_alive;"
            f"print(ProcessId({proc.pid}, None, 'h').alive(), group_alive({proc.pid}))"
        )
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        src = str(Path(processes.__file__).parents[1])
        done = subprocess.run(
            [*nobody, sys.executable, "-c", code],
            env={**os.environ, "PYTHONPATH": src},
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.split() == ["True", "True"]
    finally:
        proc.kill()
        proc.wait()


def test_without_proc_the_pid_alone_tells(
    tmp_path: Path, dead_owner: ProcessId, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no /proc (no start times), a process or group is alive while it answers signals."""
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        monkeypatch.setattr(processes, "_PROC", tmp_path / "no-proc")
        assert start_time(proc.pid) is None
        assert ProcessId(proc.pid, None, "h").alive()
        assert not ProcessId(dead_owner.pid, None, "h").alive()
        assert group_alive(proc.pid)
        assert pids_with_env("PATH", "") == []
    finally:
        proc.kill()
        proc.wait()
    assert not group_alive(proc.pid)


_OPEN_AND_CREATE = """
import sys
from assay.store import Database, ExecutionStore
db = Database(sys.argv[1])
store = ExecutionStore(db)
print(" ".join(store.create("wf", runner="local").name for _ in range(3)))
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'new' / 'store.db'}"
    return postgres_database(request)


def test_processes_opening_a_new_store_at_once_all_succeed_with_distinct_numbers(
    fresh_url: str,
) -> None:
    """Schema creation is serialised (flock / advisory lock); numbering stays unique."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_AND_CREATE, fresh_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    names = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        names += out.split()
    assert sorted(names) == sorted(f"wf-{n}" for n in range(1, 25))
