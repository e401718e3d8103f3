"""The lxml event target of the JUnit parser: each testcase recorded as (suite, attributes,
children), the texts of failures captured, messages and traces cut to size.

Runs between libxml2's callbacks, so the common testcase without children costs a tuple.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from assay.errors import HostileXMLError, ResultsError
from assay.results.dialects import (
    _RERUNS,
    _RESULTS,
    _SKIPPED,
    _Case,
    _Children,
    _duration_ms,
    _unescape,
)

MAX_MESSAGE_CHARS: Final = 4000
"""Failure/error/skip messages are cut to this many characters."""

MAX_TRACE_CHARS: Final = 4000
"""Failure/error texts (traces) are cut to about this many characters: their end is kept."""

TRACE_CUT: Final = "[… {count} earlier characters cut]\n"
"""What starts a trace that was cut (``count``: the characters left out)."""

_CUT_ROOM: Final = len(TRACE_CUT) + 12  # TRACE_CUT with its count fits in it
_HOSTILE: Final = "declares a DTD or entities, which is refused"


class _Collector:
    """lxml parser target: records each testcase as (suite, attributes, children).

    Runs between libxml2's callbacks, so it does as little as possible for the common
    testcase without children.
    """

    __slots__ = (
        "_active",
        "_append",
        "_bare_doctype",
        "_buf",
        "_buf_depth",
        "_buf_sink",
        "_depth",
        "_label",
        "_started",
        "_suite",
        "_suites",
        "cases",
    )

    def __init__(self, label: str, bare_doctype: bool) -> None:
        self.cases: list[_Case] = []
        self._append = self.cases.append
        self._label = label
        self._bare_doctype = bare_doctype
        self._started = False
        self._suites: list[str] = []
        self._suite = ""
        # -1 outside testcases, else how deep inside the open testcase (0: at its level)
        self._depth = -1
        # Text capture: _buf collects the text of the element open at _buf_depth and hands
        # it to _buf_sink; data goes to _active, which is _buf or None inside other children.
        self._buf: list[str] | None = None
        self._buf_depth = 0
        self._buf_sink: Callable[[str], None] | None = None
        self._active: list[str] | None = None

    def take(self) -> list[_Case]:
        """Hand over the complete testcases recorded so far."""
        cases = self.cases
        self.cases = [cases.pop()] if self._depth >= 0 else []
        self._append = self.cases.append
        return cases

    # -- lxml target interface -----------------------------------------------------------

    def doctype(self, name: str | None, public_id: str | None, system_id: str | None) -> None:
        # The prolog scan already refused every other DTD; this catches encodings it cannot
        # read, before libxml2 looks at the internal subset.
        if public_id or system_id or not self._bare_doctype:
            raise HostileXMLError(f"{self._label}: JUnit report {_HOSTILE}")

    def start(self, tag: str, attrib: Mapping[str, str]) -> None:
        depth = self._depth
        if depth >= 0:
            self._depth = depth = depth + 1
            self._child_start(tag, attrib, depth)
        elif tag == "testcase":
            self._depth = 0
            self._append((self._suite, attrib, None))
        elif tag == "testsuite":
            self._started = True
            name = _unescape(attrib.get("name") or "")
            self._suites.append(name)
            self._suite = name
        elif not self._started:
            # The root is <testsuites>, or else a <testsuite>/<testcase> handled above.
            if tag != "testsuites":
                raise ResultsError(
                    f"{self._label}: not a JUnit XML report (root element <{tag}>, "
                    "expected <testsuites>, <testsuite> or <testcase>)"
                )
            self._started = True

    def data(self, text: str) -> None:
        if self._active is not None:
            self._active.append(text)

    def end(self, tag: str) -> None:
        depth = self._depth
        if depth > 0:
            self._child_end(depth)
        elif depth == 0:
            self._depth = -1  # </testcase>
        elif tag == "testsuite":
            suites = self._suites
            suites.pop()
            self._suite = suites[-1] if suites else ""

    def close(self) -> None:
        return None

    # -- children of a testcase -----------------------------------------------------------

    def _child_start(self, tag: str, attrib: Mapping[str, str], depth: int) -> None:
        suite, case_attrib, children = self.cases[-1]
        if children is None:
            children = _Children()
            self.cases[-1] = (suite, case_attrib, children)
        if depth == 1:
            result = _RESULTS.get(tag)
            if result is not None:
                if result[0] > children.rank:
                    children.rank, children.status = result
                    message = attrib.get("message")
                    if message:
                        children.message = _unescape(message)[:MAX_MESSAGE_CHARS]
                    else:
                        children.message = None
                    if result[1] is not _SKIPPED:
                        # a failure's or error's text is its trace (and, without the
                        # attribute, its message)
                        self._capture(depth, _trace_sink(children, not message))
                    elif not message:
                        self._capture(depth, _message_sink(children))
                return
            rerun = _RERUNS.get(tag)
            if rerun is not None:
                message = attrib.get("message")
                record: list[Any] = [
                    rerun,
                    _unescape(message)[:MAX_MESSAGE_CHARS] if message else None,
                    _duration_ms(attrib.get("time")),
                    None,
                ]
                children.reruns.append(record)
                self._capture(depth, _rerun_trace_sink(record, not message))
                return
        if tag == "property" and depth <= 2:
            name = attrib.get("name")
            if name:
                values = children.properties.setdefault(_unescape(name), [])
                value = attrib.get("value")
                if value is not None:
                    values.append(_unescape(value))
                else:
                    self._capture(depth, values.append)
                return
        # Any other element pauses text capture, except a Surefire <stackTrace> directly
        # inside the element being captured (flaky reruns keep their trace there).
        buf = self._buf
        self._active = (
            buf
            if buf is not None and tag == "stackTrace" and depth == self._buf_depth + 1
            else None
        )

    def _child_end(self, depth: int) -> None:
        buf = self._buf
        if buf is not None:
            if depth == self._buf_depth:
                sink = self._buf_sink
                self._buf = self._active = self._buf_sink = None
                if sink is not None:
                    sink("".join(buf).strip())
            elif depth == self._buf_depth + 1:
                self._active = buf  # the captured element's own text resumes
        self._depth = depth - 1

    def _capture(self, depth: int, sink: Callable[[str], None]) -> None:
        self._buf = self._active = []
        self._buf_depth = depth
        self._buf_sink = sink


def _message_sink(children: _Children) -> Callable[[str], None]:
    def sink(text: str) -> None:
        children.message = text[:MAX_MESSAGE_CHARS] or None

    return sink


def _trace_sink(children: _Children, as_message: bool) -> Callable[[str], None]:
    def sink(text: str) -> None:
        if as_message:
            children.message = text[:MAX_MESSAGE_CHARS] or None
        children.trace = _cut_trace(text)

    return sink


def _rerun_trace_sink(record: list[Any], as_message: bool) -> Callable[[str], None]:
    def sink(text: str) -> None:
        if as_message:
            record[1] = text[:MAX_MESSAGE_CHARS] or None
        record[3] = _cut_trace(text)

    return sink


def _cut_trace(text: str) -> str | None:
    """The trace of a failure's text: all of it, or :data:`TRACE_CUT` and its end.

    The end starts with a whole line (a line begun mid-path could name another file),
    unless that would leave out more than a quarter of what fits: a very long line is cut.
    """
    if len(text) <= MAX_TRACE_CHARS:
        return text or None
    tail = text[len(text) - MAX_TRACE_CHARS + _CUT_ROOM :]
    newline = tail.find("\n", 0, MAX_TRACE_CHARS // 4)
    if newline >= 0:
        tail = tail[newline + 1 :]
    return TRACE_CUT.format(count=len(text) - len(tail)) + tail
