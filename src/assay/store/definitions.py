"""Applied definitions (workflows, templates, legacy tests and suites)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select

from assay.errors import NotFoundError
from assay.store.database import Database
from assay.store.executions import now
from assay.store.tables import WorkflowRow

__all__ = ["DefinitionStore", "StoredDefinition"]

StoredDefinition = tuple[str, str, dict[str, Any]]
"""(kind, name, raw document)."""


class DefinitionStore:
    """Definitions applied with ``assay apply``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, items: Iterable[tuple[str, str, dict[str, Any], str | None]]) -> int:
        """Insert or replace (kind, name, document, source) entries in one transaction."""
        count = 0
        with self.db.session(write=True) as session:
            for kind, name, document, source in items:
                row = session.scalar(
                    select(WorkflowRow).where(WorkflowRow.kind == kind, WorkflowRow.name == name)
                )
                labels = dict(document.get("metadata", {}).get("labels") or {})
                if row is None:
                    row = WorkflowRow(kind=kind, name=name, created_at=now())
                    session.add(row)
                row.definition = document
                row.labels = labels
                row.source = source
                row.updated_at = now()
                count += 1
        return count

    def get(self, name: str, kinds: Iterable[str]) -> StoredDefinition:
        """The definition called ``name`` among ``kinds`` (first kind wins)."""
        wanted = list(kinds)
        with self.db.session() as session:
            rows = {
                row.kind: row
                for row in session.scalars(
                    select(WorkflowRow).where(
                        WorkflowRow.name == name, WorkflowRow.kind.in_(wanted)
                    )
                )
            }
        for kind in wanted:
            if kind in rows:
                return kind, name, rows[kind].definition
        raise NotFoundError(f"no {' or '.join(wanted)} named {name!r}; apply it first")

    def all(self, kind: str | None = None) -> list[WorkflowRow]:
        """All applied definitions (of ``kind``) by kind and name."""
        query = select(WorkflowRow).order_by(WorkflowRow.kind, WorkflowRow.name)
        if kind is not None:
            query = query.where(WorkflowRow.kind == kind)
        with self.db.session() as session:
            return list(session.scalars(query))

    def row(self, kind: str, name: str) -> WorkflowRow:
        """The stored row of one definition."""
        with self.db.session() as session:
            row = session.scalar(
                select(WorkflowRow).where(WorkflowRow.kind == kind, WorkflowRow.name == name)
            )
        if row is None:
            raise NotFoundError(f"no {kind} named {name!r}")
        return row

    def delete(self, kind: str, name: str) -> None:
        """Remove one definition."""
        with self.db.session(write=True) as session:
            gone = session.execute(
                delete(WorkflowRow).where(WorkflowRow.kind == kind, WorkflowRow.name == name)
            )
        if not gone.rowcount:  # type: ignore[attr-defined]
            raise NotFoundError(f"no {kind} named {name!r}")

    def delete_from(self, kind: str, name: str, source: str) -> bool:
        """Remove one definition if it was stored from ``source`` (one applied since from
        elsewhere stays); whether it was removed."""
        with self.db.session(write=True) as session:
            gone = session.execute(
                delete(WorkflowRow).where(
                    WorkflowRow.kind == kind, WorkflowRow.name == name, WorkflowRow.source == source
                )
            )
        return bool(gone.rowcount)  # type: ignore[attr-defined]

    def sources(self, kind: str, prefix: str) -> dict[str, tuple[str, dict[str, Any]]]:
        """Name -> (source, document) of the definitions of ``kind`` stored from a source
        starting with ``prefix``."""
        query = select(WorkflowRow).where(
            WorkflowRow.kind == kind, WorkflowRow.source.startswith(prefix, autoescape=True)
        )
        with self.db.session() as session:
            return {row.name: (row.source or "", row.definition) for row in session.scalars(query)}

    def all_of_kind(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every definition of one kind by name."""
        with self.db.session() as session:
            return {
                row.name: row.definition
                for row in session.scalars(select(WorkflowRow).where(WorkflowRow.kind == kind))
            }
