"""The store's revision: unchanged while nothing is committed, changed by a commit of any
other connection (another engine stands for another process or machine)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, update

from assay.store import Database
from assay.store.revision import StoreRevision
from assay.store.tables import ExecutionRow


def _execution(number: int) -> dict[str, object]:
    return {
        "id": f"{number:032x}",
        "workflow": "wf",
        "number": number,
        "name": f"wf-{number}",
        "status": "queued",
        "runner": "local",
        "tags": {},
        "config": {},
        "queued_at": datetime.now(UTC),
    }


def test_revision_changes_with_every_commit_of_any_connection(db: Database) -> None:
    revision = StoreRevision(db)
    other = Database(db.url)  # its own engine and connections
    try:
        first = revision.current()
        assert first is not None and revision.current() == first  # reading changes nothing
        with other.engine.begin() as connection:
            connection.execute(insert(ExecutionRow), [_execution(1)])
        second = revision.current()
        assert second not in (None, first)
        with db.engine.begin() as connection:  # this process's own pool counts too
            connection.execute(update(ExecutionRow).values(status="running"))
        third = revision.current()
        assert third not in (None, first, second)
        with other.engine.connect() as connection:  # read only: no change
            connection.execute(ExecutionRow.__table__.select()).all()
        assert revision.current() == third
    finally:
        other.close()
        revision.close()


def test_an_in_memory_store_has_no_revision() -> None:
    db = Database("sqlite:///:memory:")
    try:
        assert StoreRevision(db).current() is None
    finally:
        db.close()
