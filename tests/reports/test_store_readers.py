"""Shard durations and report data read from the column-wise store give what the per-attempt
definitions say (checked against those definitions written out over ``test_cases()``)."""

from __future__ import annotations

import random
import statistics

import pytest
from reports_support import E, F, P, Q, S, case, open_store, record

from assay.analytics.sharding import historical_durations, recorded_durations
from assay.model import CaseStatus, TestCaseResult, display_name
from assay.reports.data import (
    Attempt,
    load_history,
    load_tests,
)
from assay.settings import Settings
from assay.status import ExecutionStatus
from assay.store import ExecutionStore

TIMED = {"passed", "failed", "quarantined"}


@pytest.fixture
def store(assay_home: Settings) -> ExecutionStore:
    return open_store(assay_home)


def _old_historical(store: ExecutionStore, names: tuple[str, ...], samples: int) -> dict:
    """The per-row definition: newest execution first, within one by attempt desc then
    stored order desc; the median of each test's first ``samples`` timed attempts."""
    picked: dict[str, list[float]] = {}
    for name in names:
        cases = store.test_cases(store.get(name).id)
        for c in sorted(cases, key=lambda c: (-c.attempt, -c.position)):
            if c.status in TIMED:
                values = picked.setdefault(display_name(c.classname, c.name), [])
                if len(values) < samples:
                    values.append(float(c.duration_ms))
    return {test: statistics.median(values) for test, values in picked.items()}


def _old_recorded(store: ExecutionStore, execution_ids: list[str]) -> dict[str, float]:
    spent: dict[str, float] = {}
    for execution_id in execution_ids:
        for c in store.test_cases(execution_id):
            key = display_name(c.classname, c.name)
            spent[key] = spent.get(key, 0.0) + float(c.duration_ms)
    return spent


def _random_cases(rng: random.Random) -> list[TestCaseResult]:
    tests = [
        ("pytest", "tests.test_api", "test_a"),
        ("pytest", "tests.test_api", "test_b"),
        ("other", "tests.test_api", "test_a"),  # same display name, another test id
        ("pytest", "", "bare"),
        ("pytest", "tests.test_db", "test_ü"),
    ]
    cases = []
    for suite, classname, name in rng.sample(tests, rng.randint(0, len(tests))):
        attempts = list(range(1, rng.randint(1, 3) + 1))
        if rng.random() < 0.3:
            rng.shuffle(attempts)  # reports may list attempts in any order
        for attempt in attempts:
            status = rng.choice(list(CaseStatus))
            ms = rng.choice([0, 1, 7, 100, 101, 5000, rng.randint(0, 10_000)])
            cases.append(TestCaseResult(suite, classname, name, status, ms, attempt=attempt))
    if cases and rng.random() < 0.5:  # the same attempt number listed twice
        cases.append(cases[rng.randrange(len(cases))])
    rng.shuffle(cases)
    return cases


@pytest.mark.parametrize("seed", range(4))
def test_durations_match_the_per_attempt_definition(store: ExecutionStore, seed: int) -> None:
    rng = random.Random(seed)
    ids = []
    for _ in range(8):
        row = record(store, "api", _random_cases(rng), finish=False)
        if rng.random() < 0.4:  # a second ingest: a second segment
            store.add_test_cases(row.id, "api", _random_cases(rng))
        ids.append(store.finish(row.id, ExecutionStatus.PASSED).id)
    assert any(store.test_cases(i) for i in ids)
    for samples in (1, 2, 3, 5, 50):
        for executions in (1, 3, 30):
            known = historical_durations(store, "api", samples=samples, executions=executions)
            expected = _old_historical(store, known.executions, samples)
            # same values, and in the same (first-met) order as the old dict
            assert list(known.durations.items()) == list(expected.items())
            assert known.tests == {
                display_name(c.classname, c.name)
                for name in known.executions
                for c in store.test_cases(store.get(name).id)
            }
    picked = [ids[0], ids[3], ids[0], ids[7], "no-such-execution"]
    recorded = recorded_durations(store, iter(picked))
    assert list(recorded.items()) == list(_old_recorded(store, picked).items())


def test_attempt_order_within_an_execution(store: ExecutionStore) -> None:
    # listed out of order: attempt 3 is the latest, then 2 (the later listed first), then 1
    record(
        store,
        "api",
        [
            case("t", P, 10, attempt=3),
            case("t", F, 20, attempt=1),
            case("t", Q, 30, attempt=2),
            case("t", P, 40, attempt=2),
            case("t", E, 50, attempt=4),  # errored: not timed
            case("t", S, 60, attempt=5),  # skipped: not timed
        ],
    )
    record(store, "api", [case("t", P, 1000)])
    assert historical_durations(store, "api", samples=1).durations == {"tests.test_api::t": 1000}
    assert historical_durations(store, "api", samples=2).durations == {"tests.test_api::t": 505}
    # 1000, then attempt 3 (10), attempt 2 listed last (40), attempt 2 listed first (30)
    assert historical_durations(store, "api", samples=4).durations == {"tests.test_api::t": 35}
    assert historical_durations(store, "api", samples=5).durations == {"tests.test_api::t": 30}
    assert historical_durations(store, "api", samples=9).durations == {"tests.test_api::t": 30}


def test_one_name_in_two_suites_is_one_test_to_plan(store: ExecutionStore) -> None:
    record(store, "api", [case("t", P, 100, suite="a"), case("t", P, 300, suite="b")])
    record(store, "api", [case("t", S, 0, suite="c")])
    known = historical_durations(store, "api", samples=5)
    assert known.durations == {"tests.test_api::t": 200} and known.tests == {"tests.test_api::t"}
    assert historical_durations(store, "api", samples=1).durations == {"tests.test_api::t": 300}


def test_no_history(store: ExecutionStore) -> None:
    record(store, "api", [])
    record(store, "api", [case("s", S, 5)])
    known = historical_durations(store, "api")
    assert known.durations == {} and known.tests == {"tests.test_api::s"}
    assert known.executions == ("api-2", "api-1")
    assert historical_durations(store, "nothing") == historical_durations(store, "none")
    assert recorded_durations(store, []) == {}


def test_an_execution_named_twice_is_measured_twice(store: ExecutionStore) -> None:
    row = record(store, "api", [case("a", P, 150), case("b", F, 30), case("b", P, 40, attempt=2)])
    assert recorded_durations(store, [row.id, row.id]) == {
        "tests.test_api::a": 300.0,
        "tests.test_api::b": 140.0,
    }


def test_load_tests_groups_attempts_of_the_execution_and_its_children(
    store: ExecutionStore,
) -> None:
    parent = record(store, "suite", [case("p", P, 1)], finish=False)
    child = record(
        store,
        "child",
        [
            case("t", F, 10, attempt=1, message="first"),
            case("u", P, 5, properties={"requirement": ["R-1"]}),
        ],
        parent_id=parent.id,
        finish=False,
    )
    store.add_test_cases(  # a second segment: positions continue, messages stay with theirs
        child.id, "child", [case("t", P, 20, attempt=3), case("t", E, 15, attempt=2, message="2")]
    )
    tests = load_tests(store, store.get(parent.id))
    assert [(t.execution, t.label, t.test_id) for t in tests] == [
        ("suite-1", "tests.test_api::p", case("p").identity("suite")),
        ("child-1", "tests.test_api::t", case("t").identity("child")),
        ("child-1", "tests.test_api::u", case("u").identity("child")),
    ]
    assert tests[1].attempts == [
        Attempt(1, "failed", 10, "first", None),
        Attempt(2, "errored", 15, "2", None),
        Attempt(3, "passed", 20, None, None),
    ]
    assert tests[1].flaky and tests[1].duration_ms == 45
    assert tests[2].attempts == [Attempt(1, "passed", 5, None, {"requirement": ["R-1"]})]
    assert (tests[2].suite, tests[2].classname, tests[2].name) == ("pytest", "tests.test_api", "u")
    assert (tests[0].file, tests[0].line) == (None, None)


def test_load_history_sums_test_time_of_imported_executions(store: ExecutionStore) -> None:
    ran = record(store, "api", [case("a", P, 100)])
    imported = store.create("api", runner="import")
    store.add_test_cases(imported.id, "api", [case("a", F, 70), case("a", P, 30, attempt=2)])
    store.add_test_cases(imported.id, "api", [case("b", P, 4_000_000_000)])
    store.finish(imported.id, ExecutionStatus.PASSED)
    empty = store.create("api", runner="import")
    store.finish(empty.id, ExecutionStatus.PASSED)
    history = load_history(store, "api", 10)
    assert [(h.name, h.duration_ms) for h in history] == [
        ("api-1", store.get(ran.id).duration_ms),
        ("api-2", 4_000_000_100),
        ("api-3", 0),
    ]
