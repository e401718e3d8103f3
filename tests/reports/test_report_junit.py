"""Merged JUnit: every attempt kept in Surefire's form, and read back by our own parser."""

from __future__ import annotations

import io
from collections import defaultdict

import pytest
from lxml import etree
from reports_support import E, F, P, Q, S, case, open_store, record

from assay.model import CaseStatus, TestCaseResult
from assay.reports.data import collect_report
from assay.reports.junit import render_junit
from assay.results.junit import parse_junit, summarize
from assay.settings import Settings
from assay.store import ExecutionStore


@pytest.fixture
def store(assay_home: Settings) -> ExecutionStore:
    return open_store(assay_home)


def _attempts(rows: list[TestCaseResult]) -> dict[str, list[tuple[int, CaseStatus]]]:
    found: dict[str, list[tuple[int, CaseStatus]]] = defaultdict(list)
    for row in rows:
        found[f"{row.suite}/{row.name}"].append((row.attempt, row.status))
    return dict(found)


FLAKY_TRACE = "tests/conftest.py:3: in client\n    connect()\nE   ConnectionError"
BROKEN_TRACE = "def test_broken():\n>       assert third()\n\ntests/test_api.py:9: AssertionError"


def test_merged_junit_round_trips_attempts_and_properties(store: ExecutionStore) -> None:
    row = record(
        store,
        "api",
        [
            case("test_ok", P, 120, properties={"requirement": ["BR-1", "BR-2"]}),
            case("test_flaky", F, 50, attempt=1, message="TimeoutError\n  at line 3"),
            case("test_flaky", E, 50, attempt=2, message="ConnectionError", trace=FLAKY_TRACE),
            case("test_flaky", P, 60, attempt=3),
            case("test_broken", F, 10, attempt=1, message="first"),
            case("test_broken", F, 10, attempt=2, message="second"),
            case("test_broken", F, 10, attempt=3, message="third\nline", trace=BROKEN_TRACE),
            case("test_skip", S, 0, message="later"),
            case("test_quarantined", Q, 5, message="known bug"),
        ],
    )
    xml = render_junit(collect_report(store, [row.name]))
    tree = etree.fromstring(xml)
    flaky = tree.find(".//testcase[@name='test_flaky']")
    assert flaky is not None
    assert [child.tag for child in flaky] == ["flakyFailure", "flakyError"]
    assert flaky.find("flakyFailure/stackTrace").text == "TimeoutError\n  at line 3"  # type: ignore[union-attr]
    broken = tree.find(".//testcase[@name='test_broken']")
    assert broken is not None
    assert [child.tag for child in broken] == ["failure", "rerunFailure", "rerunFailure"]
    assert broken.find("failure").get("message") == "third"  # type: ignore[union-attr]
    # stored traces are the elements' texts
    assert flaky.find("flakyError/stackTrace").text == FLAKY_TRACE  # type: ignore[union-attr]
    assert broken.find("failure").text == BROKEN_TRACE  # type: ignore[union-attr]
    assert tree.get("tests") == "5" and tree.get("failures") == "1" and tree.get("skipped") == "2"

    rows = parse_junit(io.BytesIO(xml))
    assert _attempts(rows) == {
        "pytest/test_ok": [(1, P)],
        "pytest/test_flaky": [(1, F), (2, E), (3, P)],
        "pytest/test_broken": [(1, F), (2, F), (3, F)],
        "pytest/test_skip": [(1, S)],
        "pytest/test_quarantined": [(1, S)],
    }
    by_name = {(r.name, r.attempt): r for r in rows}
    assert by_name[("test_ok", 1)].properties == {"requirement": ["BR-1", "BR-2"]}
    assert by_name[("test_quarantined", 1)].properties == {"assay.quarantined": ["true"]}
    assert by_name[("test_quarantined", 1)].message == "quarantined: known bug"
    assert by_name[("test_broken", 1)].message == "first"
    assert by_name[("test_broken", 3)].message == "third"
    assert by_name[("test_broken", 3)].trace == BROKEN_TRACE
    assert by_name[("test_flaky", 2)].trace == FLAKY_TRACE
    assert by_name[("test_flaky", 1)].trace == "TimeoutError\n  at line 3"  # the message
    assert by_name[("test_ok", 1)].duration_ms == 120
    summary = summarize(rows)
    assert (summary.tests, summary.passed, summary.failed, summary.skipped) == (5, 2, 1, 2)


def test_attempts_surefire_cannot_say_become_separate_testcases(store: ExecutionStore) -> None:
    row = record(
        store,
        "api",
        [
            case("test_regressed", P, 10, attempt=1),
            case("test_regressed", F, 10, attempt=2, message="now failing"),
        ],
    )
    xml = render_junit(collect_report(store, [row.name]))
    assert xml.count(b'<testcase name="test_regressed"') == 2
    assert _attempts(parse_junit(io.BytesIO(xml))) == {"pytest/test_regressed": [(1, P), (2, F)]}


def test_merging_executions_that_ran_the_same_tests_keeps_them_apart(
    store: ExecutionStore,
) -> None:
    first = record(store, "api", [case("test_a", P), case("test_b", F, message="x")])
    second = record(store, "api", [case("test_a", P), case("test_b", P)])
    xml = render_junit(collect_report(store, [first.name, second.name]))
    rows = parse_junit(io.BytesIO(xml))
    assert all(r.attempt == 1 for r in rows) and len(rows) == 4
    assert {r.suite for r in rows} == {f"{first.name}: pytest", f"{second.name}: pytest"}
    suites = etree.fromstring(xml).findall("testsuite")
    names = [s.find("properties/property[@name='assay.execution']").get("value") for s in suites]  # type: ignore[union-attr]
    assert names == [first.name, second.name]


def test_disjoint_executions_keep_their_suite_names(store: ExecutionStore) -> None:
    auth = record(store, "auth", [case("test_login", P, suite="auth-suite")])
    api = record(store, "api", [case("test_get", F, message="boom", suite="api-suite")])
    xml = render_junit(collect_report(store, [auth.name, api.name]))
    rows = parse_junit(io.BytesIO(xml))
    assert sorted(r.suite for r in rows) == ["api-suite", "auth-suite"]
    assert etree.fromstring(xml).get("failures") == "1"


def test_characters_xml_cannot_carry_are_dropped(store: ExecutionStore) -> None:
    row = record(store, "api", [case("test_ctrl", F, message="bad \x1b[31mcolour\x00")])
    rows = parse_junit(io.BytesIO(render_junit(collect_report(store, [row.name]))))
    assert rows[0].message == "bad [31mcolour"
