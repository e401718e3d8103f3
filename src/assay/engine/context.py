"""State shared by the parts of one running execution."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from assay.engine.events import EventSink
from assay.engine.masking import Masker
from assay.engine.workspace import Workspace
from assay.faults import os_fault
from assay.model import TestCaseResult
from assay.runners.base import Runner, TaskHandle
from assay.store.secrets import SecretStore

__all__ = ["ExecutionContext"]


@dataclass
class ExecutionContext:
    """Everything a step needs: identity, workspace, runner, secrets, sinks."""

    execution_id: str
    execution_name: str
    number: int
    workflow: str
    config: dict[str, Any]
    workspace: Workspace
    runner: Runner
    secrets: SecretStore
    masker: Masker
    sink: EventSink
    log: TextIO
    artifacts_dir: Path
    source: Path | None = None
    deadline: float | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    cases: list[TestCaseResult] = field(default_factory=list)
    quarantined: frozenset[str] = frozenset()
    handles: dict[str, TaskHandle] = field(default_factory=dict)
    recorded_junit: set[Path] = field(default_factory=set)
    """Users' own ``--junit-xml`` files whose cases the pytest plugin already recorded."""
    ingested: set[Path] = field(default_factory=set)
    """Every JUnit file read into ``cases`` (real paths)."""
    services: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Running services: ``services.NAME.<index>.ip`` of expressions."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    faults: list[str] = field(default_factory=list)
    """Infrastructure faults met on the way (a log that could not be written): the execution
    ends in ``error`` with the first."""
    noted: set[str] = field(default_factory=set)
    """The runner's notes already shown (:meth:`note_once`)."""

    def note_once(self, ref: str, note: str) -> None:
        """Warn ``note`` of the runner about step ``ref``, unless an earlier step (or attempt)
        got it already: an image the local runner ignores is said once, not per step."""
        with self.lock:
            if note in self.noted:
                return
            self.noted.add(note)
        self.sink.warning(f"step {ref}: {note} (not repeated for later steps)")

    def expression_context(self, env: dict[str, str], **extra: Any) -> dict[str, Any]:
        """Variables visible to `{{ }}` expressions."""
        return {
            "config": self.config,
            "env": env,
            "execution": {
                "id": self.execution_id,
                "name": self.execution_name,
                "number": self.number,
            },
            "workflow": {"name": self.workflow},
            "resource": {"id": self.execution_id, "root": self.execution_id},
            "services": self.services,
            **extra,
        }

    def allowed_roots(self) -> list[Path]:
        """Where artifacts may come from: the workspace, and the ``--source`` checkout."""
        return [self.workspace.root, *([self.source] if self.source is not None else [])]

    def remaining(self) -> float | None:
        """Seconds left before the execution deadline."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def write_log(self, ref: str, line: str) -> None:
        """Mask, store and publish one output line."""
        masked = self.masker(line)
        with self.lock:
            try:
                self.log.write(masked + "\n")
            except OSError as exc:  # a full disk: keep running, end in `error`
                if not self.faults:
                    self.faults.append(os_fault(exc, path=getattr(self.log, "name", None)))
        self.sink.log(ref, masked)
