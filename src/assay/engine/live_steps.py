"""Steps recorded in the store as they start and end, so that a running execution's page
(and its event stream) shows them before the execution finishes."""

from __future__ import annotations

import contextlib
import threading

from sqlalchemy.exc import SQLAlchemyError

from assay.engine.events import EventSink
from assay.errors import AssayError
from assay.status import ExecutionStatus, StepStatus
from assay.store.executions import ExecutionStore, StepOutcome, now

__all__ = ["LiveSteps"]


class LiveSteps:
    """An :class:`EventSink` passing every event on to ``inner`` and recording each step's
    start (``running``) and end (status, duration) for ``execution_id``. Recording is best
    effort: a store that cannot be written now loses a live update, never the run (the
    final steps are written by ``finish``)."""

    def __init__(self, inner: EventSink, executions: ExecutionStore, execution_id: str) -> None:
        self.inner = inner
        self.executions = executions
        self.execution_id = execution_id
        self._steps: dict[str, StepOutcome] = {}
        self._lock = threading.Lock()

    def execution_started(self, execution_id: str, name: str) -> None:
        self.inner.execution_started(execution_id, name)

    def step_started(self, ref: str, name: str) -> None:
        self.inner.step_started(ref, name)
        step = StepOutcome(ref=ref, name=name, status=StepStatus.RUNNING, started_at=now())
        self._record(step)

    def log(self, ref: str, line: str) -> None:
        self.inner.log(ref, line)

    def warning(self, message: str) -> None:
        self.inner.warning(message)

    def step_finished(self, ref: str, name: str, status: StepStatus, seconds: float) -> None:
        self.inner.step_finished(ref, name, status, seconds)
        with self._lock:
            started = self._steps.get(ref)
        step = StepOutcome(
            ref=ref,
            name=name,
            status=status,
            started_at=started.started_at if started else now(),
            duration_ms=int(seconds * 1000),
        )
        self._record(step)

    def execution_finished(self, execution_id: str, status: ExecutionStatus) -> None:
        self.inner.execution_finished(execution_id, status)

    def _record(self, step: StepOutcome) -> None:
        with self._lock:  # one write at a time, each the whole list as it stands
            self._steps[step.ref] = step
            with contextlib.suppress(AssayError, SQLAlchemyError, OSError):
                self.executions.record_steps(self.execution_id, list(self._steps.values()))
