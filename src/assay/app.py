"""The application: one facade the CLI (and the API) call for every use case."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from assay.errors import DefinitionError, ResultsError
from assay.settings import Settings
from assay.status import ExecutionStatus

if TYPE_CHECKING:  # the store (SQLAlchemy) is imported on first use, not at CLI start-up
    from datetime import datetime

    from assay.ops.webhooks import Sender
    from assay.store import Database, DefinitionStore, ExecutionStore, SecretStore
    from assay.store.outbox import Outbox
    from assay.store.tables import ExecutionRow, StepRow
    from assay.store.test_cases import StoredCase

__all__ = ["Assay", "execution_json", "testcase_json"]


class Assay:
    """Use cases over one store: apply, run, import, query."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()

    @cached_property
    def db(self) -> Database:
        """The SQL store, opened (and migrated) on first use; ``ASSAY_HOME`` made private;
        this host's executions whose assay process died are closed then
        (:mod:`assay.engine.recovery`)."""
        from assay.engine.recovery import Reconciler
        from assay.store import Database, ExecutionStore

        self.settings.make_private()
        db = Database(self.settings.database_url)
        Reconciler(ExecutionStore(db), self.settings).run_once()
        return db

    @cached_property
    def executions(self) -> ExecutionStore:
        """Execution records."""
        from assay.store import ExecutionStore

        return ExecutionStore(self.db)

    @cached_property
    def definitions(self) -> DefinitionStore:
        """Applied definitions."""
        from assay.store import DefinitionStore

        return DefinitionStore(self.db)

    @cached_property
    def secrets(self) -> SecretStore:
        """The local secret store (``ASSAY_HOME`` made private first)."""
        from assay.store import SecretStore

        self.settings.make_private()
        return SecretStore(self.settings.secrets_dir)

    @cached_property
    def outbox(self) -> Outbox:
        """Webhook and Slack deliveries (:mod:`assay.store.outbox`)."""
        from assay.store.outbox import Outbox

        return Outbox(self.db)

    def webhook_sender(self, **options: Any) -> Sender:
        """A sender of the outbox, signing with the local secret store
        (:class:`assay.ops.webhooks.Sender` ``options``)."""
        from assay.ops.webhooks import Sender

        return Sender(self.db, secret=self.secrets.get, **options)

    def schedules_json(self, now: datetime, *, count: int = 1) -> list[dict[str, Any]]:
        """The cron schedules of applied workflows: next ``count`` fire times, last tick."""
        from sqlalchemy import select

        from assay.ops.scheduler import schedules_of
        from assay.spec.cron import check_timezone
        from assay.store.schedules import TickStore
        from assay.store.tables import WorkflowRow

        try:
            check_timezone(self.settings.timezone)
        except ValueError as exc:
            raise DefinitionError(f"ASSAY_TIMEZONE: {exc}") from None
        with self.db.session() as session:
            rows = session.scalars(
                select(WorkflowRow)
                .where(WorkflowRow.kind == "TestWorkflow")
                .order_by(WorkflowRow.name)
            ).all()
        ticks = TickStore(self.db)
        result = []
        for schedule in schedules_of(rows, self.settings.timezone):
            last = next(iter(ticks.recent(workflow=schedule.workflow, limit=1)), None)
            result.append(
                {
                    "workflow": schedule.workflow,
                    "event": schedule.index,
                    "cron": schedule.cron,
                    "timezone": schedule.timezone,
                    "next": [t.isoformat() for t in schedule.next_fire(now, count)],
                    "config": schedule.config,
                    "tags": schedule.tags,
                    "lastTick": None
                    if last is None
                    else {
                        "scheduledAt": _iso(last.scheduled_at),
                        "state": last.state,
                        "executionId": last.execution_id,
                        "missed": last.missed,
                        "error": last.error,
                    },
                }
            )
        return result

    def apply(self, paths: Sequence[Path]) -> list[tuple[str, str]]:
        """Validate every definition under ``paths``, then store them all (or none)."""
        from assay.spec.loader import load_paths

        loaded = load_paths(paths)
        self.definitions.save((item.kind, item.name, item.raw, str(item.source)) for item in loaded)
        return [(item.kind, item.name) for item in loaded]

    def import_junit(
        self, files: Sequence[Path], workflow: str, tags: dict[str, str]
    ) -> ExecutionRow:
        """Record an execution from JUnit files produced elsewhere (all files checked first)."""
        from assay.results.junit import parse_junit

        if not files:
            raise DefinitionError("give at least one JUnit file")
        check_workflow_name(workflow)
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

    def recent_executions_json(
        self, *, workflow: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        """The newest executions with their steps, as JSON, in one SQL query."""
        from sqlalchemy import select

        from assay.store.tables import ExecutionRow, StepRow

        newest = select(ExecutionRow.id).order_by(ExecutionRow.queued_at.desc()).limit(limit)
        if workflow:
            newest = newest.where(ExecutionRow.workflow == workflow)
        ids = newest.subquery()
        query = (
            select(ExecutionRow, StepRow)
            .join(ids, ids.c.id == ExecutionRow.id)
            .outerjoin(StepRow, StepRow.execution_id == ExecutionRow.id)
            .order_by(ExecutionRow.queued_at.desc(), ExecutionRow.id, StepRow.position)
        )
        grouped: dict[str, tuple[ExecutionRow, list[StepRow]]] = {}
        with self.db.session() as session:
            for execution, step in session.execute(query):
                steps = grouped.setdefault(execution.id, (execution, []))[1]
                if step is not None:
                    steps.append(step)
        return [execution_json(row, steps) for row, steps in grouped.values()]

    def follow_log(self, row: ExecutionRow, out: BinaryIO, poll_seconds: float = 0.2) -> None:
        """Copy the log of an execution to ``out`` as it grows, until the execution ends."""
        import time

        path = self.log_path(row)
        offset = 0
        while True:
            finished = ExecutionStatus(self.executions.get(row.id).status).finished
            if path.exists():
                with path.open("rb") as log:
                    log.seek(offset)
                    chunk = log.read()
                if chunk:
                    out.write(chunk)
                    out.flush()
                    offset += len(chunk)
            if finished:
                return
            time.sleep(poll_seconds)

    def artifacts(self, row: ExecutionRow) -> list[Path]:
        """Stored artifact files of an execution."""
        base = self.settings.executions_dir / row.id / "artifacts"
        return sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else []

    def log_path(self, row: ExecutionRow) -> Path:
        """Where the masked log of an execution is kept."""
        return self.settings.executions_dir / row.id / "log.txt"

    def ended_log_path(self, ref: str) -> Path | None:
        """The log of the execution whose full id is ``ref``, found without opening the store
        (SQLAlchemy is most of a short command's time), when it is certain to have ended:
        its log exists and its workspace is gone (removed when it finished, or by
        :mod:`assay.engine.recovery`). None when that is not known: a name, a prefix, an
        execution that runs, crashed (the store must reconcile it first) or kept its
        workspace."""
        if len(ref) != 32 or ref.strip("0123456789abcdef"):
            return None
        path = self.settings.executions_dir / ref / "log.txt"
        if not path.is_file() or (self.settings.work_dir / ref).exists():
            return None
        return path


def check_workflow_name(name: str) -> None:
    """Refuse a workflow name that ``validate`` would refuse as ``metadata.name``."""
    from pydantic import ValidationError

    from assay.spec.workflow import Metadata

    try:
        Metadata.model_validate({"name": name})
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        raise DefinitionError(
            f"--workflow {name!r}: not a valid workflow name ({reason}); as `metadata.name`: "
            "lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
        ) from None


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def execution_json(row: ExecutionRow, steps: Iterable[StepRow] = ()) -> dict[str, Any]:
    """An execution as a JSON-ready dict (camelCase keys)."""
    from assay.model import Summary

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
