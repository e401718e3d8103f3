"""Crash recovery: no execution stays ``running`` after its assay process died.

Every execution records its owner (pid, process start time, host) when it is created, and
every task it starts is kept in ``execution_tasks`` until the task ends
(:class:`TrackedRunner`). When a command opens the store, :class:`Reconciler` looks at this
host's queued and running executions (one indexed query); for each whose owner is gone it
stops the task process groups still recorded (each checked to be the one started, by its
leader's start time) and, for the local runner, any process whose environment names a task
of its workspace (a task started the moment before the crash, a daemon that left its group);
then it marks the execution ``aborted`` with the reason and removes its workspace.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from assay.errors import AssayError
from assay.processes import ProcessId
from assay.runners.base import Runner, TaskHandle, TaskResult, TaskSpec
from assay.settings import Settings
from assay.store.executions import ExecutionStore
from assay.store.tables import ExecutionRow

__all__ = ["Reconciler", "TrackedRunner"]


class TrackedRunner:
    """A runner whose tasks are recorded in the store from start until they end."""

    def __init__(self, runner: Runner, store: ExecutionStore, execution_id: str) -> None:
        self.inner = runner
        self.name = runner.name
        self.store = store
        self.execution_id = execution_id

    def unsupported(self, spec: TaskSpec) -> list[str]:
        """As the wrapped runner."""
        return self.inner.unsupported(spec)

    def start(self, spec: TaskSpec) -> TaskHandle:
        """Start the task and record it; a task that cannot be recorded is stopped."""
        handle = self.inner.start(spec)
        try:
            self.store.add_task(self.execution_id, handle.to_dict())
        except AssayError:
            self.inner.cancel(handle)
            raise
        return handle

    def logs(self, handle: TaskHandle) -> Iterator[str]:
        """As the wrapped runner."""
        return self.inner.logs(handle)

    def wait(self, handle: TaskHandle) -> TaskResult:
        """Wait, then forget the task (``finish`` forgets any left if this fails)."""
        result = self.inner.wait(handle)
        with contextlib.suppress(AssayError):
            self.store.remove_task(self.execution_id, handle.task_id)
        return result

    def cancel(self, handle: TaskHandle) -> None:
        """As the wrapped runner."""
        self.inner.cancel(handle)

    def attach(self, data: Mapping[str, Any]) -> TaskHandle:
        """As the wrapped runner."""
        return self.inner.attach(data)

    def prepare(self, workspace: Path) -> None:
        """As the wrapped runner."""
        self.inner.prepare(workspace)

    def release(self, workspace: Path) -> None:
        """As the wrapped runner."""
        self.inner.release(workspace)

    def address(self, handle: TaskHandle) -> str:
        """As the wrapped runner."""
        return self.inner.address(handle)

    def exec(self, handle: TaskHandle, command: list[str], timeout: float) -> int | None:
        """As the wrapped runner."""
        return self.inner.exec(handle, command, timeout)


class Reconciler:
    """Closes this host's executions whose assay process is gone (see the module doc)."""

    def __init__(self, store: ExecutionStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def run_once(self) -> list[str]:
        """Reconcile once; return the names of the executions aborted."""
        me = ProcessId.current()
        aborted = []
        for row in self.store.unfinished_on(me.host):
            if row.owner_pid is None:
                continue
            owner = ProcessId(row.owner_pid, row.owner_started, me.host)
            if owner.alive():
                continue
            with contextlib.suppress(AssayError):  # best effort: the next command retries
                if self._abandon(row, owner):
                    aborted.append(row.name)
        return aborted

    def _abandon(self, row: ExecutionRow, owner: ProcessId) -> bool:
        stopped = self._stop_tasks(row.id)
        if row.runner == "local":
            from assay.runners.local import stop_strays

            stopped += stop_strays(self.settings.work_dir / row.id, grace_seconds=1.0)
        elif row.runner == "docker":  # also a container started just before it was recorded
            from assay.runners.docker import stop_strays as stop_containers

            with contextlib.suppress(AssayError):  # no daemon: nothing of ours can be running
                stopped += stop_containers(self.settings.work_dir / row.id, grace_seconds=1.0)
        reason = (
            f"the assay process that ran it (pid {owner.pid} on {owner.host}) ended while it "
            f"was {row.status}" + (f"; {stopped} task process group(s) stopped" if stopped else "")
        )
        if not self.store.abandon(row.id, reason):
            return False
        log = self.settings.executions_dir / row.id / "log.txt"
        with contextlib.suppress(OSError), log.open("a", encoding="utf-8") as stream:
            stream.write(f"aborted: {reason}\n")
        shutil.rmtree(self.settings.work_dir / row.id, ignore_errors=True)
        return True

    def _stop_tasks(self, execution_id: str) -> int:
        """Stop the tasks recorded for an execution (those not seen to end); how many."""
        from assay.runners import get_runner

        stopped = 0
        for data in self.store.tasks(execution_id):
            with contextlib.suppress(AssayError, KeyError, TypeError, ValueError):
                runner = get_runner(str(data["runner"]))
                runner.cancel(runner.attach(data))  # checks the group is still the one started
                stopped += 1
        return stopped
