"""Executions listed a page at a time (store/listing.py): newest first, keyset pages both
ways, every filter, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from assay.errors import DefinitionError
from assay.status import ExecutionStatus
from assay.store import Database, ExecutionStore
from assay.store.listing import Cursor, ExecutionFilter, list_executions
from assay.store.tables import ExecutionRow

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def seed(db: Database, count: int = 12) -> list[str]:
    """``count`` executions, one minute apart (oldest first); every third failed on
    branch ``dev``; two share one instant (ties are ordered by id)."""
    store = ExecutionStore(db)
    names = []
    for index in range(count):
        workflow = "alpha" if index % 2 else "beta"
        branch = "dev" if index % 3 == 0 else "main"
        row = store.create(
            workflow, runner="local", tags={"branch": branch, "team": f"t{index % 4}"}
        )
        status = ExecutionStatus.FAILED if index % 3 == 0 else ExecutionStatus.PASSED
        store.finish(row.id, status)
        moment = T0 + timedelta(minutes=index if index != 5 else 4)
        with db.session(write=True) as session:
            session.execute(
                update(ExecutionRow).where(ExecutionRow.id == row.id).values(queued_at=moment)
            )
        names.append(row.name)
    return names


def newest_first(db: Database) -> list[str]:
    with db.session() as session:
        rows = session.query(ExecutionRow).order_by(
            ExecutionRow.queued_at.desc(), ExecutionRow.id.desc()
        )
        return [row.name for row in rows]


def test_pages_walk_every_execution_once_each_way(db: Database) -> None:
    seed(db)
    expected = newest_first(db)
    seen: list[str] = []
    page = list_executions(db, ExecutionFilter(), limit=5)
    assert page.newer is None
    pages = [page]
    while page.older is not None:
        page = list_executions(db, ExecutionFilter(), before=page.older, limit=5)
        pages.append(page)
    for item in pages:
        seen.extend(row.name for row in item.rows)
    assert seen == expected
    assert [len(p.rows) for p in pages] == [5, 5, 2]
    # back from the last page: the same pages, in the same order within each
    back = list_executions(db, ExecutionFilter(), after=pages[-1].newer, limit=5)
    assert [row.name for row in back.rows] == [row.name for row in pages[1].rows]
    first = list_executions(db, ExecutionFilter(), after=back.newer, limit=5)
    assert [row.name for row in first.rows] == [row.name for row in pages[0].rows]
    assert first.newer is None


def test_filters_narrow_the_list(db: Database) -> None:
    seed(db)

    def names(**where: object) -> set[str]:
        page = list_executions(db, ExecutionFilter(**where), limit=50)  # type: ignore[arg-type]
        return {row.name for row in page.rows}

    assert names(workflow="alpha") == {f"alpha-{n}" for n in range(1, 7)}
    assert names(status="failed") == {"beta-1", "alpha-2", "beta-4", "alpha-5"}
    assert names(branch="dev") == names(status="failed")
    assert names(tag=("team", "t1")) == {"alpha-1", "alpha-3", "alpha-5"}
    assert names(search="ALPHA-1") == {"alpha-1"}
    assert names(search="alpha-") == set()  # a name, not a part of one
    some = list_executions(db, ExecutionFilter(workflow="beta"), limit=1).rows[0]
    assert names(search=some.id[:6]) == {
        row.name
        for row in list_executions(db, ExecutionFilter(), limit=50).rows
        if row.id.startswith(some.id[:6])
    }
    assert names(since=T0 + timedelta(minutes=10)) == {"beta-6", "alpha-6"}
    assert names(until=T0 + timedelta(minutes=1)) == {"beta-1", "alpha-1"}
    assert names(workflow="alpha", status="failed", branch="dev") == {"alpha-2", "alpha-5"}


def test_a_common_branch_and_a_rare_one_list_alike(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rare value goes through the branch index, a common one through the newest-first
    index (listing.COMMON decides): the pages are the same either way."""
    from assay.store import listing

    seed(db)
    pages = {}
    for common in (1, 10_000):
        monkeypatch.setattr(listing, "COMMON", common)
        page = list_executions(db, ExecutionFilter(branch="main"), limit=3)
        names = [row.name for row in page.rows]
        while page.older is not None:
            page = list_executions(db, ExecutionFilter(branch="main"), before=page.older, limit=3)
            names.extend(row.name for row in page.rows)
        pages[common] = names
    assert pages[1] == pages[10_000]
    assert len(pages[1]) == 8


def test_a_common_tag_and_a_rare_one_list_alike(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rare tag goes through the execution_tags index, a common one is checked on the
    newest-first walk (listing.COMMON decides), a value too long for the index is read
    from the JSON: the same executions either way."""
    from assay.store import listing

    seed(db)
    store = ExecutionStore(db)
    long_value = "x" * 300
    store.create("alpha", runner="local", tags={"note": long_value, "team": "t1"})
    found = {}
    for common in (1, 10_000):
        monkeypatch.setattr(listing, "COMMON", common)
        page = list_executions(db, ExecutionFilter(tag=("team", "t1")), limit=50)
        found[common] = [row.name for row in page.rows]
    assert found[1] == found[10_000] == ["alpha-7", "alpha-5", "alpha-3", "alpha-1"]
    page = list_executions(db, ExecutionFilter(tag=("note", long_value)), limit=50)
    assert [row.name for row in page.rows] == ["alpha-7"]
    assert list_executions(db, ExecutionFilter(tag=("team", "nobody")), limit=50).rows == []


def test_bad_input_names_the_parameter(db: Database) -> None:
    with pytest.raises(DefinitionError, match="status 'green'"):
        ExecutionFilter(status="green")
    with pytest.raises(DefinitionError, match="cursor 'nope'"):
        Cursor.decode("nope")
    with pytest.raises(DefinitionError, match="limit 0"):
        list_executions(db, ExecutionFilter(), limit=0)


def test_cursor_round_trips() -> None:
    cursor = Cursor(T0 + timedelta(microseconds=7), "ab" * 16)
    assert Cursor.decode(cursor.encode()) == cursor
