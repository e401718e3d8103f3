"""Shard plans: LPT balance, unknown tests at the mean, durations from history, measurement."""

from __future__ import annotations

import random

import pytest
from reports_support import E, F, P, S, case, open_store, record

from assay.analytics.sharding import (
    historical_durations,
    measure_plan,
    normalize_test_name,
    plan_shards,
    read_test_list,
    recorded_durations,
)
from assay.errors import DefinitionError
from assay.settings import Settings
from assay.store import ExecutionStore


@pytest.fixture
def store(assay_home: Settings) -> ExecutionStore:
    return open_store(assay_home)


def test_plan_balances_a_long_tailed_suite() -> None:
    rng = random.Random(20261122)
    durations = {f"t{i:03d}": rng.lognormvariate(4.0, 1.2) for i in range(300)}
    plan = plan_shards(durations, durations, 6)
    assert plan.quality <= 1.02  # makespan within 2% of the lower bound
    assert plan.makespan_ms <= plan.ideal_ms * 1.02
    planned = [t for shard in plan.shards for t in shard.tests]
    assert sorted(planned) == sorted(durations)  # every test exactly once
    for shard in plan.shards:
        assert shard.planned_ms == pytest.approx(sum(durations[t] for t in shard.tests))
    assert plan == plan_shards(list(reversed(list(durations))), durations, 6)  # deterministic


def test_lpt_places_longest_first_on_the_least_loaded_shard() -> None:
    durations = {"a": 7.0, "b": 5.0, "c": 4.0, "d": 3.0, "e": 3.0, "f": 2.0}
    plan = plan_shards(durations, durations, 2)
    assert [shard.tests for shard in plan.shards] == [("a", "d", "f"), ("b", "c", "e")]
    assert [shard.planned_ms for shard in plan.shards] == [12.0, 12.0]
    assert plan.ideal_ms == 12.0 and plan.quality == 1.0


def test_ideal_is_never_below_the_longest_test() -> None:
    plan = plan_shards(["long", "x", "y"], {"long": 100.0, "x": 1.0, "y": 1.0}, 3)
    assert plan.ideal_ms == 100.0 and plan.makespan_ms == 100.0
    assert plan_shards(["a"], {"a": 5.0}, 4).shards[1].tests == ()


def test_unknown_tests_get_the_mean_of_the_known_ones() -> None:
    known = {"a": 100.0, "b": 200.0, "c": 300.0, "not-planned": 10_000.0}
    plan = plan_shards(["a", "b", "c", "new1", "new2"], known, 2)
    assert plan.unknown == ("new1", "new2")
    assert plan.mean_ms == 200.0  # over the planned tests only
    assert plan.durations["new1"] == plan.durations["new2"] == 200.0
    assert plan.total_ms == 1000.0
    nothing_known = plan_shards(["x", "y", "z", "w"], {}, 2)
    assert [len(s.tests) for s in nothing_known.shards] == [2, 2]


def test_bad_shard_count_is_refused() -> None:
    with pytest.raises(DefinitionError):
        plan_shards(["a"], {}, 0)


def test_history_gives_the_median_of_the_latest_timed_attempts(store: ExecutionStore) -> None:
    for ms in (100, 900, 200, 300):  # oldest first
        record(store, "api", [case("test_a", P, ms), case("test_s", S, 0)])
    record(
        store,
        "api",
        [
            case("test_a", E, 5, message="setup error"),  # errored attempts are not timed
            case("test_b", F, 40, attempt=1, message="x"),
            case("test_b", P, 60, attempt=2),
        ],
    )
    record(store, "other", [case("test_a", P, 99_999)])  # another workflow
    known = historical_durations(store, "api", samples=3)
    assert known.durations["tests.test_api::test_a"] == 300.0  # median of 300, 200, 900
    assert known.durations["tests.test_api::test_b"] == 50.0  # both attempts of b count
    assert "tests.test_api::test_s" not in known.durations  # only ever skipped
    assert "tests.test_api::test_s" in known.tests  # ... but still a test to plan
    assert known.executions == ("api-5", "api-4", "api-3", "api-2", "api-1")
    assert (
        historical_durations(store, "api", samples=1).durations["tests.test_api::test_a"] == 300.0
    )
    recent = historical_durations(store, "api", executions=2)
    assert recent.durations["tests.test_api::test_a"] == 300.0 and len(recent.executions) == 2


def test_plan_measured_against_recorded_durations(store: ExecutionStore) -> None:
    durations = {"tests.test_api::a": 100.0, "tests.test_api::b": 100.0}
    plan = plan_shards([*durations, "tests.test_api::c"], durations, 2)
    later = record(
        store,
        "api",
        [
            case("a", P, 150),
            case("b", F, 30, attempt=1, message="x"),
            case("b", P, 40, attempt=2),
        ],
    )
    recorded = recorded_durations(store, [later.id])
    assert recorded == {"tests.test_api::a": 150.0, "tests.test_api::b": 70.0}
    measured = measure_plan(plan, recorded)
    assert [s.tests for s in plan.shards] == [
        ("tests.test_api::a", "tests.test_api::c"),
        ("tests.test_api::b",),
    ]
    assert measured.shard_ms == (150.0, 70.0)
    assert measured.missing == (1, 0)  # c never ran
    assert measured.makespan_ms == 150.0
    assert plan.shard_of("tests.test_api::b") == 1


def test_pytest_node_ids_become_junit_names() -> None:
    assert normalize_test_name("tests/test_a.py::TestX::test_y[1-2]") == (
        "tests.test_a.TestX::test_y[1-2]"
    )
    assert normalize_test_name("tests/test_a.py::test_z") == "tests.test_a::test_z"
    assert normalize_test_name("com.example.FooTest::bar") == "com.example.FooTest::bar"
    assert read_test_list("# header\n\ntests/t.py::test_a\n  pkg.C::m  \ntests.t::test_a\n") == {
        "tests.t::test_a": "tests/t.py::test_a",
        "pkg.C::m": "pkg.C::m",
    }
