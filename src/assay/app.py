"""The application: one facade the CLI (and the API) call for every use case."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import DefinitionError, ResultsError
from assay.results.model import Summary
from assay.settings import Settings
from assay.status import ExecutionStatus
from assay.store import Database, DefinitionStore, ExecutionStore, SecretStore
from assay.store.tables import ExecutionRow, StepRow

if TYPE_CHECKING:
    from assay.store.test_cases import StoredCase

__all__ = ["Assay", "execution_json", "testcase_json"]


class Assay:
    """Use cases over one store: apply, run, import, query."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()

    @cached_property
    def db(self) -> Database:
        """The SQL store, opened (and migrated) on first use; this host's executions whose
        assay process died are closed then (:mod:`assay.engine.recovery`)."""
        from assay.engine.recovery import Reconciler

        db = Database(self.settings.database_url)
        Reconciler(ExecutionStore(db), self.settings).run_once()
        return db

    @cached_property
    def executions(self) -> ExecutionStore:
        """Execution records."""
        return ExecutionStore(self.db)

    @cached_property
    def definitions(self) -> DefinitionStore:
        """Applied definitions."""
        return DefinitionStore(self.db)

    @cached_property
    def secrets(self) -> SecretStore:
        """The local secret store."""
        return SecretStore(self.settings.secrets_dir)

    def apply(self, path: Path) -> list[tuple[str, str]]:
        """Validate every definition under ``path``, then store them all (or none)."""
        from assay.spec.loader import load_definitions

        loaded = load_definitions(path)
        self.definitions.save((item.kind, item.name, item.raw, str(item.source)) for item in loaded)
        return [(item.kind, item.name) for item in loaded]

    def import_junit(
        self, files: Sequence[Path], workflow: str, tags: dict[str, str]
    ) -> ExecutionRow:
        """Record an execution from JUnit files produced elsewhere (all files checked first)."""
        from assay.results.junit import parse_junit

        if not files:
            raise DefinitionError("give at least one JUnit file")
        cases = []
        for file in files:
            try:
                cases.extend(parse_junit(file))
            except OSError as exc:
                raise ResultsError(f"{file}: {exc.strerror or exc}") from exc
        from assay.store.quarantine import QuarantineStore

        quarantined = QuarantineStore(self.db).active()
        for case in cases:
            case.apply_quarantine(workflow, quarantined)
        row = self.executions.create(
            workflow, runner="import", tags=tags, status=ExecutionStatus.RUNNING
        )
        self.executions.start(row.id)
        summary = self.executions.add_test_cases(row.id, workflow, cases)
        failing = summary.failed + summary.errored
        status = ExecutionStatus.FAILED if failing else ExecutionStatus.PASSED
        return self.executions.finish(row.id, status, summary=summary)

    def execution_json(self, row: ExecutionRow) -> dict[str, Any]:
        """The JSON shape of an execution, with its steps."""
        return execution_json(row, self.executions.steps(row.id))

    def artifacts(self, row: ExecutionRow) -> list[Path]:
        """Stored artifact files of an execution."""
        base = self.settings.executions_dir / row.id / "artifacts"
        return sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else []

    def log_path(self, row: ExecutionRow) -> Path:
        """Where the masked log of an execution is kept."""
        return self.settings.executions_dir / row.id / "log.txt"


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def execution_json(row: ExecutionRow, steps: Iterable[StepRow] = ()) -> dict[str, Any]:
    """An execution as a JSON-ready dict (camelCase keys)."""
    summary = Summary().as_dict()
    summary.update(row.summary or {})
    return {
        "id": row.id,
        "name": row.name,
        "number": row.number,
        "workflow": row.workflow,
        "status": row.status,
        "runner": row.runner,
        "tags": row.tags or {},
        "config": row.config or {},
        "queuedAt": _iso(row.queued_at),
        "startedAt": _iso(row.started_at),
        "finishedAt": _iso(row.finished_at),
        "durationMs": row.duration_ms,
        "parentId": row.parent_id,
        "error": row.error,
        "steps": [
            {
                "ref": step.ref,
                "name": step.name,
                "status": step.status,
                "exitCode": step.exit_code,
                "attempts": step.attempts,
                "durationMs": step.duration_ms,
                **({"message": step.message} if step.message else {}),
            }
            for step in steps
        ],
        "summary": summary,
    }


def testcase_json(row: StoredCase) -> dict[str, Any]:
    """A stored test-case attempt as a JSON-ready dict."""
    return {
        "testId": row.test_id,
        "suite": row.suite,
        "classname": row.classname,
        "name": row.name,
        "file": row.file,
        "line": row.line,
        "status": row.status,
        "durationMs": row.duration_ms,
        "message": row.message,
        "attempt": row.attempt,
        "properties": row.properties or {},
        "trace": row.trace,
    }
