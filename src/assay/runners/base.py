"""The Runner contract: start a task, stream its logs, wait, cancel, re-attach.

A runner knows nothing about YAML. The engine turns each step into a
:class:`TaskSpec` and drives a runner through this small protocol::

    handle = runner.start(spec)            # returns at once
    for line in runner.logs(handle): ...   # until the task ends
    result = runner.wait(handle)           # exit code, timeout flag
    runner.cancel(handle)                  # from another thread (Ctrl-C)
    runner.attach(handle.to_dict())        # after a restart

Services (long-running tasks other tasks talk to) also use::

    runner.prepare(workspace)              # once per execution: e.g. its network
    runner.address(handle)                 # where other tasks reach the task
    runner.exec(handle, argv, timeout)     # a command beside it (exec readiness probes)
    runner.release(workspace)              # at the end, whatever way it ended

Every runner passes the shared contract tests in ``tests/runners``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["Runner", "TaskHandle", "TaskResult", "TaskSpec"]


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One process to run: what, where, with which environment and limits.

    ``env`` is the whole process environment (this machine's, with the workspace's
    virtualenv first on ``PATH``); ``declared_env`` only what the workflow and the engine
    set, for runners that isolate the task from this machine (docker). An empty
    ``command`` means the image's own entrypoint. Paths (``working_dir``, and inside
    ``command`` and the environment) are this machine's: under ``workspace / "data"``
    for the workflow's ``/data``.
    """

    name: str
    command: list[str]
    working_dir: Path
    workspace: Path
    env: Mapping[str, str] = field(default_factory=dict)
    timeout: float | None = None
    image: str | None = None
    resources: Mapping[str, Any] | None = None
    declared_env: Mapping[str, str] = field(default_factory=dict)
    image_pull_policy: str | None = None
    security_context: Mapping[str, Any] | None = None
    aliases: tuple[str, ...] = ()
    """Names other tasks of the execution reach this one by (docker: network aliases)."""
    data_dir: Path | None = None
    """What the task sees as ``/data``, when not ``workspace / "data"`` (a parallel worker's
    own copy)."""

    @property
    def data(self) -> Path:
        """The directory that is the task's ``/data``."""
        return self.data_dir or self.workspace / "data"


@dataclass(slots=True)
class TaskHandle:
    """A started task; ``data`` is what the runner needs to find it again."""

    runner: str
    task_id: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Serialisable form, persisted so that a restarted engine can re-attach."""
        return {"runner": self.runner, "task_id": self.task_id, "data": dict(self.data)}


@dataclass(frozen=True, slots=True)
class TaskResult:
    """How a task ended."""

    exit_code: int | None
    timed_out: bool = False
    cancelled: bool = False

    @property
    def succeeded(self) -> bool:
        """Exit code 0, no timeout, not cancelled."""
        return self.exit_code == 0 and not self.timed_out and not self.cancelled


@runtime_checkable
class Runner(Protocol):
    """Runs tasks somewhere: local processes, containers, Kubernetes Jobs."""

    name: str

    def unsupported(self, spec: TaskSpec) -> list[str]:
        """Settings of ``spec`` this runner ignores, as warnings for the user."""
        ...

    def start(self, spec: TaskSpec) -> TaskHandle:
        """Start the task and return at once."""
        ...

    def logs(self, handle: TaskHandle) -> Iterator[str]:
        """Yield output lines (without newline) as they come, until the task ends."""
        ...

    def wait(self, handle: TaskHandle) -> TaskResult:
        """Block until the task ends (applying its timeout); idempotent."""
        ...

    def cancel(self, handle: TaskHandle) -> None:
        """Stop the task and everything it started; safe to call twice."""
        ...

    def attach(self, data: Mapping[str, Any]) -> TaskHandle:
        """Find a task again from :meth:`TaskHandle.to_dict` output."""
        ...

    def prepare(self, workspace: Path) -> None:
        """Set up what the tasks of one execution share (docker: its network)."""
        ...

    def release(self, workspace: Path) -> None:
        """Remove what :meth:`prepare` set up; safe to call twice or without it."""
        ...

    def address(self, handle: TaskHandle) -> str:
        """The IP address at which the other tasks of the execution reach this task."""
        ...

    def exec(self, handle: TaskHandle, command: list[str], timeout: float) -> int | None:
        """Run ``command`` beside the running task (in its container, or with its
        environment and directory); its exit code, None when it outlived ``timeout``."""
        ...
