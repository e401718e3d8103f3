"""Flaky-test rules on stored histories (SQLite and PostgreSQL): each verdict with evidence."""

from __future__ import annotations

from analytics_support import History, tid

from assay.analytics.flaky import Reason, Thresholds, Verdict, find_flaky
from assay.status import ExecutionStatus

WF = "wf"


def by_name(history: History, **kwargs: object) -> dict[str, dict[str, object]]:
    found = find_flaky(history.db, **kwargs)  # type: ignore[arg-type]
    return {test.test.name: test.as_dict() for test in found}


def test_same_commit_pass_and_fail_is_flaky(history: History) -> None:
    first = history.run(WF, {"t": "failed", "ok": "passed"}, sha="abc")
    second = history.run(WF, {"t": "passed", "ok": "passed"}, sha="abc")
    history.run(WF, {"t": "failed", "ok": "passed"}, sha="def")  # another commit: no evidence
    found = by_name(history)
    assert list(found) == ["t"]
    test = found["t"]
    assert test["testId"] == tid(WF, "t")
    assert (test["verdict"], test["reasons"]) == ("flaky", ["same-commit"])
    (evidence,) = test["evidence"]  # type: ignore[misc]
    assert evidence["sha"] == "abc"
    assert evidence["executionIds"] == [first.id, second.id]
    assert [(r["execution"], r["attempt"], r["status"]) for r in evidence["results"]] == [
        (first.name, 1, "failed"),
        (second.name, 1, "passed"),
    ]


def test_retry_that_passes_is_flaky_and_a_retry_that_fails_is_not(history: History) -> None:
    retried = history.run(WF, {"t": ["failed", "passed"], "broken": ["failed", "failed"]})
    assert (retried.summary["flaky"], retried.summary["failed"]) == (1, 1)
    found = by_name(history, include_all=True)
    assert found["t"]["verdict"] == "flaky" and found["t"]["reasons"] == ["retry"]
    (evidence,) = found["t"]["evidence"]  # type: ignore[misc]
    assert evidence == {
        "reason": "retry",
        "executionIds": [retried.id],
        "results": [
            {
                "executionId": retried.id,
                "execution": retried.name,
                "attempt": 1,
                "status": "failed",
            },
            {
                "executionId": retried.id,
                "execution": retried.name,
                "attempt": 2,
                "status": "passed",
            },
        ],
    }
    assert found["broken"]["verdict"] == "failing" and found["broken"]["reasons"] == []


def test_a_retry_inside_one_execution_is_not_a_same_commit_flip(history: History) -> None:
    """Rule (a) needs two executions: a fail-then-pass within one is rule (b) only."""
    retried = history.run(WF, {"t": ["failed", "passed"], "u": ["errored", "passed"]}, sha="abc")
    history.run(WF, {"t": "failed", "u": "passed"}, sha="def")  # another commit
    found = by_name(history)
    assert (found["t"]["reasons"], found["u"]["reasons"]) == (["retry"], ["retry"])
    (evidence,) = found["t"]["evidence"]  # type: ignore[misc]
    assert evidence["executionIds"] == [retried.id]


def test_same_commit_cites_the_attempts_of_both_executions_in_order(history: History) -> None:
    # a retried failure in one execution and a plain pass in another of the same commit
    first = history.run(WF, {"t": ["errored", "passed"]}, sha="abc")
    second = history.run(WF, {"t": "passed"}, sha="abc")
    found = by_name(history)
    assert found["t"]["reasons"] == ["same-commit", "retry"]
    same = found["t"]["evidence"][0]  # type: ignore[index]
    assert same["sha"] == "abc"
    assert [(r["executionId"], r["attempt"], r["status"]) for r in same["results"]] == [
        (first.id, 1, "errored"),
        (first.id, 2, "passed"),
        (second.id, 1, "passed"),
    ]


def test_commits_without_sha_do_not_hide_later_ones(history: History) -> None:
    history.run(WF, {"t": "failed"})  # no sha: rule (a) cannot use it
    failed = history.run(WF, {"t": "failed"}, sha="abc")
    passed = history.run(WF, {"t": "passed"}, sha="abc")
    (evidence,) = by_name(history)["t"]["evidence"]  # type: ignore[misc]
    assert (evidence["reason"], evidence["executionIds"]) == ("same-commit", [failed.id, passed.id])


def test_rates_are_rounded_to_three_places_and_the_newest_file_is_shown(
    history: History,
) -> None:
    for n, status in enumerate(["passed", "passed", "failed", "passed", "passed", "failed"]):
        history.run(WF, {"t": status}, files={"t": f"tests/v{n}/test_t.py"})
    history.run(WF, {"t": ["passed"]}, files={"t": "tests/now/test_t.py"})
    test = by_name(history)["t"]
    assert (test["results"], test["failures"], test["flips"]) == (7, 2, 4)
    assert (test["flipRate"], test["failureRate"]) == (0.571, 0.286)  # 4/7, 2/7
    assert test["file"] == "tests/now/test_t.py"


def test_more_flips_come_first_among_equally_many_reasons(history: History) -> None:
    for status in ["passed", "failed", "passed", "failed", "passed", "failed"]:
        history.run(WF, {"z": "failed" if status == "passed" else "passed", "b": status})
    history.run(WF, {"z": "failed", "b": "failed"})
    found = find_flaky(history.db)
    # equal reasons and failure rates (4/7): the flip rate decides, before the name
    assert [(t.test.name, round(t.flip_rate, 3)) for t in found] == [("z", 0.857), ("b", 0.714)]
    assert found[0].failure_rate == found[1].failure_rate


def test_a_retry_is_cited_once_per_execution(history: History) -> None:
    retried = history.run(WF, {"t": ["failed", "passed", "failed", "passed"]})
    (evidence,) = by_name(history)["t"]["evidence"]  # type: ignore[misc]
    assert [(r["executionId"], r["attempt"]) for r in evidence["results"]] == [
        (retried.id, 1),
        (retried.id, 2),
    ]


def test_one_late_failure_is_neither_flaky_nor_failing(history: History) -> None:
    for status in ["passed"] * 5 + ["failed"]:  # 1 flip and 1 failure in 6: under both rates
        history.run(WF, {"t": status})
    test = by_name(history, include_all=True)["t"]
    assert (test["verdict"], test["results"], test["failures"], test["flips"]) == (
        "stable",
        6,
        1,
        1,
    )


def test_higher_failure_rate_comes_first_among_equal_flip_rates(history: History) -> None:
    # z and b flip at the same places; z fails 3 times in 5, b twice
    for z in ["failed", "passed", "failed", "passed", "failed"]:
        b = "passed" if z == "failed" else "failed"
        history.run(WF, {"z": z, "b": b})
    found = find_flaky(history.db)
    assert [t.test.name for t in found] == ["z", "b"]
    assert found[0].flip_rate == found[1].flip_rate
    assert (found[0].failure_rate, found[1].failure_rate) == (0.6, 0.4)


def test_skipped_attempts_of_a_failing_test_are_left_out(history: History) -> None:
    for status in ["passed", "skipped", "failed", "skipped", "passed"]:
        history.run(WF, {"t": status})
    test = by_name(history, include_all=True, thresholds=Thresholds(min_results=3))["t"]
    assert (test["results"], test["failures"], test["flips"]) == (3, 1, 2)


def test_a_rate_equal_to_its_threshold_fires(history: History) -> None:
    for status in ["passed", "passed", "passed", "passed", "failed"]:  # 1 failure in 5: 0.2
        history.run(WF, {"t": status})
    assert by_name(history)["t"]["reasons"] == ["failure-rate"]


def test_flip_rate_over_the_window(history: History) -> None:
    runs = [
        history.run(WF, {"t": status})
        for status in ["passed", "failed", "passed", "failed", "passed"]
    ]
    test = by_name(history)["t"]
    assert test["reasons"] == ["flip-rate", "failure-rate"]
    assert (test["results"], test["failures"], test["flips"]) == (5, 2, 4)
    assert (test["flipRate"], test["failureRate"]) == (0.8, 0.4)
    flips = test["evidence"][0]  # type: ignore[index]
    assert flips["reason"] == "flip-rate"
    assert flips["executionIds"] == [run.id for run in runs[1:]]
    failures = test["evidence"][1]  # type: ignore[index]
    assert failures["executionIds"] == [runs[1].id, runs[3].id]


def test_failure_rate_alone_and_thresholds_as_options(history: History) -> None:
    for status in ["passed"] * 4 + ["failed"] * 5 + ["passed"]:
        history.run(WF, {"t": status})
    test = by_name(history)["t"]
    assert test["reasons"] == ["failure-rate"]  # 2 flips / 10 < 0.3
    assert (test["flipRate"], test["failureRate"]) == (0.2, 0.5)
    assert by_name(history, thresholds=Thresholds(failure_threshold=0.6)) == {}
    stricter = by_name(history, thresholds=Thresholds(flip_threshold=0.2))
    assert stricter["t"]["reasons"] == ["flip-rate", "failure-rate"]


def test_rates_need_min_results(history: History) -> None:
    for status in ["passed", "failed", "passed", "failed"]:
        history.run(WF, {"t": status})
    assert by_name(history) == {}
    assert by_name(history, thresholds=Thresholds(min_results=4))["t"]["reasons"] == [
        "flip-rate",
        "failure-rate",
    ]


def test_only_the_window_counts(history: History) -> None:
    for status in ["failed", "passed", "failed", "passed", "failed"] + ["passed"] * 20:
        history.run(WF, {"t": status})
    assert by_name(history) == {}  # the last 20 executions all passed
    assert by_name(history, include_all=True)["t"]["results"] == 20

    wider = Thresholds(window=25, flip_threshold=0.2)  # 5 flips / 25 results
    assert by_name(history, thresholds=wider)["t"]["reasons"] == ["flip-rate"]


def test_the_window_counts_attempts_not_executions(history: History) -> None:
    history.run(WF, {"t": ["failed", "passed"]})  # 2 attempts
    for _ in range(4):
        history.run(WF, {"t": "passed"})
    test = by_name(history, thresholds=Thresholds(window=5), include_all=True)["t"]
    # 5 executions hold 6 attempts: the rates look at the last 5, the retry rule at all
    assert (test["results"], test["failures"], test["reasons"]) == (5, 0, ["retry"])


def test_quarantined_and_errored_count_as_failures_skipped_is_ignored(history: History) -> None:
    for q, e, s in zip(
        ["passed", "quarantined", "passed", "quarantined", "passed"],
        ["passed", "errored", "passed", "errored", "passed"],
        ["passed", "skipped", "passed", "skipped", "passed"],
        strict=True,
    ):
        history.run(WF, {"q": q, "e": e, "s": s})
    found = by_name(history, include_all=True)
    assert found["q"]["reasons"] == ["flip-rate", "failure-rate"]
    assert found["e"]["reasons"] == ["flip-rate", "failure-rate"]
    assert (found["s"]["verdict"], found["s"]["results"]) == ("stable", 3)


def test_results_of_executions_ended_in_error_are_left_out(history: History) -> None:
    """An infrastructure fault (a lost node, an eviction: the execution's status ``error``)
    is not the tests' doing: its results count neither as failures nor as flips."""
    outcomes = ["passed", "failed", "passed", "failed", "passed", "passed"]
    for index, outcome in enumerate(outcomes):
        infrastructure = outcome == "failed"
        history.run(
            WF,
            {"t": outcome, "u": "failed" if infrastructure else "passed"},
            sha=f"c{index}" if not infrastructure else "c0",
            status=ExecutionStatus.ERROR if infrastructure else None,
        )
    assert by_name(history) == {}
    judged = by_name(history, include_all=True)
    assert (judged["t"]["verdict"], judged["t"]["results"], judged["t"]["failures"]) == (
        "stable",
        4,
        0,
    )
    assert judged["u"]["flips"] == 0 and judged["u"]["failures"] == 0
    history.run(WF, {"t": "failed", "u": "passed"}, sha="c0")  # a real failure still counts
    assert by_name(history)["t"]["reasons"] == ["same-commit", "failure-rate"]


def test_always_failing_is_failing_not_flaky(history: History) -> None:
    for _ in range(6):
        history.run(WF, {"t": "failed", "ok": "passed"})
    assert by_name(history) == {}
    everything = by_name(history, include_all=True)
    assert everything["t"]["verdict"] == Verdict.FAILING.value
    assert everything["ok"]["verdict"] == Verdict.STABLE.value
    assert everything["ok"]["results"] == 6
    assert (everything["ok"]["failures"], everything["ok"]["flips"]) == (0, 0)
    assert everything["ok"]["reasons"] == everything["ok"]["evidence"] == []
    assert list(everything) == ["t", "ok"]  # failing before stable


def test_workflow_filter_and_order(history: History) -> None:
    history.run("other", {"x": ["failed", "passed"]}, sha="s1")
    history.run("other", {"x": "passed"}, sha="s1")
    history.run(WF, {"t": ["failed", "passed"]})
    assert list(by_name(history, workflow=WF)) == ["t"]
    found = find_flaky(history.db)
    assert [t.test.name for t in found] == ["x", "t"]  # two reasons before one
    assert found[0].reasons == [Reason.SAME_COMMIT, Reason.RETRY]
    assert found[0].test.workflow == "other"
    assert set(found[0].as_dict()) >= {
        "testId",
        "name",
        "verdict",
        "reasons",
        "flipRate",
        "failureRate",
        "evidence",
    }


def test_unfinished_executions_are_not_analysed(history: History) -> None:
    history.run(WF, {"t": ["failed", "passed"]})
    running = history.store.create(WF, runner="fake")
    history.store.start(running.id)
    assert list(by_name(history)) == ["t"]


def test_same_names_in_two_workflows_are_two_tests(history: History) -> None:
    for status in ["passed", "failed", "passed", "failed", "passed"]:
        history.run(WF, {"t": status, "u": ["failed", "passed"], "ok": "passed"})
        history.run("other", {"t": "passed", "u": "passed"})
    listed = find_flaky(history.db, include_all=True)
    verdicts = {(t.test.workflow, t.test.name): t.verdict.value for t in listed}
    assert verdicts == {
        (WF, "u"): "flaky",
        (WF, "t"): "flaky",
        (WF, "ok"): "stable",
        ("other", "t"): "stable",
        ("other", "u"): "stable",
    }
    assert [t.test.name for t in listed[:2]] == ["u", "t"]
