"""What JUnit writers put in a testcase, and the rows made of it.

Result elements and their severity, Surefire's rerun elements, the ``status`` values of
tests not run (tst, gtest), times written with a decimal comma or digit grouping, line
numbers out of range, ampersands libxml2 leaves escaped; :class:`_RowBuilder` turns the
recorded testcases into :class:`~assay.model.TestCaseResult` rows, attempts counted per
file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from assay.model import CaseStatus, TestCaseResult

_MEMO_SIZE: Final = 50_000
_MISS: Final = object()

_PASSED: Final = CaseStatus.PASSED
_FAILED: Final = CaseStatus.FAILED
_ERRORED: Final = CaseStatus.ERRORED
_SKIPPED: Final = CaseStatus.SKIPPED

# Result children of <testcase>, with their severity: when a report carries several
# (e.g. <skipped/> plus <failure/>), the most severe one decides the status.
_RESULTS: Final[dict[str, tuple[int, CaseStatus]]] = {
    "error": (3, _ERRORED),
    "failure": (2, _FAILED),
    "skipped": (1, _SKIPPED),
}
# Surefire's earlier failed attempts of a test case.
_RERUNS: Final[dict[str, CaseStatus]] = {
    "flakyFailure": _FAILED,
    "flakyError": _ERRORED,
    "rerunFailure": _FAILED,
    "rerunError": _ERRORED,
}
# `status` attribute values meaning "not run" when no result child says otherwise
# (tst writes status="disabled", gtest status="notrun").
_NOT_RUN: Final = frozenset({"disabled", "notrun", "skipped"})
_THOUSANDS: Final = re.compile(r"[1-9]\d{0,2}(?:,\d{3})+(?:\.\d*)?")


def _unescape(value: str) -> str:
    # Without entity substitution libxml2 hands attribute values over with "&amp;" kept as
    # "&#38;"; every other predefined entity and character reference is already replaced.
    return value.replace("&#38;", "&") if "&" in value else value


class _Children:
    """What the child elements of one testcase say."""

    __slots__ = ("message", "properties", "rank", "reruns", "status", "trace")

    def __init__(self) -> None:
        self.rank = 0
        self.status = _PASSED
        self.message: str | None = None
        self.trace: str | None = None
        self.properties: dict[str, list[str]] = {}
        # [status, message, duration_ms, trace] of each earlier attempt
        self.reruns: list[list[Any]] = []


_Case = tuple[str, Mapping[str, str], _Children | None]  # suite, attributes, children


class _RowBuilder:
    """Turns recorded testcases into rows; holds the per-file attempt counters."""

    __slots__ = ("_attempts", "_durations", "_group", "_lines", "_unnamed")

    def __init__(self) -> None:
        # (suite, classname) -> name -> attempts so far.  Grouping keeps the dict touched
        # for each testcase small and cache-friendly: reports list a class's tests together.
        self._attempts: dict[tuple[str, str], dict[str, int]] = {}
        # The group of the last case: suite, raw classname attribute, classname, counters.
        self._group: tuple[str, str | None, str, dict[str, int]] = ("", None, "", {})
        self._unnamed = 0
        # Durations and line numbers repeat a lot: memoised conversions are cheaper.
        self._durations: dict[str | None, int] = {None: 0}
        self._lines: dict[str | None, int | None] = {None: None}

    def rows(self, cases: list[_Case]) -> list[TestCaseResult]:
        """The hot loop: one row per testcase without children, more with reruns."""
        rows: list[TestCaseResult] = []
        append = rows.append
        durations = self._durations
        lines = self._lines
        group_suite, group_raw, group_class, group = self._group
        new_row = TestCaseResult
        not_run = _NOT_RUN
        passed = _PASSED
        skipped = _SKIPPED
        miss: Any = _MISS
        for suite, attrib, children in cases:
            get = attrib.get
            name = get("name")
            if not name:
                self._unnamed += 1
                name = f"(unnamed {self._unnamed})"
            elif "&" in name:
                name = _unescape(name)
            # Consecutive cases mostly share suite (the same str object) and class: then
            # the class name and its attempt counters carry over from the previous case.
            raw_class = get("classname")
            if raw_class != group_raw or suite is not group_suite or raw_class is None:
                classname = raw_class if raw_class is not None else get("class") or ""
                if "&" in classname:
                    classname = _unescape(classname)
                group_suite, group_raw, group_class = suite, raw_class, classname
                group = self._attempts.setdefault((suite, classname), {})
            else:
                classname = group_class
            time = get("time")
            duration = durations.get(time, miss)
            if duration is miss:
                duration = self._duration(time)
            line_attr = get("line")
            line = lines.get(line_attr, miss)
            if line is miss:
                line = self._line(line_attr)
            file = get("file")
            if file is not None and "&" in file:
                file = _unescape(file)
            attempt = group.get(name, 0) + 1
            if children is None:
                group[name] = attempt
                status = skipped if get("status") in not_run else passed
                append(
                    new_row(suite, classname, name, status, duration, file, line, None, attempt, {})
                )
                continue
            properties = children.properties
            for rerun_status, rerun_message, rerun_duration, rerun_trace in children.reruns:
                append(
                    new_row(
                        suite,
                        classname,
                        name,
                        rerun_status,
                        rerun_duration,
                        file,
                        line,
                        rerun_message,
                        attempt,
                        {prop: list(values) for prop, values in properties.items()},
                        rerun_trace,
                    )
                )
                attempt += 1
            group[name] = attempt
            status = children.status
            if status is passed and get("status") in not_run:
                status = skipped
            append(
                new_row(
                    suite,
                    classname,
                    name,
                    status,
                    duration,
                    file,
                    line,
                    children.message,
                    attempt,
                    properties,
                    children.trace,
                )
            )
        self._group = (group_suite, group_raw, group_class, group)
        return rows

    def _duration(self, time: str | None) -> int:
        memo = self._durations
        if len(memo) > _MEMO_SIZE:
            memo.clear()
            memo[None] = 0
        duration = memo[time] = _duration_ms(time)
        return duration

    def _line(self, text: str | None) -> int | None:
        memo = self._lines
        if len(memo) > _MEMO_SIZE:
            memo.clear()
            memo[None] = None
        line = memo[text] = _line_number(text)
        return line


def _duration_ms(time: str | None) -> int:
    """Milliseconds from a `time` attribute in seconds; 0 when missing or garbage."""
    if time is None:
        return 0
    try:
        seconds = float(time)
    except ValueError:
        seconds = _lenient_seconds(time)
    return int(seconds * 1000.0 + 0.5) if 0.0 < seconds < 1e9 else 0


def _lenient_seconds(text: str) -> float:
    """Seconds from a `time` attribute that float() refused; 0 for garbage."""
    text = text.strip()
    if "," in text:
        if "." in text or _THOUSANDS.fullmatch(text):
            text = text.replace(",", "")  # 1,234.5: digit grouping, as some Surefire wrote
        else:
            text = text.replace(",", ".")  # 0,25: decimal comma
    try:
        return float(text)
    except ValueError:
        return 0.0


_MAX_LINE = 2**31 - 1


def _line_number(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        line = int(text)
    except ValueError:
        return None
    return line if 0 <= line <= _MAX_LINE else None
