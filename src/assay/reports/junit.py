"""Merged JUnit XML of one or more executions, every attempt kept in Surefire's form.

- A test that passed after failing (flaky) is a passing ``<testcase>`` holding one
  ``<flakyFailure>`` / ``<flakyError>`` per failed attempt.
- A test that failed on every attempt is a ``<failure>`` / ``<error>`` (its last attempt)
  followed by one ``<rerunFailure>`` / ``<rerunError>`` per earlier attempt.
- Any other sequence of attempts (a pass followed by a failure, a skip then a run) cannot be
  said in Surefire's form: each attempt is then its own ``<testcase>``, in order, which
  readers (assay's included) take as reruns.
- Surefire's schema gives reruns no ``time``: the durations of earlier attempts are not
  written (their messages and stack traces are).
- A failure's stored trace is its element's text (a rerun's ``<stackTrace>``); without one,
  a message of several lines is, its first line being the ``message`` attribute.
- A quarantined failure is written as ``<skipped message="quarantined: ...">`` with the
  property ``assay.quarantined=true``, so that other tools do not count it as a failure.

Each test case keeps its properties.  Test cases are grouped into one ``<testsuite>`` per
(execution, suite), whose properties name the execution.  Suite names are kept, except when
the same test appears in more than one merged execution: then every suite name is prefixed
with its execution's name, so that the runs stay distinct tests instead of reading as reruns.
"""

from __future__ import annotations

import re
from typing import IO

from lxml import etree

from assay.model import CaseStatus
from assay.reports.model import FAILING, Attempt, ExecutionReport, Report, TestOutcome

__all__ = ["render_junit", "write_junit"]

_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_RESULT_TAG = {CaseStatus.FAILED.value: "failure", CaseStatus.ERRORED.value: "error"}
_FLAKY_TAG = {CaseStatus.FAILED.value: "flakyFailure", CaseStatus.ERRORED.value: "flakyError"}
_RERUN_TAG = {CaseStatus.FAILED.value: "rerunFailure", CaseStatus.ERRORED.value: "rerunError"}


def render_junit(report: Report) -> bytes:
    """The merged report as UTF-8 XML bytes."""
    root = _build(report)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def write_junit(report: Report, out: IO[bytes]) -> None:
    """Write the merged report to a binary stream."""
    out.write(render_junit(report))


def _build(report: Report) -> etree._Element:
    prefix = _collides(report.executions)
    root = etree.Element("testsuites", name="assay")
    totals = _Tally()
    for item in report.executions:
        suites: dict[str, list[TestOutcome]] = {}
        for test in item.tests:
            suites.setdefault(test.suite, []).append(test)
        for suite_name, tests in suites.items():
            name = f"{item.execution.name}: {suite_name}" if prefix else suite_name
            tally = _suite(root, item, name, tests)
            totals.add(tally)
    totals.apply(root)
    return root


def _collides(items: list[ExecutionReport]) -> bool:
    """Does one test (suite, class, name) appear in more than one execution?"""
    seen: dict[tuple[str, str, str], str] = {}
    for item in items:
        for test in item.tests:
            key = (test.suite, test.classname, test.name)
            owner = seen.setdefault(key, item.execution.id)
            if owner != item.execution.id:
                return True
    return False


class _Tally:
    __slots__ = ("errors", "failures", "skipped", "tests", "time_ms")

    def __init__(self) -> None:
        self.tests = self.failures = self.errors = self.skipped = self.time_ms = 0

    def count(self, test: TestOutcome) -> None:
        self.tests += 1
        self.time_ms += test.duration_ms
        status = test.status
        if status == CaseStatus.FAILED.value:
            self.failures += 1
        elif status == CaseStatus.ERRORED.value:
            self.errors += 1
        elif status in (CaseStatus.SKIPPED.value, CaseStatus.QUARANTINED.value):
            self.skipped += 1

    def add(self, other: _Tally) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def apply(self, element: etree._Element) -> None:
        element.set("tests", str(self.tests))
        element.set("failures", str(self.failures))
        element.set("errors", str(self.errors))
        element.set("skipped", str(self.skipped))
        element.set("time", _seconds(self.time_ms))


def _suite(
    root: etree._Element, item: ExecutionReport, name: str, tests: list[TestOutcome]
) -> _Tally:
    row = item.execution
    suite = etree.SubElement(root, "testsuite", name=_clean(name))
    started = row.started_at or row.queued_at
    if started is not None:
        suite.set("timestamp", started.replace(microsecond=0).isoformat())
    properties = etree.SubElement(suite, "properties")
    _property(properties, "assay.execution", row.name)
    _property(properties, "assay.execution.id", row.id)
    _property(properties, "assay.workflow", row.workflow)
    _property(properties, "assay.status", row.status)
    for key, value in sorted((row.tags or {}).items()):
        _property(properties, f"assay.tag.{key}", str(value))
    tally = _Tally()
    for test in tests:
        tally.count(test)
        _testcases(suite, test)
    tally.apply(suite)
    return tally


def _testcases(suite: etree._Element, test: TestOutcome) -> None:
    earlier, final = test.attempts[:-1], test.final
    if all(a.status in FAILING for a in earlier):
        case = _case(suite, test, final)
        if final.status == CaseStatus.PASSED.value:
            for attempt in earlier:
                _result(case, _FLAKY_TAG[attempt.status], attempt, rerun=True)
        elif final.status in FAILING:
            for attempt in earlier:
                _result(case, _RERUN_TAG[attempt.status], attempt, rerun=True)
        elif earlier:  # skipped or quarantined after failures: one testcase per attempt
            suite.remove(case)
            _separate(suite, test)
        return
    _separate(suite, test)


def _separate(suite: etree._Element, test: TestOutcome) -> None:
    for attempt in test.attempts:
        _case(suite, test, attempt)


def _case(suite: etree._Element, test: TestOutcome, attempt: Attempt) -> etree._Element:
    case = etree.SubElement(suite, "testcase", name=_clean(test.name))
    case.set("classname", _clean(test.classname))
    case.set("time", _seconds(attempt.duration_ms))
    if test.file:
        case.set("file", _clean(test.file))
    if test.line is not None:
        case.set("line", str(test.line))
    props = dict(attempt.properties or {})
    status = attempt.status
    if status == CaseStatus.QUARANTINED.value:
        props.setdefault("assay.quarantined", ["true"])
    if props:
        properties = etree.SubElement(case, "properties")
        for key, values in props.items():
            for value in values:
                _property(properties, key, value)
    if status in FAILING:
        _result(case, _RESULT_TAG[status], attempt)
    elif status == CaseStatus.SKIPPED.value:
        skipped = etree.SubElement(case, "skipped")
        if attempt.message:
            skipped.set("message", _clean(attempt.message))
    elif status == CaseStatus.QUARANTINED.value:
        message = "quarantined" + (f": {attempt.message}" if attempt.message else "")
        etree.SubElement(case, "skipped", message=_clean(_first_line(message)))
    return case


def _result(case: etree._Element, tag: str, attempt: Attempt, *, rerun: bool = False) -> None:
    element = etree.SubElement(case, tag)
    kind = "AssertionError" if attempt.status == CaseStatus.FAILED.value else "Error"
    element.set("type", kind)
    text = _clean(attempt.trace) if attempt.trace else None
    if attempt.message:
        message = _clean(attempt.message)
        element.set("message", _first_line(message))
        if text is None and "\n" in message.strip():
            text = message
    if text:
        if rerun:  # Surefire keeps a rerun's trace in <stackTrace>
            etree.SubElement(element, "stackTrace").text = text
        else:
            element.text = text


def _property(parent: etree._Element, name: str, value: str) -> None:
    etree.SubElement(parent, "property", name=_clean(name), value=_clean(value))


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return text.strip()


def _clean(text: str) -> str:
    """Drop characters XML 1.0 cannot carry."""
    return _INVALID_XML.sub("", text)


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.3f}"
