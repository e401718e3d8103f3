"""Local runner: each task is a process group on this machine.

Output (stdout and stderr merged) goes to a log file next to the task, so a
restarted engine can re-attach and keep reading; an exit-status file written by
a tiny shell wrapper tells how a task ended even when its parent is gone. A
timeout or a cancel kills the whole process group (SIGTERM, then SIGKILL).
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
from assay.runners.base import TaskHandle, TaskResult, TaskSpec
from assay.runners.tail import tail_lines

__all__ = ["LocalRunner"]

_WRAPPER = f'"$@"; echo $? > "${EXIT_FILE}"'
_GRACE_SECONDS = 3.0
_POLL_SECONDS = 0.02


class LocalRunner:
    """Runs tasks as local processes, each in its own process group."""

    name = "local"

    def __init__(self, grace_seconds: float = _GRACE_SECONDS) -> None:
        self.grace_seconds = grace_seconds
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
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
                "log": str(log_path),
                "exit": str(exit_path),
                "deadline": deadline,
            },
        )
        with self._lock:
            self._procs[task_id] = proc
        return handle

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
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
            if sig is signal.SIGKILL:
                break
            end = time.time() + self.grace_seconds
            while time.time() < end and _group_alive(pgid):
                if proc is not None:
                    proc.poll()
                time.sleep(_POLL_SECONDS)
            if not _group_alive(pgid):
                break
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=self.grace_seconds)


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


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
