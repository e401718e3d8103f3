"""Helpers for report and shard tests: executions recorded through the real store API."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from assay.model import CaseStatus, TestCaseResult
from assay.settings import Settings
from assay.status import ExecutionStatus
from assay.store import Database, ExecutionStore
from assay.store.tables import ExecutionRow

ASSAY = str(Path(sys.executable).parent / "assay")

P, F, E, S, Q = (
    CaseStatus.PASSED,
    CaseStatus.FAILED,
    CaseStatus.ERRORED,
    CaseStatus.SKIPPED,
    CaseStatus.QUARANTINED,
)


def open_store(settings: Settings) -> ExecutionStore:
    """The execution store of a (private) ASSAY_HOME."""
    return ExecutionStore(Database(settings.database_url))


def case(
    name: str,
    status: CaseStatus = P,
    ms: int = 100,
    *,
    attempt: int = 1,
    message: str | None = None,
    classname: str = "tests.test_api",
    suite: str = "pytest",
    properties: dict[str, list[str]] | None = None,
    trace: str | None = None,
) -> TestCaseResult:
    """One attempt of one test case."""
    return TestCaseResult(
        suite,
        classname,
        name,
        status,
        ms,
        message=message,
        attempt=attempt,
        properties=properties or {},
        trace=trace,
    )


def record(
    store: ExecutionStore,
    workflow: str,
    cases: Sequence[TestCaseResult],
    *,
    branch: str | None = None,
    tags: dict[str, str] | None = None,
    status: ExecutionStatus | None = None,
    parent_id: str | None = None,
    finish: bool = True,
) -> ExecutionRow:
    """Create, start, store the cases of and (unless ``finish`` is False) finish an execution."""
    all_tags = dict(tags or {})
    if branch is not None:
        all_tags["branch"] = branch
    row = store.create(workflow, runner="local", tags=all_tags, parent_id=parent_id)
    store.start(row.id)
    summary = store.add_test_cases(row.id, workflow, cases)
    if not finish:
        return store.get(row.id)
    if status is None:
        status = (
            ExecutionStatus.FAILED if summary.failed + summary.errored else ExecutionStatus.PASSED
        )
    return store.finish(row.id, status, summary=summary)


def run_assay(settings: Settings, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real `assay` console script with a private ASSAY_HOME."""
    env = {**os.environ, "ASSAY_HOME": str(settings.home)}
    env.pop("ASSAY_DATABASE_URL", None)
    return subprocess.run(
        [ASSAY, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
