"""Executions listed a page at a time, newest first, filtered; fast at any history size.

Pages are cut with a keyset cursor (``queued_at``, ``id``), never an offset: page 1,000 costs
what page 1 costs. Filters narrow by the indexed columns (workflow, status, branch, time)
first; a rare tag through the ``execution_tags`` index, a common one (or a search text)
checked on the rows the newest-first walk yields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from assay.errors import DefinitionError
from assay.status import ExecutionStatus
from assay.store.database import Database
from assay.store.tables import ExecutionRow, ExecutionTagRow, indexed_tag

__all__ = ["Cursor", "ExecutionFilter", "ExecutionPage", "list_executions"]

MAX_PAGE = 200
COMMON = 2000
"""A filter value matching this many executions or more counts as common."""


def _rare(session: Session, column: InstrumentedAttribute[str | None], value: str) -> bool:
    """Whether fewer than :data:`COMMON` executions have ``column == value`` (counted
    through its index, stopping at :data:`COMMON`)."""
    matches = select(ExecutionRow.id).where(column == value).limit(COMMON).subquery()
    return (session.scalar(select(func.count()).select_from(matches)) or 0) < COMMON


def _rare_tag(session: Session, key: str, value: str) -> bool:
    """Whether fewer than :data:`COMMON` executions have the tag ``key=value``."""
    tag = ExecutionTagRow
    matches = (
        select(tag.execution_id).where(tag.key == key, tag.value == value).limit(COMMON)
    ).subquery()
    return (session.scalar(select(func.count()).select_from(matches)) or 0) < COMMON


@dataclass(frozen=True, slots=True)
class Cursor:
    """A position in the newest-first order: the (queued_at, id) of one execution."""

    queued_at: datetime
    id: str

    def encode(self) -> str:
        """As a URL parameter."""
        return f"{self.queued_at.isoformat()}~{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse :meth:`encode` (DefinitionError naming the parameter when malformed)."""
        moment, _, ident = text.partition("~")
        try:
            queued_at = datetime.fromisoformat(moment)
        except ValueError:
            raise DefinitionError(f"cursor {text!r}: not a page position") from None
        if not ident or len(ident) > 32:
            raise DefinitionError(f"cursor {text!r}: not a page position")
        return cls(queued_at, ident)

    @classmethod
    def of(cls, row: ExecutionRow) -> Cursor:
        """The position of ``row``."""
        return cls(row.queued_at, row.id)


@dataclass(frozen=True, slots=True)
class ExecutionFilter:
    """Which executions to list; every field is optional."""

    workflow: str | None = None
    status: str | None = None
    branch: str | None = None
    tag: tuple[str, str] | None = None
    """(key, value): executions whose tag ``key`` equals ``value``."""
    since: datetime | None = None
    until: datetime | None = None
    search: str | None = None
    """An execution's name (``calc-12``) or the start of its id (both through indexes)."""
    top_level: bool = False
    """Only executions without a parent (a suite's children are listed under it)."""

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in {s.value for s in ExecutionStatus}:
            known = ", ".join(s.value for s in ExecutionStatus)
            raise DefinitionError(f"status {self.status!r}: not one of {known}")

    def where(self, query: Select[ExecutionRow], session: Session) -> Select[ExecutionRow]:
        """``query`` narrowed by this filter."""
        row = ExecutionRow
        if self.workflow:
            query = query.where(row.workflow == self.workflow)
        if self.status:
            query = query.where(row.status == self.status)
        if self.branch:
            # a rare branch: through its index; a common one (most executions are on main):
            # walking the newest-first index finds a page of them sooner than sorting them all
            branch = row.branch if _rare(session, row.branch, self.branch) else row.branch + ""
            query = query.where(branch == self.branch)
        if self.since is not None:
            query = query.where(row.queued_at >= self.since)
        if self.until is not None:
            query = query.where(row.queued_at <= self.until)
        if self.tag is not None:
            key, value = self.tag
            if indexed_tag(key, value) and _rare_tag(session, key, value):
                # a rare tag: its few executions through the tags' index, then sorted
                tagged = select(ExecutionTagRow.execution_id).where(
                    ExecutionTagRow.key == key, ExecutionTagRow.value == value
                )
                query = query.where(row.id.in_(tagged))
            else:  # a common one: checked on the newest-first walk, which soon has a page
                query = query.where(row.tags[key].as_string() == value)
        if self.search:
            text = self.search.strip().lower()
            found = [and_(row.id >= text, row.id < text + "~")]  # ids are lower-case hex
            workflow, _, number = text.rpartition("-")
            if workflow and number.isdigit():
                found.append(and_(row.workflow == workflow, row.number == int(number)))
            query = query.where(or_(*found))
        if self.top_level:
            query = query.where(row.parent_id.is_(None))
        return query


@dataclass(slots=True)
class ExecutionPage:
    """One page of executions, newest first, with the cursors of its neighbours."""

    rows: list[ExecutionRow] = field(default_factory=list)
    older: Cursor | None = None
    """Give as ``before`` for the next (older) page; None on the last page."""
    newer: Cursor | None = None
    """Give as ``after`` for the previous (newer) page; None on the first page."""


def list_executions(
    db: Database,
    where: ExecutionFilter,
    *,
    before: Cursor | None = None,
    after: Cursor | None = None,
    limit: int = 50,
) -> ExecutionPage:
    """A page of executions matching ``where``: those older than ``before`` (the next page),
    else newer than ``after`` (the previous page), else the newest."""
    if not 1 <= limit <= MAX_PAGE:
        raise DefinitionError(f"limit {limit}: must be between 1 and {MAX_PAGE}")
    row = ExecutionRow
    with db.session() as session:
        query = where.where(select(row), session)
        if after is not None:
            query = query.where(
                or_(
                    row.queued_at > after.queued_at,
                    and_(row.queued_at == after.queued_at, row.id > after.id),
                )
            ).order_by(row.queued_at.asc(), row.id.asc())
        else:
            if before is not None:
                query = query.where(
                    or_(
                        row.queued_at < before.queued_at,
                        and_(row.queued_at == before.queued_at, row.id < before.id),
                    )
                )
            query = query.order_by(row.queued_at.desc(), row.id.desc())
        rows = list(session.scalars(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if after is not None:
        rows.reverse()
        return ExecutionPage(
            rows,
            older=Cursor.of(rows[-1]) if rows else None,
            newer=Cursor.of(rows[0]) if more and rows else None,
        )
    return ExecutionPage(
        rows,
        older=Cursor.of(rows[-1]) if more and rows else None,
        newer=Cursor.of(rows[0]) if before is not None and rows else None,
    )
