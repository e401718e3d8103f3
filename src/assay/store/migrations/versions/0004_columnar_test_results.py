"""columnar test results: test_cases rows -> one test_results row per execution

Upgrade converts every execution's ``test_cases`` rows (in id order) into one segment
(segment 0) of ``test_results`` plus ``test_case_details`` rows for the attempts that have a
message or properties; downgrade explodes every segment back into ``test_cases`` rows.
``test_case_details.trace`` (the text of a failure) is new here: ``test_cases`` rows had
none, so converted attempts have none, and the downgrade drops the traces stored since.

The packed format is written here by a frozen copy of the encoding that
``assay.store.test_cases`` documents at this revision (migrations are history: they must not
follow later changes of the application's modules):

==========  =======  =====================================================================
test_ids    uint64   little-endian, the 16 hex digits of ``test_cases.test_id``
attempts    uint16   little-endian
statuses    uint8    index in ``_STATUSES``
durations   uint32   little-endian, milliseconds
lines       uint32   little-endian, 0 when unknown (NULL)
groups      uint32   little-endian, index of the (suite, classname, file) triple in classes
classes     zlib     level 1, NUL-separated (suite, classname, file or "") triples
names       zlib     level 1, NUL-separated test names
==========  =======  =====================================================================

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 10:00:00.000000
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_STATUSES = ("passed", "failed", "errored", "skipped", "quarantined")
"""Status of each stored code (``assay.store.test_cases.CASE_STATUSES`` at this revision)."""
_CODE = {status: code for code, status in enumerate(_STATUSES)}
_SEP = "\0"
_TEST_ID = re.compile(r"[0-9a-fA-F]{16}")
_HEX = re.compile(r"[0-9a-fA-F]*")
_UINT16 = 2**16 - 1
_UINT32 = 2**32 - 1
_PAGE = 500
"""Executions whose ids are read per query."""
_BATCH = 5000
"""Attempts buffered before they are inserted."""

_executions = sa.table(
    "executions",
    sa.column("id", sa.String()),
    sa.column("workflow", sa.String()),
    sa.column("queued_at", sa.DateTime()),
)
_test_cases = sa.table(
    "test_cases",
    sa.column("id", sa.Integer()),
    sa.column("execution_id", sa.String()),
    sa.column("test_id", sa.String()),
    sa.column("workflow", sa.String()),
    sa.column("suite", sa.Text()),
    sa.column("classname", sa.Text()),
    sa.column("name", sa.Text()),
    sa.column("file", sa.Text()),
    sa.column("line", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("duration_ms", sa.Integer()),
    sa.column("message", sa.Text()),
    sa.column("attempt", sa.Integer()),
    # none_as_null: None is stored as SQL NULL, not as the JSON text 'null'
    sa.column("properties", sa.JSON(none_as_null=True)),
)
_test_results = sa.table(
    "test_results",
    sa.column("execution_id", sa.String()),
    sa.column("segment", sa.Integer()),
    sa.column("cases", sa.Integer()),
    sa.column("test_ids", sa.LargeBinary()),
    sa.column("attempts", sa.LargeBinary()),
    sa.column("statuses", sa.LargeBinary()),
    sa.column("durations", sa.LargeBinary()),
    sa.column("lines", sa.LargeBinary()),
    sa.column("groups", sa.LargeBinary()),
    sa.column("classes", sa.LargeBinary()),
    sa.column("names", sa.LargeBinary()),
)
_test_case_details = sa.table(
    "test_case_details",
    sa.column("execution_id", sa.String()),
    sa.column("position", sa.Integer()),
    sa.column("message", sa.Text()),
    sa.column("properties", sa.JSON(none_as_null=True)),
)


class MigrationError(RuntimeError):
    """Stored data this migration cannot convert; nothing was changed."""


def upgrade() -> None:
    connection = op.get_bind()
    op.create_table(
        "test_results",
        sa.Column("execution_id", sa.String(length=32), nullable=False),
        sa.Column("segment", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("test_ids", sa.LargeBinary(), nullable=False),
        sa.Column("attempts", sa.LargeBinary(), nullable=False),
        sa.Column("statuses", sa.LargeBinary(), nullable=False),
        sa.Column("durations", sa.LargeBinary(), nullable=False),
        sa.Column("lines", sa.LargeBinary(), nullable=False),
        sa.Column("groups", sa.LargeBinary(), nullable=False),
        sa.Column("classes", sa.LargeBinary(), nullable=False),
        sa.Column("names", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["execution_id"], ["executions.id"]),
        sa.PrimaryKeyConstraint("execution_id", "segment"),
    )
    op.create_table(
        "test_case_details",
        sa.Column("execution_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=True),
        sa.Column("trace", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["execution_id"], ["executions.id"]),
        sa.PrimaryKeyConstraint("execution_id", "position"),
    )
    _pack_test_cases(connection)
    with op.batch_alter_table("test_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_test_cases_execution_cover")
        batch_op.drop_index("ix_test_cases_test_execution")
    op.drop_table("test_cases")


def downgrade() -> None:
    connection = op.get_bind()
    # test_cases as revision 0003 left it
    op.create_table(
        "test_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.String(length=32), nullable=False),
        sa.Column("test_id", sa.String(length=16), nullable=False),
        sa.Column("workflow", sa.String(length=253), nullable=False),
        sa.Column("suite", sa.Text(), nullable=False),
        sa.Column("classname", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("file", sa.Text(), nullable=True),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["execution_id"], ["executions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    _explode_test_results(connection)
    with op.batch_alter_table("test_cases", schema=None) as batch_op:  # after the rows: faster
        batch_op.create_index(
            "ix_test_cases_test_execution", ["test_id", "execution_id"], unique=False
        )
        batch_op.create_index(
            "ix_test_cases_execution_cover",
            ["execution_id", "test_id", "attempt", "status", "duration_ms"],
            unique=False,
        )
    op.drop_table("test_case_details")
    op.drop_table("test_results")


def _execution_ids(connection: sa.Connection, column: sa.ColumnClause[Any]) -> Iterator[str]:
    """The distinct execution ids of ``column``, in order, read a page at a time."""
    last: str | None = None
    while True:
        query = sa.select(column).distinct().order_by(column).limit(_PAGE)
        if last is not None:
            query = query.where(column > last)
        page = list(connection.execute(query).scalars())
        yield from page
        if len(page) < _PAGE:
            return
        last = page[-1]


# upgrade: test_cases rows -> segments


def _pack_test_cases(connection: sa.Connection) -> None:
    """One segment per execution of test_cases, its rows in id order."""
    c = _test_cases.c
    columns = (
        c.id,
        c.test_id,
        c.suite,
        c.classname,
        c.name,
        c.file,
        c.line,
        c.status,
        c.duration_ms,
        c.message,
        c.attempt,
        c.properties,
    )
    segments: list[dict[str, Any]] = []
    details: list[dict[str, Any]] = []
    buffered = 0
    for execution_id in _execution_ids(connection, c.execution_id):
        rows = connection.execute(
            sa.select(*columns).where(c.execution_id == execution_id).order_by(c.id)
        ).all()
        segments.append(_segment(execution_id, rows, details))
        buffered += len(rows)
        if buffered >= _BATCH:
            _insert_segments(connection, segments, details)
            buffered = 0
    _insert_segments(connection, segments, details)


def _segment(
    execution_id: str, rows: Sequence[Sequence[Any]], details: list[dict[str, Any]]
) -> dict[str, Any]:
    """The test_results row of one execution's test_cases rows (``_pack_test_cases``'s
    columns, at least one row); their details go to ``details``."""
    (
        row_ids,
        test_ids,
        suites,
        classnames,
        names,
        files,
        lines,
        statuses,
        durations,
        messages,
        attempts,
        properties,
    ) = (list(values) for values in zip(*rows, strict=True))
    hex_ids = "".join(test_ids)
    if set(map(len, test_ids)) != {16} or not _HEX.fullmatch(hex_ids):
        i = next(i for i, test_id in enumerate(test_ids) if not _TEST_ID.fullmatch(test_id))
        raise _refused(execution_id, row_ids[i], f"test_id {test_ids[i]!r} is not 16 hex digits")
    codes = [_CODE.get(status, -1) for status in statuses]
    if -1 in codes:
        i = codes.index(-1)
        known = ", ".join(_STATUSES)
        raise _refused(execution_id, row_ids[i], f"status {statuses[i]!r} is not one of {known}")
    lines = [0 if line is None else line for line in lines]
    for field, values, high in (
        ("attempt", attempts, _UINT16),
        ("duration_ms", durations, _UINT32),
        ("line", lines, _UINT32),
    ):
        if min(values) < 0 or max(values) > high:
            i = next(i for i, value in enumerate(values) if not 0 <= value <= high)
            raise _refused(execution_id, row_ids[i], f"{field} {values[i]} is not in 0..{high}")
    group_of: dict[tuple[str, str, str], int] = {}
    groups = [
        group_of.setdefault((suite, classname, file or ""), len(group_of))
        for suite, classname, file in zip(suites, classnames, files, strict=True)
    ]
    # as assay.store.test_cases.write_cases: an empty message is one, empty properties none
    details.extend(
        {
            "execution_id": execution_id,
            "position": position,
            "message": message,
            "properties": extra or None,
        }
        for position, (message, extra) in enumerate(zip(messages, properties, strict=True))
        if message is not None or extra
    )
    return {
        "execution_id": execution_id,
        "segment": 0,
        "cases": len(test_ids),
        "test_ids": np.frombuffer(bytes.fromhex(hex_ids), dtype=">u8").astype("<u8").tobytes(),
        "attempts": np.array(attempts, dtype="<u2").tobytes(),
        "statuses": np.array(codes, dtype=np.uint8).tobytes(),
        "durations": np.array(durations, dtype="<u4").tobytes(),
        "lines": np.array(lines, dtype="<u4").tobytes(),
        "groups": np.array(groups, dtype="<u4").tobytes(),
        "classes": _pack_text([part for group in group_of for part in group]),
        "names": _pack_text(names),
    }


def _refused(execution_id: str, row_id: int, problem: str) -> MigrationError:
    return MigrationError(
        f"cannot convert test_cases row {row_id} of execution {execution_id}: {problem};"
        " fix or delete the row, then upgrade again (nothing was changed)"
    )


def _insert_segments(
    connection: sa.Connection, segments: list[dict[str, Any]], details: list[dict[str, Any]]
) -> None:
    """Insert and clear the buffered segments and details."""
    if segments:
        connection.execute(_test_results.insert(), segments)
    if details:
        connection.execute(_test_case_details.insert(), details)
    segments.clear()
    details.clear()


def _pack_text(values: Sequence[str]) -> bytes:
    """NUL-separated, compressed; a NUL inside a value becomes U+FFFD."""
    text = _SEP.join(values)
    if text.count(_SEP) != max(len(values) - 1, 0):
        text = _SEP.join(value.replace(_SEP, "\ufffd") for value in values)
    return zlib.compress(text.encode("utf-8", "replace"), 1)


# downgrade: segments -> test_cases rows


def _explode_test_results(connection: sa.Connection) -> None:
    """Every attempt of every segment as a test_cases row, each execution's in order, the
    executions in the order they were recorded (so that row ids grow with time, as they did
    before 0004: the per-row analytics of 0003 describe a test by its highest row id)."""
    rows: list[dict[str, Any]] = []
    for execution_id in _recorded_order(connection):
        rows.extend(_unpacked(connection, execution_id))
        if len(rows) >= _BATCH:
            connection.execute(_test_cases.insert(), rows)
            rows.clear()
    if rows:
        connection.execute(_test_cases.insert(), rows)


def _recorded_order(connection: sa.Connection) -> list[str]:
    """Ids of the executions holding segments, oldest first."""
    e, r = _executions.c, _test_results.c
    query = (
        sa.select(e.id).where(sa.exists().where(r.execution_id == e.id)).order_by(e.queued_at, e.id)
    )
    return list(connection.execute(query).scalars())


def _unpacked(connection: sa.Connection, execution_id: str) -> Iterator[dict[str, Any]]:
    """The test_cases rows of one execution, from its segments and details."""
    workflow = connection.execute(
        sa.select(_executions.c.workflow).where(_executions.c.id == execution_id)
    ).scalar_one_or_none()
    if workflow is None:
        raise MigrationError(
            f"cannot convert the test_results of execution {execution_id}: no such execution"
        )
    d = _test_case_details.c
    details = {
        position: (message, properties)
        for position, message, properties in connection.execute(
            sa.select(d.position, d.message, d.properties).where(d.execution_id == execution_id)
        )
    }
    r = _test_results.c
    segments = connection.execute(
        sa.select(
            r.segment,
            r.cases,
            r.test_ids,
            r.attempts,
            r.statuses,
            r.durations,
            r.lines,
            r.groups,
            r.classes,
            r.names,
        )
        .where(r.execution_id == execution_id)
        .order_by(r.segment)
    ).all()
    position = 0
    for segment, cases, *packed in segments:
        test_ids, attempts, statuses, durations, lines, groups = (
            np.frombuffer(blob, dtype=dtype).tolist()
            for blob, dtype in zip(
                packed[:6], ("<u8", "<u2", "u1", "<u4", "<u4", "<u4"), strict=True
            )
        )
        fields = _unpack_text(packed[6])
        classes = [(fields[i], fields[i + 1], fields[i + 2]) for i in range(0, len(fields), 3)]
        # a segment of one test with an empty name packs to "" like an empty segment
        names = _unpack_text(packed[7]) or [""] * cases
        lengths = {len(test_ids), len(attempts), len(statuses), len(durations), len(lines)}
        if (
            lengths | {len(groups), len(names)} != {cases}
            or len(fields) % 3
            or any(group >= len(classes) for group in groups)
            or any(code >= len(_STATUSES) for code in statuses)
        ):
            raise MigrationError(
                f"cannot convert segment {segment} of execution {execution_id}: its arrays"
                " do not agree with each other (nothing was changed)"
            )
        for i in range(cases):
            suite, classname, file = classes[groups[i]]
            message, properties = details.get(position, (None, None))
            yield {
                "execution_id": execution_id,
                "test_id": f"{test_ids[i]:016x}",
                "workflow": workflow,
                "suite": suite,
                "classname": classname,
                "name": names[i],
                "file": file or None,
                "line": lines[i] or None,
                "status": _STATUSES[statuses[i]],
                "duration_ms": durations[i],
                "message": message,
                "attempt": attempts[i],
                "properties": properties or None,
            }
            position += 1


def _unpack_text(blob: bytes) -> list[str]:
    text = zlib.decompress(blob).decode("utf-8")
    return text.split(_SEP) if text else []
