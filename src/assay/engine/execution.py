"""Running one execution end to end: plan, content, steps, results, record."""

from __future__ import annotations

import os
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.engine.config import masked_config, resolve_config
from assay.engine.context import ExecutionContext
from assay.engine.events import EventSink, NullSink
from assay.engine.masking import Masker
from assay.engine.parallel import run_parallel
from assay.engine.parallel_params import check_parallel
from assay.engine.repo_check import check_paths
from assay.engine.resolve import Catalog
from assay.engine.shard_balance import recorded_history
from assay.engine.steps import Frame, StepWalker, worst
from assay.engine.workspace import Workspace
from assay.errors import AssayError, DefinitionError, InfrastructureError
from assay.model import Summary
from assay.runners.base import Runner
from assay.settings import Settings
from assay.spec.workflow import Execute, TestWorkflow
from assay.status import ExecutionStatus, StepStatus
from assay.store.database import Database
from assay.store.executions import ExecutionStore
from assay.store.quarantine import QuarantineStore
from assay.store.secrets import SecretStore
from assay.store.tables import ExecutionRow

__all__ = ["Engine", "RunOptions"]


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

    def cancel(self) -> None:
        """Abort every running execution of this engine (Ctrl-C)."""
        self._cancel.set()
        for ctx in list(self._contexts):
            ctx.cancelled.set()
            for handle in list(ctx.handles.values()):
                self.runner.cancel(handle)

    def run(self, workflow: TestWorkflow, options: RunOptions | None = None) -> ExecutionRow:
        """Run ``workflow``; bad config raises DefinitionError before anything is stored."""
        options = options or RunOptions()
        spec = workflow.spec
        config = resolve_config(spec.config, options.config)
        check_parallel(workflow, config)
        check_paths(workflow, options.source)
        masker = Masker()
        for name, param in spec.config.items():
            if param.sensitive:
                masker.add(str(config[name]))
        row = self.executions.create(
            workflow.metadata.name,
            runner=self.runner.name,
            tags=options.tags,
            config=masked_config(spec.config, config),
            parent_id=options.parent_id,
        )
        return self._execute(row, workflow, config, masker, options)

    def _execute(
        self,
        row: ExecutionRow,
        workflow: TestWorkflow,
        config: dict[str, Any],
        masker: Masker,
        options: RunOptions,
    ) -> ExecutionRow:
        out_dir = self.settings.executions_dir / row.id
        out_dir.mkdir(parents=True, exist_ok=True)
        workspace = Workspace(self.settings.work_dir / row.id)
        spec = workflow.spec
        deadline = spec.job.active_deadline_seconds if spec.job else None
        with (out_dir / "log.txt").open("a", encoding="utf-8", buffering=1) as log:
            ctx = ExecutionContext(
                execution_id=row.id,
                execution_name=row.name,
                number=row.number,
                workflow=workflow.metadata.name,
                config=config,
                workspace=workspace,
                runner=self.runner,
                secrets=self.secrets,
                masker=masker,
                sink=self.sink,
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
                if spec.content is not None:
                    walker.materialise(spec.content)
                if ctx.source is not None and not (spec.content and spec.content.git):
                    walker.mount_source(workspace.resolve("/data/repo"))
                frame = self._root_frame(workflow, workspace, ctx.source)
                walker.run_steps([*spec.setup, *spec.steps], frame)
                walker.run_steps(spec.after, frame)
            except AssayError as exc:
                error = masker(str(exc))
                ctx.write_log("-", f"error: {error}")
            except Exception as exc:  # an engine bug must still close the execution
                error = masker(f"internal error: {exc!r}")
                ctx.write_log("-", masker(traceback.format_exc()))
            finally:
                self._contexts.remove(ctx)
                if not options.keep_workspace and not os.environ.get("ASSAY_KEEP_WORKSPACE"):
                    workspace.remove()
            summary = self.executions.add_test_cases(row.id, row.workflow, ctx.cases)
            summary = self._with_children(row.id, summary)
            status = self._final_status(walker, ctx, error)
            error = error or ("; ".join(walker.errors) if walker.errors else None)
            finished = self.executions.finish(
                row.id, status, steps=walker.outcomes, summary=summary, error=error
            )
        self.sink.execution_finished(row.id, status)
        return finished

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
        if spec.services:
            self.sink.warning("`services` are not supported by the local runner yet; ignored")
        if spec.pod:
            self.sink.warning("`pod` settings are ignored by the local runner")
        return frame

    def _children(self, ctx: ExecutionContext, execute: Execute, ref: str) -> StepStatus:
        """Run the tests/workflows of an `execute` step as child executions."""
        names = [t.name for t in execute.tests] + [w.name for w in execute.workflows if w.name]
        if not names:
            raise DefinitionError(f"step {ref}: `execute` names no tests or workflows")
        kinds = [("Test", "TestWorkflow")] * len(execute.tests) + [("TestWorkflow",)] * (
            len(names) - len(execute.tests)
        )
        workflows = [self.catalog.workflow(n, k) for n, k in zip(names, kinds, strict=True)]
        parallelism = max(1, execute.parallelism or len(workflows))

        def one(child: TestWorkflow) -> ExecutionRow:
            options = RunOptions(parent_id=ctx.execution_id, source=ctx.source)
            result = self.run(child, options)
            ctx.write_log(ref, f"child {result.name}: {result.status}")
            return result

        with ThreadPoolExecutor(max_workers=parallelism) as pool:
            results = list(pool.map(one, workflows))
        return worst([_as_step_status(r.status) for r in results])

    def _with_children(self, execution_id: str, summary: Summary) -> Summary:
        for child in self.executions.children(execution_id):
            for key, value in child.summary.items():
                setattr(summary, key, getattr(summary, key) + int(value))
        return summary

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


def _as_step_status(status: str) -> StepStatus:
    try:
        return StepStatus(status)
    except ValueError:
        raise InfrastructureError(f"unexpected child status {status!r}") from None
