"""Local runner: each task is a process group on this machine.

Output (stdout and stderr merged) goes to a log file next to the task, so a
restarted engine can re-attach and keep reading; an exit-status file written by
a tiny shell wrapper tells how a task ended even when its parent is gone. A
timeout or a cancel kills the whole process group (SIGTERM, then SIGKILL). The handle
names the group by its leader's pid and start time, so a process that re-attaches after a
crash (:mod:`assay.engine.recovery`) never signals a group whose pid was reused.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from assay.envvars import EXIT_FILE
from assay.errors import DefinitionError, InfrastructureError
from assay.processes import group_alive, pids_with_env, start_time
from assay.runners.base import TaskHandle, TaskResult, TaskSpec
from assay.runners.tail import tail_lines

__all__ = ["LocalRunner", "stop_strays"]

_WRAPPER = f'"$@"; echo $? > "${EXIT_FILE}"'
_GRACE_SECONDS = 3.0
_POLL_SECONDS = 0.02


class LocalRunner:
    """Runs tasks as local processes, each in its own process group."""

    name = "local"

    def __init__(self, grace_seconds: float = _GRACE_SECONDS) -> None:
        self.grace_seconds = grace_seconds
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._specs: dict[str, TaskSpec] = {}
        self._results: dict[str, TaskResult] = {}
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()

    def unsupported(self, spec: TaskSpec) -> list[str]:
        """The local runner ignores images and resource requests."""
        notes = []
        if spec.image:
            notes.append(f"image {spec.image!r} is ignored by the local runner")
        if spec.resources:
            notes.append("resources are ignored by the local runner")
        return notes

    def start(self, spec: TaskSpec) -> TaskHandle:
        """Spawn the command in a new session with output to a log file."""
        if not spec.command:
            raise DefinitionError(
                "a `run` without command, args or shell relies on the image's entrypoint, "
                "which the local runner cannot use"
            )
        task_id = uuid.uuid4().hex[:12]
        task_dir = spec.workspace / ".tasks" / task_id
        task_dir.mkdir(parents=True)
        log_path, exit_path = task_dir / "output.log", task_dir / "exit"
        env = dict(spec.env)
        env[EXIT_FILE] = str(exit_path)
        with log_path.open("wb") as log:
            try:
                proc = subprocess.Popen(
                    ["/bin/sh", "-c", _WRAPPER, "sh", *spec.command],
                    cwd=spec.working_dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise InfrastructureError(f"cannot start {spec.name!r}: {exc}") from exc
        deadline = None if spec.timeout is None else time.time() + spec.timeout
        handle = TaskHandle(
            self.name,
            task_id,
            {
                "pid": proc.pid,
                "started": start_time(proc.pid),
                "log": str(log_path),
                "exit": str(exit_path),
                "deadline": deadline,
            },
        )
        with self._lock:
            self._procs[task_id] = proc
            self._specs[task_id] = spec
        return handle

    def prepare(self, workspace: Path) -> None:
        """Nothing to share: tasks are processes on this machine."""

    def release(self, workspace: Path) -> None:
        """Nothing to remove."""

    def address(self, handle: TaskHandle) -> str:
        """Tasks run on this machine: the loopback address."""
        return "127.0.0.1"

    def exec(self, handle: TaskHandle, command: list[str], timeout: float) -> int | None:
        """Run ``command`` with the task's environment, in its working directory (this
        runner's own tasks only); its process group is killed after ``timeout``."""
        with self._lock:
            spec = self._specs.get(handle.task_id)
        if spec is None:
            raise InfrastructureError(f"local task {handle.task_id} was not started here")
        try:
            proc = subprocess.Popen(
                command,
                cwd=spec.working_dir,
                env=dict(spec.env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            return 127  # as a shell says of a command it cannot run
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return None

    def attach(self, data: Mapping[str, Any]) -> TaskHandle:
        """Re-attach to a task started by another process (pid, log, exit file)."""
        inner = dict(data.get("data", {}))
        if not {"pid", "log", "exit"} <= inner.keys():
            raise InfrastructureError(f"not a local task handle: {dict(data)!r}")
        return TaskHandle(self.name, str(data["task_id"]), inner)

    def logs(self, handle: TaskHandle) -> Iterator[str]:
        """Tail the log file until the task has ended and the file is drained."""
        return tail_lines(Path(handle.data["log"]), lambda: self._ended(handle))

    def wait(self, handle: TaskHandle) -> TaskResult:
        """Wait for the task, killing its process group at the deadline."""
        with self._lock:
            known = self._results.get(handle.task_id)
        if known is not None:
            return known
        deadline: float | None = handle.data.get("deadline")
        proc = self._procs.get(handle.task_id)
        timed_out = False
        while True:
            if proc is not None:
                remaining = None if deadline is None else max(0.0, deadline - time.time())
                try:
                    proc.wait(timeout=remaining)
                    break
                except subprocess.TimeoutExpired:
                    pass
            elif not _alive(int(handle.data["pid"])):
                break
            if deadline is not None and time.time() >= deadline:
                timed_out = True
                self._kill_group(handle, proc)
                break
            if proc is None:
                time.sleep(_POLL_SECONDS * 5)
        result = TaskResult(
            exit_code=None if timed_out else self._exit_code(handle, proc),
            timed_out=timed_out,
            cancelled=handle.task_id in self._cancelled,
        )
        with self._lock:
            self._results[handle.task_id] = result
            self._procs.pop(handle.task_id, None)
            self._specs.pop(handle.task_id, None)
        return result

    def cancel(self, handle: TaskHandle) -> None:
        """Kill the task's process group."""
        with self._lock:
            self._cancelled.add(handle.task_id)
            proc = self._procs.get(handle.task_id)
        self._kill_group(handle, proc)

    def _ended(self, handle: TaskHandle) -> bool:
        with self._lock:
            if handle.task_id in self._results:
                return True
            proc = self._procs.get(handle.task_id)
        if proc is not None:
            return proc.poll() is not None
        return not _alive(int(handle.data["pid"]))

    def _exit_code(self, handle: TaskHandle, proc: subprocess.Popen[bytes] | None) -> int | None:
        exit_path = Path(handle.data["exit"])
        with contextlib.suppress(OSError, ValueError):
            return int(exit_path.read_text().strip())
        if proc is not None and proc.returncode is not None:
            code = proc.returncode
            return 128 - code if code < 0 else code
        return None

    def _kill_group(self, handle: TaskHandle, proc: subprocess.Popen[bytes] | None) -> None:
        pgid = int(handle.data["pid"])
        if proc is None and not _still_ours(pgid, handle.data.get("started")):
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):  # after SIGKILL too: gone when we return
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
            end = time.time() + self.grace_seconds
            while time.time() < end and group_alive(pgid):
                if proc is not None:
                    proc.poll()
                time.sleep(_POLL_SECONDS)
            if not group_alive(pgid):
                break
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=self.grace_seconds)


def stop_strays(workspace: Path, grace_seconds: float = _GRACE_SECONDS) -> int:
    """Stop every process still running for a task of ``workspace``, recorded or not (found
    by the ``ASSAY_EXIT_FILE`` its environment inherits): a task started just before its
    execution's assay process died, a daemon that left its group. SIGTERM to their process
    groups, SIGKILL after ``grace_seconds``; returns how many groups there were."""
    groups = set()
    for pid in pids_with_env(EXIT_FILE, f"{workspace}/.tasks/"):
        with contextlib.suppress(ProcessLookupError):
            groups.add(os.getpgid(pid))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
        end = time.time() + grace_seconds
        while any(group_alive(pgid) for pgid in groups) and time.time() < end:
            time.sleep(_POLL_SECONDS)
    return len(groups)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


def _still_ours(pgid: int, started: int | None) -> bool:
    """False when the group's leader pid now names another process (the group is gone:
    the kernel does not reuse a pid while a process group of that number exists)."""
    now = start_time(pgid)
    return now is None or started is None or now == started
