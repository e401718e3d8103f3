"""Fake runner for tests: scripted outcomes, no processes.

A script maps a task to a :class:`FakeOutcome` (lines to print, exit code,
duration). A duration beyond the task's timeout ends as a timeout at once,
without sleeping; otherwise ``wait`` lasts the duration unless cancelled.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import InfrastructureError
from assay.runners.base import TaskHandle, TaskResult, TaskSpec

__all__ = ["FakeOutcome", "FakeRunner"]


@dataclass(frozen=True, slots=True)
class FakeOutcome:
    """What a fake task prints and how it ends."""

    lines: tuple[str, ...] = ()
    exit_code: int = 0
    seconds: float = 0.0
    files: Mapping[str, str] = field(default_factory=dict)


def _echo(spec: TaskSpec) -> FakeOutcome:
    return FakeOutcome(lines=(" ".join(spec.command),))


class FakeRunner:
    """Records every task and answers with scripted outcomes."""

    name = "fake"

    def __init__(self, script: Callable[[TaskSpec], FakeOutcome] = _echo) -> None:
        self.script = script
        self.started: list[TaskSpec] = []
        self._tasks: dict[str, tuple[TaskSpec, FakeOutcome]] = {}
        self._cancelled: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def unsupported(self, spec: TaskSpec) -> list[str]:
        """The fake runner honours everything."""
        return []

    def start(self, spec: TaskSpec) -> TaskHandle:
        """Record the task and write the files its outcome names."""
        outcome = self.script(spec)
        for rel, content in outcome.files.items():
            path = spec.working_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        task_id = uuid.uuid4().hex[:12]
        with self._lock:
            self.started.append(spec)
            self._tasks[task_id] = (spec, outcome)
            self._cancelled[task_id] = threading.Event()
        return TaskHandle(self.name, task_id, {"timeout": spec.timeout})

    def logs(self, handle: TaskHandle) -> Iterator[str]:
        """The scripted lines."""
        yield from self._task(handle)[1].lines

    def wait(self, handle: TaskHandle) -> TaskResult:
        """The scripted exit, or a timeout if the simulated duration exceeds it."""
        spec, outcome = self._task(handle)
        cancelled = self._cancelled[handle.task_id]
        if spec.timeout is not None and outcome.seconds > spec.timeout:
            return TaskResult(exit_code=None, timed_out=True)
        if cancelled.wait(outcome.seconds) or cancelled.is_set():
            return TaskResult(exit_code=None, cancelled=True)
        return TaskResult(exit_code=outcome.exit_code)

    def cancel(self, handle: TaskHandle) -> None:
        """Mark the task cancelled."""
        self._cancelled[handle.task_id].set()

    def attach(self, data: Mapping[str, Any]) -> TaskHandle:
        """Find a task recorded by this instance."""
        task_id = str(data.get("task_id"))
        if task_id not in self._tasks:
            raise InfrastructureError(f"fake runner knows no task {task_id!r}")
        return TaskHandle(self.name, task_id, dict(data.get("data", {})))

    def prepare(self, workspace: Path) -> None:
        """Nothing to share."""

    def release(self, workspace: Path) -> None:
        """Nothing to remove."""

    def address(self, handle: TaskHandle) -> str:
        """The loopback address, as for local processes."""
        return "127.0.0.1"

    def exec(self, handle: TaskHandle, command: list[str], timeout: float) -> int | None:
        """Commands beside a fake task succeed."""
        return 0

    def _task(self, handle: TaskHandle) -> tuple[TaskSpec, FakeOutcome]:
        with self._lock:
            return self._tasks[handle.task_id]
