"""Duration-balanced shards from recorded test durations.

Planning
    Each test's expected duration is the **median of its last N recorded attempts** that
    passed or failed (default 5; skipped and errored attempts say little about how long a
    test runs), taken from the latest finished executions of the workflow.  A test without
    history gets the **mean** of the known durations of the tests being planned (1 ms each
    when none is known, which splits by count).  Tests are then placed longest first, each on
    the shard with the least planned time so far (LPT greedy, ties to the lower shard index,
    equal durations in name order), which is deterministic: every CI job computes the same
    plan from the same history.

Quality
    ``ideal`` is a lower bound of any plan's makespan: the larger of total/N and the longest
    single test.  ``makespan / ideal`` is 1.0 for a perfect split; LPT is proven to stay
    within 4/3 of the optimum, and is usually within a few percent on real suites.

Actual makespan
    A plan is measured against what really happened with :func:`measure_plan`: the recorded
    durations of a *later* execution (or of the executions that ran the shards), summed per
    planned shard over every attempt.  That is the test time of each shard; the wall time of
    a shard also holds start-up and fixture time that no per-test history can see, which is
    why shard executions' own wall times are reported separately by the CLI.

Test names are ``classname::name`` as in reports; pytest node ids
(``tests/test_a.py::TestX::test_y[1]``) are accepted and turned into that form
(``tests.test_a.TestX::test_y[1]``, which is how pytest's JUnit report names the test).
"""

from __future__ import annotations

import heapq
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from assay.errors import DefinitionError
from assay.results.model import CaseStatus
from assay.results.report_data import display_name
from assay.status import ExecutionStatus
from assay.store.executions import ExecutionStore
from assay.store.tables import ExecutionRow, TestCaseRow

__all__ = [
    "HistoricalDurations",
    "PlanMeasurement",
    "Shard",
    "ShardPlan",
    "historical_durations",
    "measure_plan",
    "normalize_test_name",
    "plan_shards",
    "read_test_list",
    "recorded_durations",
]

DEFAULT_SAMPLES = 5
"""Attempts per test whose median is its expected duration."""

DEFAULT_EXECUTIONS = 30
"""Latest finished executions searched for durations."""

_FINISHED = tuple(s.value for s in ExecutionStatus if s.finished)
_TIMED = (CaseStatus.PASSED.value, CaseStatus.FAILED.value, CaseStatus.QUARANTINED.value)
_UNKNOWN_DEFAULT_MS = 1.0


@dataclass(frozen=True, slots=True)
class Shard:
    """One shard of a plan."""

    index: int
    tests: tuple[str, ...]
    planned_ms: float


@dataclass(frozen=True, slots=True)
class ShardPlan:
    """Tests split into shards, with the durations the split assumed."""

    shards: tuple[Shard, ...]
    durations: Mapping[str, float]
    """Assumed duration (ms) of every planned test, known or the mean."""
    unknown: tuple[str, ...]
    """Tests without history, given the mean."""
    mean_ms: float

    @property
    def makespan_ms(self) -> float:
        """Planned time of the longest shard."""
        return max((s.planned_ms for s in self.shards), default=0.0)

    @property
    def total_ms(self) -> float:
        """Planned time of all tests."""
        return sum(s.planned_ms for s in self.shards)

    @property
    def ideal_ms(self) -> float:
        """Lower bound of any plan's makespan: max(total / shards, longest test)."""
        if not self.shards:
            return 0.0
        longest = max(self.durations.values(), default=0.0)
        return max(self.total_ms / len(self.shards), longest)

    @property
    def quality(self) -> float:
        """makespan / ideal (1.0 is perfect)."""
        ideal = self.ideal_ms
        return self.makespan_ms / ideal if ideal > 0 else 1.0

    def shard_of(self, test: str) -> int:
        """Index of the shard that runs ``test``."""
        for shard in self.shards:
            if test in shard.tests:
                return shard.index
        raise KeyError(test)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready plan."""
        return {
            "shards": [
                {"index": s.index, "plannedMs": round(s.planned_ms), "tests": list(s.tests)}
                for s in self.shards
            ],
            "plannedMakespanMs": round(self.makespan_ms),
            "idealMs": round(self.ideal_ms),
            "quality": round(self.quality, 4),
            "meanMs": round(self.mean_ms, 1),
            "unknown": list(self.unknown),
        }


def plan_shards(tests: Iterable[str], durations: Mapping[str, float], shards: int) -> ShardPlan:
    """Split ``tests`` into ``shards`` by LPT greedy on ``durations`` (ms); see the module doc.

    Tests missing from ``durations`` get the mean of the known durations among ``tests``.
    A test named twice is planned once.
    """
    if shards < 1:
        raise DefinitionError(f"shards must be at least 1, got {shards}")
    names = list(dict.fromkeys(tests))
    known = [durations[t] for t in names if t in durations]
    mean = statistics.fmean(known) if known else _UNKNOWN_DEFAULT_MS
    assumed = {t: float(durations[t]) if t in durations else mean for t in names}
    unknown = tuple(t for t in names if t not in durations)
    order = sorted(names, key=lambda t: (-assumed[t], t))
    heap = [(0.0, index) for index in range(shards)]
    members: list[list[str]] = [[] for _ in range(shards)]
    totals = [0.0] * shards
    for test in order:
        total, index = heapq.heappop(heap)
        members[index].append(test)
        totals[index] = total + assumed[test]
        heapq.heappush(heap, (totals[index], index))
    planned = tuple(
        Shard(index, tuple(sorted(members[index])), totals[index]) for index in range(shards)
    )
    return ShardPlan(planned, assumed, unknown, mean)


@dataclass(frozen=True, slots=True)
class PlanMeasurement:
    """A plan checked against recorded durations."""

    shard_ms: tuple[float, ...]
    """Recorded test time per planned shard (every attempt)."""
    missing: tuple[int, ...]
    """Per shard, planned tests with no recorded duration (not run, or renamed)."""

    @property
    def makespan_ms(self) -> float:
        """Recorded time of the slowest shard."""
        return max(self.shard_ms, default=0.0)


def measure_plan(plan: ShardPlan, recorded: Mapping[str, float]) -> PlanMeasurement:
    """Sum recorded durations (ms) over each planned shard's tests."""
    sums = []
    missing = []
    for shard in plan.shards:
        sums.append(sum(recorded.get(t, 0.0) for t in shard.tests))
        missing.append(sum(t not in recorded for t in shard.tests))
    return PlanMeasurement(tuple(sums), tuple(missing))


@dataclass(frozen=True, slots=True)
class HistoricalDurations:
    """Expected durations of a workflow's tests, and where they came from."""

    durations: dict[str, float]
    """Expected duration (ms) of each test with timed attempts."""
    executions: tuple[str, ...]
    """Names of the executions searched, newest first."""
    tests: frozenset[str]
    """Every test seen in them, timed or not (a test only ever skipped has no duration)."""


def historical_durations(
    store: ExecutionStore,
    workflow: str,
    *,
    samples: int = DEFAULT_SAMPLES,
    executions: int = DEFAULT_EXECUTIONS,
    exclude: Sequence[str] = (),
) -> HistoricalDurations:
    """Median of each test's last ``samples`` timed attempts in the latest ``executions``."""
    with store.db.session() as session:
        rows = list(
            session.execute(
                select(ExecutionRow.id, ExecutionRow.name)
                .where(
                    ExecutionRow.workflow == workflow,
                    ExecutionRow.status.in_(_FINISHED),
                    ExecutionRow.id.not_in(list(exclude)),
                )
                .order_by(ExecutionRow.queued_at.desc(), ExecutionRow.number.desc())
                .limit(executions)
            )
        )
    picked: dict[str, list[float]] = {}
    seen: set[str] = set()
    with store.db.engine.connect() as connection:
        for execution_id, _ in rows:  # newest first; within one, latest attempts first
            result = connection.execute(
                select(
                    TestCaseRow.classname,
                    TestCaseRow.name,
                    TestCaseRow.status,
                    TestCaseRow.duration_ms,
                )
                .where(TestCaseRow.execution_id == execution_id)
                .order_by(TestCaseRow.attempt.desc(), TestCaseRow.id.desc())
            )
            for classname, name, status, duration in result:
                test = display_name(classname, name)
                seen.add(test)
                if status in _TIMED:
                    values = picked.setdefault(test, [])
                    if len(values) < samples:
                        values.append(float(duration or 0))
    return HistoricalDurations(
        {test: statistics.median(values) for test, values in picked.items()},
        tuple(name for _, name in rows),
        frozenset(seen),
    )


def recorded_durations(store: ExecutionStore, execution_ids: Iterable[str]) -> dict[str, float]:
    """What the given executions spent on each test: the sum of all its attempts (ms)."""
    spent: dict[str, float] = {}
    with store.db.engine.connect() as connection:
        for execution_id in execution_ids:
            result = connection.execute(
                select(TestCaseRow.classname, TestCaseRow.name, TestCaseRow.duration_ms).where(
                    TestCaseRow.execution_id == execution_id
                )
            )
            for classname, name, duration in result:
                key = display_name(classname, name)
                spent[key] = spent.get(key, 0.0) + float(duration or 0)
    return spent


def normalize_test_name(text: str) -> str:
    """``classname::name`` for a pytest node id; other names are kept as they are."""
    text = text.strip()
    path, sep, rest = text.partition("::")
    if not sep or not path.endswith(".py"):
        return text
    module = path.removesuffix(".py").replace("\\", "/").strip("/").replace("/", ".")
    parts = rest.split("::")
    classname = ".".join([module, *parts[:-1]])
    return display_name(classname, parts[-1])


def read_test_list(text: str) -> dict[str, str]:
    """Test names, one a line, as {normalised name: the line as written}.

    Blank lines and ``#`` comments are skipped; pytest node ids are normalised (see
    :func:`normalize_test_name`), so that plans can be printed back in the caller's names.
    """
    names: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.setdefault(normalize_test_name(line), line)
    return names
