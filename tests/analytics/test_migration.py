"""Migrations on SQLite and PostgreSQL: 0002's backfill of sha/branch from tags, 0003's
dropped index, 0004's conversion of test_cases rows into column-wise test_results and back;
schema equal to the tables at head, downgrade and upgrade again."""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import JSON, Integer, String, Text, column, create_engine, inspect, table, text

import assay.store.database as database
from assay.model import CaseStatus, TestCaseResult, test_identity
from assay.store import Database, ExecutionStore
from assay.store.tables import Base
from support import postgres_database

_FIELDS = (
    "test_id",
    "workflow",
    "suite",
    "classname",
    "name",
    "file",
    "line",
    "status",
    "duration_ms",
    "message",
    "attempt",
    "properties",
)
_TEST_CASES = table(
    "test_cases",
    column("id", Integer()),
    column("execution_id", String()),
    *(column(name, Text()) for name in ("test_id", "workflow", "suite", "classname", "name")),
    column("file", Text()),
    column("line", Integer()),
    column("status", String()),
    column("duration_ms", Integer()),
    column("message", Text()),
    column("attempt", Integer()),
    column("properties", JSON(none_as_null=True)),
)
_WORKFLOWS = {"e1": "wf-a", "e2": "wf-b", "e3": "wf-a"}


def _alembic(url: str, target: str, *, down: bool = False) -> None:
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(Path(database.__file__).with_name("migrations")))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, target)
    engine.dispose()


def _revision(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as connection:
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    return str(revision)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    return postgres_database(request)


def test_upgrade_from_0001_backfills_and_matches_the_tables(url: str) -> None:
    _alembic(url, "0001")
    engine = create_engine(url)
    with engine.begin() as connection:
        for number, tags in enumerate(
            [{"sha": "abc123", "branch": "main"}, {"sha": "x" * 300}, {}, {"other": "1"}], start=1
        ):
            connection.execute(
                text(
                    "INSERT INTO executions (id, workflow, number, name, status, runner, tags,"
                    " config, summary, queued_at) VALUES (:id, 'wf', :n, :name, 'passed',"
                    " 'local', :tags, '{}', '{}', CURRENT_TIMESTAMP)"
                ),
                {"id": f"e{number}", "n": number, "name": f"wf-{number}", "tags": json.dumps(tags)},
            )
    engine.dispose()
    _alembic(url, "0003")
    engine = create_engine(url)
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("test_cases")}
    assert "ix_test_cases_execution_cover" in indexes
    assert "ix_test_cases_execution_id" not in indexes  # 0003: the covering index serves
    engine.dispose()

    db = Database(url)  # migrates to head on open
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT id, sha, branch FROM executions ORDER BY id")).all()
        assert [tuple(row) for row in rows] == [
            ("e1", "abc123", "main"),
            ("e2", "x" * 255, None),
            ("e3", None, None),
            ("e4", None, None),
        ]
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    db.close()

    _alembic(url, "0001", down=True)
    engine = create_engine(url)
    assert not inspect(engine).has_table("quarantine")
    assert not inspect(engine).has_table("test_results")
    assert "sha" not in {c["name"] for c in inspect(engine).get_columns("executions")}
    engine.dispose()
    Database(url).close()  # and up again


def _case(
    execution_id: str,
    row_id: int,
    suite: str,
    classname: str,
    name: str,
    status: str,
    *,
    test_id: str | None = None,
    file: str | None = None,
    line: int | None = None,
    duration_ms: int = 0,
    message: str | None = None,
    attempt: int = 1,
    properties: dict[str, Any] | None = None,
) -> dict[str, Any]:
    workflow = _WORKFLOWS[execution_id]
    return {
        "id": row_id,
        "execution_id": execution_id,
        "test_id": test_id or test_identity(workflow, suite, classname, name),
        "workflow": workflow,
        "suite": suite,
        "classname": classname,
        "name": name,
        "file": file,
        "line": line,
        "status": status,
        "duration_ms": duration_ms,
        "message": message,
        "attempt": attempt,
        "properties": properties,
    }


# test_cases rows as 0003 holds them, in insertion order: ids are not in that order, nor
# names, test ids or statuses in id order (the conversion must follow the ids)
_ROWS = [
    _case("e1", 7, "unit", "pkg.TestA", "test_retry", "passed", attempt=2, duration_ms=12),
    _case("e2", 3, "api", "api.Users", "test_list", "passed", file="api/users.py", line=40),
    _case(
        "e1",
        4,
        "unit",
        "pkg.TestA",
        "test_retry",
        "failed",
        file="pkg/test_a.py",
        line=10,
        duration_ms=70_000,
        message="AssertionError: 1 != 2\n  line two",
        properties={"requirement": ["REQ-1", "REQ-2"]},
    ),
    _case("e1", 2, "unit", "pkg.TestA", "test_zeta", "skipped", file="pkg/test_a.py", line=3),
    _case(
        "e1",
        5,
        "unit",
        "pkg.TestB",
        "test_quarantined ✓",
        "quarantined",
        file="pkg/test_b.py",
        message="flaky network",
    ),
    _case("e1", 9, "unit", "pkg.TestA", "test_alpha", "errored", message="", duration_ms=1),
    _case(
        "e1",
        11,
        "other",
        "pkg.TestA",
        "test_props_only",
        "passed",
        test_id="fedcba9876543210",  # above 2**63
        properties={"owner": ["team-x"]},
    ),
    _case("e2", 1, "api", "api.Users", "test_create", "failed", message="500", line=2**31 - 1),
    _case("e2", 8, "api", "api.Orders", "", "passed", duration_ms=2**31 - 1, attempt=3),
    _case("e2", 6, "api", "api.Orders", "test_cancel", "passed", file=""),  # file "" is NULL
]


def _by_execution(rows: list[dict[str, Any]]) -> dict[str, list[tuple[Any, ...]]]:
    """Each execution's rows in id order, as tuples of ``_FIELDS``."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    for row in sorted(rows, key=lambda row: row["id"]):
        found.setdefault(row["execution_id"], []).append(tuple(row[f] for f in _FIELDS))
    return found


def _old_database(url: str, rows: list[dict[str, Any]]) -> None:
    """A database at 0003 holding executions e1, e2, e3 (no tests) and ``rows``."""
    _alembic(url, "0003")
    engine = create_engine(url)
    with engine.begin() as connection:
        for number, (execution_id, workflow) in enumerate(_WORKFLOWS.items(), start=1):
            connection.execute(
                text(
                    "INSERT INTO executions (id, workflow, number, name, status, runner, tags,"
                    " config, summary, queued_at) VALUES (:id, :workflow, :n, :name, 'passed',"
                    " 'local', '{}', '{}', '{}', CURRENT_TIMESTAMP)"
                ),
                {"id": execution_id, "workflow": workflow, "n": number, "name": execution_id},
            )
        for row in rows:  # one at a time: the heap order of PostgreSQL is this order
            connection.execute(_TEST_CASES.insert(), row)
    engine.dispose()


def _stored(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """What the application reads of each execution, as tuples of ``_FIELDS``."""
    store = ExecutionStore(db)
    found = {}
    for execution_id in _WORKFLOWS:
        cases = store.test_cases(execution_id)
        assert [case.position for case in cases] == list(range(len(cases)))
        assert {case.execution_id for case in cases} <= {execution_id}
        if cases:
            found[execution_id] = [tuple(getattr(case, f) for f in _FIELDS) for case in cases]
    return found


def _test_cases_schema(url: str) -> dict[str, Any]:
    engine = create_engine(url)
    inspector = inspect(engine)
    schema = {
        "columns": [
            (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns("test_cases")
        ],
        "primary key": inspector.get_pk_constraint("test_cases")["constrained_columns"],
        "foreign keys": [
            (fk["constrained_columns"], fk["referred_table"], fk["referred_columns"])
            for fk in inspector.get_foreign_keys("test_cases")
        ],
        "indexes": sorted(
            (ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
            for ix in inspector.get_indexes("test_cases")
        ),
        "new tables": [
            name for name in ("test_results", "test_case_details") if inspector.has_table(name)
        ],
    }
    engine.dispose()
    return schema


def test_0004_converts_test_cases_and_back(
    url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    _old_database(url, _ROWS)
    # a file "" comes back as None: the stored format does not tell them apart
    expected = _by_execution([{**row, "file": row["file"] or None} for row in _ROWS])
    # id order, not insertion order (test_retry's passing attempt 2 came first)
    assert [row[_FIELDS.index("name")] for row in expected["e1"]][:2] == ["test_zeta", "test_retry"]

    db = Database(url)  # upgrades to head
    assert _revision(url) == database.HEAD_REVISION
    assert _stored(db) == expected
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        segments = connection.execute(
            text(
                "SELECT execution_id, segment, cases, groups, classes FROM test_results"
                " ORDER BY execution_id"
            )
        ).all()
        details = connection.execute(
            text(
                "SELECT execution_id, position, message, properties IS NULL, trace"
                " FROM test_case_details ORDER BY execution_id, position"
            )
        ).all()
    assert [tuple(row[:3]) for row in segments] == [("e1", 0, 6), ("e2", 0, 4)]
    # (suite, classname, file or "") once each, in first-seen order
    assert np.frombuffer(segments[1].groups, dtype="<u4").tolist() == [0, 1, 2, 2]
    assert zlib.decompress(segments[1].classes).decode().split("\0") == [
        *("api", "api.Users", ""),
        *("api", "api.Users", "api/users.py"),
        *("api", "api.Orders", ""),
    ]
    # only attempts with a message or properties, those without properties as SQL NULL;
    # test_cases rows had no trace
    assert [tuple(row) for row in details] == [
        ("e1", 1, "AssertionError: 1 != 2\n  line two", False, None),
        ("e1", 2, "flaky network", True, None),
        ("e1", 4, "", True, None),
        ("e1", 5, None, False, None),
        ("e2", 0, "500", True, None),
    ]
    assert not inspect(db.engine).has_table("test_cases")
    # a later ingest adds a segment, which the downgrade must also turn into rows
    added = TestCaseResult(
        "late",
        "pkg.Late",
        "test_late",
        CaseStatus.FAILED,
        duration_ms=5,
        file="late.py",
        line=7,
        message="boom",
        trace="def test_late():\n>       boom()\n\nlate.py:7: RuntimeError",
    )
    ExecutionStore(db).add_test_cases("e2", "wf-b", [added])
    assert [case.trace for case in ExecutionStore(db).test_cases("e2")] == [
        *[None] * len(expected["e2"]),
        added.trace,
    ]
    db.close()

    _alembic(url, "0003", down=True)
    assert _revision(url) == "0003"
    if url.startswith("sqlite"):
        fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        fresh = postgres_database(request)
    _alembic(fresh, "0003")
    schema = _test_cases_schema(url)
    assert schema["new tables"] == []
    assert schema["indexes"] == [
        (
            "ix_test_cases_execution_cover",
            ("execution_id", "test_id", "attempt", "status", "duration_ms"),
            False,
        ),
        ("ix_test_cases_test_execution", ("test_id", "execution_id"), False),
    ]
    assert schema == _test_cases_schema(fresh)  # test_cases as 0003 creates it
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(_TEST_CASES.select())]
    engine.dispose()
    late = (
        test_identity("wf-b", "late", "pkg.Late", "test_late"),
        "wf-b",
        "late",
        "pkg.Late",
        "test_late",
        "late.py",
        7,
        "failed",
        5,
        "boom",
        1,
        None,
    )
    assert _by_execution(rows) == {"e1": expected["e1"], "e2": [*expected["e2"], late]}
    assert len({row["id"] for row in rows}) == len(_ROWS) + 1

    db = Database(url)  # and up again
    assert _stored(db) == {"e1": expected["e1"], "e2": [*expected["e2"], late]}
    # the trace went with the downgrade: 0003 has nowhere to keep it
    assert {case.trace for e in _WORKFLOWS for case in ExecutionStore(db).test_cases(e)} == {None}
    db.close()


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ({"status": "timed-out"}, "status 'timed-out' is not one of passed, failed, errored"),
        ({"attempt": 70_000}, "attempt 70000 is not in 0..65535"),
        ({"test_id": "0123456789abcdeg"}, "test_id '0123456789abcdeg' is not 16 hex digits"),
    ],
)
def test_0004_refuses_rows_it_cannot_convert_and_changes_nothing(
    url: str, bad: dict[str, Any], problem: str
) -> None:
    rows = [
        _case("e1", 1, "unit", "pkg.T", "test_ok", "passed"),
        {**_case("e2", 2, "api", "api.T", "test_bad", "failed"), **bad},
    ]
    _old_database(url, rows)

    with pytest.raises(RuntimeError, match=re.escape(f"row 2 of execution e2: {problem}")):
        Database(url)

    # the migration ran in one transaction (on SQLite too, DDL included): all of it undone
    assert _revision(url) == "0003"
    engine = create_engine(url)
    assert not inspect(engine).has_table("test_results")
    assert not inspect(engine).has_table("test_case_details")
    with engine.begin() as connection:
        assert connection.execute(text("SELECT id FROM test_cases ORDER BY id")).all() == [
            (1,),
            (2,),
        ]
        connection.execute(
            _TEST_CASES.update().where(_TEST_CASES.c.id == 2),
            _case("e2", 2, "api", "api.T", "test_bad", "errored"),
        )
    engine.dispose()

    db = Database(url)  # once the row is fixed, the upgrade goes through
    assert [(case.name, case.status) for case in ExecutionStore(db).test_cases("e2")] == [
        ("test_bad", "errored")
    ]
    db.close()


def test_0005_adds_execution_owners_and_tasks_and_back(url: str) -> None:
    _alembic(url, "0004")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO executions (id, workflow, number, name, status, runner, tags,"
                " config, summary, queued_at) VALUES ('e1', 'wf', 1, 'wf-1', 'running',"
                " 'local', '{}', '{}', '{}', CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()

    db = Database(url)
    store = ExecutionStore(db)
    row = store.get("wf-1")  # an execution from before 0005 has no owner: never reconciled
    assert (row.owner_pid, row.owner_started, row.owner_host) == (None, None, None)
    new = store.create("wf", runner="local")
    assert new.owner_pid is not None and new.owner_host
    store.add_task(new.id, {"runner": "local", "task_id": "t1", "data": {"pid": 1}})
    assert store.tasks(new.id) == [{"runner": "local", "task_id": "t1", "data": {"pid": 1}}]
    assert [r.name for r in store.unfinished_on(new.owner_host)] == ["wf-2"]
    indexes = {ix["name"] for ix in inspect(db.engine).get_indexes("executions")}
    assert "ix_executions_owner" in indexes
    db.close()

    _alembic(url, "0004", down=True)
    engine = create_engine(url)
    assert not inspect(engine).has_table("execution_tasks")
    columns = {c["name"] for c in inspect(engine).get_columns("executions")}
    assert not columns & {"owner_pid", "owner_started", "owner_host"}
    with engine.connect() as connection:
        names = connection.execute(text("SELECT name FROM executions ORDER BY name")).all()
    assert [tuple(n) for n in names] == [("wf-1",), ("wf-2",)]
    engine.dispose()
    Database(url).close()  # and up again
    assert _revision(url) == database.HEAD_REVISION


def test_0008_backfills_tags_and_summary_counts_and_back(url: str) -> None:
    _alembic(url, "0007")
    engine = create_engine(url)
    long_value = "v" * 300  # too long for the tags' index: left to the JSON
    with engine.begin() as connection:
        for ident, tags, summary in (
            ("e1", {"team": "core", "release": "r1"}, {"tests": 5, "skipped": 1, "passed": 3}),
            ("e2", {"team": "web", "note": long_value}, {}),
        ):
            connection.execute(
                text(
                    "INSERT INTO executions (id, workflow, number, name, status, runner, tags,"
                    " config, summary, queued_at) VALUES (:id, 'wf', :n, :name, 'passed',"
                    " 'local', :tags, '{}', :summary, CURRENT_TIMESTAMP)"
                ),
                {
                    "id": ident,
                    "n": int(ident[1]),
                    "name": f"wf-{ident[1]}",
                    "tags": json.dumps(tags),
                    "summary": json.dumps(summary),
                },
            )
    engine.dispose()

    db = Database(url)
    with db.engine.connect() as connection:
        tags = connection.execute(
            text("SELECT execution_id, key, value FROM execution_tags ORDER BY 1, 2")
        ).all()
        counts = connection.execute(
            text(
                "SELECT id, summary_tests, summary_skipped, summary_passed FROM executions"
                " ORDER BY id"
            )
        ).all()
    assert [tuple(t) for t in tags] == [
        ("e1", "release", "r1"),
        ("e1", "team", "core"),
        ("e2", "team", "web"),
    ]
    assert [tuple(c) for c in counts] == [("e1", 5, 1, 3), ("e2", None, None, None)]
    indexes = {ix["name"] for ix in inspect(db.engine).get_indexes("executions")}
    assert "ix_executions_trends" in indexes
    db.close()

    _alembic(url, "0007", down=True)
    engine = create_engine(url)
    assert not inspect(engine).has_table("execution_tags")
    columns = {c["name"] for c in inspect(engine).get_columns("executions")}
    assert not columns & {"summary_tests", "summary_skipped", "summary_passed"}
    engine.dispose()
    Database(url).close()  # and up again
    assert _revision(url) == database.HEAD_REVISION
