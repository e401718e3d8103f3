"""Walking the step tree: conditions, retries, timeouts, optional/negative, artifacts."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from assay.content import checkout, write_files
from assay.engine.context import ExecutionContext
from assay.engine.pytest_reports import AttemptReports, PytestOutput
from assay.engine.results_intake import ResultIntake
from assay.engine.services import ServiceManager
from assay.engine.workspace import is_inside
from assay.envvars import REPORT_DIR, RERUN_ONLY
from assay.errors import AssayError, DefinitionError
from assay.model import CaseStatus, TestCaseResult
from assay.runners.base import TaskResult, TaskSpec
from assay.spec.base import parse_duration
from assay.spec.expressions import evaluate, is_truthy, render
from assay.spec.workflow import (
    Artifacts,
    Container,
    Content,
    EnvVar,
    Execute,
    Parallel,
    Service,
    Step,
)
from assay.status import StepStatus
from assay.store.executions import StepOutcome, now

__all__ = ["Frame", "StepWalker"]

_FAILURE_RANK = {
    StepStatus.FAILED: 1,
    StepStatus.TIMEOUT: 2,
    StepStatus.ERROR: 3,
    StepStatus.ABORTED: 4,
}
_UNSUPPORTED_STEP_FIELDS = ("paused", "pure")
_IMAGE_RUNNERS = frozenset({"docker"})
"""Runners whose tasks see their image's file system, with only ``/data`` mapped."""

ChildRunner = Callable[[Execute, str], StepStatus]
GroupRunner = Callable[["StepWalker", Parallel, "Frame", str, int, Path | None], StepStatus]
"""Runs a ``parallel`` group for a walker (:func:`assay.engine.parallel.run_parallel`)."""


def worst(statuses: Sequence[StepStatus]) -> StepStatus:
    """The status of a group: its worst failure, else passed (skipped if all skipped)."""
    failures = [s for s in statuses if s in _FAILURE_RANK]
    if failures:
        return max(failures, key=_FAILURE_RANK.__getitem__)
    if statuses and all(s is StepStatus.SKIPPED for s in statuses):
        return StepStatus.SKIPPED
    return StepStatus.PASSED


@dataclass(frozen=True)
class Frame:
    """Settings inherited down the tree: container (image, env, workingDir), deadline."""

    image: str | None = None
    env: tuple[EnvVar, ...] = ()
    working_dir: str | None = None
    resources: dict[str, Any] | None = None
    pull_policy: str | None = None
    security: dict[str, Any] | None = None
    deadline: float | None = None
    default_dir: Path = field(default=Path("."))

    def merge(self, container: Container | None, working_dir: str | None = None) -> Frame:
        """A child frame with ``container`` settings layered on top."""
        frame = self
        if container is not None:
            frame = replace(
                frame,
                image=container.image or frame.image,
                env=(*frame.env, *container.env),
                working_dir=container.working_dir or frame.working_dir,
                resources=container.resources or frame.resources,
                pull_policy=container.image_pull_policy or frame.pull_policy,
                security=container.security_context or frame.security,
            )
        if working_dir:
            frame = replace(frame, working_dir=working_dir)
        return frame


class StepWalker:
    """Runs steps in order, recording one :class:`StepOutcome` per step."""

    def __init__(
        self,
        ctx: ExecutionContext,
        run_children: ChildRunner,
        history: Callable[[], Mapping[str, float]] | None = None,
        *,
        run_group: GroupRunner,
    ) -> None:
        self.ctx = ctx
        self.run_children = run_children
        self.run_group = run_group
        self.history = history  # recorded test durations (ms), for balanced `parallel` shards
        self.outcomes: list[StepOutcome] = []
        self.failed = False
        self.blocked = False
        self.deadline_hit = False
        self.timed_out = False
        self.errors: list[str] = []
        self._refs = 0
        self.results = ResultIntake(ctx)

    # -- services -------------------------------------------------------------------------

    def services(
        self, services: Mapping[str, Service], frame: Frame, where: str
    ) -> contextlib.AbstractContextManager[None]:
        """``services`` running (and ready) for a block of steps run in ``frame``."""
        manager = ServiceManager(
            self.ctx,
            lambda name, index, service, variables: self.service_task(
                frame, name, index, service, variables
            ),
        )
        return manager.running(services, where)

    def service_task(
        self,
        frame: Frame,
        name: str,
        index: int,
        service: Service,
        variables: Mapping[str, Any],
    ) -> TaskSpec:
        """The task of instance ``index`` of service ``name``: the frame's container
        settings with the service's on top; ``index`` and ``count`` in its expressions."""
        own = frame.merge(service)
        env = self.task_env(own.env, strict=True)
        expr = self.expression_context(env, **variables)
        if service.shell is not None:
            command = ["/bin/sh", "-c", service.shell]
        else:
            command = [*(service.command or []), *(service.args or [])]
        argv = [self.ctx.workspace.map_text(render(part, expr)) for part in command]
        return TaskSpec(
            name=f"{self.ctx.execution_name}/services/{name}-{index}",
            command=argv,
            working_dir=self.resolve_working_dir(own, expr, in_image=True),
            workspace=self.ctx.workspace.root,
            data_dir=self.ctx.workspace.data,
            env=self.ctx.workspace.environment(env),
            image=render(own.image, expr) if own.image else None,
            resources=own.resources,
            declared_env=env,
            image_pull_policy=own.pull_policy,
            security_context=own.security,
            aliases=(name, f"{name}-{index}"),
        )

    # -- groups ---------------------------------------------------------------------------

    def run_steps(self, steps: Sequence[Step], frame: Frame, prefix: str = "") -> StepStatus:
        """Run a list of steps; return the group's status."""
        statuses = []
        for step in steps:
            status = self.run_step(step, frame, prefix)
            if not step.optional:
                statuses.append(status)
        return worst(statuses)

    # -- one step -------------------------------------------------------------------------

    def run_step(self, step: Step, frame: Frame, prefix: str, ref: str | None = None) -> StepStatus:
        """Run one step (its action, then nested steps), with retries; ``ref`` overrides
        the numbering (a `parallel` worker's step is ``<ref>.w<index>``)."""
        if ref is None:
            self._refs += 1
            ref = f"{prefix}{self._refs}"
        name = self.step_name(step)
        started_at, started = now(), time.monotonic()
        outcome = StepOutcome(ref=ref, name=name, status=StepStatus.SKIPPED, started_at=started_at)
        self.outcomes.append(outcome)
        if self.ctx.cancelled.is_set():
            outcome.status = StepStatus.ABORTED
            return outcome.status
        if self._expired():
            outcome.message = "execution deadline exceeded before the step started"
            return outcome.status
        env_now = self.task_env(frame.merge(step.container).env, strict=False)
        if not self._should_run(step, env_now):
            self.ctx.sink.step_finished(ref, name, StepStatus.SKIPPED, 0.0)
            return StepStatus.SKIPPED
        self.ctx.sink.step_started(ref, name)
        self.ctx.write_log(ref, f"=== step {name} ===")
        try:
            with self.services(step.services, frame, f"step {name!r}: services"):
                outcome.status, outcome.exit_code, outcome.attempts = self._run_with_retry(
                    step, frame, ref, name
                )
            note = self.results.unrecorded_note(ref, name, outcome.attempts)
            outcome.message = note or outcome.message
        except AssayError as exc:
            outcome.status, outcome.message = StepStatus.ERROR, str(exc)
            self.ctx.write_log(ref, f"error: {exc}")
        seconds = time.monotonic() - started
        outcome.duration_ms = int(seconds * 1000)
        if outcome.status in _FAILURE_RANK and not step.optional:
            self.failed = True
            self.timed_out |= outcome.status is StepStatus.TIMEOUT
            if outcome.status is StepStatus.ERROR and outcome.message:
                self.errors.append(f"step {name!r}: {outcome.message}")
            if step.stop_on_failure:
                self.blocked = True
        self.ctx.sink.step_finished(ref, name, outcome.status, seconds)
        return outcome.status

    def _run_with_retry(
        self, step: Step, frame: Frame, ref: str, name: str
    ) -> tuple[StepStatus, int | None, int]:
        delay = step.delay and parse_duration(render(step.delay, self.expression_context({})))
        if delay:
            self.ctx.cancelled.wait(delay)
        own = frame.merge(step.container, step.working_dir)
        step_timeout = step.timeout and parse_duration(
            render(step.timeout, self.expression_context({}))
        )
        self._warn_unsupported(step, name)
        if step.content is not None:
            self.materialise(step.content)
        attempts = (step.retry.count if step.retry else 0) + 1
        status, exit_code, attempt = StepStatus.PASSED, None, 1
        rerun: Path | None = None
        for attempt in range(1, attempts + 1):
            deadline = _min(frame.deadline, step_timeout and time.monotonic() + step_timeout)
            before = len(self.ctx.cases)
            status, exit_code = self._attempt(
                step, replace(own, deadline=deadline), ref, attempt, rerun
            )
            if step.negative and status in (StepStatus.PASSED, StepStatus.FAILED):
                status = StepStatus.FAILED if status is StepStatus.PASSED else StepStatus.PASSED
            status = self._forgive_quarantined(status, self.ctx.cases[before:], ref)
            if self._retry_done(step, status) or self.ctx.cancelled.is_set() or self._expired():
                break
            if attempt < attempts:
                self.ctx.write_log(ref, f"--- {name}: attempt {attempt} {status}, retrying ---")
                rerun = self._rerun_listing(step, ref, attempt, self.ctx.cases[before:])
        if step.artifacts is not None:
            before = len(self.ctx.cases)
            self.collect_artifacts(step.artifacts, own, attempt)
            status = self._forgive_quarantined(status, self.ctx.cases[before:], ref)
        return status, exit_code, attempt

    def _forgive_quarantined(
        self, status: StepStatus, cases: Sequence[TestCaseResult], ref: str
    ) -> StepStatus:
        """A step that failed only through quarantined tests passes (failures stay recorded)."""
        if status is not StepStatus.FAILED:
            return status
        final = {(c.suite, c.classname, c.name): c.status for c in cases}
        statuses = set(final.values())
        if CaseStatus.QUARANTINED in statuses and not statuses & {
            CaseStatus.FAILED,
            CaseStatus.ERRORED,
        }:
            count = sum(s is CaseStatus.QUARANTINED for s in final.values())
            self.ctx.write_log(ref, f"--- only quarantined tests failed ({count}): step passes ---")
            return StepStatus.PASSED
        return status

    def _rerun_listing(
        self, step: Step, ref: str, attempt: int, cases: Sequence[TestCaseResult]
    ) -> Path | None:
        """For ``retry.scope: failed-tests``: a file naming the tests that failed, if any."""
        if step.retry is None or step.retry.scope != "failed-tests":
            return None
        failed = {
            f"{case.classname}\t{case.name}"
            for case in cases
            if case.status in (CaseStatus.FAILED, CaseStatus.ERRORED)
        }
        if not failed:  # no test-level failure to narrow down to: re-run the step
            return None
        listing = self.ctx.workspace.reports / f"rerun-{ref}-{attempt}.txt"
        listing.write_text("\n".join(sorted(failed)) + "\n", encoding="utf-8")
        self.ctx.write_log(ref, f"--- re-running only the {len(failed)} failed test(s) ---")
        return listing

    def _attempt(
        self, step: Step, frame: Frame, ref: str, attempt: int, rerun: Path | None = None
    ) -> tuple[StepStatus, int | None]:
        statuses: list[StepStatus] = []
        exit_code = None
        command = self._command(step)
        if command is not None:
            status, exit_code = self._run_task(step, frame, ref, attempt, command, rerun)
            statuses.append(status)
        if step.execute is not None:
            statuses.append(self.run_children(step.execute, ref))
        if step.parallel is not None and (not statuses or statuses[-1] is StepStatus.PASSED):
            statuses.append(self.run_group(self, step.parallel, frame, ref, attempt, rerun))
        children = [*step.setup, *step.steps]
        if children and (not statuses or statuses[-1] is StepStatus.PASSED):
            statuses.append(self.run_steps(children, frame, f"{ref}."))
        return worst(statuses), exit_code

    # -- tasks ----------------------------------------------------------------------------

    def _command(self, step: Step) -> list[str] | None:
        run = step.run
        shell = step.shell if step.shell is not None else (run.shell if run else None)
        if shell is not None:
            return ["/bin/sh", "-c", "set -e\n" + shell]
        if run is not None and (run.command or run.args):
            return [*(run.command or []), *(run.args or [])]
        return None if run is None else []  # [] = the image's entrypoint

    def _run_task(
        self,
        step: Step,
        frame: Frame,
        ref: str,
        attempt: int,
        command: list[str],
        rerun: Path | None = None,
    ) -> tuple[StepStatus, int | None]:
        run_frame = frame.merge(step.run) if step.run is not None else frame
        env = self.task_env(run_frame.env, strict=True)
        expr = self.expression_context(env)
        argv = [self.ctx.workspace.map_text(render(part, expr)) for part in command]
        working_dir = self.resolve_working_dir(run_frame, expr, in_image=True)
        reports = AttemptReports.of(self.ctx.workspace.reports, ref, attempt)
        addopts = f"{env.get('PYTEST_ADDOPTS', '')} --junit-xml={reports.fallback}".strip()
        extra = {**env, "PYTEST_ADDOPTS": addopts, REPORT_DIR: str(reports.directory)}
        if rerun is not None:
            extra[RERUN_ONLY] = str(rerun)
        process_env = self.ctx.workspace.environment(extra)
        remaining = _min(frame.deadline, self.ctx.deadline)
        timeout = None if remaining is None else max(0.0, remaining - time.monotonic())
        spec = TaskSpec(
            name=f"{self.ctx.execution_name}/{ref}",
            command=argv,
            working_dir=working_dir,
            workspace=self.ctx.workspace.root,
            data_dir=self.ctx.workspace.data,
            env=process_env,
            timeout=timeout,
            image=render(run_frame.image, expr) if run_frame.image else None,
            resources=run_frame.resources,
            declared_env=extra,
            image_pull_policy=run_frame.pull_policy,
            security_context=run_frame.security,
        )
        for note in self.ctx.runner.unsupported(spec):
            self.ctx.note_once(ref, note)
        output = PytestOutput()
        result = self._start_and_follow(spec, ref, output)
        self.results.task_reports(ref, attempt, reports, output)
        if result.cancelled:
            return StepStatus.ABORTED, None
        if result.timed_out:
            if self._expired():
                self.deadline_hit = True
            self.ctx.write_log(ref, f"timed out after {timeout:.1f}s" if timeout else "timed out")
            return StepStatus.TIMEOUT, None
        status = StepStatus.PASSED if result.exit_code == 0 else StepStatus.FAILED
        return status, result.exit_code

    def _start_and_follow(self, spec: TaskSpec, ref: str, output: PytestOutput) -> TaskResult:
        handle = self.ctx.runner.start(spec)
        with self.ctx.lock:
            self.ctx.handles[handle.task_id] = handle
        if self.ctx.cancelled.is_set():
            self.ctx.runner.cancel(handle)

        def pump() -> None:
            for line in self.ctx.runner.logs(handle):
                output.feed(line)
                self.ctx.write_log(ref, line)

        reader = threading.Thread(target=pump, name=f"logs-{ref}", daemon=True)
        reader.start()
        try:
            result = self.ctx.runner.wait(handle)
        finally:
            reader.join()
            with self.ctx.lock:
                self.ctx.handles.pop(handle.task_id, None)
        return result

    def resolve_working_dir(
        self, frame: Frame, expr: dict[str, Any], *, in_image: bool = False
    ) -> Path:
        """The frame's working directory (``/data`` mapped), which must exist; for a task
        (``in_image``) of a runner with images of its own, a directory outside ``/data`` is
        the image's, left for the container to resolve."""
        if frame.working_dir:
            path = self.ctx.workspace.resolve(render(frame.working_dir, expr), frame.default_dir)
        else:
            path = frame.default_dir
        if (
            in_image
            and self.ctx.runner.name in _IMAGE_RUNNERS
            and not is_inside(path, [self.ctx.workspace.root])
        ):
            return path
        if not path.is_dir():
            raise DefinitionError(f"working directory {path} does not exist")
        return path

    def task_env(self, variables: Sequence[EnvVar], *, strict: bool) -> dict[str, str]:
        env: dict[str, str] = {}
        for var in variables:
            if var.value_from is not None:
                ref = var.value_from.secret_key_ref
                if ref is None:
                    if strict:
                        self.ctx.sink.warning(f"env {var.name}: only secretKeyRef is supported")
                    continue
                if not strict:
                    continue
                value = self.ctx.secrets.get(ref.name, ref.key)
                self.ctx.masker.add(value)
                env[var.name] = value
            elif var.value is not None:
                expr = self.expression_context({**os.environ, **env})
                text = render(var.value, expr, strict=strict)
                env[var.name] = self.ctx.workspace.map_text(text)
        return env

    def expression_context(self, env: dict[str, str], **extra: Any) -> dict[str, Any]:
        return self.ctx.expression_context({**os.environ, **env}, **extra)

    # -- conditions -----------------------------------------------------------------------

    def _should_run(self, step: Step, env: dict[str, str]) -> bool:
        condition = (step.condition or "passed").strip()
        if condition == "always":
            return True
        if condition == "passed":
            return not self.blocked
        if condition == "failed":
            return self.failed
        if condition == "never":
            return False
        value = evaluate(
            condition,
            self.expression_context(
                env, passed=not self.failed, failed=self.failed, always=True, never=False
            ),
        )
        return is_truthy(value)

    def _retry_done(self, step: Step, status: StepStatus) -> bool:
        if step.retry is None or step.retry.until is None:
            return status is StepStatus.PASSED
        context = self.expression_context(
            {}, passed=status is StepStatus.PASSED, failed=status in _FAILURE_RANK
        )
        return is_truthy(evaluate(step.retry.until, context))

    def _expired(self) -> bool:
        remaining = self.ctx.remaining()
        if remaining is not None and remaining <= 0:
            self.deadline_hit = True
            return True
        return False

    # -- content, artifacts, results ------------------------------------------------------

    def materialise(self, content: Content) -> None:
        """Check out git content and write inline files into the workspace."""
        ws = self.ctx.workspace
        expr = self.expression_context({})
        if content.git is not None:
            git = content.git
            dest = ws.resolve_inside(git.mount_path or "/data/repo", self.ctx.allowed_roots())
            if self.ctx.source is not None:
                self.mount_source(dest)
            else:
                token = None
                if git.token_from and git.token_from.secret_key_ref:
                    ref = git.token_from.secret_key_ref
                    token = self.ctx.secrets.get(ref.name, ref.key)
                token = token or (render(git.token, expr) if git.token else None)
                self.ctx.masker.add(token)
                checkout(
                    render(git.uri, expr),
                    dest,
                    revision=render(git.revision, expr) if git.revision else None,
                    paths=[render(p, expr) for p in git.paths],
                    cone=git.cone,
                    username=git.username,
                    token=token,
                    mask=self.ctx.masker,
                )
        if content.files:

            def secret(name: str, key: str) -> str:
                value = self.ctx.secrets.get(name, key)
                self.ctx.masker.add(value)
                return value

            write_files(
                content.files,
                resolve=lambda path: ws.resolve_inside(path, self.ctx.allowed_roots()),
                secret=secret,
                render=lambda text: render(text, expr),
            )

    def mount_source(self, dest: Path) -> None:
        """Make the ``--source`` checkout appear at ``dest`` (a symlink, not a copy)."""
        assert self.ctx.source is not None
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            dest.symlink_to(self.ctx.source, target_is_directory=True)

    def collect_artifacts(self, artifacts: Artifacts, frame: Frame, attempt: int) -> None:
        """Store the files ``artifacts.paths`` match inside the workspace; read their JUnit."""
        expr = self.expression_context({})
        base = self.resolve_working_dir(frame.merge(None, artifacts.working_dir), expr)
        patterns = [render(pattern, expr) for pattern in artifacts.paths]
        self.results.artifacts(patterns, base, attempt)

    @staticmethod
    def step_name(step: Step) -> str:
        if step.name:
            return step.name
        shell = step.shell or (step.run.shell if step.run else None)
        if shell:
            return shell.strip().splitlines()[0][:60]
        if step.run and (step.run.command or step.run.args):
            return " ".join([*(step.run.command or []), *(step.run.args or [])])[:60]
        return "step"

    def _warn_unsupported(self, step: Step, name: str) -> None:
        for field_name in _UNSUPPORTED_STEP_FIELDS:
            value = getattr(step, field_name)
            if value:
                self.ctx.sink.warning(
                    f"step {name!r}: `{field_name}` is not supported yet; ignored"
                )


def _min(*values: float | Any | None) -> float | None:
    present = [float(v) for v in values if v]
    return min(present) if present else None
