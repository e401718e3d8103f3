"""Quality gates: parsing, each gate at its boundary, the verdict, bad values exit 2."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from ci_support import InProcess, failing, import_run, junit, passing

from assay.ci.gates import (
    ExecutionState,
    Gates,
    Totals,
    evaluate,
    format_ms,
    format_rate,
    judge,
    parse_duration,
    parse_rate,
    render_gates_markdown,
)
from assay.errors import DefinitionError
from assay.status import ExitCode
from support import Cli


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("90", 90_000),
        ("0", 0),
        ("1.5", 1_500),
        ("90s", 90_000),
        ("10m", 600_000),
        ("1h30m", 5_400_000),
        ("1h 30m 15s", 5_415_000),
        ("500ms", 500),
        ("1.5h", 5_400_000),
        ("2H", 7_200_000),
    ],
)
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize(
    "text", ["", "soon", "10x", "-5", "1h30", "m", "1m h", "inf", "nan", "1hxx30m", "5s1", "-0.5"]
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(DefinitionError, match="--max-duration"):
        parse_duration(text)


@pytest.mark.parametrize(("text", "rate"), [("95", 95.0), ("95%", 95.0), ("99.5", 99.5)])
def test_parse_rate(text: str, rate: float) -> None:
    assert parse_rate(text) == rate
    assert parse_rate("0") == 0 and parse_rate("100 %") == 100


@pytest.mark.parametrize("text", ["150", "-1", "100.01", "abc", "nan", "inf", ""])
def test_parse_rate_rejects(text: str) -> None:
    with pytest.raises(DefinitionError, match="between 0 and 100"):
        parse_rate(text)


def test_long_durations_are_read_to_the_end() -> None:
    assert parse_duration("1s" * 300) == 300_000  # positions past CPython's cached ints


def test_format_ms_reads_back() -> None:
    for ms in (0, 662, 59_999, 60_000, 5_400_000, 5_415_000, 3_600_500):
        assert parse_duration(format_ms(ms)) == ms
    assert [format_ms(v) for v in (0, 662, 60_000, 5_415_000)] == ["0s", "0.662s", "1m", "1h30m15s"]
    assert format_ms(-5) == "0s"  # a clock step back never shows a negative duration


def test_format_rate() -> None:
    assert [format_rate(v) for v in (92, 99.95, 100, 0, 80.0)] == [
        "92.0%",
        "99.95%",
        "100.0%",
        "0.0%",
        "80.0%",
    ]


def totals(**counts: int) -> Totals:
    return Totals(**counts)


def test_each_gate_at_its_boundary() -> None:
    # 10 tests: 7 passed (1 flaky), 2 failed, 1 skipped; 1 quarantined failure on top
    base = totals(
        tests=11, passed=7, failed=2, skipped=1, flaky=1, quarantined=1, duration_ms=60_000
    )
    assert base.ran == 10
    assert base.pass_rate == pytest.approx(77.777, abs=0.01)  # 7 / (7 + 2)

    def one(gates: Gates) -> tuple[bool, str]:
        [result] = evaluate(base, gates)
        return result.passed, result.comparison

    assert one(Gates(min_tests=10)) == (True, "10 ran >= 10")
    assert one(Gates(min_tests=11)) == (False, "10 ran < 11")
    assert one(Gates(max_failures=2)) == (True, "2 failed <= 2")
    assert one(Gates(max_failures=1)) == (False, "2 failed > 1")
    assert one(Gates(min_pass_rate=77.0)) == (True, "77.78% >= 77.0%")
    assert one(Gates(min_pass_rate=95.0)) == (False, "77.78% < 95.0%")
    assert one(Gates(max_duration_ms=60_000)) == (True, "1m <= 1m")
    assert one(Gates(max_duration_ms=59_999)) == (False, "1m > 59.999s")
    assert one(Gates(fail_on_flaky=True)) == (False, "1 flaky > 0")
    assert evaluate(totals(tests=3, passed=3), Gates(fail_on_flaky=True))[0].passed
    exact = totals(tests=20, passed=19, failed=1)
    assert evaluate(exact, Gates(min_pass_rate=95.0))[0].comparison == "95.0% >= 95.0%"


def test_pass_rate_without_rated_tests_fails_the_gate() -> None:
    only_skipped = totals(tests=2, skipped=2)
    assert only_skipped.pass_rate is None
    [result] = evaluate(only_skipped, Gates(min_pass_rate=50))
    assert not result.passed and result.actual == "n/a"


def test_verdict_combines_states_and_gates() -> None:
    failed = [ExecutionState("api-1", "failed", 1)]
    stats = totals(tests=10, passed=9, failed=1)
    plain = judge(failed, stats, Gates())
    assert plain.exit_code == ExitCode.TESTS_FAILED
    assert plain.reasons == ["api-1 failed: 1 failing test(s)"]
    # a tolerance gate judges the failed tests instead
    tolerant = judge(failed, stats, Gates(max_failures=1))
    assert tolerant.passed and tolerant.tolerated == ["api-1"] and tolerant.status == "passed"
    rate = judge(failed, stats, Gates(min_pass_rate=90))
    assert rate.passed
    too_strict = judge(failed, stats, Gates(min_pass_rate=95))
    assert too_strict.exit_code == 1
    assert too_strict.reasons == ["gate min-pass-rate: 90.0% < 95.0%"]
    # a step failed without a failing test: no gate tolerates that
    step = judge([ExecutionState("api-2", "failed", 0)], totals(), Gates(max_failures=5))
    assert step.exit_code == 1 and step.reasons == ["api-2 failed: a step failed"]
    # infrastructure errors exit 3, whatever else failed
    mixed = [ExecutionState("auth-1", "error", 0), ExecutionState("api-1", "timeout", 0)]
    worst = judge(mixed, stats, Gates(min_tests=50))
    assert worst.exit_code == ExitCode.INFRASTRUCTURE and worst.status == "error"
    assert len(worst.reasons) == 3
    # nor does a tolerated one
    tolerated_first = [ExecutionState("api-1", "failed", 1), ExecutionState("api-4", "aborted", 0)]
    after = judge(tolerated_first, stats, Gates(max_failures=5))
    assert (after.tolerated, after.reasons) == (["api-1"], ["api-4 aborted: aborted"])
    assert after.exit_code == ExitCode.TESTS_FAILED
    # a passing execution does not stop the look at the next ones
    after_a_pass = [ExecutionState("ok-1", "passed", 0), ExecutionState("api-3", "failed", 2)]
    assert judge(after_a_pass, stats, Gates()).reasons == ["api-3 failed: 2 failing test(s)"]
    # strictness gates fail passing executions
    ok = [ExecutionState("auth-1", "passed", 0)]
    assert judge(ok, totals(tests=3, passed=3), Gates(min_tests=4)).exit_code == 1
    assert judge(ok, totals(tests=3, passed=3), Gates(min_tests=3)).passed


def test_errored_tests_count_as_failures() -> None:
    summary = {"tests": 6, "passed": 3, "failed": 1, "errored": 2, "skipped": 0, "quarantined": 0}
    stats = Totals.from_summary(summary, 1_500)
    assert (stats.failed, stats.passed, stats.duration_ms) == (3, 3, 1_500)
    assert stats.pass_rate == 50.0
    [limit] = evaluate(stats, Gates(max_failures=2))
    assert (limit.passed, limit.comparison) == (False, "3 failed > 2")
    # only errors, no failure: still judged as failures
    errors_only = Totals.from_summary({"tests": 2, "passed": 1, "errored": 1}, None)
    assert (errors_only.failed, errors_only.duration_ms) == (1, 0)
    assert not evaluate(errors_only, Gates(max_failures=0))[0].passed
    verdict = judge([ExecutionState("api-1", "failed", 1)], errors_only, Gates(min_pass_rate=60))
    assert verdict.exit_code == ExitCode.TESTS_FAILED
    assert verdict.reasons == ["gate min-pass-rate: 50.0% < 60.0%"]


@pytest.mark.parametrize("state", ["timeout", "aborted", "error", "running", "queued"])
def test_tolerance_gates_never_excuse_a_run_that_did_not_fail_normally(state: str) -> None:
    """--max-failures / --min-pass-rate judge the failed tests of a *failed* execution only:
    a timed-out, aborted, errored or unfinished one with failing tests still fails."""
    stats = totals(tests=10, passed=9, failed=1)
    for gates in (Gates(max_failures=5), Gates(min_pass_rate=50)):
        verdict = judge([ExecutionState("api-1", state, 1)], stats, gates)
        expected = ExitCode.INFRASTRUCTURE if state == "error" else ExitCode.TESTS_FAILED
        assert verdict.exit_code == expected
        assert verdict.tolerated == []
        assert len(verdict.reasons) == 1 and verdict.reasons[0].startswith("api-1 ")
        assert all(gate.passed for gate in verdict.gates)


def test_verdict_reasons_name_each_state() -> None:
    states = [
        ExecutionState("a-1", "timeout", 2),
        ExecutionState("b-1", "aborted", 0),
        ExecutionState("c-1", "error", 0),
        ExecutionState("d-1", "running", 0),
        ExecutionState("e-1", "passed", 0),
    ]
    verdict = judge(states, totals(), Gates())
    assert verdict.reasons == [
        "a-1 timeout: timeout",
        "b-1 aborted: aborted",
        "c-1 error: infrastructure error",
        "d-1 has not finished (running)",
    ]
    assert verdict.exit_code == ExitCode.INFRASTRUCTURE and not verdict.passed


def test_each_gate_reports_its_limit_and_actual_value() -> None:
    stats = totals(tests=5, passed=3, failed=2, flaky=1, duration_ms=90_000)
    gates = Gates(
        min_tests=6, max_failures=1, min_pass_rate=50.0, max_duration_ms=60_000, fail_on_flaky=True
    )
    assert [(g.name, g.limit, g.actual, g.passed) for g in evaluate(stats, gates)] == [
        ("min-tests", "6", "5 ran", False),
        ("max-failures", "1", "2 failed", False),
        ("min-pass-rate", "50.0%", "60.0%", True),
        ("max-duration", "1m", "1m30s", False),
        ("fail-on-flaky", "0", "1 flaky", False),
    ]
    assert evaluate(stats, Gates(max_failures=1))[0].as_dict() == {
        "name": "max-failures",
        "limit": "1",
        "actual": "2 failed",
        "passed": False,
        "comparison": "2 failed > 1",
    }


def test_zero_is_a_valid_limit_and_nothing_counted_is_zero() -> None:
    gates = Gates.parse(min_tests=0, max_failures=0)
    assert (gates.min_tests, gates.max_failures) == (0, 0) and gates.judges_failures
    nothing = Totals()
    assert nothing == Totals.from_summary({}, None)
    assert (nothing.tests, nothing.ran, nothing.pass_rate) == (0, 0, None)
    assert [g.passed for g in evaluate(nothing, gates)] == [True, True]
    with pytest.raises(dataclasses.FrozenInstanceError):
        nothing.tests = 1  # type: ignore[misc]


def test_gate_lines_and_markdown() -> None:
    failed = [ExecutionState("api-1", "failed", 2)]
    stats = totals(tests=4, passed=2, failed=2)
    verdict = judge(failed, stats, Gates(min_tests=4, max_failures=1))
    assert [str(gate) for gate in verdict.gates] == [
        "gate min-tests: 4 ran >= 4",
        "gate max-failures: 2 failed > 1 (failed)",
    ]
    assert render_gates_markdown(verdict) == (
        "#### Quality gates: ❌ 1 of 2 failed\n"
        "\n"
        "- ✅ `min-tests`: 4 ran >= 4\n"
        "- ❌ `max-failures`: 2 failed > 1\n"
        "\n"
        "<sub>Failed tests of api-1 are judged by the gates above.</sub>\n"
    )
    assert render_gates_markdown(judge([], stats, Gates())) == ""


def test_an_unfinished_execution_does_not_stop_the_look_at_the_next() -> None:
    states = [ExecutionState("a-1", "running", 0), ExecutionState("b-1", "failed", 1)]
    assert judge(states, totals(), Gates()).reasons == [
        "a-1 has not finished (running)",
        "b-1 failed: 1 failing test(s)",
    ]


def test_gates_parse_and_any() -> None:
    assert not Gates.parse().any and not Gates().judges_failures
    gates = Gates.parse(min_pass_rate="99%", max_duration="1h30m", fail_on_flaky=True)
    assert gates.any and gates.min_pass_rate == 99 and gates.max_duration_ms == 5_400_000
    with pytest.raises(DefinitionError, match="--max-failures -1: expected 0 or more"):
        Gates.parse(max_failures=-1)
    with pytest.raises(DefinitionError, match="--min-tests -1: expected 0 or more"):
        Gates.parse(min_tests=-1)


BAD = [
    ("--min-pass-rate", "150"),
    ("--min-pass-rate", "most"),
    ("--max-duration", "soon"),
    ("--min-tests", "-1"),
    ("--max-failures", "many"),
    ("--slack-webhook", "not-a-url"),
]


def test_bad_gate_values_exit_2_and_write_nothing(assay: InProcess, tmp_path: Path) -> None:
    name = import_run(assay, tmp_path / "a.xml", junit(passing("test_a")), "api", check=0)
    out = tmp_path / "report.md"
    for args in [*BAD, ("--comment-key", "two words")]:
        done = assay("report", name, "-o", str(out), *args, check=2)
        assert not out.exists() and not done.stdout
        assert args[0] in done.stderr
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(
        "apiVersion: testworkflows.testkube.io/v1\nkind: TestWorkflow\n"
        "metadata: {name: never}\nspec:\n  steps:\n    - shell: 'true'\n"
    )
    for args in BAD:
        assay("run", "-f", str(workflow), *args, check=2)
    assert "never" not in assay("get", "executions", check=0).stdout


def test_bad_value_exits_2_from_the_console_script(cli: Cli, tmp_path: Path) -> None:
    done = cli("report", "nothing-1", "--min-pass-rate", "150", check=2)
    assert done.stderr.startswith("error: --min-pass-rate '150': expected a percentage")


def test_report_without_gates_keeps_exit_0(assay: InProcess, tmp_path: Path) -> None:
    xml = junit(passing("test_a"), failing("test_b"))
    name = import_run(assay, tmp_path / "b.xml", xml, "api", check=1)
    plain = assay("report", name, check=0)
    assert "Quality gates" not in plain.stdout and "verdict" not in plain.stderr
    gated = assay("report", name, "--min-tests", "1", check=1)
    assert "#### Quality gates: ✅ all passed" in gated.stdout
    assert "verdict: failed — api-1 failed: 1 failing test(s)" in gated.stderr
    tolerant = assay("report", name, "--max-failures", "1", check=0)
    assert "gate max-failures: 1 failed <= 1" in tolerant.stderr
    assert "<sub>Failed tests of api-1 are judged by the gates above.</sub>" in tolerant.stdout
