"""Test-case attempts, stored column-wise: one row per execution (per ingest, a segment).

Every analytic reads the attempts of a window of recent executions whole, and an ingest writes
one execution's attempts at once, so the unit of storage is the execution, not the attempt:
a 100,000-case report becomes one row of packed arrays instead of 100,000 indexed rows (see
bench/ingest.py and bench/README.md for what that buys). Arrays are little-endian, one entry
per attempt, in the order the report listed them:

==========  =======  =====================================================================
test_ids    uint64   the stable test id (first 8 bytes of :func:`test_identity`'s SHA-1)
attempts    uint16   attempt number, 1 for the first run
statuses    uint8    index in :data:`CASE_STATUSES`
durations   uint32   milliseconds
lines       uint32   line of the test in its file, 0 when unknown
groups      uint32   index of the attempt's (suite, classname, file) in ``classes``
classes     zlib     NUL-separated (suite, classname, file) triples, each once
names       zlib     NUL-separated test names
==========  =======  =====================================================================

Messages, properties and traces (the text of a failure or error), which few attempts have,
are rows of ``test_case_details`` keyed by (execution, position), position counting attempts
across the execution's segments. NUL cannot occur in XML 1.0 text, so it is a safe
separator; a NUL in a name from elsewhere is stored as U+FFFD.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, null, select

from assay.model import CaseStatus
from assay.store.case_writer import CASE_STATUSES, STATUS_VALUES, write_cases
from assay.store.case_writer import SEPARATOR as _SEP
from assay.store.case_writer import STATUS_CODE as _CODE
from assay.store.tables import ExecutionRow, TestCaseDetailRow, TestResultsRow

__all__ = [
    "CASE_STATUSES",
    "STATUS_VALUES",
    "CaseColumns",
    "CaseDetail",
    "CaseNames",
    "StoredCase",
    "find_test",
    "id_hex",
    "id_int",
    "positions_of",
    "read_cases",
    "read_columns",
    "read_details",
    "read_names",
    "status_codes",
    "write_cases",
]

_CHUNK = 500

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]


def status_codes(statuses: Iterable[str]) -> list[int]:
    """The stored codes of statuses given by value (``"failed"`` ...)."""
    return [_CODE[CaseStatus(status)] for status in statuses]


def id_hex(test_id: int) -> str:
    """A stored test id as shown to people: 16 hex digits."""
    return f"{test_id:016x}"


def id_int(test_id: str) -> int | None:
    """The stored form of a test id as :func:`id_hex` writes it (16 lower-case hex digits);
    None for anything else, which no stored test has ("+", "_", spaces and upper case
    included, though ``int()`` reads them)."""
    if len(test_id) != 16:
        return None
    try:
        value = int(test_id, 16)
    except ValueError:
        return None
    return value if id_hex(value) == test_id else None


@dataclass(frozen=True, slots=True)
class CaseColumns:
    """The attempts of several executions as parallel arrays (one entry per attempt).

    Attempts are grouped by execution, in the order ``execution_ids`` lists them, each
    execution's in stored order.
    """

    execution_ids: tuple[str, ...]
    execution: I64
    """Index into ``execution_ids``."""
    position: I64
    """Index of the attempt within its execution."""
    test_id: U64
    attempt: I64
    status: I64
    """Index in :data:`CASE_STATUSES`."""
    duration_ms: I64

    def __len__(self) -> int:
        return int(self.test_id.shape[0])

    def take(self, index: npt.NDArray[Any]) -> CaseColumns:
        """The attempts at ``index`` (a boolean mask or positions), in that order."""
        return CaseColumns(
            self.execution_ids,
            self.execution[index],
            self.position[index],
            self.test_id[index],
            self.attempt[index],
            self.status[index],
            self.duration_ms[index],
        )


@dataclass(frozen=True, slots=True)
class CaseNames:
    """What names the attempts of one execution, by position."""

    test_ids: U64
    lines: I64
    groups: I64
    classes: tuple[tuple[str, str, str | None], ...]
    """(suite, classname, file) of each group."""
    names: tuple[str, ...]

    def identity(self, position: int) -> tuple[str, str, str, str | None, int | None]:
        """(suite, classname, name, file, line) of the attempt at ``position``."""
        suite, classname, file = self.classes[int(self.groups[position])]
        line = int(self.lines[position])
        return suite, classname, self.names[position], file, line or None


@dataclass(frozen=True, slots=True)
class StoredCase:
    """One stored attempt of one test case, decoded."""

    __test__ = False

    execution_id: str
    position: int
    test_id: str
    workflow: str
    suite: str
    classname: str
    name: str
    file: str | None
    line: int | None
    status: str
    duration_ms: int
    message: str | None
    attempt: int
    properties: dict[str, Any] | None
    trace: str | None


class CaseDetail(NamedTuple):
    """What a ``test_case_details`` row says of one attempt."""

    message: str | None
    properties: dict[str, Any] | None
    trace: str | None


_NO_DETAIL: CaseDetail = CaseDetail(None, None, None)


def _unpack_text(blob: bytes) -> list[str]:
    text = zlib.decompress(blob).decode("utf-8")
    return text.split(_SEP) if text else []


def read_columns(connection: Connection, execution_ids: Sequence[str]) -> CaseColumns:
    """The attempts of ``execution_ids`` (in that order), without names or messages."""
    wanted = list(dict.fromkeys(execution_ids))
    found: dict[str, list[tuple[int, bytes, bytes, bytes, bytes]]] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = connection.execute(
            select(
                TestResultsRow.execution_id,
                TestResultsRow.cases,
                TestResultsRow.test_ids,
                TestResultsRow.attempts,
                TestResultsRow.statuses,
                TestResultsRow.durations,
            )
            .where(TestResultsRow.execution_id.in_(wanted[start : start + _CHUNK]))
            .order_by(TestResultsRow.execution_id, TestResultsRow.segment)
        )
        for execution_id, *segment in rows:
            found.setdefault(execution_id, []).append(tuple(segment))  # type: ignore[arg-type]
    segments = [segment for execution_id in wanted for segment in found.get(execution_id, [])]
    counts = np.array(
        [sum(segment[0] for segment in found.get(e, [])) for e in wanted], dtype=np.int64
    )
    starts = np.cumsum(counts) - counts
    # one buffer per column for all executions: numpy calls per column, not per execution
    return CaseColumns(
        tuple(wanted),
        np.repeat(np.arange(len(wanted), dtype=np.int64), counts),
        np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts),
        _column(segments, 1, "<u8", np.uint64),
        _column(segments, 2, "<u2", np.int64),
        _column(segments, 3, "u1", np.int64),
        _column(segments, 4, "<u4", np.int64),
    )


def _column(
    segments: list[tuple[int, bytes, bytes, bytes, bytes]], field: int, stored: str, dtype: Any
) -> npt.NDArray[Any]:
    joined = b"".join(segment[field] for segment in segments)  # type: ignore[misc]
    return np.frombuffer(joined, dtype=stored).astype(dtype)


def _join(parts: list[npt.NDArray[Any]], dtype: Any) -> npt.NDArray[Any]:
    if not parts:
        return np.zeros(0, dtype=dtype)
    return np.concatenate(parts).astype(dtype, copy=False)


def read_names(connection: Connection, execution_id: str) -> CaseNames:
    """The names of every attempt of one execution, by position."""
    rows = connection.execute(
        select(
            TestResultsRow.test_ids,
            TestResultsRow.lines,
            TestResultsRow.groups,
            TestResultsRow.classes,
            TestResultsRow.names,
        )
        .where(TestResultsRow.execution_id == execution_id)
        .order_by(TestResultsRow.segment)
    ).all()
    classes: list[tuple[str, str, str | None]] = []
    names: list[str] = []
    ids, lines, groups = [], [], []
    for test_ids, line_bytes, group_bytes, class_blob, name_blob in rows:
        offset = len(classes)
        fields = _unpack_text(class_blob)
        classes.extend(
            (fields[i], fields[i + 1], fields[i + 2] or None) for i in range(0, len(fields), 3)
        )
        count = len(test_ids) // 8
        segment_names = _unpack_text(name_blob)
        # a segment of one test with an empty name packs to "" like an empty segment
        names.extend(segment_names or [""] * count)
        ids.append(np.frombuffer(test_ids, dtype="<u8"))
        lines.append(np.frombuffer(line_bytes, dtype="<u4"))
        groups.append(np.frombuffer(group_bytes, dtype="<u4").astype(np.int64) + offset)
    return CaseNames(
        _join(ids, np.uint64),
        _join(lines, np.int64),
        _join(groups, np.int64),
        tuple(classes),
        tuple(names),
    )


def read_details(
    connection: Connection, execution_ids: Sequence[str], *, with_properties: bool = False
) -> dict[tuple[str, int], CaseDetail]:
    """(execution id, position) -> (message, properties, trace) of attempts that have any.

    With ``with_properties``, only attempts that have properties, and without their traces.
    """
    found: dict[tuple[str, int], CaseDetail] = {}
    wanted = list(dict.fromkeys(execution_ids))
    trace = null() if with_properties else TestCaseDetailRow.trace
    for start in range(0, len(wanted), _CHUNK):
        query = select(
            TestCaseDetailRow.execution_id,
            TestCaseDetailRow.position,
            TestCaseDetailRow.message,
            TestCaseDetailRow.properties,
            trace,
        ).where(TestCaseDetailRow.execution_id.in_(wanted[start : start + _CHUNK]))
        if with_properties:
            query = query.where(TestCaseDetailRow.properties.is_not(None))
        for execution_id, position, *detail in connection.execute(query):
            if with_properties and detail[1] is None:  # a JSON null, not SQL's NULL
                continue
            found[(execution_id, position)] = CaseDetail(*detail)
    return found


def read_cases(connection: Connection, execution_id: str) -> list[StoredCase]:
    """Every attempt of one execution, decoded, in stored order."""
    workflow = connection.execute(
        select(ExecutionRow.workflow).where(ExecutionRow.id == execution_id)
    ).scalar_one_or_none()
    if workflow is None:
        return []
    columns = read_columns(connection, [execution_id])
    names = read_names(connection, execution_id)
    details = read_details(connection, [execution_id])
    cases = []
    for position in range(len(columns)):
        suite, classname, name, file, line = names.identity(position)
        detail: CaseDetail = details.get((execution_id, position), _NO_DETAIL)
        message, properties, trace = detail
        cases.append(
            StoredCase(
                execution_id=execution_id,
                position=position,
                test_id=id_hex(int(columns.test_id[position])),
                workflow=workflow,
                suite=suite,
                classname=classname,
                name=name,
                file=file,
                line=line,
                status=STATUS_VALUES[int(columns.status[position])],
                duration_ms=int(columns.duration_ms[position]),
                message=message,
                attempt=int(columns.attempt[position]),
                properties=properties,
                trace=trace,
            )
        )
    return cases


def find_test(connection: Connection, test_id: str) -> tuple[str, str, str, str] | None:
    """(workflow, suite, classname, name) of a stored test, from its newest execution."""
    wanted = id_int(test_id)
    if wanted is None:
        return None
    rows = connection.execute(
        select(TestResultsRow.execution_id, TestResultsRow.test_ids, ExecutionRow.workflow)
        .join(ExecutionRow, ExecutionRow.id == TestResultsRow.execution_id)
        .order_by(ExecutionRow.queued_at.desc(), TestResultsRow.segment)
    )
    for execution_id, test_ids, workflow in rows:
        if np.any(np.frombuffer(test_ids, dtype="<u8") == wanted):
            names = read_names(connection, execution_id)
            position = int(np.flatnonzero(names.test_ids == wanted)[0])
            suite, classname, name, _, _ = names.identity(position)
            return workflow, suite, classname, name
    return None


def positions_of(test_ids: U64, wanted: Iterable[int]) -> dict[int, int]:
    """For each wanted test id present in ``test_ids``, its last position there."""
    keys = np.fromiter(wanted, dtype=np.uint64)
    hits = np.flatnonzero(np.isin(test_ids, keys))
    return {int(test_ids[i]): int(i) for i in hits}
