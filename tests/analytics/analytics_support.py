"""Helpers for analytics tests: a synthetic history writer and the real `assay` CLI."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update

from assay.model import CaseStatus, TestCaseResult, test_identity
from assay.status import ExecutionStatus
from assay.store import Database, ExecutionStore
from assay.store.tables import ExecutionRow
from support import ASSAY, Cli  # noqa: F401 (re-exported for tests)

Statuses = str | Sequence[str]


class History:
    """Writes executions with chosen test outcomes through the real ExecutionStore."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.store = ExecutionStore(db)

    def run(
        self,
        workflow: str,
        results: dict[str, Statuses],
        *,
        sha: str | None = None,
        branch: str | None = None,
        at: datetime | None = None,
        durations: dict[str, int] | None = None,
        requirements: dict[str, list[str]] | None = None,
        duration_ms: int | None = None,
        files: dict[str, str] | None = None,
        status: ExecutionStatus | None = None,
    ) -> ExecutionRow:
        """One finished execution; ``results`` maps a test name to its status, or to the
        statuses of its attempts; ``status``: the execution's (else from the results)."""
        tags = {key: value for key, value in (("sha", sha), ("branch", branch)) if value}
        row = self.store.create(workflow, runner="fake", tags=tags)
        self.store.start(row.id)
        cases = []
        for name, statuses in results.items():
            attempts = [statuses] if isinstance(statuses, str) else list(statuses)
            for attempt, case_status in enumerate(attempts, start=1):
                cases.append(
                    TestCaseResult(
                        "suite",
                        "mod",
                        name,
                        CaseStatus(case_status),
                        duration_ms=(durations or {}).get(name, 10),
                        file=(files or {}).get(name),
                        attempt=attempt,
                        properties={"requirement": requirements[name]}
                        if requirements and name in requirements
                        else {},
                    )
                )
        summary = self.store.add_test_cases(row.id, workflow, cases)
        failing = summary.failed + summary.errored
        if status is None:
            status = ExecutionStatus.FAILED if failing else ExecutionStatus.PASSED
        done = self.store.finish(row.id, status, summary=summary)
        values: dict[str, Any] = {}
        if at is not None:
            values["queued_at"] = at
        if duration_ms is not None:
            values["duration_ms"] = duration_ms
        if values:
            with self.db.engine.begin() as connection:
                connection.execute(
                    update(ExecutionRow).where(ExecutionRow.id == row.id).values(**values)
                )
        return self.store.get(done.id)


def tid(workflow: str, name: str) -> str:
    """The test id History gives ``name`` in ``workflow``."""
    return test_identity(workflow, "suite", "mod", name)
