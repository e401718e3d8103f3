"""The Markdown report: totals, deltas against the base, failures, flaky and quarantined."""

from __future__ import annotations

import re

import pytest
from reports_support import E, F, P, Q, S, case, open_store, record

from assay.errors import NotFoundError
from assay.reports.data import collect_report
from assay.reports.markdown import MARKER, first_lines, format_duration, render_markdown
from assay.settings import Settings
from assay.status import ExecutionStatus
from assay.store import ExecutionStore

TRACE = "AssertionError: expected 201\nsecond line\nthird line\nFOURTH LINE NOT SHOWN"


def _row(markdown: str, name: str) -> list[str]:
    """The cells of the table row of execution ``name``."""
    for line in markdown.splitlines():
        if line.startswith("|") and f"**{name}**" in line:
            return [cell.strip() for cell in line.strip("|").split("|")]
    raise AssertionError(f"no row for {name} in:\n{markdown}")


@pytest.fixture
def store(assay_home: Settings) -> ExecutionStore:
    return open_store(assay_home)


def _base_and_pr(store: ExecutionStore) -> str:
    """api on main (the base), then a pull request run of api; returns the PR's name."""
    record(
        store,
        "api",
        [
            case("test_create", P, 1000),
            case("test_delete", P, 500),
            case("test_old_failure", F, 100, message="still broken"),
            case("test_health", P, 100),
            case("test_flaky", P, 100),
        ],
        branch="main",
    )
    # a later execution on another branch is not the base
    record(store, "api", [case("test_create", F, 1)], branch="feature-x")
    pr = record(
        store,
        "api",
        [
            case("test_create", F, 1200, message=TRACE),
            case("test_delete", P, 400),
            case("test_old_failure", F, 100, message="still broken"),
            case(
                "test_health",
                E,
                100,
                message="ConnectionError: refused",
                trace="conftest.py:12: in client\n    connect()\nE   TRACE-ONLY LINE",
            ),
            case("test_flaky", F, 50, attempt=1, message="TimeoutError: 5s"),
            case("test_flaky", P, 60, attempt=2),
            case("test_quarantined", Q, 30, message="known bug #12\nmore"),
            case("test_later", S, 0, message="not yet"),
        ],
        branch="feature-y",
    )
    return pr.name


def test_markdown_has_marker_totals_and_deltas_against_the_base(store: ExecutionStore) -> None:
    name = _base_and_pr(store)
    markdown = render_markdown(collect_report(store, [name]))
    assert markdown.splitlines()[0] == MARKER
    # Execution | Tests | Passed | Failed | Skipped | Flaky | Quarantined | Duration
    cells = _row(markdown, name)
    assert cells[0].startswith("❌")
    assert cells[1:7] == ["7 (+2)", "2 (-2)", "3 (+2)", "1 (+1)", "1 (+1)", "1"]
    assert "api-1" in markdown and "api-2" not in markdown.split("Changes against")[1]


def test_markdown_lists_failures_with_first_lines_and_marks_new_ones(
    store: ExecutionStore,
) -> None:
    markdown = render_markdown(collect_report(store, [_base_and_pr(store)]))
    failed = markdown.split("#### Failed tests")[1].split("<details>")[0]
    assert failed.startswith(" (3, 2 new)")
    assert "`tests.test_api::test_create` **new**" in failed
    assert "`tests.test_api::test_health` **new**" in failed
    assert "`tests.test_api::test_old_failure`\n" in failed  # failing in the base too
    assert "AssertionError: expected 201\n  second line\n  third line" in failed
    assert "FOURTH LINE" not in markdown
    assert "ConnectionError: refused" in failed
    assert "TRACE-ONLY LINE" not in markdown and "conftest.py:12" not in markdown  # no traces
    # new failures come first
    assert failed.index("test_create") < failed.index("test_old_failure")


def test_markdown_flaky_and_quarantined_sections(store: ExecutionStore) -> None:
    markdown = render_markdown(collect_report(store, [_base_and_pr(store)]))
    flaky = markdown.split("Flaky tests (passed on retry): 1</summary>")[1].split("</details>")[0]
    assert "`tests.test_api::test_flaky` — passed on attempt 2 after 1 failure" in flaky
    assert "TimeoutError: 5s" in flaky
    quarantined = markdown.split("Quarantined failures: 1</summary>")[1].split("</details>")[0]
    assert "`tests.test_api::test_quarantined` — `known bug #12`" in quarantined
    assert "more" not in quarantined


def test_several_executions_make_one_row_each_and_a_total(store: ExecutionStore) -> None:
    record(store, "auth", [case("test_login", P, 200)], branch="main")
    auth = record(store, "auth", [case("test_login", P, 300), case("test_logout", P, 100)])
    api = record(store, "api", [case("test_a", F, 100, message="boom")])
    markdown = render_markdown(collect_report(store, [auth.name, api.name, auth.id]))
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "**" in line]
    assert len(rows) == 3  # auth-2, api-1, Total (auth given twice counts once)
    assert _row(markdown, "auth-2")[1:3] == ["2 (+1)", "2 (+1)"]
    assert _row(markdown, "api-1")[1:4] == ["1", "0", "1"]  # no base: no deltas
    assert _row(markdown, "Total")[1:4] == ["3", "2", "1"]
    assert "1 of 2 executions did not pass" in markdown
    assert "`tests.test_api::test_a` (api-1)" in markdown
    assert "none for api-1" in markdown


def test_base_is_the_latest_finished_execution_of_the_base_branch(
    store: ExecutionStore,
) -> None:
    record(store, "api", [case("t", P)], branch="main")  # api-1
    record(store, "api", [case("t", P), case("u", P)], branch="main")  # api-2: the base
    record(store, "api", [case("t", P)], branch="main", finish=False)  # api-3: running
    record(store, "api", [case("t", P)], branch="release")  # api-4
    pr = record(store, "api", [case("t", F, message="x")], branch="main")  # api-5
    report = collect_report(store, [pr.name])
    base = report.executions[0].base
    assert base is not None and base.execution.name == "api-2"
    other = collect_report(store, [pr.name], base_branch="release").executions[0].base
    assert other is not None and other.execution.name == "api-4"
    # the reported executions are never their own base
    both = collect_report(store, ["api-2", pr.name])
    assert [i.base.execution.name if i.base else None for i in both.executions] == [
        "api-1",
        "api-1",
    ]


def test_no_base_says_so(store: ExecutionStore) -> None:
    row = record(store, "api", [case("t", P)])
    markdown = render_markdown(collect_report(store, [row.name], base_branch="trunk"))
    assert "No finished execution on `trunk` to compare with." in markdown
    assert "(+" not in markdown and "#### Failed tests" not in markdown
    assert markdown.startswith(f"{MARKER}\n### ✅ assay: {row.name} passed")


def test_suite_reports_include_child_executions(store: ExecutionStore) -> None:
    parent = store.create("suite", runner="local")
    record(store, "child-a", [case("test_a", F, message="child failure")], parent_id=parent.id)
    record(store, "child-b", [case("test_b", P)], parent_id=parent.id)
    store.finish(parent.id, ExecutionStatus.FAILED)
    report = collect_report(store, [parent.name])
    assert report.executions[0].counts.tests == 2
    markdown = render_markdown(report)
    assert "child failure" in markdown and _row(markdown, parent.name)[1:4] == ["2", "1", "1"]


def test_messages_with_backticks_keep_their_fences(store: ExecutionStore) -> None:
    row = record(store, "api", [case("test_md", F, message="got ```x``` and `y`")])
    markdown = render_markdown(collect_report(store, [row.name]))
    assert "  ````text\n  got ```x``` and `y`\n  ````" in markdown


def test_unknown_execution_is_not_found(store: ExecutionStore) -> None:
    with pytest.raises(NotFoundError):
        collect_report(store, ["no-such-execution"])


def test_formatting_helpers() -> None:
    assert [format_duration(ms) for ms in (850, 12_340, 245_000, 7_260_000)] == [
        "850 ms",
        "12.3 s",
        "4m 05s",
        "2h 01m",
    ]
    assert first_lines("\n\na\n\nb\nc\nd", 2) == "a\nb"
    assert re.fullmatch(r"x{9}…", first_lines("x" * 50, 1, 10))
