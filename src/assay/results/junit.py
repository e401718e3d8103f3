"""Streaming, hardened JUnit XML parsing into :class:`TestCaseResult` rows.

One row is emitted per *attempt* of a test case.  A test (suite, classname, name) that
appears several times in one file (reruns) gets attempts 1, 2, 3... in document order, and
Surefire's ``<flakyFailure>``, ``<flakyError>``, ``<rerunFailure>`` and ``<rerunError>``
children become extra, earlier attempts of their test case, whose own status is the final
one.  A test case without a name is given the name ``(unnamed N)`` (N counting such cases in
the file), so that unrelated nameless cases are not mistaken for reruns of one another.

A failure's or error's ``message`` is the ``message`` attribute, else the start of the
element's text.  That text (a stack trace; pytest's report of the failure, ending with the
``path:line:`` of the failing line) is also kept whole as ``trace``, up to
:data:`MAX_TRACE_CHARS`; of a longer one the end is kept (from a line break, when there is
one near the cut), after a :data:`TRACE_CUT` note: a trace says where the failure happened at
its end.  Surefire's rerun children get one
too (their ``<stackTrace>`` included); a skip has none.

Untrusted input is expected: DTDs and entity declarations are refused with
:class:`HostileXMLError` before anything is resolved, files beyond ``max_bytes`` are
refused before they are parsed, and the parser never loads DTDs, resolves entities or
touches the network.

For speed no tree is built: lxml's parser feeds an event target chunk by chunk, the target
only records each testcase's attribute dict (plus what its rare children say), and the rows
are built per chunk in one tight loop.
"""

from __future__ import annotations

import codecs
import gc
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any, Final, cast

from lxml import etree

from assay.errors import HostileXMLError, ResultsError
from assay.model import CaseStatus, Summary, TestCaseResult

__all__ = ["iter_junit", "parse_junit", "summarize"]

DEFAULT_MAX_BYTES: Final = 512 * 1024 * 1024
"""Largest report accepted by default (bytes)."""

MAX_MESSAGE_CHARS: Final = 4000
"""Failure/error/skip messages are cut to this many characters."""

MAX_TRACE_CHARS: Final = 4000
"""Failure/error texts (traces) are cut to about this many characters: their end is kept."""

TRACE_CUT: Final = "[… {count} earlier characters cut]\n"
"""What starts a trace that was cut (``count``: the characters left out)."""

_CUT_ROOM: Final = len(TRACE_CUT) + 12  # TRACE_CUT with its count fits in it
_CHUNK_BYTES: Final = 64 * 1024
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

_HOSTILE: Final = "declares a DTD or entities, which is refused"
_BARE_DOCTYPE: Final = re.compile(r"<!DOCTYPE\s+[^\s\[\]<>\"']+\s*>")
_THOUSANDS: Final = re.compile(r"[1-9]\d{0,2}(?:,\d{3})+(?:\.\d*)?")

# Nothing is ever resolved or fetched; libxml2's default limits (depth, sizes) stay on.
_PARSER_OPTIONS: Final[dict[str, Any]] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
}

Source = str | os.PathLike[str] | IO[bytes]


def iter_junit(source: Source, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[TestCaseResult]:
    """Stream the test case attempts of a JUnit XML report, in document order.

    ``source`` is a path or a binary file object (read from its current position, not
    closed).  Raises :class:`HostileXMLError` for DTDs, entity declarations or a report
    larger than ``max_bytes``, and :class:`ResultsError` for corrupt or non-JUnit XML.
    """
    for rows in _row_batches(source, max_bytes):
        yield from rows


def parse_junit(source: Source, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[TestCaseResult]:
    """Parse a whole JUnit XML report into a list; see :func:`iter_junit`."""
    cases: list[TestCaseResult] = []
    # Every row survives, so the cyclic GC would only rescan them, over and over; pausing
    # it makes large reports ~15% faster.  No generator is suspended while it is off.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for rows in _row_batches(source, max_bytes):
            cases.extend(rows)
    finally:
        if gc_was_enabled:
            gc.enable()
    return cases


def summarize(cases: Iterable[TestCaseResult]) -> Summary:
    """Count each distinct test (suite, classname, name) once, with its last attempt's status.

    The highest attempt number wins; on equal attempts the later row wins.
    """
    last: dict[tuple[str, str, str], tuple[int, CaseStatus]] = {}
    for case in cases:
        key = (case.suite, case.classname, case.name)
        seen = last.get(key)
        if seen is None or case.attempt >= seen[0]:
            last[key] = (case.attempt, case.status)
    summary = Summary()
    for _, status in last.values():
        summary.add(status)
    return summary


# --- input handling -----------------------------------------------------------------------


def _row_batches(source: Source, max_bytes: int) -> Iterator[list[TestCaseResult]]:
    """Open ``source`` (paths only; streams are left open) and parse it batch by batch."""
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        try:
            size = os.stat(path).st_size
            _check_size(path, size, max_bytes)
            raw = open(path, "rb")  # noqa: SIM115 - closed below, around a generator
        except OSError as exc:
            raise ResultsError(f"{path}: cannot read JUnit report: {exc.strerror}") from exc
        with raw:
            yield from _parse_stream(raw, path, max_bytes)
    else:
        name = getattr(source, "name", None)
        label = os.fspath(name) if isinstance(name, str | os.PathLike) else "<stream>"
        remaining = _remaining_size(source)
        if remaining is not None:
            _check_size(label, remaining, max_bytes)
        yield from _parse_stream(source, label, max_bytes)


def _check_size(label: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise HostileXMLError(
            f"{label}: JUnit report of {size} bytes or more is larger than the limit "
            f"of {max_bytes} bytes"
        )


def _remaining_size(stream: IO[bytes]) -> int | None:
    """Bytes left in a seekable stream, or None when it cannot tell."""
    try:
        if not stream.seekable():
            return None
        here = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(here)
    except (AttributeError, OSError, ValueError):
        return None
    return max(end - here, 0)


def _read_head(raw: IO[bytes], label: str, max_bytes: int) -> tuple[bytes, bool]:
    """Read at least the whole prolog and refuse hostile DTDs in it.

    Returns the bytes read and whether the prolog holds a harmless ``<!DOCTYPE name>``.
    """
    head = b""
    while True:
        chunk = raw.read(_CHUNK_BYTES)
        if not isinstance(chunk, bytes):
            raise ResultsError(f"{label}: JUnit report must be read from a binary stream")
        head += chunk
        _check_size(label, len(head), max_bytes)
        bare_doctype = _scan_prolog(head, label)
        if bare_doctype is not None:
            return head, bare_doctype
        if not chunk:
            return head, False


def _decode_head(head: bytes) -> str:
    """Decode the head just enough to find markup in the prolog."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return head.decode("utf-32", errors="replace")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head.decode("utf-16", errors="replace")
    if head.startswith(b"<\x00\x00\x00"):
        return head.decode("utf-32-le", errors="replace")
    if head.startswith(b"\x00\x00\x00<"):
        return head.decode("utf-32-be", errors="replace")
    if head.startswith(b"<\x00"):
        return head.decode("utf-16-le", errors="replace")
    if head.startswith(b"\x00<"):
        return head.decode("utf-16-be", errors="replace")
    # UTF-8 and every other ASCII-compatible encoding: markup characters are ASCII.
    return head.decode("latin-1")


def _scan_prolog(head: bytes, label: str) -> bool | None:
    """Scan the XML prolog up to the root element without resolving anything.

    Returns None while the prolog continues past ``head``, else whether it holds a bare
    ``<!DOCTYPE name>``.  Raises HostileXMLError for a document type declaration with an
    internal subset or an external identifier: the vehicles of entity expansion (billion
    laughs) and of external entities.
    """
    text = _decode_head(head).lstrip("\ufeff")
    pos, end = 0, len(text)
    bare_doctype = False
    while True:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos >= end:
            return None
        if text.startswith("<?", pos):
            close = text.find("?>", pos + 2)
            if close < 0:
                return None
            pos = close + 2
        elif text.startswith("<!--", pos):
            close = text.find("-->", pos + 4)
            if close < 0:
                return None
            pos = close + 3
        elif text.startswith("<!DOCTYPE", pos):
            close = text.find(">", pos)
            if close < 0:
                return None
            if _BARE_DOCTYPE.match(text, pos) is None:
                raise HostileXMLError(f"{label}: JUnit report {_HOSTILE}")
            bare_doctype = True
            pos = close + 1
        else:
            return bare_doctype


# --- parsing ------------------------------------------------------------------------------


def _parse_stream(raw: IO[bytes], label: str, max_bytes: int) -> Iterator[list[TestCaseResult]]:
    head, bare_doctype = _read_head(raw, label, max_bytes)
    if not head.strip():
        raise ResultsError(f"{label}: empty file, not a JUnit XML report")
    collector = _Collector(label, bare_doctype)
    builder = _RowBuilder()
    # lxml-stubs' ParserTarget protocol wants every optional callback (comment, pi...).
    parser = etree.XMLParser(target=cast(Any, collector), **_PARSER_OPTIONS)
    total = len(head)
    chunk = head
    try:
        while chunk:
            parser.feed(chunk)
            if collector.cases:
                yield builder.rows(collector.take())
            chunk = raw.read(_CHUNK_BYTES)
            total += len(chunk)
            _check_size(label, total, max_bytes)
        parser.close()
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if exc.position else 0
        where = f"line {line}" if line else "end of file"
        raise ResultsError(f"{label}: not well-formed XML at {where}: {exc.msg}") from exc
    if collector.cases:
        yield builder.rows(collector.take())


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
