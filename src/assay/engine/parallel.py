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
    working-directory and artifact helpers, public for this reason.)

Balanced shards (assay extension)
    When the workflow has recorded durations, the items of each ``shards`` list that match
    them are planned with :func:`~assay.results.sharding.plan_shards` (longest first onto
    the least-loaded shard, unknown items get the mean) instead of Testkube's even split, so
    that workers end together.  An item matches as a test name (``classname::name``), a
    pytest node id, or a file or directory path: the sum of the recorded tests whose module
    path starts with it (``tests/test_a.py`` is ``tests.test_a``; for an absolute path the
    longest trailing part that matches, as pytest names modules from its rootdir).  A list
    whose items match nothing keeps Testkube's split.  After the workers end, the planned
    makespan, its lower bound and the actual one (the slowest worker's wall time) are logged
    and kept as the step's message.
"""

from __future__ import annotations

import glob as globlib
import itertools
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.engine.context import ExecutionContext
from assay.engine.steps import Frame, StepWalker, worst
from assay.envvars import RERUN_ONLY
from assay.errors import DefinitionError, ExpressionError
from assay.spec.expressions import evaluate, references, render, simplify, to_string
from assay.spec.workflow import Artifacts, EnvVar, Parallel, Step, TestWorkflow
from assay.status import StepStatus
from assay.store.executions import StepOutcome

if TYPE_CHECKING:
    from assay.results.sharding import ShardPlan
    from assay.store.executions import ExecutionStore

__all__ = [
    "DEFAULT_PARALLELISM",
    "MAX_WORKERS",
    "Params",
    "ShardAssignment",
    "assign_shards",
    "check_parallel",
    "even_split",
    "item_durations",
    "recorded_history",
    "resolve_params",
    "run_parallel",
]

DEFAULT_PARALLELISM = 1000
"""Workers running at once when ``parallelism`` is not given (Testkube's default)."""
MAX_WORKERS = 1000
"""Most workers one group may ask for on the local runner."""

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
_SHARED_WORKSPACE = "workers share the execution's workspace"
_IGNORED = {
    "transfer": _SHARED_WORKSPACE,
    "fetch": _SHARED_WORKSPACE,
    "logs": "worker output always goes to the execution log",
    "pod": "workers are local processes",
    "events": "not supported by the local runner",
    "system": "not supported by the local runner",
    "services": "not supported by the local runner yet",
    "paused": "workers start as soon as a slot is free",
    "pure": "not supported by the local runner",
}
_INTEGER = re.compile(r"\s*-?\d+\s*")
_RUN_TIME_NAMES = frozenset(
    {"env", "execution", "workflow", "resource", "services", "passed", "failed", "always"}
    | {"index", "count", "matrix", "matrixIndex", "matrixCount"}
    | {"shard", "shardIndex", "shardCount"}
)
"""Variables that only the running execution (or an enclosing worker) defines."""


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Params:
    """The resolved shape of a parallel group."""

    shard_count: int
    matrix: dict[str, list[Any]]
    shards: dict[str, list[Any]]
    parallelism: int

    @property
    def combinations(self) -> int:
        """Number of matrix combinations (1 without a matrix)."""
        return math.prod(len(values) for values in self.matrix.values())

    @property
    def count(self) -> int:
        """Number of workers."""
        return self.shard_count * self.combinations

    def matrix_at(self, index: int) -> dict[str, Any]:
        """The matrix values of worker ``index`` (the first key varies slowest)."""
        combination = index // self.shard_count
        values: dict[str, Any] = {}
        for key in reversed(list(self.matrix)):
            items = self.matrix[key]
            values[key] = items[combination % len(items)]
            combination //= len(items)
        return {key: values[key] for key in self.matrix}


class _Resolver:
    """Evaluates the fields of one group; ``partial`` skips what needs the running execution."""

    def __init__(
        self,
        where: str,
        context: Mapping[str, Any],
        functions: Mapping[str, Callable[..., Any]] | None,
        partial: bool,
    ) -> None:
        self.where = where
        self.context = context
        self.functions = functions
        self.partial = partial
        self.pending = False

    def fail(self, name: str, message: str) -> DefinitionError:
        return DefinitionError(f"{self.where}: parallel.{name}: {message}")

    def value(self, name: str, raw: Any) -> tuple[bool, Any]:
        """(known, value) of a field; strings are expressions (``{{ }}`` optional)."""
        if not isinstance(raw, str):
            return True, raw
        try:
            if self.partial:
                _, resolved, value = simplify(raw, self.context, functions=self.functions)
                if not resolved:
                    self._check_names(raw)
                    self.pending = True
                return resolved, value
            return True, evaluate(raw, self.context, functions=self.functions)
        except ExpressionError as exc:
            raise self.fail(name, str(exc)) from None

    def _check_names(self, raw: str) -> None:
        """Before the run: a variable that no execution will ever define is an error."""
        for path in sorted(references(raw, template=False)):
            root = path.split(".", 1)[0]
            if root not in self.context and root not in _RUN_TIME_NAMES:
                raise ExpressionError(f"expression {raw!r}: unknown variable {path!r}")

    def integer(self, name: str, raw: int | str | None) -> int | None:
        """A positive integer field; None when absent (or, partially, not known yet)."""
        if raw is None:
            return None
        known, value = self.value(name, raw)
        if not known:
            return None
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif (isinstance(value, float) and value.is_integer()) or (
            isinstance(value, str) and _INTEGER.fullmatch(value)
        ):
            number = int(value)
        if number is None:
            raise self.fail(name, f"must be an integer, got {to_string(value)!r}")
        if number < 1:
            raise self.fail(name, f"must be at least 1, got {number}")
        return number

    def lists(self, name: str, raw: Mapping[str, Any]) -> dict[str, list[Any]]:
        """``matrix`` or ``shards``: each key a list; keys not known yet are left out."""
        result: dict[str, list[Any]] = {}
        for key, spec in raw.items():
            where = f"{name}.{key}"
            if isinstance(spec, list):
                result[key] = spec if self.partial else [self.item(where, i) for i in spec]
                continue
            if not isinstance(spec, str):
                raise self.fail(where, f"must be a list or an expression giving one, got {spec!r}")
            known, value = self.value(where, spec)
            if not known:
                continue
            if not isinstance(value, list | tuple):
                raise self.fail(where, f"expression {spec!r} gave {to_string(value)!r}, not a list")
            result[key] = list(value)
        return result

    def item(self, where: str, value: Any) -> Any:
        """A static list item with its ``{{ }}`` rendered."""
        try:
            if isinstance(value, str):
                return render(value, self.context, functions=self.functions)
            if isinstance(value, list):
                return [self.item(where, v) for v in value]
            if isinstance(value, dict):
                return {k: self.item(where, v) for k, v in value.items()}
        except ExpressionError as exc:
            raise self.fail(where, str(exc)) from None
        return value


def resolve_params(
    parallel: Parallel,
    where: str,
    context: Mapping[str, Any],
    *,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    partial: bool = False,
) -> Params | None:
    """Count, matrix, shards and parallelism of a group (see the module doc).

    Raises :class:`DefinitionError` naming ``where`` and the field for invalid settings.
    With ``partial``, expressions that need the running execution are skipped, and None is
    returned when any was.
    """
    r = _Resolver(where, context, functions, partial)
    count = r.integer("count", parallel.count)
    max_count = r.integer("maxCount", parallel.max_count)
    parallelism = r.integer("parallelism", parallel.parallelism)
    matrix = r.lists("matrix", parallel.matrix)
    shards = r.lists("shards", parallel.shards)
    for key, values in matrix.items():
        if not values:
            raise r.fail(f"matrix.{key}", "is an empty list: no combination to run")
    if r.pending:
        return None
    if count is not None and max_count is not None:
        count = min(count, max_count)
    elif max_count is not None:
        count = max_count
        for key, values in shards.items():
            if not values:
                raise r.fail(f"shards.{key}", "is an empty list: `maxCount` gives no worker")
            count = min(count, len(values))
    params = Params(count or 1, matrix, shards, parallelism or DEFAULT_PARALLELISM)
    if params.count > MAX_WORKERS:
        raise r.fail(
            "count",
            f"{params.count} workers requested ({params.shard_count} shards x "
            f"{params.combinations} combinations); the local runner runs at most {MAX_WORKERS}",
        )
    return params


def check_parallel(workflow: TestWorkflow, config: Mapping[str, Any]) -> None:
    """Reject invalid ``parallel`` settings before anything runs (what config alone tells)."""
    context = {"config": dict(config), "workflow": {"name": workflow.metadata.name}}
    spec = workflow.spec
    counter = itertools.count(1)
    _check_steps([*spec.setup, *spec.steps], "", counter, context)
    _check_steps(spec.after, "", counter, context)


def _check_steps(
    steps: Sequence[Step], prefix: str, numbers: Iterator[int], context: Mapping[str, Any]
) -> None:
    """Walk steps numbering them as :class:`StepWalker` does when every step runs."""
    for step in steps:
        ref = f"{prefix}{next(numbers)}"
        if step.parallel is not None:
            group = step.parallel
            resolve_params(group, _where(ref, StepWalker.step_name(step)), context, partial=True)
            inner = itertools.count(1)
            _check_steps([*group.setup, *group.steps], f"{ref}.w0.", inner, context)
            _check_steps(group.after, f"{ref}.w0.", inner, context)
        _check_steps([*step.setup, *step.steps], f"{ref}.", numbers, context)


def _where(ref: str, name: str) -> str:
    return f"step {ref} ({name!r})"


# --------------------------------------------------------------------------- shards


def even_split(items: Sequence[Any], count: int) -> list[list[Any]]:
    """Testkube's split: ``count`` contiguous runs, the first ``len % count`` one longer."""
    size, extra = divmod(len(items), count)
    runs: list[list[Any]] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        runs.append(list(items[start:end]))
        start = end
    return runs


def item_durations(items: Iterable[str], history: Mapping[str, float]) -> dict[str, float]:
    """Recorded duration (ms) of each item that matches ``history`` (see the module doc)."""
    from assay.results.sharding import normalize_test_name

    found: dict[str, float] = {}
    modules: dict[str, float] | None = None
    for item in items:
        if item in history:
            found[item] = history[item]
            continue
        name = normalize_test_name(item)
        if name in history:
            found[item] = history[name]
            continue
        path = item.strip().replace("\\", "/")
        if "::" in path or not (path.endswith(".py") or "/" in path):
            continue
        if modules is None:
            modules = _module_totals(history)
        parts = [p for p in path.removesuffix(".py").split("/") if p not in ("", ".")]
        for start in range(len(parts)):
            total = modules.get(".".join(parts[start:]))
            if total is not None:
                found[item] = total
                break
    return found


def _module_totals(history: Mapping[str, float]) -> dict[str, float]:
    """Summed duration under every dotted prefix of the recorded classnames."""
    totals: dict[str, float] = {}
    for test, duration in history.items():
        classname, sep, _ = test.partition("::")
        if not sep:
            continue
        parts = classname.split(".")
        for end in range(1, len(parts) + 1):
            key = ".".join(parts[:end])
            totals[key] = totals.get(key, 0.0) + duration
    return totals


@dataclass(frozen=True)
class ShardAssignment:
    """The items of each ``shards`` key given to each shard index, and the plans used."""

    items: dict[str, list[list[Any]]]
    plans: dict[str, ShardPlan] = field(default_factory=dict)
    """Keys split by recorded durations."""

    @property
    def balanced(self) -> bool:
        """True when some key was split by recorded durations."""
        return bool(self.plans)

    def shard(self, index: int) -> dict[str, list[Any]]:
        """``shard.<key>`` of shard ``index``."""
        return {key: runs[index] for key, runs in self.items.items()}

    def planned_ms(self, index: int) -> float:
        """Planned time of shard ``index`` (summed over the balanced keys)."""
        return sum(plan.shards[index].planned_ms for plan in self.plans.values())

    @property
    def makespan_ms(self) -> float:
        """Planned time of the longest shard."""
        count = len(next(iter(self.items.values()), []))
        return max((self.planned_ms(i) for i in range(count)), default=0.0)

    @property
    def ideal_ms(self) -> float:
        """Lower bound of the makespan (summed over the balanced keys)."""
        return sum(plan.ideal_ms for plan in self.plans.values())


def assign_shards(
    shards: Mapping[str, Sequence[Any]], count: int, history: Mapping[str, float]
) -> ShardAssignment:
    """Split each key's items into ``count`` shards: by ``history`` where items match it."""
    from assay.results.sharding import plan_shards

    items: dict[str, list[list[Any]]] = {}
    plans: dict[str, ShardPlan] = {}
    for key, values in shards.items():
        names = [v for v in values if isinstance(v, str)]
        known = item_durations(names, history) if history and len(names) == len(values) else {}
        if not known:
            items[key] = even_split(values, count)
            continue
        plan = plan_shards(names, known, count)
        order = {name: position for position, name in reversed(list(enumerate(names)))}
        items[key] = [sorted(s.tests, key=order.__getitem__) for s in plan.shards]
        plans[key] = plan
    return ShardAssignment(items, plans)


def recorded_history(
    store: ExecutionStore, workflow: str, execution_id: str
) -> Callable[[], Mapping[str, float]]:
    """A loader of ``workflow``'s recorded test durations (ms), for balanced shards."""

    def load() -> Mapping[str, float]:
        from assay.results.sharding import historical_durations

        return historical_durations(store, workflow, exclude=[execution_id]).durations

    return load


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
    if attempt == 1:
        _warn_ignored(ctx, group, name)
        if group.content is not None:
            walker.materialise(group.content)
    own = frame.merge(group.container, group.working_dir)  # holds for every worker step
    context = walker.expression_context(walker.task_env(own.env, strict=False))
    functions = {"glob": _glob_function(walker, own, context)}
    params = resolve_params(group, _where(ref, name), context, functions=functions)
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
    workers = [_make_worker(walker, params, assignment, i, config) for i in range(params.count)]

    def run(worker: _Worker) -> None:
        if rerun is not None and _passed_before(walker, ref, worker.index, attempt):
            worker.status = StepStatus.PASSED  # no failed test of its own to re-run
            worker.ctx.write_log(ref, "passed in an earlier attempt: not re-run")
            return
        _run_worker(worker, group, own, _worker_ref(ref, worker.index, attempt))

    slots = min(params.parallelism, len(workers))
    with ThreadPoolExecutor(max_workers=slots, thread_name_prefix=f"parallel-{ref}") as pool:
        for future in [pool.submit(run, worker) for worker in workers]:
            future.result()

    notes = _merge(walker, workers, attempt)
    if group.artifacts is not None:
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
            ctx.sink.warning(f"step {name!r}: `parallel.{key}` is ignored: {why}")
    job = group.job.model_dump(exclude_defaults=True) if group.job else {}
    if job.keys() - {"active_deadline_seconds"}:
        ctx.sink.warning(f"step {name!r}: `parallel.job` is ignored but for activeDeadlineSeconds")


def shards_line(assignment: ShardAssignment, seconds: Sequence[float]) -> str:
    """``shards: planned makespan 12.3s (ideal 12.0s), actual 13.1s; workers 13.1s ...``."""
    times = " ".join(f"{s:.1f}s" for s in seconds)
    actual = max(seconds, default=0.0)
    if assignment.balanced:
        head = (
            f"shards: planned makespan {assignment.makespan_ms / 1000:.1f}s "
            f"(ideal {assignment.ideal_ms / 1000:.1f}s)"
        )
    else:
        head = "shards: even split (no recorded durations)"
    return f"{head}, actual {actual:.1f}s; workers {times}"


def _make_worker(
    walker: StepWalker,
    params: Params,
    assignment: ShardAssignment,
    index: int,
    config: dict[str, Any],
) -> _Worker:
    shard_index = index % params.shard_count
    variables = {
        "index": index,
        "count": params.count,
        "matrix": params.matrix_at(index),
        "matrixIndex": index // params.shard_count,
        "matrixCount": params.combinations,
        "shard": assignment.shard(shard_index),
        "shardIndex": shard_index,
        "shardCount": params.shard_count,
    }
    ctx = _worker_context(walker.ctx, index, variables, config)
    return _Worker(index, ctx, type(walker)(ctx, walker.run_children, history=walker.history))


def _worker_step(group: Parallel, worker: _Worker) -> Step:
    description = group.description or group.name
    if description:
        description = render(description, worker.walker.expression_context({}), strict=False)
    name = f"worker {worker.index}" + (f": {description}" if description else "")
    return Step(name=name, **{key: getattr(group, key) for key in _TEMPLATE_FIELDS})


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
