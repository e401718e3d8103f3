"""Schedule ticks: each firing of a cron schedule, recorded before its execution is queued.

A tick is *claimed* by inserting its row; the unique ``(workflow, event_index,
scheduled_at)`` lets exactly one scheduler win, whichever replica, on SQLite or PostgreSQL
(the loser's ``INSERT ... ON CONFLICT DO NOTHING`` inserts nothing and it moves on).
The winner queues the execution and *confirms* the tick with the execution's id. A claim
not confirmed before ``claim_expires`` (its scheduler died between the two) is taken over
by another scheduler with a conditional update, so exactly one takes it.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import CompoundSelect, bindparam, select, text, union_all, update

from assay.store.database import Database
from assay.store.tables import ScheduleTickRow

__all__ = ["CLAIMED", "FAILED", "QUEUED", "TickClaim", "TickStore"]

CLAIMED = "claimed"
QUEUED = "queued"
FAILED = "failed"

_LOOKUPS_PER_QUERY = 100
"""Schedules whose newest tick one query looks up (SQLite allows 500 terms in a compound
select)."""


@dataclass(frozen=True, slots=True)
class TickClaim:
    """What a scheduler asks to fire."""

    workflow: str
    event_index: int
    cron: str
    timezone: str
    scheduled_at: datetime
    missed: int = 0


class TickStore:
    """The ``schedule_ticks`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def latest(
        self, schedules: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], tuple[str, str, datetime]]:
        """(cron, timezone, scheduled_at) of the newest tick of each (workflow, event index)
        that has one, each an indexed ``ORDER BY scheduled_at DESC LIMIT 1`` lookup: on
        PostgreSQL one ``LATERAL`` query, on SQLite one ``UNION ALL`` per 100 schedules."""
        keys = list(dict.fromkeys(schedules))
        found: dict[tuple[str, int], tuple[str, str, datetime]] = {}
        if keys and self.db.engine.dialect.name == "postgresql":
            # one plan whatever the count: the keys as arrays, a LATERAL lookup each
            with self.db.engine.connect() as connection:
                rows = connection.execute(
                    _NEWEST_TICKS_POSTGRESQL,
                    {"workflows": [w for w, _ in keys], "indexes": [e for _, e in keys]},
                )
                return {
                    (r.workflow, r.event_index): (r.cron, r.timezone, r.scheduled_at) for r in rows
                }
        with self.db.engine.connect() as connection:
            for start in range(0, len(keys), _LOOKUPS_PER_QUERY):
                chunk = keys[start : start + _LOOKUPS_PER_QUERY]
                values: dict[str, str | int] = {}
                for n, (workflow, event_index) in enumerate(chunk):
                    values[f"w{n}"], values[f"e{n}"] = workflow, event_index
                for row in connection.execute(_newest_ticks(len(chunk)), values):
                    found[(row.workflow, row.event_index)] = (
                        row.cron,
                        row.timezone,
                        row.scheduled_at,
                    )
        return found

    def claim(
        self, ticks: Sequence[TickClaim], *, owner: str, now: datetime, expires: datetime
    ) -> list[ScheduleTickRow]:
        """Record ``ticks`` as claimed by ``owner`` in one transaction; those another
        scheduler recorded first are left out of the result (``ON CONFLICT DO NOTHING``)."""
        if not ticks:
            return []
        rows = [
            {
                "id": uuid.uuid4().hex,
                "workflow": tick.workflow,
                "event_index": tick.event_index,
                "cron": tick.cron,
                "timezone": tick.timezone,
                "scheduled_at": tick.scheduled_at,
                "missed": tick.missed,
                "state": CLAIMED,
                "claimed_by": owner[:100],
                "claim_expires": expires,
                "created_at": now,
            }
            for tick in ticks
        ]
        from sqlalchemy.dialects import postgresql, sqlite

        dialect = postgresql if self.db.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(ScheduleTickRow).on_conflict_do_nothing()
        with self.db.session(write=True) as session:
            session.execute(statement, rows)
            ids = [row["id"] for row in rows]
            return list(session.scalars(select(ScheduleTickRow).where(ScheduleTickRow.id.in_(ids))))

    def confirm(self, queued: Sequence[tuple[str, str]]) -> None:
        """The ticks' executions are queued: (tick id, execution id) pairs."""
        if queued:
            self._close([{"tid": t, "state": QUEUED, "eid": e, "err": None} for t, e in queued])

    def fail(self, tick_id: str, error: str) -> None:
        """The tick's workflow could not be queued (bad config, workflow gone)."""
        self._close([{"tid": tick_id, "state": FAILED, "eid": None, "err": error}])

    def _close(self, values: list[dict[str, str | None]]) -> None:
        statement = (
            update(ScheduleTickRow)
            .where(ScheduleTickRow.id == bindparam("tid"))
            .values(state=bindparam("state"), execution_id=bindparam("eid"), error=bindparam("err"))
        )
        with self.db.session(write=True) as session:
            session.connection().execute(statement, values)

    def expired_claims(self, now: datetime, limit: int = 100) -> list[ScheduleTickRow]:
        """Claims whose scheduler did not confirm them in time."""
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(ScheduleTickRow)
                    .where(ScheduleTickRow.state == CLAIMED, ScheduleTickRow.claim_expires < now)
                    .order_by(ScheduleTickRow.claim_expires)
                    .limit(limit)
                )
            )

    def take_over(
        self, row: ScheduleTickRow, *, owner: str, now: datetime, expires: datetime
    ) -> bool:
        """Claim an expired claim for ``owner``; False if another scheduler did first."""
        with self.db.session(write=True) as session:
            result = session.execute(
                update(ScheduleTickRow)
                .where(
                    ScheduleTickRow.id == row.id,
                    ScheduleTickRow.state == CLAIMED,
                    ScheduleTickRow.claimed_by == row.claimed_by,
                    ScheduleTickRow.claim_expires < now,
                )
                .values(claimed_by=owner[:100], claim_expires=expires)
            )
        return bool(getattr(result, "rowcount", 0))

    def recent(self, *, workflow: str | None = None, limit: int = 50) -> list[ScheduleTickRow]:
        """Ticks, newest first."""
        query = select(ScheduleTickRow).order_by(ScheduleTickRow.scheduled_at.desc()).limit(limit)
        if workflow:
            query = query.where(ScheduleTickRow.workflow == workflow)
        with self.db.session() as session:
            return list(session.scalars(query))


_NEWEST_TICKS_POSTGRESQL = text(
    "SELECT t.workflow, t.event_index, t.cron, t.timezone, t.scheduled_at"
    " FROM unnest(CAST(:workflows AS varchar[]), CAST(:indexes AS integer[])) AS k(w, e)"
    " CROSS JOIN LATERAL (SELECT * FROM schedule_ticks s"
    " WHERE s.workflow = k.w AND s.event_index = k.e"
    " ORDER BY s.scheduled_at DESC LIMIT 1) AS t"
).columns(
    ScheduleTickRow.workflow,
    ScheduleTickRow.event_index,
    ScheduleTickRow.cron,
    ScheduleTickRow.timezone,
    ScheduleTickRow.scheduled_at,
)
"""The newest tick of each (workflow, event index) of two arrays, on PostgreSQL."""


@functools.lru_cache(maxsize=_LOOKUPS_PER_QUERY)
def _newest_ticks(count: int) -> CompoundSelect[tuple[str, int, str, str, datetime]]:
    """The newest tick of ``count`` schedules, bound as ``w0, e0, w1, e1, ...``: built once
    per count, so SQLAlchemy's compiled cache serves every pass."""
    newest = [
        select(
            ScheduleTickRow.workflow,
            ScheduleTickRow.event_index,
            ScheduleTickRow.cron,
            ScheduleTickRow.timezone,
            ScheduleTickRow.scheduled_at,
        )
        .where(
            ScheduleTickRow.workflow == bindparam(f"w{n}"),
            ScheduleTickRow.event_index == bindparam(f"e{n}"),
        )
        .order_by(ScheduleTickRow.scheduled_at.desc())
        .limit(1)
        .subquery()
        for n in range(count)
    ]
    # each LIMIT 1 wrapped in a subquery: SQLite allows no LIMIT on a compound select's terms
    return union_all(*(select(sub) for sub in newest))
