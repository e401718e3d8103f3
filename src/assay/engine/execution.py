"""Running one execution end to end: plan, content, steps, results, record."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from assay.engine.config import masked_config, resolve_config
from assay.engine.context import ExecutionContext
from assay.engine.events import EventSink, NullSink
from assay.engine.live_steps import LiveSteps
from assay.engine.masking import Masker
from assay.engine.parallel import run_parallel
from assay.engine.parallel_params import check_parallel
from assay.engine.recovery import TrackedRunner
from assay.engine.repo_check import check_paths
from assay.engine.resolve import Catalog
from assay.engine.services import check_services
from assay.engine.shard_balance import recorded_history
from assay.engine.steps import Frame, StepWalker, worst
from assay.engine.workspace import Workspace
from assay.errors import AssayError, DefinitionError, InfrastructureError
from assay.faults import os_fault
from assay.model import Summary
from assay.runners.base import Runner
from assay.settings import Settings
from assay.spec.workflow import Execute, Step, TestWorkflow
from assay.status import ExecutionStatus, StepStatus
from assay.store.database import Database
from assay.store.executions import ExecutionStore
from assay.store.quarantine import QuarantineStore
from assay.store.secrets import SecretStore
from assay.store.tables import ExecutionRow

__all__ = ["Engine", "RunOptions", "checked_config", "execute_targets", "with_children"]


@dataclass
class RunOptions:
    """How to run: config values, tags, a local source checkout, parent execution."""

    config: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    source: Path | None = None
    keep_workspace: bool = False
    parent_id: str | None = None


class Engine:
    """Runs workflows with one runner, recording everything in the store."""

    cleanup_grace: float = 10.0
    """Seconds the `after` steps with ``condition: always`` get once an execution is aborted."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        runner: Runner,
        catalog: Catalog,
        sink: EventSink | None = None,
    ) -> None:
        self.settings = settings
        self.executions = ExecutionStore(db)
        self.quarantine = QuarantineStore(db)
        self.runner = runner
        self.catalog = catalog
        self.sink: EventSink = sink or NullSink()
        self.secrets = SecretStore(settings.secrets_dir)
        self._contexts: list[ExecutionContext] = []
        self._cancel = threading.Event()
        self._cancel_reason = "aborted"

    def cancel(self, reason: str = "aborted") -> None:
        """Abort every running execution of this engine (Ctrl-C, SIGTERM): stop their tasks;
        their `after` steps with ``condition: always`` still run, for at most
        :attr:`cleanup_grace` seconds; calling it again stops those too. ``reason`` is
        recorded as the executions' error."""
        if not self._cancel.is_set():
            self._cancel_reason = reason
        self._cancel.set()
        contexts = list(self._contexts)
        for ctx in contexts:  # all first: stopping a task waits for its group to end
            ctx.cancelled.set()
        for ctx in contexts:
            for handle in list(ctx.handles.values()):
                self.runner.cancel(handle)

    def run(self, workflow: TestWorkflow, options: RunOptions | None = None) -> ExecutionRow:
        """Run ``workflow``; bad config raises DefinitionError before anything is stored."""
        options = options or RunOptions()
        config = checked_config(workflow, options.config, options.source)
        row = self.executions.create(
            workflow.metadata.name,
            runner=self.runner.name,
            tags=options.tags,
            config=masked_config(workflow.spec.config, config),
            parent_id=options.parent_id,
        )
        return self._execute(row, workflow, config, options)

    def run_queued(
        self, row: ExecutionRow, workflow: TestWorkflow, options: RunOptions
    ) -> ExecutionRow:
        """Run an execution recorded already (a run request a worker claimed,
        :mod:`assay.engine.worker`): as :meth:`run` from the moment the row exists. Config
        that no longer checks out ends it in ``error``, masked."""
        try:
            config = checked_config(workflow, options.config, options.source)
        except AssayError as exc:
            masker = _masker(workflow, options.config)
            finished = self.executions.finish(row.id, ExecutionStatus.ERROR, error=masker(str(exc)))
            self.sink.execution_finished(row.id, ExecutionStatus(finished.status))
            return finished
        return self._execute(row, workflow, config, options)

    def _execute(
        self,
        row: ExecutionRow,
        workflow: TestWorkflow,
        config: dict[str, Any],
        options: RunOptions,
    ) -> ExecutionRow:
        masker = _masker(workflow, config)
        out_dir = self.settings.executions_dir / row.id
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            log: TextIO = (out_dir / "log.txt").open("a", encoding="utf-8", buffering=1)
        except OSError as exc:  # recorded, so that it does not stay queued
            message = os_fault(exc)
            self.executions.finish(row.id, ExecutionStatus.ERROR, error=message)
            raise InfrastructureError(message) from exc
        workspace = Workspace(self.settings.work_dir / row.id)
        spec = workflow.spec
        deadline = spec.job.active_deadline_seconds if spec.job else None
        with _closed_quietly(log):
            ctx = ExecutionContext(
                execution_id=row.id,
                execution_name=row.name,
                number=row.number,
                workflow=workflow.metadata.name,
                config=config,
                workspace=workspace,
                runner=TrackedRunner(self.runner, self.executions, row.id),
                secrets=self.secrets,
                masker=masker,
                sink=LiveSteps(self.sink, self.executions, row.id),
                log=log,
                artifacts_dir=out_dir / "artifacts",
                source=options.source.resolve() if options.source else None,
                deadline=None if deadline is None else time.monotonic() + deadline,
                quarantined=frozenset(self.quarantine.active()),
            )
            if self._cancel.is_set():
                ctx.cancelled.set()
            self._contexts.append(ctx)
            self.executions.start(row.id)
            self.sink.execution_started(row.id, row.name)
            walker = StepWalker(
                ctx,
                lambda execute, ref: self._children(ctx, execute, ref),
                history=recorded_history(self.executions, ctx.workflow, row.id),
                run_group=run_parallel,
            )
            error: str | None = None
            try:
                workspace.create()
                ctx.runner.prepare(workspace.root)
                if spec.content is not None:
                    walker.materialise(spec.content)
                if ctx.source is not None and not (spec.content and spec.content.git):
                    walker.mount_source(workspace.resolve("/data/repo"))
                frame = self._root_frame(workflow, workspace, ctx.source)
                with walker.services(spec.services, frame, "spec.services"):
                    walker.run_steps([*spec.setup, *spec.steps], frame)
                    self._run_after(walker, ctx, spec.after, frame)
            except AssayError as exc:
                error = masker(str(exc))
                ctx.write_log("-", f"error: {error}")
            except OSError as exc:  # the disk is full, the home read-only
                error = masker(os_fault(exc, "cannot use"))
                ctx.write_log("-", f"error: {error}")
            except Exception as exc:  # an engine bug must still close the execution
                error = masker(f"internal error: {exc!r}")
                ctx.write_log("-", masker(traceback.format_exc()))
            finally:
                self._contexts.remove(ctx)
                try:
                    ctx.runner.release(workspace.root)
                except AssayError as exc:
                    ctx.faults.append(masker(str(exc)))
                ctx.faults.extend(_full_filesystems(workspace.root, out_dir))
                if not options.keep_workspace and not os.environ.get("ASSAY_KEEP_WORKSPACE"):
                    workspace.remove()
            summary = self.executions.add_test_cases(row.id, row.workflow, ctx.cases)
            summary = with_children(self.executions, row.id, summary)
            error = error or (ctx.faults[0] if ctx.faults else None)
            status = self._final_status(walker, ctx, error)
            if status is ExecutionStatus.ABORTED:
                error = error or self._cancel_reason
            error = error or ("; ".join(walker.errors) if walker.errors else None)
            finished = self.executions.finish(
                row.id, status, steps=walker.outcomes, summary=summary, error=error
            )
        self.sink.execution_finished(row.id, status)
        return finished

    def _run_after(
        self, walker: StepWalker, ctx: ExecutionContext, after: Sequence[Step], frame: Frame
    ) -> None:
        """The `after` steps; once aborted, only those with ``condition: always`` run (the
        others are recorded aborted), within :attr:`cleanup_grace` seconds."""
        aborted = ctx.cancelled
        if not aborted.is_set():
            walker.run_steps(after, frame)
            return
        cleanup = threading.Event()  # set by a second cancel: the clean-up stops too
        grace = replace(frame, deadline=time.monotonic() + self.cleanup_grace)
        try:
            for step in after:
                always = (step.condition or "").strip() == "always"
                ctx.cancelled = cleanup if always else aborted
                walker.run_steps([step], grace if always else frame)
        finally:
            ctx.cancelled = aborted

    def _root_frame(
        self, workflow: TestWorkflow, workspace: Workspace, source: Path | None
    ) -> Frame:
        spec = workflow.spec
        repo = workspace.resolve(
            (spec.content.git.mount_path or "/data/repo")
            if spec.content and spec.content.git
            else ("/data/repo" if source else "/data")
        )
        frame = Frame(default_dir=repo if repo.exists() else workspace.data)
        frame = frame.merge(spec.container)
        if spec.pod:
            self.sink.warning(f"`pod` settings are ignored by the {self.runner.name} runner")
        return frame

    def _children(self, ctx: ExecutionContext, execute: Execute, ref: str) -> StepStatus:
        """Run the tests/workflows of an `execute` step as child executions."""
        workflows = execute_targets(self.catalog, execute, ref)
        parallelism = max(1, execute.parallelism or len(workflows))

        def one(child: TestWorkflow) -> ExecutionRow:
            options = RunOptions(parent_id=ctx.execution_id, source=ctx.source)
            result = self.run(child, options)
            ctx.write_log(ref, f"child {result.name}: {result.status}")
            return result

        with ThreadPoolExecutor(max_workers=parallelism) as pool:
            results = list(pool.map(one, workflows))
        return worst([_as_step_status(r.status) for r in results])

    @staticmethod
    def _final_status(
        walker: StepWalker, ctx: ExecutionContext, error: str | None
    ) -> ExecutionStatus:
        if ctx.cancelled.is_set():
            return ExecutionStatus.ABORTED
        if error is not None or walker.errors:
            return ExecutionStatus.ERROR
        if walker.deadline_hit or walker.timed_out:
            return ExecutionStatus.TIMEOUT
        return ExecutionStatus.FAILED if walker.failed else ExecutionStatus.PASSED


def execute_targets(catalog: Catalog, execute: Execute, ref: str) -> list[TestWorkflow]:
    """The workflows an `execute` step runs: its tests (legacy Tests, or workflows of
    that name), then its workflows; raises DefinitionError naming a missing one."""
    names = [t.name for t in execute.tests] + [w.name for w in execute.workflows if w.name]
    if not names:
        raise DefinitionError(f"step {ref}: `execute` names no tests or workflows")
    kinds = [("Test", "TestWorkflow")] * len(execute.tests) + [("TestWorkflow",)] * (
        len(names) - len(execute.tests)
    )
    return [catalog.workflow(n, k) for n, k in zip(names, kinds, strict=True)]


def with_children(executions: ExecutionStore, execution_id: str, summary: Summary) -> Summary:
    """``summary`` plus the summaries of the execution's children (`execute` steps)."""
    for child in executions.children(execution_id):
        for key, value in child.summary.items():
            setattr(summary, key, getattr(summary, key) + int(value))
    return summary


def checked_config(
    workflow: TestWorkflow, given: Mapping[str, Any], source: Path | None
) -> dict[str, Any]:
    """The config of a run of ``workflow`` (defaults, then ``given``), checked with
    everything a run checks before it is recorded: parameter names and types, ``parallel``
    settings, ``services``, paths (``source``: a checkout, or anything standing for one). Raises
    :class:`DefinitionError`."""
    config = resolve_config(workflow.spec.config, given)
    check_parallel(workflow, config)
    check_services(workflow)
    check_paths(workflow, source)
    return config


def _masker(workflow: TestWorkflow, config: Mapping[str, Any]) -> Masker:
    """A masker of the sensitive values among ``config``."""
    masker = Masker()
    for name, param in workflow.spec.config.items():
        if param.sensitive and name in config:
            masker.add(str(config[name]))
    return masker


def _full_filesystems(*paths: Path) -> list[str]:
    """Faults for the filesystems of ``paths`` that are full (checked before the workspace
    is removed): a step that failed then may well have failed for want of space."""
    faults = []
    for path in paths:
        with contextlib.suppress(OSError):
            stats = os.statvfs(path)
            if stats.f_blocks and (stats.f_bavail == 0 or stats.f_favail == 0):
                faults.append(f"cannot write {path}: No space left on device (filesystem full)")
    return faults


@contextlib.contextmanager
def _closed_quietly(stream: TextIO) -> Iterator[TextIO]:
    """Close ``stream`` at the end; a failed last flush (full disk) is a fault recorded
    already by :meth:`ExecutionContext.write_log`."""
    try:
        yield stream
    finally:
        with contextlib.suppress(OSError):
            stream.close()


def _as_step_status(status: str) -> StepStatus:
    try:
        return StepStatus(status)
    except ValueError:
        raise InfrastructureError(f"unexpected child status {status!r}") from None
