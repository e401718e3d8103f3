"""Quality gates: limits on the totals of one or more executions, and the verdict they give.

A gate is a limit (``--min-tests``, ``--max-failures``, ``--min-pass-rate``,
``--max-duration``, ``--fail-on-flaky``) checked against :class:`Totals`.  The verdict
combines the gates with the executions' own states:

- ``error`` (infrastructure) exits 3; ``timeout``, ``aborted`` or unfinished exit 1;
- ``failed`` exits 1, except when ``--max-failures`` or ``--min-pass-rate`` is given and the
  execution has failing tests: then those gates judge the failed tests (a tolerance);
  an execution that failed without a failing test (a step failed) still exits 1;
- a failed gate exits 1.

Counts are over final attempts: ``failed`` holds failures and errors; ``flaky`` tests are
also in ``passed``; ``quarantined`` failures fail nothing and are neither passed nor failed.
The pass rate is ``passed / (passed + failed)`` (skipped and quarantined left out).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from assay.errors import DefinitionError
from assay.status import ExecutionStatus, ExitCode

__all__ = [
    "ExecutionState",
    "GateResult",
    "Gates",
    "Totals",
    "Verdict",
    "evaluate",
    "format_ms",
    "format_rate",
    "judge",
    "parse_duration",
    "parse_rate",
    "render_gates_markdown",
]

_DURATION = re.compile(r"(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|h|m|s)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


def parse_duration(text: str, option: str = "--max-duration") -> int:
    """``90``, ``90s``, ``10m``, ``1h30m``, ``500ms`` -> milliseconds (bare numbers are
    seconds).  Anything else is a :class:`DefinitionError` naming ``option``."""
    raw = text.strip().lower().replace(" ", "")
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds) and seconds >= 0:
            return round(seconds * 1000)
        raise DefinitionError(f"{option} {text!r}: expected a duration such as 90, 10m or 1h30m")
    total = 0.0
    position = 0
    for match in _DURATION.finditer(raw):
        if match.start() != position:
            break
        total += float(match["value"]) * _UNIT_MS[match["unit"]]
        position = match.end()
    if not raw or position != len(raw):
        raise DefinitionError(f"{option} {text!r}: expected a duration such as 90, 10m or 1h30m")
    return round(total)


def parse_rate(text: str, option: str = "--min-pass-rate") -> float:
    """``95``, ``95%`` or ``99.5`` -> a percentage between 0 and 100."""
    raw = text.strip().removesuffix("%").strip()
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= 100:
        raise DefinitionError(f"{option} {text!r}: expected a percentage between 0 and 100")
    return value


def format_rate(value: float) -> str:
    """``92.0%``, ``99.95%`` (at most two decimals, at least one)."""
    text = f"{value:.2f}".rstrip("0")
    return f"{text}0%" if text.endswith(".") else f"{text}%"


def format_ms(ms: int) -> str:
    """A duration in the syntax :func:`parse_duration` reads: ``1h30m``, ``59.999s``."""
    seconds, milli = divmod(max(0, ms), 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    if secs or milli or not text:
        text += f"{secs}.{milli:03d}".rstrip("0").rstrip(".") + "s"
    return text


@dataclass(frozen=True, slots=True)
class Gates:
    """The limits asked for; ``None`` (or False) means no such gate."""

    min_tests: int | None = None
    max_failures: int | None = None
    min_pass_rate: float | None = None
    max_duration_ms: int | None = None
    fail_on_flaky: bool = False

    @classmethod
    def parse(
        cls,
        *,
        min_tests: int | None = None,
        max_failures: int | None = None,
        min_pass_rate: str | None = None,
        max_duration: str | None = None,
        fail_on_flaky: bool = False,
    ) -> Gates:
        """Gates from command-line values; bad values raise :class:`DefinitionError`."""
        if min_tests is not None and min_tests < 0:
            raise DefinitionError(f"--min-tests {min_tests}: expected 0 or more")
        if max_failures is not None and max_failures < 0:
            raise DefinitionError(f"--max-failures {max_failures}: expected 0 or more")
        return cls(
            min_tests=min_tests,
            max_failures=max_failures,
            min_pass_rate=None if min_pass_rate is None else parse_rate(min_pass_rate),
            max_duration_ms=None if max_duration is None else parse_duration(max_duration),
            fail_on_flaky=fail_on_flaky,
        )

    @property
    def any(self) -> bool:
        """True when at least one gate is set."""
        return self != Gates()

    @property
    def judges_failures(self) -> bool:
        """True when failed tests are judged by ``--max-failures`` / ``--min-pass-rate``."""
        return self.max_failures is not None or self.min_pass_rate is not None


@dataclass(frozen=True, slots=True)
class Totals:
    """What the gates look at (see the module docstring for what each count holds)."""

    tests: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    flaky: int = 0
    quarantined: int = 0
    duration_ms: int = 0

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any], duration_ms: int | None) -> Totals:
        """From an execution's stored summary (where errors are counted apart)."""
        return cls(
            tests=int(summary.get("tests", 0)),
            passed=int(summary.get("passed", 0)),
            failed=int(summary.get("failed", 0)) + int(summary.get("errored", 0)),
            skipped=int(summary.get("skipped", 0)),
            flaky=int(summary.get("flaky", 0)),
            quarantined=int(summary.get("quarantined", 0)),
            duration_ms=int(duration_ms or 0),
        )

    @property
    def ran(self) -> int:
        """Tests that ran: every test but the skipped ones."""
        return self.tests - self.skipped

    @property
    def pass_rate(self) -> float | None:
        """``passed / (passed + failed)`` in percent, or None when nothing passed or failed."""
        rated = self.passed + self.failed
        return None if rated == 0 else 100.0 * self.passed / rated


@dataclass(frozen=True, slots=True)
class GateResult:
    """One checked gate."""

    name: str
    limit: str
    actual: str
    passed: bool
    comparison: str
    """``actual <op> limit`` as shown, e.g. ``92.0% < 95.0%``."""

    def __str__(self) -> str:
        return f"gate {self.name}: {self.comparison}" + ("" if self.passed else " (failed)")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "name": self.name,
            "limit": self.limit,
            "actual": self.actual,
            "passed": self.passed,
            "comparison": self.comparison,
        }


def _at_least(name: str, actual: float, limit: float, shown: tuple[str, str]) -> GateResult:
    ok = actual >= limit
    return GateResult(name, shown[1], shown[0], ok, f"{shown[0]} {'>=' if ok else '<'} {shown[1]}")


def _at_most(name: str, actual: float, limit: float, shown: tuple[str, str]) -> GateResult:
    ok = actual <= limit
    return GateResult(name, shown[1], shown[0], ok, f"{shown[0]} {'<=' if ok else '>'} {shown[1]}")


def evaluate(totals: Totals, gates: Gates) -> list[GateResult]:
    """Check every gate that is set, in a fixed order."""
    results: list[GateResult] = []
    if gates.min_tests is not None:
        shown = (f"{totals.ran} ran", str(gates.min_tests))
        results.append(_at_least("min-tests", totals.ran, gates.min_tests, shown))
    if gates.max_failures is not None:
        shown = (f"{totals.failed} failed", str(gates.max_failures))
        results.append(_at_most("max-failures", totals.failed, gates.max_failures, shown))
    if gates.min_pass_rate is not None:
        limit = format_rate(gates.min_pass_rate)
        rate = totals.pass_rate
        if rate is None:
            shown_none = f"no test passed or failed, {limit} required"
            results.append(GateResult("min-pass-rate", limit, "n/a", False, shown_none))
        else:
            shown = (format_rate(rate), limit)
            results.append(_at_least("min-pass-rate", rate, gates.min_pass_rate, shown))
    if gates.max_duration_ms is not None:
        shown = (format_ms(totals.duration_ms), format_ms(gates.max_duration_ms))
        results.append(_at_most("max-duration", totals.duration_ms, gates.max_duration_ms, shown))
    if gates.fail_on_flaky:
        shown = (f"{totals.flaky} flaky", "0")
        results.append(_at_most("fail-on-flaky", totals.flaky, 0, shown))
    return results


@dataclass(frozen=True, slots=True)
class ExecutionState:
    """What the verdict needs from one execution."""

    name: str
    status: str
    failing_tests: int


@dataclass(slots=True)
class Verdict:
    """The outcome of executions plus gates: an exit code and the reasons for it."""

    exit_code: ExitCode
    gates: list[GateResult] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    """Why it did not pass: executions that did not pass, then failed gates."""
    tolerated: list[str] = field(default_factory=list)
    """Executions whose failed tests the failure gates tolerated."""

    @property
    def passed(self) -> bool:
        """True when the exit code is 0."""
        return self.exit_code == ExitCode.PASSED

    @property
    def status(self) -> str:
        """``passed``, ``failed`` or ``error`` (infrastructure)."""
        if self.passed:
            return "passed"
        return "error" if self.exit_code == ExitCode.INFRASTRUCTURE else "failed"

    @property
    def failed_gates(self) -> list[GateResult]:
        """The gates that did not pass."""
        return [g for g in self.gates if not g.passed]


def judge(executions: Iterable[ExecutionState], totals: Totals, gates: Gates) -> Verdict:
    """Combine execution states and gates into a :class:`Verdict`."""
    verdict = Verdict(ExitCode.PASSED, evaluate(totals, gates))
    codes = [ExitCode.PASSED]
    for item in executions:
        status = ExecutionStatus(item.status)
        if status is ExecutionStatus.PASSED:
            continue
        if status is ExecutionStatus.FAILED and item.failing_tests and gates.judges_failures:
            verdict.tolerated.append(item.name)
            continue
        if not status.finished:
            codes.append(ExitCode.TESTS_FAILED)
            verdict.reasons.append(f"{item.name} has not finished ({status.value})")
            continue
        codes.append(status.exit_code)
        detail = {
            ExecutionStatus.FAILED: (
                f"{item.failing_tests} failing test(s)" if item.failing_tests else "a step failed"
            ),
            ExecutionStatus.ERROR: "infrastructure error",
        }.get(status, status.value)
        verdict.reasons.append(f"{item.name} {status.value}: {detail}")
    for gate in verdict.failed_gates:
        codes.append(ExitCode.TESTS_FAILED)
        verdict.reasons.append(f"gate {gate.name}: {gate.comparison}")
    verdict.exit_code = max(codes)
    return verdict


def render_gates_markdown(verdict: Verdict) -> str:
    """A short Markdown section listing each gate (empty when no gate was set)."""
    if not verdict.gates:
        return ""
    failed = len(verdict.failed_gates)
    head = f"#### Quality gates: {'❌' if failed else '✅'} "
    head += f"{failed} of {len(verdict.gates)} failed" if failed else "all passed"
    lines = [head, ""]
    for gate in verdict.gates:
        lines.append(f"- {'✅' if gate.passed else '❌'} `{gate.name}`: {gate.comparison}")
    if verdict.tolerated:
        names = ", ".join(verdict.tolerated)
        lines += ["", f"<sub>Failed tests of {names} are judged by the gates above.</sub>"]
    return "\n".join([*lines, ""])
