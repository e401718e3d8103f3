"""What a ``parallel`` group asks for: worker count, matrix, shards and parallelism.

:func:`resolve_params` evaluates a group's fields as Testkube does (see
:mod:`assay.engine.parallel`); :func:`check_parallel` runs it over a whole workflow before
anything is recorded, on what config alone decides, so that a bad setting exits 2.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assay.engine.steps import StepWalker
from assay.errors import DefinitionError, ExpressionError
from assay.spec.expressions import evaluate, references, render, simplify, to_string
from assay.spec.workflow import Parallel, Step, TestWorkflow

__all__ = [
    "DEFAULT_PARALLELISM",
    "MAX_WORKERS",
    "Params",
    "check_parallel",
    "group_where",
    "resolve_params",
]

DEFAULT_PARALLELISM = 1000
"""Workers running at once when ``parallelism`` is not given (Testkube's default)."""
MAX_WORKERS = 1000
"""Most workers one group may ask for on the local runner."""

_INTEGER = re.compile(r"\s*-?\d+\s*")
_RUN_TIME_NAMES = frozenset(
    {"env", "execution", "workflow", "resource", "services", "passed", "failed", "always"}
    | {"index", "count", "matrix", "matrixIndex", "matrixCount"}
    | {"shard", "shardIndex", "shardCount"}
)
"""Variables that only the running execution (or an enclosing worker) defines."""


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

    def variables(self, index: int, shard_of: Callable[[int], Any]) -> dict[str, Any]:
        """What worker ``index``'s expressions see (``index``, ``matrix``, ``shard``, ...);
        ``shard_of`` gives a shard's values by its index."""
        shard_index = index % self.shard_count
        return {
            "index": index,
            "count": self.count,
            "matrix": self.matrix_at(index),
            "matrixIndex": index // self.shard_count,
            "matrixCount": self.combinations,
            "shard": shard_of(shard_index),
            "shardIndex": shard_index,
            "shardCount": self.shard_count,
        }


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
            resolve_params(
                group, group_where(ref, StepWalker.step_name(step)), context, partial=True
            )
            inner = itertools.count(1)
            _check_steps([*group.setup, *group.steps], f"{ref}.w0.", inner, context)
            _check_steps(group.after, f"{ref}.w0.", inner, context)
        _check_steps([*step.setup, *step.steps], f"{ref}.", numbers, context)


def group_where(ref: str, name: str) -> str:
    """How errors name a group: ``step 2 ('fan out')``."""
    return f"step {ref} ({name!r})"
