"""The column-wise codec of test-case attempts (assay.store.test_cases), on SQLite and
PostgreSQL: every field back as written, segments, the summary of an ingest, test ids."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import JSON, insert, select

from assay.errors import NotFoundError
from assay.model import CaseStatus, Summary, TestCaseResult, test_identity
from assay.store import Database, ExecutionStore
from assay.store.quarantine import QuarantineStore
from assay.store.tables import TestCaseDetailRow, TestResultsRow
from assay.store.test_cases import (
    CASE_STATUSES,
    StoredCase,
    find_test,
    id_hex,
    id_int,
    positions_of,
    read_columns,
    read_details,
    read_names,
    status_codes,
)

P, F, E, S, Q = (
    CaseStatus.PASSED,
    CaseStatus.FAILED,
    CaseStatus.ERRORED,
    CaseStatus.SKIPPED,
    CaseStatus.QUARANTINED,
)

BARE_TRACE = "def test_bare():\n>       assert 1 == 2\nE       assert 1 == 2\n\npkg/a.py:3: Error"
UNICODE_TRACE = "[… 12 earlier characters cut]\n  ошибка 💥\n\tat пакет.Тест(т.py:65000)\n" * 40
EVERY_FIELD = [
    TestCaseResult("suite", "pkg.TestA", "test_plain", P, 12, file="pkg/a.py", line=7),
    TestCaseResult(
        "suite", "pkg.TestA", "test_bare", F, 0, message="assert 1 == 2", trace=BARE_TRACE
    ),
    TestCaseResult(
        "suite", "pkg.TestA", "test_bare", P, 4_000_000_000, file="pkg/a.py", attempt=2
    ),
    TestCaseResult(
        "другой", "пакет.Тест", "тест_ünïcødé 🧪", E, 3, file="пакет/т.py", line=65_000,
        message="ошибка: 💥\nline two", properties={"requirement": ["BR-1", "BR-2"]},
        trace=UNICODE_TRACE,
    ),
    TestCaseResult("suite", "", "", S, 0, properties={"owner": ["me"]}),
    TestCaseResult("suite", "pkg.TestA", "with\0nul", Q, 5, message="quarantined failure"),
    TestCaseResult(
        "other", "pkg.TestA", "test_plain", P, 1, attempt=3, properties={}, trace="only a trace"
    ),
]  # fmt: skip


def _execution(store: ExecutionStore, workflow: str = "wf") -> str:
    row = store.create(workflow, runner="local")
    store.start(row.id)
    return row.id


def _expected(execution_id: str, workflow: str, cases: list[TestCaseResult]) -> list[StoredCase]:
    return [
        StoredCase(
            execution_id=execution_id,
            position=position,
            test_id=test_identity(workflow, c.suite, c.classname, c.name),
            workflow=workflow,
            suite=c.suite,
            classname=c.classname,
            name=c.name.replace("\0", "\ufffd"),
            file=c.file,
            line=c.line,
            status=c.status.value,
            duration_ms=c.duration_ms,
            message=c.message,
            attempt=c.attempt,
            properties=c.properties or None,
            trace=c.trace,
        )
        for position, c in enumerate(cases)
    ]


def test_every_field_comes_back_as_written(db: Database) -> None:
    store = ExecutionStore(db)
    execution_id = _execution(store)
    store.add_test_cases(execution_id, "wf", EVERY_FIELD)
    stored = store.test_cases(execution_id)
    assert stored == _expected(execution_id, "wf", EVERY_FIELD)
    # spelled out where the expectation is computed above
    assert stored[5].name == "with\ufffdnul"
    assert stored[4].name == "" and stored[4].classname == "" and stored[4].file is None
    assert stored[3].line == 65_000 and stored[0].line == 7 and stored[1].line is None
    assert stored[2].duration_ms == 4_000_000_000
    assert stored[6].properties is None  # empty properties are not stored
    # traces, with a message or alone
    assert stored[1].trace == BARE_TRACE and stored[1].message == "assert 1 == 2"
    assert stored[3].trace == UNICODE_TRACE and len(UNICODE_TRACE) > 2000
    assert stored[6].trace == "only a trace" and stored[6].message is None
    assert [c.trace for c in stored[:1] + stored[2:3] + stored[4:6]] == [None] * 4


def test_stored_test_id_is_test_identity(db: Database) -> None:
    store = ExecutionStore(db)
    execution_id = _execution(store, "wf-ids")
    store.add_test_cases(execution_id, "wf-ids", EVERY_FIELD)
    identities = [c.identity("wf-ids") for c in EVERY_FIELD]
    assert [c.test_id for c in store.test_cases(execution_id)] == identities
    with db.engine.connect() as connection:
        columns = read_columns(connection, [execution_id])
        names = read_names(connection, execution_id)
    wanted = [id_int(identity) for identity in identities]
    assert columns.test_id.tolist() == wanted == names.test_ids.tolist()
    # same (workflow, suite, classname, name), same id; another suite or workflow, another
    assert identities[1] == identities[2] and identities[0] != identities[6]
    assert test_identity("wf", "suite", "pkg.TestA", "test_plain") != identities[0]


def test_a_single_test_with_an_empty_name(db: Database) -> None:
    store = ExecutionStore(db)
    execution_id = _execution(store)
    lonely = [TestCaseResult("", "", "", P, 1)]
    store.add_test_cases(execution_id, "wf", lonely)
    store.add_test_cases(execution_id, "wf", [TestCaseResult("s", "c", "", F, 2)] * 2)
    store.add_test_cases(execution_id, "wf", lonely)
    stored = store.test_cases(execution_id)
    assert [(c.position, c.suite, c.classname, c.name, c.status) for c in stored] == [
        (0, "", "", "", "passed"),
        (1, "s", "c", "", "failed"),
        (2, "s", "c", "", "failed"),
        (3, "", "", "", "passed"),
    ]


def test_out_of_range_numbers_are_clipped_not_refused(db: Database) -> None:
    store = ExecutionStore(db)
    execution_id = _execution(store)
    huge = TestCaseResult("s", "c", "slow", P, 10**12, line=10**10, attempt=70_000)
    negative = TestCaseResult("s", "c", "odd", P, -5, line=-1, attempt=0)
    store.add_test_cases(execution_id, "wf", [huge, negative])
    stored = store.test_cases(execution_id)
    assert [(c.duration_ms, c.line, c.attempt) for c in stored] == [
        (2**32 - 1, 2**32 - 1, 2**16 - 1),
        (0, None, 0),
    ]


def test_an_empty_list_of_cases(db: Database) -> None:
    store = ExecutionStore(db)
    execution_id = _execution(store)
    assert store.add_test_cases(execution_id, "wf", []) == Summary()
    assert store.test_cases(execution_id) == []
    with db.engine.connect() as connection:
        assert len(read_columns(connection, [execution_id])) == 0
        assert read_names(connection, execution_id).names == ()
    store.add_test_cases(execution_id, "wf", EVERY_FIELD[:2])
    assert [c.position for c in store.test_cases(execution_id)] == [0, 1]


def test_two_ingests_make_two_segments_with_positions_continuing(db: Database) -> None:
    store = ExecutionStore(db)
    execution_id = _execution(store)
    first, second = EVERY_FIELD[:4], EVERY_FIELD[4:]
    store.add_test_cases(execution_id, "wf", first)
    store.add_test_cases(execution_id, "wf", second)
    with db.engine.connect() as connection:
        segments = connection.execute(
            select(TestResultsRow.segment, TestResultsRow.cases)
            .where(TestResultsRow.execution_id == execution_id)
            .order_by(TestResultsRow.segment)
        ).all()
        detail_positions = connection.execute(
            select(TestCaseDetailRow.position)
            .where(TestCaseDetailRow.execution_id == execution_id)
            .order_by(TestCaseDetailRow.position)
        ).scalars()
        without_properties = connection.execute(
            select(TestCaseDetailRow.position)
            .where(
                TestCaseDetailRow.execution_id == execution_id,
                TestCaseDetailRow.properties.is_(None),
            )
            .order_by(TestCaseDetailRow.position)
        ).scalars()
        assert [tuple(s) for s in segments] == [(0, 4), (1, 3)]
        # attempts with a message, properties or a trace: 1 and 3 in the first, 4 to 6 in the
        # second (6: a trace alone)
        assert list(detail_positions) == [1, 3, 4, 5, 6]
        assert list(without_properties) == [1, 5, 6]  # SQL NULL, not a JSON null
        columns = read_columns(connection, [execution_id])
        assert columns.position.tolist() == list(range(7))
        assert columns.attempt.tolist() == [c.attempt for c in EVERY_FIELD]
        assert columns.duration_ms.tolist() == [c.duration_ms for c in EVERY_FIELD]
        assert [CASE_STATUSES[s] for s in columns.status.tolist()] == [
            c.status for c in EVERY_FIELD
        ]
        names = read_names(connection, execution_id)
        # (suite, classname, file) groups are numbered per segment: read back across both
        assert [names.identity(p) for p in range(7)] == [
            (c.suite, c.classname, c.name.replace("\0", "\ufffd"), c.file, c.line)
            for c in EVERY_FIELD
        ]
    assert store.test_cases(execution_id) == _expected(execution_id, "wf", EVERY_FIELD)


def test_read_columns_keeps_the_order_asked(db: Database) -> None:
    store = ExecutionStore(db)
    a, b, empty = _execution(store), _execution(store), _execution(store)
    store.add_test_cases(a, "wf", EVERY_FIELD[:2])
    store.add_test_cases(b, "wf", EVERY_FIELD[2:5])
    with db.engine.connect() as connection:
        columns = read_columns(connection, [b, empty, a, b])
        details = read_details(connection, [a, b])
        with_properties = read_details(connection, [a, b], with_properties=True)
    assert columns.execution_ids == (b, empty, a)
    assert columns.execution.tolist() == [0, 0, 0, 2, 2]
    assert columns.position.tolist() == [0, 1, 2, 0, 1]
    assert columns.duration_ms.tolist() == [4_000_000_000, 3, 0, 12, 0]
    picked = columns.take(columns.execution == 2)
    assert picked.execution_ids == columns.execution_ids and picked.position.tolist() == [0, 1]
    assert details == {
        (a, 1): ("assert 1 == 2", None, BARE_TRACE),
        (b, 1): ("ошибка: 💥\nline two", {"requirement": ["BR-1", "BR-2"]}, UNICODE_TRACE),
        (b, 2): (None, {"owner": ["me"]}, None),
    }
    assert details[(a, 1)].trace == BARE_TRACE and details[(b, 2)].properties == {"owner": ["me"]}
    # for properties only: their traces are not read
    assert with_properties == {
        (b, 1): ("ошибка: 💥\nline two", {"requirement": ["BR-1", "BR-2"]}, None),
        (b, 2): (None, {"owner": ["me"]}, None),
    }


@pytest.mark.parametrize(
    ("cases", "expected"),
    [
        pytest.param(
            [("a", F, 1), ("a", P, 2)],
            Summary(tests=1, passed=1, flaky=1),
            id="passed after failing is flaky",
        ),
        pytest.param(
            [("a", E, 1), ("a", F, 2), ("a", P, 3)],
            Summary(tests=1, passed=1, flaky=1),
            id="passed after an error is flaky",
        ),
        pytest.param(
            [("a", P, 1), ("a", F, 2)],
            Summary(tests=1, failed=1),
            id="the last attempt decides",
        ),
        pytest.param(
            [("a", S, 1), ("a", P, 2), ("b", P, 1)],
            Summary(tests=2, passed=2),
            id="passing after a skip is not flaky",
        ),
        pytest.param(
            [("a", F, 1), ("b", P, 1), ("a", Q, 2), ("c", E, 1), ("d", S, 1), ("e", Q, 1)],
            Summary(tests=5, passed=1, skipped=1, errored=1, quarantined=2),
            id="quarantined and errored",
        ),
        pytest.param(
            [("a", F, 2), ("a", P, 1)],
            Summary(tests=1, passed=1, flaky=1),
            id="the last listed is the final attempt",
        ),
    ],
)
def test_the_summary_of_an_ingest(
    db: Database, cases: list[tuple[str, CaseStatus, int]], expected: Summary
) -> None:
    store = ExecutionStore(db)
    execution_id = _execution(store)
    results = [TestCaseResult("s", "c", name, status, attempt=n) for name, status, n in cases]
    assert store.add_test_cases(execution_id, "wf", results) == expected


def test_the_summary_is_over_final_attempts_of_one_workflow_test(db: Database) -> None:
    store = ExecutionStore(db)
    execution_id = _execution(store)
    cases = [
        TestCaseResult("s1", "c", "t", F),
        TestCaseResult("s2", "c", "t", P, attempt=2),  # another suite: another test
        TestCaseResult("s1", "c2", "t", P),  # another class: another test
    ]
    summary = store.add_test_cases(execution_id, "wf", cases)
    assert summary == Summary(tests=3, passed=2, failed=1)


def test_find_test_and_ids(db: Database) -> None:
    store = ExecutionStore(db)
    old, new = _execution(store, "wf"), _execution(store, "wf")
    store.add_test_cases(old, "wf", [TestCaseResult("s", "c", "gone", P)])
    store.add_test_cases(new, "wf", [TestCaseResult("s", "c", "other", P), EVERY_FIELD[3]])
    store.add_test_cases(new, "wf", [TestCaseResult("s", "c", "later", F)])
    with db.engine.connect() as connection:
        for suite, classname, name in [("s", "c", "gone"), ("s", "c", "later")]:
            test_id = test_identity("wf", suite, classname, name)
            assert find_test(connection, test_id) == ("wf", suite, classname, name)
        unicode = EVERY_FIELD[3]
        assert find_test(connection, unicode.identity("wf")) == (
            "wf",
            unicode.suite,
            unicode.classname,
            unicode.name,
        )
        unknown = test_identity("wf", "s", "c", "never")
        assert find_test(connection, unknown) is None
        known = test_identity("wf", "s", "c", "gone")
        for bad in (known.upper(), known[:15], known + "0", "+" + known[1:], "zz" + known[2:]):
            assert find_test(connection, bad) is None, bad


def test_id_conversions_and_helpers() -> None:
    assert id_hex(0) == "0" * 16 and id_hex(2**64 - 1) == "f" * 16
    assert id_int("00000000000000ff") == 255 and id_int(id_hex(2**63 + 5)) == 2**63 + 5
    assert [id_int(bad) for bad in ("ff", "00000000000000FF", "0000000_000000ff", " " * 16)] == [
        None
    ] * 4
    assert status_codes(["passed", "quarantined", "failed"]) == [0, 4, 1]
    assert status_codes(s.value for s in CASE_STATUSES) == list(range(len(CASE_STATUSES)))
    ids = np.array([5, 7, 5, 9], dtype=np.uint64)
    assert positions_of(ids, [5, 9, 11]) == {5: 2, 9: 3}


def test_a_json_null_is_no_properties(db: Database) -> None:
    store = ExecutionStore(db)
    execution_id = _execution(store)
    store.add_test_cases(execution_id, "wf", EVERY_FIELD[:1])
    with db.engine.begin() as connection:  # as a row converted by other code might hold it
        connection.execute(
            insert(TestCaseDetailRow),
            {"execution_id": execution_id, "position": 0, "message": "m", "properties": JSON.NULL},
        )
        stored_null = connection.execute(
            select(TestCaseDetailRow.position).where(TestCaseDetailRow.properties.is_(None))
        ).all()
        assert stored_null == []  # stored as a JSON null, which IS NULL does not find
        assert read_details(connection, [execution_id]) == {(execution_id, 0): ("m", None, None)}
        assert read_details(connection, [execution_id], with_properties=True) == {}


def test_quarantine_knows_stored_tests_only(db: Database) -> None:
    store = ExecutionStore(db)
    execution_id = _execution(store, "wf")
    store.add_test_cases(execution_id, "wf", [EVERY_FIELD[0], EVERY_FIELD[3]])
    quarantine = QuarantineStore(db)
    unicode = EVERY_FIELD[3]
    entry = quarantine.add(unicode.identity("wf"), reason="flaky")
    assert (entry.test_id, entry.workflow, entry.classname, entry.name, entry.reason) == (
        unicode.identity("wf"),
        "wf",
        unicode.classname,
        unicode.name,
        "flaky",
    )
    for unknown in (
        test_identity("other", "suite", "pkg.TestA", "test_plain"),
        EVERY_FIELD[0].identity("wf").upper(),
    ):
        with pytest.raises(NotFoundError, match=f"no test '{unknown}' in stored results"):
            quarantine.add(unknown)
    assert quarantine.active() == {unicode.identity("wf")}
