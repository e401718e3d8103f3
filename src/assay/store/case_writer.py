"""Writing test-case attempts in the column-wise layout of :mod:`assay.store.test_cases`.

Kept apart from the readers, and written with the standard library's :mod:`array` rather than
numpy, so that `assay run` and `assay import` store an execution's attempts without
importing numpy (~0.1-0.2 s of a short command); the analytics read with numpy.
"""

from __future__ import annotations

import hashlib
import sys
import zlib
from array import array
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, func, insert, select

from assay.model import CaseStatus, Summary, TestCaseResult
from assay.store.tables import TestCaseDetailRow, TestResultsRow

__all__ = ["CASE_STATUSES", "SEPARATOR", "STATUS_CODE", "STATUS_VALUES", "write_cases"]

CASE_STATUSES: tuple[CaseStatus, ...] = (
    CaseStatus.PASSED,
    CaseStatus.FAILED,
    CaseStatus.ERRORED,
    CaseStatus.SKIPPED,
    CaseStatus.QUARANTINED,
)
"""Status of each code stored in ``statuses`` (append only: codes are persisted)."""

STATUS_VALUES: tuple[str, ...] = tuple(status.value for status in CASE_STATUSES)
"""The status value (``"passed"`` ...) of each stored code."""

STATUS_CODE: dict[CaseStatus, int] = {status: code for code, status in enumerate(CASE_STATUSES)}
"""The stored code of each status."""

SEPARATOR = "\0"
"""Between the names of a text column (NUL cannot occur in XML 1.0 text)."""

_FAILING_CODES = frozenset((STATUS_CODE[CaseStatus.FAILED], STATUS_CODE[CaseStatus.ERRORED]))
_PASSED_CODE = STATUS_CODE[CaseStatus.PASSED]
_BIG_ENDIAN = sys.byteorder == "big"


def write_cases(
    connection: Connection, execution_id: str, workflow: str, cases: Iterable[TestCaseResult]
) -> Summary:
    """Store ``cases`` as a new segment of the execution; return the summary over the final
    attempt of each test (of this segment)."""
    rows = cases if isinstance(cases, list) else list(cases)
    # column by column: a comprehension per field costs less than one loop appending to many
    suites_classes: dict[tuple[str, str, str | None], int] = {}
    groups = [
        suites_classes.setdefault((c.suite, c.classname, c.file), len(suites_classes)) for c in rows
    ]
    # the key of test_identity(), less the name, per group
    prefixes = [f"{workflow}\x1f{s}\x1f{c}\x1f".encode() for s, c, _ in suites_classes]
    names = [c.name for c in rows]
    sha1, from_bytes = hashlib.sha1, int.from_bytes
    ids = [
        from_bytes(sha1(prefixes[g] + n.encode(), usedforsecurity=False).digest()[:8], "big")
        for g, n in zip(groups, names, strict=True)
    ]
    code_of = STATUS_CODE
    codes = [code_of[c.status] for c in rows]
    details = [
        (position, c.message, c.properties or None, c.trace)
        for position, c in enumerate(rows)
        if c.message is not None or c.properties or c.trace is not None
    ]
    segment, offset = _next_segment(connection, execution_id)
    classes = [part for s, c, f in suites_classes for part in (s, c, f or "")]
    connection.execute(
        insert(TestResultsRow),
        {
            "execution_id": execution_id,
            "segment": segment,
            "cases": len(ids),
            "test_ids": _little_endian(array("Q", ids)),
            "attempts": _packed([c.attempt for c in rows], "H"),
            "statuses": _little_endian(array("B", codes)),
            "durations": _packed([c.duration_ms for c in rows], "I"),
            "lines": _packed([c.line or 0 for c in rows], "I"),
            "groups": _little_endian(array("I", groups)),
            "classes": _pack_text(classes),
            "names": _pack_text(names),
        },
    )
    if details:
        connection.execute(
            insert(TestCaseDetailRow),
            [
                {
                    "execution_id": execution_id,
                    "position": offset + position,
                    "message": message,
                    "properties": properties,
                    "trace": trace,
                }
                for position, message, properties, trace in details
            ],
        )
    return _summary(ids, codes)


def _little_endian(values: array[int]) -> bytes:
    """The bytes of ``values``, little-endian whatever the machine."""
    if _BIG_ENDIAN:
        values.byteswap()
    return values.tobytes()


def _packed(values: list[int], typecode: str) -> bytes:
    """``values`` as the stored unsigned type (``H`` uint16, ``I`` uint32), clipped to its
    range (a duration of 50 days or more is stored as 49.7 days rather than refused)."""
    top = (1 << (8 * array(typecode).itemsize)) - 1
    return _little_endian(array(typecode, [0 if v < 0 else top if v > top else v for v in values]))


def _pack_text(values: Sequence[str]) -> bytes:
    """NUL-separated, compressed; a NUL inside a value becomes U+FFFD."""
    text = SEPARATOR.join(values)
    if text.count(SEPARATOR) != max(len(values) - 1, 0):
        text = SEPARATOR.join(value.replace(SEPARATOR, "\ufffd") for value in values)
    return zlib.compress(text.encode("utf-8", "replace"), 1)


def _next_segment(connection: Connection, execution_id: str) -> tuple[int, int]:
    """(number of the next segment, attempts stored before it) for an execution."""
    count, cases = connection.execute(
        select(func.count(), func.coalesce(func.sum(TestResultsRow.cases), 0)).where(
            TestResultsRow.execution_id == execution_id
        )
    ).one()
    return int(count), int(cases)


def _summary(test_ids: Sequence[int], codes: Sequence[int]) -> Summary:
    """Counts over each test's last attempt; ``flaky`` when it passed after failing."""
    final: dict[int, int] = {}
    failed_before: set[int] = set()
    failing = _FAILING_CODES
    for test_id, code in zip(test_ids, codes, strict=True):
        previous = final.get(test_id)
        if previous is not None and previous in failing:
            failed_before.add(test_id)
        final[test_id] = code
    counts = [0] * len(CASE_STATUSES)
    for code in final.values():
        counts[code] += 1
    summary = Summary()
    summary.tests = len(final)
    summary.passed = counts[_PASSED_CODE]
    summary.failed = counts[STATUS_CODE[CaseStatus.FAILED]]
    summary.errored = counts[STATUS_CODE[CaseStatus.ERRORED]]
    summary.skipped = counts[STATUS_CODE[CaseStatus.SKIPPED]]
    summary.quarantined = counts[STATUS_CODE[CaseStatus.QUARANTINED]]
    summary.flaky = sum(1 for test_id in failed_before if final[test_id] == _PASSED_CODE)
    return summary
