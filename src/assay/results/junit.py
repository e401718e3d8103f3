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
:data:`~assay.results.target.MAX_TRACE_CHARS`; of a longer one the end is kept (from a line
break, when there is one near the cut), after a :data:`~assay.results.target.TRACE_CUT`
note: a trace says where the failure happened at its end.  Surefire's rerun children get one
too (their ``<stackTrace>`` included); a skip has none.

Untrusted input is expected: DTDs and entity declarations are refused with
:class:`HostileXMLError` before anything is resolved, files beyond ``max_bytes`` are
refused before they are parsed, and the parser never loads DTDs, resolves entities or
touches the network.

For speed no tree is built: lxml's parser feeds an event target chunk by chunk, the target
only records each testcase's attribute dict (plus what its rare children say), and the rows
are built per chunk in one tight loop.

The parts: this module checks the input and drives the parser; :mod:`assay.results.target`
is the streaming event target (testcases recorded, texts captured and cut);
:mod:`assay.results.dialects` knows what JUnit writers put in a report (result and rerun
elements, "not run" statuses, times and line numbers as written) and builds the rows.
"""

from __future__ import annotations

import codecs
import gc
import os
import re
from collections.abc import Iterable, Iterator
from typing import IO, Any, Final, cast

from lxml import etree

from assay.errors import HostileXMLError, ResultsError
from assay.model import CaseStatus, Summary, TestCaseResult
from assay.results.dialects import _RowBuilder
from assay.results.target import _HOSTILE, _Collector

__all__ = ["iter_junit", "parse_junit", "summarize"]

DEFAULT_MAX_BYTES: Final = 512 * 1024 * 1024
"""Largest report accepted by default (bytes)."""

_CHUNK_BYTES: Final = 64 * 1024
_BARE_DOCTYPE: Final = re.compile(r"<!DOCTYPE\s+[^\s\[\]<>\"']+\s*>")

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
