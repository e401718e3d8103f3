"""Duration-balanced shards for ``parallel`` groups (assay's extension of Testkube's split).

When the workflow has recorded durations, the items of each ``shards`` list that match
them are planned with :func:`~assay.analytics.sharding.plan_shards` (longest first onto
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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.analytics.sharding import ShardPlan
    from assay.store.executions import ExecutionStore

__all__ = [
    "ShardAssignment",
    "assign_shards",
    "even_split",
    "item_durations",
    "recorded_history",
    "shards_line",
]


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
    from assay.analytics.sharding import normalize_test_name

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
    from assay.analytics.sharding import plan_shards

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
        from assay.analytics.sharding import historical_durations

        return historical_durations(store, workflow, exclude=[execution_id]).durations

    return load


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
