"""Testkube's ``parallel`` step on the local runner, with duration-balanced shards.

Workers
    A ``parallel`` group runs ``shardCount x combinations`` workers, as Testkube does:
    ``count`` is the number of shards (1 when neither ``count`` nor ``maxCount`` is given),
    ``maxCount`` caps it at the length of the shortest ``shards`` list (with both, the smaller
    wins), and every ``matrix`` combination (the cartesian product of its lists, the first
    key varying slowest) gets the whole set of shards.  Worker ``index`` runs shard
    ``index % shardCount`` of combination ``index // shardCount``.  Its expressions see
    ``index``, ``count``, ``matrix``, ``matrixIndex``, ``matrixCount``, ``shard`` (each key
    a list), ``shardIndex`` and ``shardCount``.  ``matrix`` and ``shards`` values are lists
    (items may hold ``{{ }}``) or expressions yielding one, evaluated with ``glob()`` (files
    relative to the group's working directory, ``/data/...`` as written, ``!pattern``
    excludes).

    Each worker is a thread driving the runner with its own :class:`StepWalker` over the
    group's step template (``run``/``shell``/``execute``, ``setup``/``steps``, then
    ``after``), ``parallelism`` at a time, all in the execution's workspace.  Its step refs
    are ``<ref>.w<index>`` (so its pytest report is ``<ref>.w<index>-<attempt>.xml``), its
    log lines are prefixed ``[worker <index>]``.  ``content`` is materialised once before the
    workers start and ``artifacts`` are collected once after they end (each file once, with
    every worker's paths), since the workers share the workspace.  The group's status is
    the worst of its workers'.  (This module is the walker's own: it uses its rendering,
    working-directory and artifact helpers, public for this reason.  The dependency runs
    one way: the walker is handed :func:`run_parallel` as its ``run_group``.)

Balanced shards
    With recorded durations, ``shards`` items are split so that workers end together
    (:mod:`assay.engine.shard_balance`); what the group asks for is resolved and checked
    by :mod:`assay.engine.parallel_params`.
"""

from __future__ import annotations

import glob as globlib
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from assay.engine.context import ExecutionContext
from assay.engine.parallel_params import Params, group_where, resolve_params
from assay.engine.shard_balance import ShardAssignment, assign_shards, shards_line
from assay.engine.steps import Frame, StepWalker, worst
from assay.envvars import RERUN_ONLY
from assay.errors import DefinitionError, ExpressionError
from assay.spec.expressions import render, to_string
from assay.spec.workflow import Artifacts, EnvVar, Parallel, Step
from assay.status import StepStatus
from assay.store.executions import StepOutcome

__all__ = ["run_parallel", "worker_name"]

_TEMPLATE_FIELDS = (
    "condition",
    "negative",
    "optional",
    "retry",
    "timeout",
    "delay",
    "shell",
    "run",
    "execute",
    "setup",
    "steps",
)
_OWN_DATA_RUNNERS = frozenset({"docker"})
"""Runners whose workers get their own ``/data`` (containers, as Testkube's pods); local
processes share the execution's workspace (no copy of a checkout per worker)."""
_IGNORED = {
    "logs": "worker output always goes to the execution log",
    "pod": "not supported by the {runner} runner",
    "events": "not supported by the {runner} runner",
    "system": "not supported by the {runner} runner",
    "services": "not supported for parallel workers yet (declare them on the spec or a step)",
    "paused": "workers start as soon as a slot is free",
    "pure": "not supported by the {runner} runner",
}


# --------------------------------------------------------------------------- running


@dataclass
class _WorkerContext(ExecutionContext):
    """The execution as one worker sees it: its variables, its log prefix, its own cases."""

    variables: dict[str, Any] = field(default_factory=dict)
    prefix: str = ""

    def expression_context(self, env: dict[str, str], **extra: Any) -> dict[str, Any]:
        """The execution's variables plus the worker's (``index``, ``matrix``, ``shard``...)."""
        return {**super().expression_context(env, **extra), **self.variables}

    def write_log(self, ref: str, line: str) -> None:
        """Log the line with the worker's prefix."""
        super().write_log(ref, self.prefix + line)


def _worker_context(
    ctx: ExecutionContext, index: int, variables: dict[str, Any], config: dict[str, Any]
) -> _WorkerContext:
    shared = {f.name: getattr(ctx, f.name) for f in fields(ExecutionContext)}
    outer_vars = ctx.variables if isinstance(ctx, _WorkerContext) else {}
    outer_prefix = ctx.prefix if isinstance(ctx, _WorkerContext) else ""
    shared.update(cases=[], config=config)
    return _WorkerContext(
        **shared,
        variables={**outer_vars, **variables},
        prefix=f"{outer_prefix}[worker {index}] ",
    )


@dataclass
class _Worker:
    index: int
    ctx: _WorkerContext
    walker: StepWalker
    status: StepStatus = StepStatus.SKIPPED
    seconds: float = 0.0


def run_parallel(
    walker: StepWalker,
    group: Parallel,
    frame: Frame,
    ref: str,
    attempt: int,
    rerun: Path | None = None,
) -> StepStatus:
    """Run the workers of ``group`` (step ``ref``) and return the worst of their statuses.

    ``rerun`` (``retry.scope: failed-tests``) narrows every worker to the failed tests; a
    worker that passed in an earlier attempt is not run again.
    """
    ctx = walker.ctx
    outcome = _outcome(walker, ref)
    name = outcome.name if outcome else ref
    own_data = ctx.runner.name in _OWN_DATA_RUNNERS
    if attempt == 1:
        _warn_ignored(ctx, group, name)
    if attempt == 1 and group.content is not None and not own_data:
        walker.materialise(group.content)  # once: the workers share the workspace
    own = frame.merge(group.container, group.working_dir)  # holds for every worker step
    context = walker.expression_context(walker.task_env(own.env, strict=False))
    functions = {"glob": _glob_function(walker, own, context)}
    params = resolve_params(group, group_where(ref, name), context, functions=functions)
    assert params is not None
    assignment = assign_shards(
        params.shards, params.shard_count, _history(walker, name) if params.shards else {}
    )
    _log_plan(walker, ref, params, assignment)
    if rerun is not None:
        own = replace(own, env=(*own.env, EnvVar(name=RERUN_ONLY, value=str(rerun))))
    config = {**ctx.config}
    for key, param in group.config.items():
        if param.default is not None:
            config.setdefault(key, param.default)
    workers = [
        _make_worker(walker, params, assignment, i, config, _worker_ref(ref, i, attempt), own_data)
        for i in range(params.count)
    ]

    def run(worker: _Worker) -> None:
        if rerun is not None and _passed_before(walker, ref, worker.index, attempt):
            worker.status = StepStatus.PASSED  # no failed test of its own to re-run
            worker.ctx.write_log(ref, "passed in an earlier attempt: not re-run")
            return
        worker_ref = _worker_ref(ref, worker.index, attempt)
        frame = own
        if own_data:
            frame = replace(own, default_dir=_rebased(own.default_dir, ctx, worker.ctx))
            if group.content is not None:
                worker.walker.materialise(group.content)
        _transfer(ctx, worker.ctx, group.transfer, "parallel.transfer", inward=True)
        try:
            _run_worker(worker, group, frame, worker_ref)
        finally:
            _transfer(ctx, worker.ctx, group.fetch, "parallel.fetch", inward=False)
        if own_data and group.artifacts is not None:
            _collect(worker.walker, group.artifacts, frame, [worker], 1)

    slots = min(params.parallelism, len(workers))
    with ThreadPoolExecutor(max_workers=slots, thread_name_prefix=f"parallel-{ref}") as pool:
        for future in [pool.submit(run, worker) for worker in workers]:
            future.result()

    notes = _merge(walker, workers, attempt)
    if group.artifacts is not None and not own_data:
        _collect(walker, group.artifacts, own, workers, attempt)
    status = worst([w.status for w in workers])
    ctx.write_log(ref, f"parallel: {len(workers)} worker(s) ended, {status}")
    if params.shards:
        line = shards_line(assignment, [w.seconds for w in workers])
        ctx.write_log(ref, line)
        notes.append(line)
    if outcome is not None and notes:
        outcome.message = "; ".join(notes)
    return status


def _run_worker(worker: _Worker, group: Parallel, frame: Frame, ref: str) -> None:
    """The group's step template, then its ``after`` steps, as worker step ``ref``."""
    started = time.monotonic()
    deadline = group.job.active_deadline_seconds if group.job else None
    if deadline:
        limit = started + deadline
        frame = replace(frame, deadline=min(limit, frame.deadline) if frame.deadline else limit)
    step = _worker_step(group, worker)
    status = worker.walker.run_step(step, frame, f"{ref}.", ref=ref)
    statuses = [] if group.optional else [status]
    if group.after:
        statuses.append(worker.walker.run_steps(group.after, frame, f"{ref}."))
    worker.status = worst(statuses)
    worker.seconds = time.monotonic() - started


def _merge(walker: StepWalker, workers: Sequence[_Worker], attempt: int) -> list[str]:
    """Fold the workers' steps, test cases and flags into ``walker``; return their errors."""
    errors: list[str] = []
    for worker in workers:
        walker.outcomes.extend(worker.walker.outcomes)
        for case in worker.ctx.cases:
            case.attempt += attempt - 1  # as for reruns inside one report
        with walker.ctx.lock:
            walker.ctx.cases.extend(worker.ctx.cases)
        walker.deadline_hit |= worker.walker.deadline_hit
        errors.extend(f"worker {worker.index}: {error}" for error in worker.walker.errors)
    return errors


def _warn_ignored(ctx: ExecutionContext, group: Parallel, name: str) -> None:
    for key, why in _IGNORED.items():
        if getattr(group, key):
            why = why.format(runner=ctx.runner.name)
            ctx.sink.warning(f"step {name!r}: `parallel.{key}` is ignored: {why}")
    job = group.job.model_dump(exclude_defaults=True) if group.job else {}
    if job.keys() - {"active_deadline_seconds"}:
        ctx.sink.warning(f"step {name!r}: `parallel.job` is ignored but for activeDeadlineSeconds")


def _make_worker(
    walker: StepWalker,
    params: Params,
    assignment: ShardAssignment,
    index: int,
    config: dict[str, Any],
    ref: str,
    own_data: bool,
) -> _Worker:
    variables = params.variables(index, assignment.shard)
    ctx = _worker_context(walker.ctx, index, variables, config)
    if own_data:  # its own /data, and its own place for artifacts
        ctx.workspace = ctx.workspace.with_data(ctx.workspace.root / "workers" / ref / "data")
        ctx.artifacts_dir = ctx.artifacts_dir / "workers" / ref
    worker = type(walker)(
        ctx, walker.run_children, history=walker.history, run_group=walker.run_group
    )
    return _Worker(index, ctx, worker)


def _worker_step(group: Parallel, worker: _Worker) -> Step:
    name = worker_name(group, worker.index, worker.walker.expression_context({}))
    return Step(name=name, **{key: getattr(group, key) for key in _TEMPLATE_FIELDS})


def worker_name(group: Parallel, index: int, context: Mapping[str, Any]) -> str:
    """A worker's step name, on every runner: ``worker N``, then the group's own
    ``description`` or ``name`` (rendered with the worker's variables) when it has one."""
    description = group.description or group.name
    if description:
        description = render(description, context, strict=False)
    return f"worker {index}" + (f": {description}" if description else "")


def _log_plan(walker: StepWalker, ref: str, params: Params, assignment: ShardAssignment) -> None:
    shape = []
    if params.combinations > 1:
        shape.append(f"{params.combinations} combinations")
    if params.shard_count > 1:
        shape.append(f"{params.shard_count} shards")
    at_once = min(params.parallelism, params.count)
    walker.ctx.write_log(
        ref,
        f"parallel: {params.count} worker(s)"
        + (f" ({' x '.join(shape)})" if shape else "")
        + f", {at_once} at a time"
        + (", shards balanced by recorded durations" if assignment.balanced else ""),
    )
    for index in range(params.count):
        parts = [f"{k}={to_string(v)}" for k, v in params.matrix_at(index).items()]
        shard_index = index % params.shard_count
        for key, items in assignment.shard(shard_index).items():
            parts.append(f"{key}: {len(items)} item(s) {', '.join(map(to_string, items))}")
        if assignment.balanced:
            parts.append(f"planned {assignment.planned_ms(shard_index) / 1000:.1f}s")
        if parts:
            walker.ctx.write_log(ref, f"[worker {index}] " + "; ".join(parts))


def _history(walker: StepWalker, name: str) -> Mapping[str, float]:
    if walker.history is None:
        return {}
    try:
        return walker.history()
    except Exception as exc:  # balancing is an optimisation: never fail the step for it
        walker.ctx.sink.warning(
            f"step {name!r}: recorded durations unavailable ({exc}); shards split evenly"
        )
        return {}


def _glob_function(
    walker: StepWalker, frame: Frame, context: Mapping[str, Any]
) -> Callable[..., list[str]]:
    """Testkube's ``glob(pattern, ...)``: files, ``!pattern`` excluded, as ``/data/...``."""
    workspace = walker.ctx.workspace

    def expand(pattern: str, base: Path) -> set[Path]:
        mapped = workspace.resolve(pattern, base)
        return {Path(p) for p in globlib.glob(str(mapped), recursive=True) if Path(p).is_file()}

    def glob(*patterns: Any) -> list[str]:
        texts = [to_string(p) for p in patterns]
        if not [t for t in texts if not t.startswith("!")]:
            raise ExpressionError("glob() needs at least one pattern that is not `!...`")
        base = walker.resolve_working_dir(frame, dict(context))
        found: set[Path] = set()
        excluded: set[Path] = set()
        for text in texts:
            if text.startswith("!"):
                excluded |= expand(text[1:], base)
            else:
                found |= expand(text, base)
        return sorted(_as_written(path, workspace.data) for path in found - excluded)

    return glob


def _as_written(path: Path, data: Path) -> str:
    if path.is_relative_to(data):
        return "/data/" + path.relative_to(data).as_posix()
    return str(path)


def _collect(
    walker: StepWalker, artifacts: Artifacts, frame: Frame, workers: Sequence[_Worker], attempt: int
) -> None:
    """Collect the group's artifacts once, with the paths of every worker (each file once)."""
    by_dir: dict[str | None, list[str]] = {}
    for worker in workers:
        variables = worker.walker.expression_context({})
        working_dir = artifacts.working_dir and render(artifacts.working_dir, variables)
        paths = by_dir.setdefault(working_dir, [])
        for pattern in artifacts.paths:
            rendered = render(pattern, variables)
            if rendered not in paths:
                paths.append(rendered)
    for working_dir, paths in by_dir.items():
        walker.collect_artifacts(
            artifacts.model_copy(update={"working_dir": working_dir, "paths": paths}),
            frame,
            attempt,
        )


def _rebased(path: Path, parent: ExecutionContext, worker: ExecutionContext) -> Path:
    """``path`` under the parent's ``/data`` -> the same place in the worker's (its
    ``/data`` when that place was not transferred)."""
    if not path.is_relative_to(parent.workspace.data):
        return path
    moved = worker.workspace.data / path.relative_to(parent.workspace.data)
    return moved if moved.is_dir() else worker.workspace.data


def _transfer(
    parent: ExecutionContext,
    worker: _WorkerContext,
    items: Sequence[Mapping[str, Any]],
    field_name: str,
    *,
    inward: bool,
) -> None:
    """Testkube's ``transfer`` (``inward``: the execution's ``/data`` -> the worker's) and
    ``fetch`` (back): each item copies ``from`` to ``to`` (default: the same path), only
    the ``files`` globs under it when given. A ``fetch`` source that is missing (a worker
    that failed early) is a warning; a ``transfer`` one is an error."""
    context = worker.expression_context(dict(os.environ))
    source_ws, target_ws = (parent, worker) if inward else (worker, parent)
    roots = parent.allowed_roots()
    for position, item in enumerate(items):
        where = f"{field_name}[{position}]"
        if not isinstance(item, Mapping) or not item.get("from"):
            raise DefinitionError(f"{where}.from is required")
        origin = render(str(item["from"]), context)
        destination = render(str(item.get("to") or origin), context)
        source = source_ws.workspace.resolve_inside(origin, roots)
        target = target_ws.workspace.resolve_inside(destination, roots)
        if not source.exists():
            message = f"{where}: {origin} does not exist"
            if inward:
                raise DefinitionError(message)
            worker.write_log("-", f"warning: {message}")
            worker.sink.warning(f"[worker {worker.variables.get('index')}] {message}")
            continue
        files = item.get("files")
        patterns = [render(str(p), context) for p in files] if isinstance(files, list) else None
        copied = _copy(source, target, patterns)
        worker.write_log("-", f"{field_name}: {origin} -> {destination} ({copied} file(s))")


def _copy(source: Path, target: Path, patterns: Sequence[str] | None) -> int:
    """Copy a file or a directory (only what ``patterns`` match, if given) onto ``target``;
    links are copied as links. Returns how many files were copied."""
    if os.path.realpath(source) == os.path.realpath(target):
        return 0  # the same place (workers sharing the workspace)
    if source.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        return 1
    if patterns is None:
        names = [p for p in source.rglob("*") if not p.is_dir() or p.is_symlink()]
        shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
        return len(names)
    count = 0
    for pattern in patterns:
        for match in globlib.glob(str(source / pattern), recursive=True):
            path = Path(match)
            if path.is_file():
                destination = target / path.relative_to(source)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, destination, follow_symlinks=False)
                count += 1
    return count


def _worker_ref(ref: str, index: int, attempt: int) -> str:
    return f"{ref}.w{index}" + ("" if attempt == 1 else f"-a{attempt}")


def _passed_before(walker: StepWalker, ref: str, index: int, attempt: int) -> bool:
    """Whether worker ``index`` passed in the latest earlier attempt that ran it."""
    for earlier in range(attempt - 1, 0, -1):
        outcome = _outcome(walker, _worker_ref(ref, index, earlier))
        if outcome is not None:
            return outcome.status in (StepStatus.PASSED, StepStatus.SKIPPED)
    return False


def _outcome(walker: StepWalker, ref: str) -> StepOutcome | None:
    return next((o for o in reversed(walker.outcomes) if o.ref == ref), None)
