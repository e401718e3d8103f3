"""Quarantined tests: their failures are recorded and shown (status ``quarantined``) but do
not fail the execution, until the quarantine expires or is removed."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from assay.errors import NotFoundError
from assay.moments import as_utc, maybe_utc
from assay.store.database import Database
from assay.store.executions import now
from assay.store.tables import QuarantineRow

__all__ = ["QuarantineEntry", "QuarantineStore"]


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """One quarantined test."""

    test_id: str
    workflow: str
    classname: str | None
    name: str
    reason: str | None
    until: datetime | None
    """When the quarantine ends (aware UTC); None = until removed."""
    created_at: datetime

    def active(self, at: datetime | None = None) -> bool:
        """True while the quarantine holds at ``at`` (default now)."""
        return self.until is None or self.until > as_utc(at or now())

    def as_dict(self, at: datetime | None = None) -> dict[str, Any]:
        """JSON-ready (camelCase)."""
        return {
            "testId": self.test_id,
            "workflow": self.workflow,
            "classname": self.classname,
            "name": self.name,
            "reason": self.reason,
            "until": self.until.isoformat() if self.until else None,
            "createdAt": self.created_at.isoformat(),
            "active": self.active(at),
        }

    @classmethod
    def _from_row(cls, row: QuarantineRow) -> QuarantineEntry:
        return cls(
            test_id=row.test_id,
            workflow=row.workflow,
            classname=row.classname,
            name=row.name,
            reason=row.reason,
            until=row.until,
            created_at=row.created_at,
        )


class QuarantineStore:
    """The quarantine list in the SQL store."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self, test_id: str, *, reason: str | None = None, until: datetime | None = None
    ) -> QuarantineEntry:
        """Quarantine a test known from stored results (NotFoundError otherwise); adding it
        again replaces the reason and the expiry."""
        from assay.store.test_cases import find_test  # numpy: loaded when first needed

        with self.db.session(write=True) as session:
            known = find_test(session.connection(), test_id)
            if known is None:
                raise NotFoundError(
                    f"no test {test_id!r} in stored results (see `assay get testcases EXECUTION`)"
                )
            row = session.scalars(
                select(QuarantineRow).where(QuarantineRow.test_id == test_id)
            ).first()
            if row is None:
                row = QuarantineRow(test_id=test_id, created_at=now())
                session.add(row)
            row.workflow, _, row.classname, row.name = known
            row.reason = reason
            row.until = maybe_utc(until)
            session.flush()
            return QuarantineEntry._from_row(row)

    def remove(self, test_id: str) -> None:
        """End the quarantine of a test (NotFoundError when it is not quarantined)."""
        with self.db.session(write=True) as session:
            deleted = session.execute(
                delete(QuarantineRow).where(QuarantineRow.test_id == test_id)
            ).rowcount  # type: ignore[attr-defined]
        if not deleted:
            raise NotFoundError(f"test {test_id!r} is not quarantined")

    def get(self, test_id: str) -> QuarantineEntry | None:
        """The quarantine of one test, expired or not."""
        with self.db.session() as session:
            row = session.scalars(
                select(QuarantineRow).where(QuarantineRow.test_id == test_id)
            ).first()
            return None if row is None else QuarantineEntry._from_row(row)

    def list(
        self, *, include_expired: bool = False, at: datetime | None = None
    ) -> builtins.list[QuarantineEntry]:
        """Quarantined tests by workflow and name; expired ones only with ``include_expired``."""
        with self.db.session() as session:
            rows = session.scalars(
                select(QuarantineRow).order_by(
                    QuarantineRow.workflow, QuarantineRow.classname, QuarantineRow.name
                )
            ).all()
            entries = [QuarantineEntry._from_row(row) for row in rows]
        return [entry for entry in entries if include_expired or entry.active(at)]

    def active(self, at: datetime | None = None) -> set[str]:
        """Ids of the tests quarantined and not expired at ``at`` (default now)."""
        moment = as_utc(at or now())
        with self.db.engine.connect() as connection:
            rows = connection.execute(select(QuarantineRow.test_id, QuarantineRow.until)).all()
        return {test_id for test_id, until in rows if until is None or until > moment}
