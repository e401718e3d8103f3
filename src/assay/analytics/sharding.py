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
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, select

from assay.errors import DefinitionError
from assay.model import CaseStatus, display_name
from assay.status import ExecutionStatus
from assay.store.executions import ExecutionStore
from assay.store.tables import ExecutionRow
from assay.store.test_cases import (
    CaseColumns,
    positions_of,
    read_columns,
    read_names,
    status_codes,
)

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
_TIMED_CODES = status_codes(_TIMED)
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
    """Median of each test's last ``samples`` timed attempts in the latest ``executions``.

    Attempts are taken newest execution first and, within one, latest attempts first (by
    attempt number, then stored order); tests are told apart by :func:`display_name`.
    """
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
    with store.db.engine.connect() as connection:
        columns = read_columns(connection, [execution_id for execution_id, _ in rows])
        labels, label = _labels(connection, columns)
    timed = np.isin(columns.status, _TIMED_CODES)
    durations: dict[str, float] = {}
    if np.any(timed):
        if samples < 1:  # every timed test has no sample, as before: no median
            raise statistics.StatisticsError("no median for empty data")
        durations = _medians(columns.take(timed), label[timed], labels, samples)
    return HistoricalDurations(durations, tuple(name for _, name in rows), frozenset(labels))


def _medians(
    columns: CaseColumns, label: npt.NDArray[np.int64], labels: list[str], samples: int
) -> dict[str, float]:
    """The median of the first ``samples`` durations of each label, attempts taken newest
    execution first, then highest attempt number, then latest stored; labels in the order
    that walk first meets them."""
    # the walk: newest execution first (columns list them so), latest attempts first
    walk = np.lexsort((-columns.position, -columns.attempt, columns.execution))
    # each label's attempts in walk order, then its first ``samples`` of them
    order = walk[np.argsort(label[walk], kind="stable")]
    grouped = label[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    counts = np.diff(np.r_[starts, len(grouped)])
    rank = np.arange(len(grouped)) - np.repeat(starts, counts)
    kept = order[rank < samples]
    kept_label = label[kept]
    values = columns.duration_ms[kept].astype(np.float64)
    by_value = np.lexsort((values, kept_label))
    values, kept_label = values[by_value], kept_label[by_value]
    first = np.flatnonzero(np.r_[True, kept_label[1:] != kept_label[:-1]])
    sizes = np.diff(np.r_[first, len(kept_label)])
    # statistics.median: the middle value, or the mean of the two middle values
    medians = (values[first + (sizes - 1) // 2] + values[first + sizes // 2]) / 2
    met = np.empty(len(walk), dtype=np.int64)
    met[walk] = np.arange(len(walk))
    first_met = np.full(len(labels), len(walk), dtype=np.int64)
    np.minimum.at(first_met, label, met)
    median_of = dict(zip(kept_label[first].tolist(), medians.tolist(), strict=True))
    return {
        labels[index]: median_of[index]
        for index in np.argsort(first_met, kind="stable").tolist()
        if index in median_of
    }


def recorded_durations(store: ExecutionStore, execution_ids: Iterable[str]) -> dict[str, float]:
    """What the given executions spent on each test: the sum of all its attempts (ms).

    An execution named twice is counted twice.
    """
    wanted = list(execution_ids)
    with store.db.engine.connect() as connection:
        columns = read_columns(connection, wanted)
        labels, label = _labels(connection, columns)
    if not len(columns):
        return {}
    times = Counter(wanted)
    weight = np.array([times[e] for e in columns.execution_ids], dtype=np.float64)
    spent = np.bincount(
        label,
        weights=columns.duration_ms.astype(np.float64) * weight[columns.execution],
        minlength=len(labels),
    )
    # labels are numbered in the order the attempts list them: that of the old dict
    return dict(zip(labels, spent.tolist(), strict=True))


def _labels(
    connection: Connection, columns: CaseColumns
) -> tuple[list[str], npt.NDArray[np.int64]]:
    """The :func:`display_name` of the attempts' tests, and the index in it of each attempt's.

    Names are numbered in the order the attempts first list them; only the executions that
    hold a test not yet named have their names read.
    """
    ids, first, inverse = np.unique(columns.test_id, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    label_of_id = np.full(len(ids), -1, dtype=np.int64)
    labels: dict[str, int] = {}
    bounds = np.searchsorted(columns.execution, np.arange(len(columns.execution_ids) + 1))
    for index, execution_id in enumerate(columns.execution_ids):
        present = np.unique(inverse[bounds[index] : bounds[index + 1]])
        missing = present[label_of_id[present] < 0]
        if not len(missing):
            continue
        names = read_names(connection, execution_id)
        positions = positions_of(names.test_ids, ids[missing].tolist())
        # name them in the order the attempts first list them
        for id_index in missing[np.argsort(first[missing], kind="stable")].tolist():
            _, classname, name, _, _ = names.identity(positions[int(ids[id_index])])
            label = display_name(classname, name)
            label_of_id[id_index] = labels.setdefault(label, len(labels))
    return list(labels), label_of_id[inverse]


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
