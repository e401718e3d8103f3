"""Helpers of the run-queue tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from assay.store import Database, ExecutionStore
from assay.store.queue import QueueStore
from assay.store.tables import ExecutionRow

Apply = Callable[[str], list[tuple[str, str]]]
"""Apply YAML text as a definition file."""

REQUEST: dict[str, Any] = {"version": 1, "workflow": {}, "config": {}}
"""A request's JSON as the claim sees it (never run by these tests)."""


def enqueue(
    db: Database, workflow: str = "wf", group: str | None = None, limit: int | None = None
) -> ExecutionRow:
    """A queued run request recorded straight in the store."""
    return QueueStore(db).enqueue(
        workflow,
        runner="local",
        tags={},
        config={},
        request=REQUEST,
        group=group,
        max_running=limit,
    )


def wait_until(
    predicate: Callable[[], bool], timeout: float = 60.0, message: str = "condition"
) -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{message}: not reached in {timeout}s"
        time.sleep(0.05)


def status(db: Database, row: ExecutionRow) -> str:
    """The stored status of ``row``."""
    return ExecutionStore(db).get(row.id).status
