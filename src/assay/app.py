"""The application: one facade the CLI (and the API) call for every use case."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from assay.errors import DefinitionError, ResultsError
from assay.moments import as_utc
from assay.settings import Settings
from assay.status import ExecutionStatus

if TYPE_CHECKING:  # the store (SQLAlchemy) is imported on first use, not at CLI start-up
    from assay.analytics.flaky import Thresholds
    from assay.engine.recovery import ObjectCleaner
    from assay.ops.retention import PruneResult
    from assay.ops.webhooks import Sender
    from assay.reports.model import Report
    from assay.store import Database, DefinitionStore, ExecutionStore, SecretStore
    from assay.store.executions import ExecutionQuery, Listed, ListedStep
    from assay.store.listing import Cursor, ExecutionFilter, ExecutionPage
    from assay.store.outbox import Outbox
    from assay.store.quarantine import QuarantineStore
    from assay.store.queue import QueueStore
    from assay.store.sealing import Sealer
    from assay.store.tables import ExecutionRow, StepRow
    from assay.store.test_cases import StoredCase
    from assay.store.tokens import TokenStore

__all__ = ["REPORT_HISTORY", "Assay", "execution_json", "parse_until", "testcase_json"]


class Assay:
    """Use cases over one store: apply, run, import, query."""

    def __init__(
        self,
        settings: Settings | None = None,
        cleaners: Mapping[str, ObjectCleaner] | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.cleaners = cleaners
        """For runners whose objects outlive a killed process (:mod:`assay.kube.orphans`)."""

    @cached_property
    def db(self) -> Database:
        """The SQL store, opened (and migrated) on first use; ``ASSAY_HOME`` made private;
        this host's executions whose assay process died are closed then
        (:mod:`assay.engine.recovery`)."""
        from assay.engine.recovery import Reconciler
        from assay.store import Database, ExecutionStore

        self.settings.make_private()
        db = Database(self.settings.database_url)
        Reconciler(ExecutionStore(db), self.settings, self.cleaners).run_once()
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

    def prune(self, older_than: str, *, keep: int = 0, dry_run: bool = False) -> PruneResult:
        """Delete the logs and artifacts of executions finished more than ``older_than``
        (``30d``, ``12h``, ``2w``) ago, except the newest ``keep`` of each workflow; their
        results stay (:mod:`assay.ops.retention`)."""
        from assay.ops.retention import Pruner, parse_age

        try:
            age = parse_age(older_than)
        except ValueError as exc:
            raise DefinitionError(f"--older-than: {exc}") from None
        return Pruner(self.db, self.settings.executions_dir).run_once(age, keep, dry_run=dry_run)

    def schedules_json(self, now: datetime, *, count: int = 1) -> list[dict[str, Any]]:
        """The cron schedules of applied workflows: next ``count`` fire times, last tick."""
        from sqlalchemy import select

        from assay.ops.scheduler import SCHEDULED_KINDS, schedules_of
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
                .where(WorkflowRow.kind.in_(SCHEDULED_KINDS))
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

    @cached_property
    def queue(self) -> QueueStore:
        """The run queue (:mod:`assay.store.queue`)."""
        from assay.store.queue import QueueStore

        return QueueStore(self.db)

    @cached_property
    def sealer(self) -> Sealer:
        """Seals sensitive config of queued runs (key: ``ASSAY_QUEUE_KEY`` or
        ``ASSAY_HOME/queue.key``)."""
        from assay.store.sealing import Sealer

        self.settings.make_private()
        return Sealer(self.settings.home / "queue.key")

    def enqueue(
        self,
        name: str,
        *,
        config: dict[str, str],
        tags: dict[str, str],
        runner: str | None = None,
        source_archive: Path | None = None,
        execution_name: str | None = None,
    ) -> ExecutionRow:
        """Queue a run of the applied definition ``name`` and return its ``queued``
        execution at once; a worker runs it (:mod:`assay.engine.worker`). Everything a run
        checks first is checked here, before anything is stored (DefinitionError or
        NotFoundError, exit 2): the definition, the config (names, types, enums: config is
        substituted into shell commands), ``parallel`` settings, paths,
        ``spec.concurrency``, the runner's name, the source archive (a ``.tar.gz`` of a
        checkout, mounted at /data/repo), ``execution_name`` (default ``WORKFLOW-N``; a
        name taken is a ConflictError). Sensitive config values are stored sealed."""
        from assay.content.archive import check_archive
        from assay.engine.config import masked_config
        from assay.engine.execution import checked_config
        from assay.engine.requests import RunRequest, concurrency_limit, store_archive
        from assay.engine.resolve import Catalog
        from assay.runners import RUNNER_NAMES
        from assay.store.executions import check_execution_name

        if execution_name is not None:
            check_execution_name(execution_name)
        workflow = Catalog(store=self.definitions).workflow(name)
        if runner is not None and runner not in RUNNER_NAMES:
            raise DefinitionError(f"runner {runner!r}: not one of {', '.join(RUNNER_NAMES)}")
        if source_archive is not None:
            check_archive(source_archive)
        values = checked_config(workflow, config, source_archive)
        group, limit = concurrency_limit(workflow, values)
        request = RunRequest.create(workflow, config, self.sealer, runner=runner)
        if source_archive is not None:
            request = replace(request, source=store_archive(source_archive, self.settings.home))
        return self.queue.enqueue(
            workflow.metadata.name,
            runner=runner or self.settings.runner,
            tags=tags,
            config=masked_config(workflow.spec.config, values),
            request=request.to_json(),
            group=group,
            max_running=limit,
            name=execution_name,
        )

    def abort(self, ref: str) -> ExecutionRow:
        """Abort a queued run at once, or have its worker stop a running one (within about
        a second; `after` steps with ``condition: always`` still run). A finished execution
        is returned as it is; one not started through the queue is refused (exit 2)."""
        row = self.executions.get(ref)
        return self.queue.request_abort(row.id, "aborted while queued")

    def rerun(self, ref: str) -> ExecutionRow:
        """Queue the run request of execution ``ref`` again: the same workflow (as it was
        queued), config (sealed values reused), tags, runner and source archive."""
        from assay.errors import NotFoundError

        row = self.executions.get(ref)
        if row.request is None:
            raise DefinitionError(
                f"execution {row.name} was not queued (`assay run` ran it): there is no run "
                "request to repeat; run it again instead"
            )
        source = row.request.get("source")
        if source and not (self.settings.home / str(source)).is_file():
            raise NotFoundError(f"the source archive of {row.name} is gone ({source})")
        return self.queue.enqueue(
            row.workflow,
            runner=row.request.get("runner") or self.settings.runner,
            tags=dict(row.tags or {}),
            config=dict(row.config or {}),
            request=dict(row.request),
            group=row.concurrency_group,
            max_running=row.concurrency_max,
        )

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
        """The newest executions with their steps, as JSON."""
        from assay.store.executions import ExecutionQuery

        return self.executions_page(ExecutionQuery(page_size=limit, workflow=workflow))[0]

    def execution_page(
        self,
        where: ExecutionFilter,
        *,
        before: Cursor | None = None,
        after: Cursor | None = None,
        limit: int = 50,
    ) -> ExecutionPage:
        """A page of executions, newest first, filtered (keyset pages: as fast at the
        thousandth page as at the first)."""
        from assay.store.listing import list_executions

        return list_executions(self.db, where, before=before, after=after, limit=limit)

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

    # -- definitions, pages of executions, tokens, analytics (CLI and server) -------------

    def apply_text(
        self,
        text: str,
        *,
        source: str = "<request>",
        kind: str | None = None,
        name: str | None = None,
    ) -> list[tuple[str, str]]:
        """Validate the definitions in a YAML (or JSON) text, then store them all (or none);
        with ``kind``, every document must be of that kind; with ``name``, the text must
        hold that one definition only."""
        from assay.spec.loader import load_text

        loaded = load_text(text, source)
        if not loaded:
            raise DefinitionError(f"{source}: no definition in it")
        wrong = [item for item in loaded if kind is not None and item.kind != kind]
        if wrong:
            raise DefinitionError(
                f"{source}: kind {wrong[0].kind!r} of {wrong[0].name!r} does not belong here "
                f"(expected {kind})"
            )
        if name is not None and [item.name for item in loaded] != [name]:
            names = ", ".join(repr(item.name) for item in loaded)
            raise DefinitionError(f"{source}: must define {name!r} only, not {names}")
        self.definitions.save((item.kind, item.name, item.raw, source) for item in loaded)
        return [(item.kind, item.name) for item in loaded]

    def delete_definition(self, kind: str, name: str) -> None:
        """Remove an applied definition (its executions stay in the history)."""
        self.definitions.delete(kind, name)

    def withdraw_definition(self, kind: str, name: str, source: str) -> bool:
        """Remove a definition only if it was applied from ``source`` (as the cluster's
        definitions are, :mod:`assay.server.kube_sync`): one applied since through the API or
        ``assay apply`` stays. Whether it was removed."""
        return self.definitions.delete_from(kind, name, source)

    def executions_page(self, query: ExecutionQuery) -> tuple[list[dict[str, Any]], bool]:
        """One page of executions matching ``query``, newest first, with their steps, as
        JSON (two indexed queries whatever the page), and whether more pages follow."""
        rows, more = self.executions.page(query)
        steps = self.executions.steps_of([row.id for row in rows])
        return [execution_json(row, steps.get(row.id, ())) for row in rows], more

    @cached_property
    def tokens(self) -> TokenStore:
        """API tokens of ``assay server``."""
        from assay.store.tokens import TokenStore

        return TokenStore(self.db)

    @cached_property
    def quarantine(self) -> QuarantineStore:
        """Quarantined tests."""
        from assay.store.quarantine import QuarantineStore

        return QuarantineStore(self.db)

    def flaky(
        self,
        *,
        workflow: str | None = None,
        thresholds: Thresholds | None = None,
        include_all: bool = False,
    ) -> list[dict[str, Any]]:
        """Flaky tests with their reasons and evidence (:mod:`assay.analytics.flaky`)."""
        from assay.analytics.views import flaky_view

        return flaky_view(
            self.db, workflow=workflow, thresholds=thresholds, include_all=include_all
        )

    def trends(
        self,
        *,
        workflow: str | None = None,
        days: int = 30,
        bucket: str = "day",
        window: int = 20,
        top: int = 10,
        base: str = "main",
        execution: str | None = None,
    ) -> dict[str, Any]:
        """Trend points, slowest tests, newly failing tests (:mod:`assay.analytics.trends`);
        ``execution`` (id or name) is compared instead of each workflow's latest."""
        from assay.analytics.views import trends_view

        target = self.executions.get(execution) if execution else None
        return trends_view(
            self.db,
            workflow=workflow,
            days=days,
            bucket=bucket,
            window=window,
            top=top,
            base=base,
            execution=target,
        )

    def trace(
        self,
        *,
        workflow: str | None = None,
        window: int = 20,
        requirements: Sequence[str] = (),
        require_all: bool = False,
    ) -> dict[str, Any]:
        """The requirement matrix and the unsatisfied requirements
        (:mod:`assay.analytics.traceability`)."""
        from assay.analytics.views import trace_view

        return trace_view(
            self.db,
            workflow=workflow,
            window=window,
            requirements=requirements,
            require_all=require_all,
        )

    def report_data(self, refs: Sequence[str], *, base: str = "main", history: int = 0) -> Report:
        """What a report of the executions ``refs`` is made of (``history``: that many
        latest finished executions of each workflow, for charts) (:mod:`assay.reports`)."""
        from assay.reports.data import collect_report

        return collect_report(self.executions, refs, base_branch=base, history=history)

    def report(self, refs: Sequence[str], *, format: str = "markdown", base: str = "main") -> bytes:
        """A report of the executions ``refs`` (ids, prefixes or names) as ``format``:
        markdown, html or junit (:mod:`assay.reports`)."""
        from assay.reports.data import collect_report
        from assay.reports.render import FORMATS, render_report

        if format not in FORMATS:
            raise DefinitionError(f"format {format!r}: expected one of {', '.join(FORMATS)}")
        history = REPORT_HISTORY if format == "html" else 0
        data = collect_report(self.executions, refs, base_branch=base, history=history)
        return render_report(data, format)


REPORT_HISTORY = 20
"""Executions per workflow in the HTML report's history chart."""

_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_until(value: str, *, option: str = "--until", at: datetime | None = None) -> datetime:
    """A moment as aware UTC: ``YYYY-MM-DD`` (through that day, UTC), an ISO datetime
    (naive = UTC), or a duration from now such as ``30m``, ``12h``, ``7d``, ``2w``; bad
    input is a DefinitionError naming ``option``."""
    text = value.strip()
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = int(relative.group(1)), _UNITS[relative.group(2)]
        return (at or datetime.now(UTC)) + timedelta(**{unit: amount})
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DefinitionError(
            f"{option} {value!r}: expected YYYY-MM-DD, an ISO date-time, or 30m/12h/7d/2w"
        ) from None
    return as_utc(moment)


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


def execution_json(
    row: ExecutionRow | Listed, steps: Iterable[StepRow | ListedStep] = ()
) -> dict[str, Any]:
    """An execution as a JSON-ready dict (camelCase keys), from its stored row or from
    what lists read (:class:`assay.store.executions.Listed`)."""
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
