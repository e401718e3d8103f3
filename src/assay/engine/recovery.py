"""Crash recovery: no execution stays ``running`` after its assay process died.

Every execution records its owner (pid, process start time, host) when it is created, and
every task it starts is kept in ``execution_tasks`` until the task ends
(:class:`TrackedRunner`). When a command opens the store, :class:`Reconciler` looks at this
host's queued and running executions (one indexed query); for each whose owner is gone it
stops the task process groups still recorded (each checked to be the one started, by its
leader's start time) and, for the local runner, any process whose environment names a task
of its workspace (a task started the moment before the crash, a daemon that left its group);
then it marks the execution ``aborted`` with the reason and removes its workspace.

Executions claimed from the run queue also hold a lease that their worker renews;
:meth:`Reconciler.expired_leases` closes those whose lease ran out (any host's: the worker
may have died on another machine), stopping their tasks when they ran on this host.

A queued run whose work outlives its worker (a runner with an :data:`ObjectCleaner`: its
Job keeps running in the cluster) is not closed but resumed: a worker pool passes an
``adopt`` callback that takes its lease over (:meth:`assay.store.queue.QueueStore.adopt`)
and follows the work to its end. Without one (a command that is not a worker pool) such an
execution is left to the next pool: it is still running, in the cluster.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from assay.errors import AssayError
from assay.processes import ProcessId
from assay.runners.base import Runner, TaskHandle, TaskResult, TaskSpec
from assay.settings import Settings
from assay.status import ExecutionStatus
from assay.store.executions import ExecutionStore
from assay.store.queue import QueueStore
from assay.store.tables import ExecutionRow

__all__ = ["SOURCE_SUFFIX", "Adopter", "ObjectCleaner", "Reconciler", "TrackedRunner"]

ObjectCleaner = Callable[[Mapping[str, Any]], int]
Adopter = Callable[[ExecutionRow], bool]
"""Resumes a queued run whose worker is gone (True), or declines (False: it is closed)."""
"""Deletes what a task of a runner outside this host recorded (a cluster's objects); how many
still existed. Given by the layers that know such runners (:mod:`assay.kube.orphans`)."""

SOURCE_SUFFIX = ".source"
"""``work/<id>.source``: where a worker extracts the source archive of a queued run."""


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

    def __init__(
        self,
        store: ExecutionStore,
        settings: Settings,
        cleaners: Mapping[str, ObjectCleaner] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.cleaners = dict(cleaners or {})
        """By runner name: how to delete the objects its recorded tasks name."""

    def run_once(self, adopt: Adopter | None = None) -> list[str]:
        """Reconcile once; return the names of the executions aborted. A queued run of a
        runner whose work outlives its process is given to ``adopt`` (without one, left
        alone: see the module doc)."""
        aborted = []
        for row, owner in self.orphaned():
            if self._resumable(row) and (adopt is None or adopt(row)):
                continue
            reason = (
                f"the assay process that ran it (pid {owner.pid} on {owner.host}) ended while "
                f"it was {row.status}"
            )
            if self.abandon(row, reason):
                aborted.append(row.name)
        return aborted

    def orphaned(self) -> list[tuple[ExecutionRow, ProcessId]]:
        """This host's unfinished executions whose owning process is gone, with it."""
        me = ProcessId.current()
        found = []
        for row in self.store.unfinished_on(me.host):
            if row.owner_pid is None:
                continue
            owner = ProcessId(row.owner_pid, row.owner_started, me.host)
            if not owner.alive():
                found.append((row, owner))
        return found

    def _resumable(self, row: ExecutionRow) -> bool:
        """A queued run (it has a lease) whose work lives in a cluster."""
        return row.lease_owner is not None and row.runner in self.cleaners

    def expired_leases(self, queue: QueueStore, adopt: Adopter | None = None) -> list[str]:
        """Close the claimed executions whose worker stopped renewing its lease (dead, hung,
        cut off from the store): their tasks are stopped when they run on this host, and
        they are marked ``aborted`` naming the worker. Their work is not resumed (the state
        of a half-walked execution lived in the lost worker's memory) unless it outlives
        the worker and ``adopt`` takes it. Returns the names of those closed."""
        me = ProcessId.current()
        aborted = []
        for row in queue.expired():
            if adopt is not None and self._resumable(row) and adopt(row):
                continue
            here = row.owner_host == me.host[:253]
            expires = row.lease_expires.isoformat(timespec="seconds") if row.lease_expires else "?"
            reason = f"its worker {row.lease_owner} stopped renewing its lease (expired {expires})"
            if not here:
                reason += (
                    f"; its tasks on {row.owner_host} cannot be checked from here (that worker "
                    "stops them if it comes back)"
                )
            if self.abandon(row, reason, stop_tasks=here):
                aborted.append(row.name)
                aborted += self._abandon_children(row, reason, here)
        return aborted

    def _abandon_children(self, parent: ExecutionRow, reason: str, here: bool) -> list[str]:
        """The unfinished child executions of ``parent`` (a suite's tests, an `execute`
        step's workflows): no lease of their own, owned by the lost worker's process."""
        aborted = []
        for child in self.store.children(parent.id):
            if ExecutionStatus(child.status).finished:
                continue
            if self.abandon(
                child, f"its parent {parent.name} was aborted: {reason}", stop_tasks=here
            ):
                aborted.append(child.name)
                aborted += self._abandon_children(child, reason, here)
        return aborted

    def abandon(self, row: ExecutionRow, reason: str, *, stop_tasks: bool = True) -> bool:
        """Stop what is left of ``row`` (its recorded tasks and, on this host, any process
        of its workspace), then mark it ``aborted`` with ``reason``; False when it had
        finished already or the store failed (best effort: the next pass retries)."""
        with contextlib.suppress(AssayError):
            return self._abandon(row, reason, stop_tasks)
        return False

    def _abandon(self, row: ExecutionRow, reason: str, stop_tasks: bool) -> bool:
        stopped = 0
        if stop_tasks:
            stopped = self._stop_tasks(row.id) + self._stop_strays(row)
        if stopped:
            reason += f"; {stopped} task process group(s) stopped"
        if row.runner in self.cleaners:  # in a cluster, reachable from any host
            reason += self._delete_objects(row.id, self.cleaners[row.runner])
        if not self.store.abandon(row.id, reason):
            return False
        log = self.settings.executions_dir / row.id / "log.txt"
        with contextlib.suppress(OSError), log.open("a", encoding="utf-8") as stream:
            stream.write(f"aborted: {reason}\n")
        for leftover in (row.id, f"{row.id}{SOURCE_SUFFIX}"):
            shutil.rmtree(self.settings.work_dir / leftover, ignore_errors=True)
        return True

    def _stop_strays(self, row: ExecutionRow) -> int:
        """Processes of the execution's workspace its recorded tasks do not cover."""
        if row.runner == "local":
            from assay.runners.local import stop_strays

            return stop_strays(self.settings.work_dir / row.id, grace_seconds=1.0)
        if row.runner == "docker":  # also a container started just before it was recorded
            from assay.runners.docker import stop_strays as stop_containers

            with contextlib.suppress(AssayError):  # no daemon: nothing of ours can be running
                return stop_containers(self.settings.work_dir / row.id, grace_seconds=1.0)
        return 0

    def _stop_tasks(self, execution_id: str) -> int:
        """Stop the tasks recorded for an execution (those not seen to end); how many."""
        from assay.runners import get_runner

        stopped = 0
        for data in self.store.tasks(execution_id):
            if data.get("runner") in self.cleaners:
                continue  # objects in a cluster: _delete_objects
            with contextlib.suppress(AssayError, KeyError, TypeError, ValueError):
                runner = get_runner(str(data["runner"]))
                runner.cancel(runner.attach(data))  # checks the group is still the one started
                stopped += 1
        return stopped

    def _delete_objects(self, execution_id: str, cleaner: ObjectCleaner) -> str:
        """Delete the objects recorded for an execution; a note for its reason."""
        notes = []
        for data in self.store.tasks(execution_id):
            if data.get("runner") not in self.cleaners:
                continue
            try:
                deleted = cleaner(data)
            except (AssayError, KeyError, TypeError, ValueError) as exc:
                notes.append(f"could not delete its {data.get('runner')} objects: {exc}")
                continue
            notes.append(f"{deleted} {data.get('runner')} object(s) deleted")
            with contextlib.suppress(AssayError):
                self.store.remove_task(execution_id, str(data["task_id"]))
        return "".join(f"; {note}" for note in notes)
