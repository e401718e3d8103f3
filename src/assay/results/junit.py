"""Streaming, hardened JUnit XML parsing into :class:`TestCaseResult` rows.

One row is emitted per *attempt* of a test case.  A test that appears several times in one
file (reruns) gets attempts 1, 2, 3... in document order, and Surefire's ``<flakyFailure>``,
``<flakyError>``, ``<rerunFailure>`` and ``<rerunError>`` children become extra, earlier
attempts of their test case, whose own status is the final one.

Untrusted input is expected: DTDs and entity declarations are refused with
:class:`HostileXMLError` before anything is resolved, files beyond ``max_bytes`` are
refused before they are parsed, and the parser never loads DTDs, resolves entities or
touches the network.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, Final, cast

from lxml import etree

from assay.errors import HostileXMLError, ResultsError
from assay.results.model import CaseStatus, Summary, TestCaseResult

__all__ = ["iter_junit", "parse_junit", "summarize"]

DEFAULT_MAX_BYTES: Final = 512 * 1024 * 1024
"""Largest report accepted by default (bytes)."""

MAX_MESSAGE_CHARS: Final = 4000
"""Failure/error/skip messages are cut to this many characters."""

_HEAD_BYTES: Final = 64 * 1024
_JUNIT_ROOTS: Final = frozenset({"testsuites", "testsuite", "testcase"})

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
# `status` attribute values meaning "not run" when no result child is present (tst, gtest).
_NOT_RUN: Final = frozenset({"disabled", "notrun", "skipped"})

_BARE_DOCTYPE: Final = re.compile(r"<!DOCTYPE\s+[^\s\[\]<>\"']+\s*>")
_THOUSANDS: Final = re.compile(r"[1-9]\d{0,2}(?:,\d{3})+(?:\.\d*)?")

# lxml-stubs leaves iterparse untyped (module __getattr__); give it a precise type.
_iterparse: Callable[..., Iterator[tuple[str, etree._Element]]] = etree.iterparse

_PARSER_OPTIONS: Final[dict[str, Any]] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}

Source = str | os.PathLike[str] | IO[bytes]


def iter_junit(source: Source, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[TestCaseResult]:
    """Stream the test case attempts of a JUnit XML report, in document order.

    ``source`` is a path or a binary file object (read from its current position, not
    closed).  Raises :class:`HostileXMLError` for DTDs, entity declarations or a report
    larger than ``max_bytes``, and :class:`ResultsError` for corrupt or non-JUnit XML.
    """
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        try:
            size = os.stat(path).st_size
        except OSError as exc:
            raise ResultsError(f"{path}: cannot read JUnit report: {exc.strerror}") from exc
        _check_size(path, size, max_bytes)
        with open(path, "rb") as raw:
            yield from _iter_stream(raw, path, max_bytes)
    else:
        name = getattr(source, "name", None)
        label = os.fspath(name) if isinstance(name, str | os.PathLike) else "<stream>"
        remaining = _remaining_size(source)
        if remaining is not None:
            _check_size(label, remaining, max_bytes)
        yield from _iter_stream(source, label, max_bytes)


def parse_junit(source: Source, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[TestCaseResult]:
    """Parse a whole JUnit XML report; see :func:`iter_junit`."""
    return list(iter_junit(source, max_bytes=max_bytes))


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


def _check_size(label: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise HostileXMLError(
            f"{label}: JUnit report is {size} bytes, larger than the limit of {max_bytes} bytes"
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


class _LimitedReader:
    """File-like wrapper for lxml: replays the already read head, then enforces max_bytes."""

    __slots__ = ("_head", "_label", "_left", "_max_bytes", "_raw")

    def __init__(self, raw: IO[bytes], head: bytes, max_bytes: int, label: str) -> None:
        self._raw = raw
        self._head = head
        self._left = max_bytes - len(head)
        self._max_bytes = max_bytes
        self._label = label

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if 0 <= size < len(self._head):
                data, self._head = self._head[:size], self._head[size:]
            else:
                data, self._head = self._head, b""
            return data
        data = self._raw.read(size)
        self._left -= len(data)
        if self._left < 0:
            raise HostileXMLError(
                f"{self._label}: JUnit report is larger than the limit of {self._max_bytes} bytes"
            )
        return data


def _read_head(raw: IO[bytes], label: str, max_bytes: int) -> bytes:
    """Read enough of the stream to see the whole prolog, and refuse hostile DTDs."""
    head = b""
    while True:
        chunk = raw.read(_HEAD_BYTES)
        if not isinstance(chunk, bytes):
            raise ResultsError(f"{label}: JUnit report must be read from a binary stream")
        head += chunk
        _check_size(label, len(head), max_bytes)
        if not chunk or _check_prolog(head, label):
            return head


def _decode_head(head: bytes) -> str:
    """Decode the head just enough to find markup in the prolog."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return head.decode("utf-32", errors="replace")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head.decode("utf-16", errors="replace")
    if head.startswith(b"<\x00"):
        return head.decode("utf-16-le", errors="replace")
    if head.startswith(b"\x00<"):
        return head.decode("utf-16-be", errors="replace")
    # UTF-8 and every other ASCII-compatible encoding: markup characters are ASCII.
    return head.decode("latin-1")


def _check_prolog(head: bytes, label: str) -> bool:
    """Scan the XML prolog; True once the root element (or non-prolog text) is reached.

    Raises HostileXMLError for a document type declaration with an internal subset or an
    external identifier: those are the vehicle of entity expansion and external entities.
    """
    text = _decode_head(head).lstrip("\ufeff")
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos >= end:
            return False
        if text.startswith("<?", pos):
            close = text.find("?>", pos + 2)
            if close < 0:
                return False
            pos = close + 2
        elif text.startswith("<!--", pos):
            close = text.find("-->", pos + 4)
            if close < 0:
                return False
            pos = close + 3
        elif text.startswith("<!DOCTYPE", pos):
            if _BARE_DOCTYPE.match(text, pos) is None:
                if text.find(">", pos) < 0 and len(text) - pos < 1024:
                    return False  # an incomplete declaration: read more before judging
                raise HostileXMLError(
                    f"{label}: JUnit report declares a DTD or entities, which is refused"
                )
            pos = text.index(">", pos) + 1
        else:
            return True


# --- parsing ------------------------------------------------------------------------------


def _iter_stream(raw: IO[bytes], label: str, max_bytes: int) -> Iterator[TestCaseResult]:
    head = _read_head(raw, label, max_bytes)
    reader = _LimitedReader(raw, head, max_bytes, label)
    events = _iterparse(reader, events=("end",), tag=("testcase", "testsuite"), **_PARSER_OPTIONS)
    try:
        yield from _iter_cases(events, label)
        root = cast(Any, events).root
        if root is not None:
            _check_document(root, label)
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if exc.position else 0
        msg = exc.msg if isinstance(getattr(exc, "msg", None), str) else str(exc)
        where = f"line {line}" if line else "end of file"
        raise ResultsError(f"{label}: not well-formed XML at {where}: {msg}") from exc


def _check_document(element: etree._Element, label: str) -> None:
    """Refuse DTDs that slipped past the prolog scan, and roots that are not JUnit."""
    tree = element.getroottree()
    info = cast(Any, etree.DocInfo(tree))
    dtd = info.internalDTD
    if (
        info.system_url
        or info.public_id
        or (dtd is not None and (any(dtd.iterentities()) or any(dtd.iterelements())))
    ):
        raise HostileXMLError(f"{label}: JUnit report declares a DTD or entities, which is refused")
    tag = tree.getroot().tag
    if tag not in _JUNIT_ROOTS:
        shown = tag if isinstance(tag, str) else "?"
        raise ResultsError(
            f"{label}: not a JUnit XML report (root element <{shown}>, "
            "expected <testsuites>, <testsuite> or <testcase>)"
        )


def _iter_cases(
    events: Iterator[tuple[str, etree._Element]], label: str
) -> Iterator[TestCaseResult]:
    """The hot loop: one testcase `end` event at a time, removed from the tree once read."""
    attempts: dict[int, int] = {}  # hash((suite, classname, name)) -> attempts so far
    unnamed = 0
    checked = False
    last_parent: etree._Element | None = None
    suite = ""
    for _, el in events:
        if not checked:
            _check_document(el, label)
            checked = True
        parent = el.getparent()
        if el.tag != "testcase":  # a testsuite ended: drop it with whatever it still holds
            el.clear()
            if parent is not None:
                parent.remove(el)
            continue
        if parent is not last_parent:
            last_parent = parent
            suite = _suite_name(el)
        get = el.get
        name = get("name")
        if not name:
            unnamed += 1
            name = f"(unnamed {unnamed})"
        classname = get("classname")
        if classname is None:
            classname = get("class") or ""
        time = get("time")
        if time is None:
            duration = 0
        else:
            try:
                seconds = float(time)
            except ValueError:
                seconds = _lenient_seconds(time)
            duration = int(seconds * 1000.0 + 0.5) if 0.0 < seconds < 1e9 else 0
        line_attr = get("line")
        line = (
            int(line_attr)
            if line_attr is not None and line_attr.isdecimal()
            else _lenient_int(line_attr)
        )
        key = hash((suite, classname, name))
        attempt = attempts.get(key, 0) + 1
        if len(el):
            status, message, properties, reruns = _read_children(el)
            if status is _PASSED and get("status") in _NOT_RUN:
                status = _SKIPPED
            for rerun_status, rerun_message, rerun_ms in reruns:
                yield TestCaseResult(
                    suite,
                    classname,
                    name,
                    rerun_status,
                    rerun_ms,
                    get("file"),
                    line,
                    rerun_message,
                    attempt,
                    {k: list(v) for k, v in properties.items()},
                )
                attempt += 1
        else:
            status = _SKIPPED if get("status") in _NOT_RUN else _PASSED
            message = None
            properties = {}
        attempts[key] = attempt
        file = get("file")
        if parent is not None:
            parent.remove(el)
        yield TestCaseResult(
            suite, classname, name, status, duration, file, line, message, attempt, properties
        )


def _suite_name(testcase: etree._Element) -> str:
    for suite in testcase.iterancestors("testsuite"):
        return suite.get("name") or ""
    return ""


def _lenient_seconds(text: str) -> float:
    """Seconds from a `time` attribute that float() refused; 0 for garbage."""
    text = text.strip()
    if "," in text:
        if "." in text or _THOUSANDS.fullmatch(text):
            text = text.replace(",", "")  # 1,234.5 (grouping, as old Surefire wrote)
        else:
            text = text.replace(",", ".")  # 0,25 (decimal comma)
    try:
        return float(text)
    except ValueError:
        return 0.0


def _lenient_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


_Rerun = tuple[CaseStatus, str | None, int]


def _read_children(
    el: etree._Element,
) -> tuple[CaseStatus, str | None, dict[str, list[str]], list[_Rerun]]:
    """Status, message, properties and earlier attempts from a testcase's children."""
    status = _PASSED
    rank = 0
    decisive: etree._Element | None = None
    properties: dict[str, list[str]] = {}
    reruns: list[_Rerun] = []
    for child in el:
        tag = child.tag
        result = _RESULTS.get(tag) if isinstance(tag, str) else None
        if result is not None:
            if result[0] > rank:
                rank, status = result
                decisive = child
        elif tag == "properties":
            for prop in child:
                if prop.tag == "property":
                    _add_property(properties, prop)
        elif tag == "property":
            _add_property(properties, child)
        elif isinstance(tag, str) and tag in _RERUNS:
            reruns.append((_RERUNS[tag], _message(child), _duration_ms(child.get("time"))))
    message = _message(decisive) if decisive is not None else None
    return status, message, properties, reruns


def _add_property(properties: dict[str, list[str]], prop: etree._Element) -> None:
    name = prop.get("name")
    if not name:
        return
    value = prop.get("value")
    if value is None:
        value = (prop.text or "").strip()
    properties.setdefault(name, []).append(value)


def _message(result: etree._Element) -> str | None:
    """The `message` attribute, else the start of the text (Surefire: of <stackTrace>)."""
    message = result.get("message")
    if message:
        return message[:MAX_MESSAGE_CHARS]
    text = result.text
    if text is None or text.isspace():
        trace = result.find("stackTrace")
        text = trace.text if trace is not None else None
    if text is None:
        return None
    text = text.strip()
    return text[:MAX_MESSAGE_CHARS] or None


def _duration_ms(time: str | None) -> int:
    if time is None:
        return 0
    try:
        seconds = float(time)
    except ValueError:
        seconds = _lenient_seconds(time)
    return int(seconds * 1000.0 + 0.5) if 0.0 < seconds < 1e9 else 0
