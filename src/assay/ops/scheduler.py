"""The cron scheduler: fires ``spec.events[].cronjob`` schedules of applied TestWorkflows.

Each pass (:meth:`Scheduler.run_once`) reads the applied workflows' schedules and, for
each, the latest fire time at or before now. If it is later than the schedule's anchor
(its newest recorded tick, or when the definition was applied if no tick of the current
cron exists), that one tick is claimed (:mod:`assay.store.schedules`), its execution
queued through ``enqueue``, and the tick confirmed.

- **Exactly once across replicas**: the tick's row is unique per (workflow, event, time);
  only the scheduler whose insert succeeds queues it. No leader is elected.
- **Restarts**: nothing is kept in memory. A claim left unconfirmed by a crash is taken
  over once its lease lapses; if its execution was queued before the crash (found by its
  ``schedule-tick`` tag) it is only confirmed, else queued then.
- **Catch-up**: after downtime the missed fire times collapse into ONE execution, the
  latest due; its tick records how many were skipped (``missed``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from assay.errors import DefinitionError, NotFoundError
from assay.spec.cron import count_due, latest_due, next_times
from assay.store.database import Database
from assay.store.executions import now as wall_clock
from assay.store.schedules import TickClaim, TickStore
from assay.store.tables import ExecutionRow, ScheduleTickRow, WorkflowRow

__all__ = [
    "SCHEDULED_KINDS",
    "TICK_TAG",
    "Enqueue",
    "Fired",
    "Schedule",
    "Scheduler",
    "schedules_of",
]

log = logging.getLogger("assay.scheduler")

TICK_TAG = "schedule-tick"
"""Tag of a scheduled execution naming its tick (how a restarted scheduler finds it)."""

Enqueue = Callable[[str, dict[str, Any], dict[str, str]], str]
"""Queue workflow NAME with CONFIG and TAGS; return the execution id."""

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Schedule:
    """One ``cronjob`` of an applied TestWorkflow."""

    workflow: str
    index: int
    cron: str
    timezone: str
    config: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    applied_at: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=UTC))

    def next_fire(self, after: datetime, count: int = 1) -> list[datetime]:
        """The next ``count`` fire times after ``after`` (UTC)."""
        return next_times(self.cron, self.timezone, after, count)


@dataclass(frozen=True, slots=True)
class Fired:
    """A tick this scheduler queued (or found queued, or could not queue)."""

    tick_id: str
    workflow: str
    scheduled_at: datetime
    missed: int
    execution_id: str | None
    error: str | None = None


SCHEDULED_KINDS = ("TestWorkflow", "Test", "TestSuite")
"""Kinds that may carry schedules: ``spec.events[].cronjob``, legacy ``spec.schedule``."""


def _legacy_schedule(row: WorkflowRow, spec: dict[str, Any], timezone: str) -> list[Schedule]:
    """A Test's or TestSuite's ``spec.schedule`` (checked here: the legacy models do not)."""
    from assay.spec.cron import check_cron

    cron = spec.get("schedule")
    if not cron:
        return []
    try:
        text = check_cron(str(cron))
    except ValueError as exc:
        log.warning("%s %s: schedule ignored: %s", row.kind, row.name, exc)
        return []
    return [Schedule(row.name, 0, text, timezone, applied_at=row.updated_at)]


def schedules_of(rows: Iterable[WorkflowRow], default_timezone: str = "UTC") -> list[Schedule]:
    """The schedules of applied rows (TestWorkflow definitions were validated when applied;
    a legacy Test or TestSuite may have a ``spec.schedule``)."""
    found: list[Schedule] = []
    for row in rows:
        spec = row.definition.get("spec") or {}
        if row.kind != "TestWorkflow":
            found += _legacy_schedule(row, spec, default_timezone)
            continue
        for index, event in enumerate(spec.get("events") or []):
            cronjob = (event or {}).get("cronjob")
            if not cronjob:
                continue
            found.append(
                Schedule(
                    workflow=row.name,
                    index=index,
                    cron=" ".join(str(cronjob["cron"]).split()),
                    timezone=cronjob.get("timezone") or default_timezone,
                    config={k: v for k, v in (cronjob.get("config") or {}).items()},
                    tags={k: str(v) for k, v in (cronjob.get("tags") or {}).items()},
                    applied_at=row.updated_at,
                )
            )
    return found


class Scheduler:
    """Fires due schedules; :meth:`run_once` is one pass, :meth:`run` loops until stopped."""

    def __init__(
        self,
        db: Database,
        enqueue: Enqueue,
        *,
        clock: Clock = wall_clock,
        timezone: str = "UTC",
        lease: timedelta = timedelta(minutes=5),
        owner: str | None = None,
    ) -> None:
        self.db = db
        self.ticks = TickStore(db)
        self.enqueue = enqueue
        self.clock = clock
        self.timezone = timezone
        self.lease = lease
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._anchors: dict[tuple[str, int], tuple[str, str, datetime]] = {}
        """Newest tick seen per schedule: a pass with nothing due reads no tick."""

    def schedules(self) -> list[Schedule]:
        """Every schedule of every applied TestWorkflow."""
        with self.db.session() as session:
            rows = list(
                session.scalars(select(WorkflowRow).where(WorkflowRow.kind.in_(SCHEDULED_KINDS)))
            )
        return schedules_of(rows, self.timezone)

    def run_once(self) -> list[Fired]:
        """Recover expired claims, then fire every schedule that is due; what was fired."""
        now = self.clock()
        fired = [self._recover(row, now) for row in self.ticks.expired_claims(now)]
        schedules = {(s.workflow, s.index): s for s in self.schedules()}
        due_times = {key: latest_due(s.cron, s.timezone, now) for key, s in schedules.items()}
        self._refresh_anchors(key for key, s in schedules.items() if self._stale(s, due_times[key]))
        due = [
            tick
            for key, s in schedules.items()
            if (tick := self._due(s, due_times[key])) is not None
        ]
        claimed = self.ticks.claim(due, owner=self.owner, now=now, expires=now + self.lease)
        queued: list[tuple[str, str]] = []
        try:
            for row in claimed:  # the others are another scheduler's
                self._anchors[(row.workflow, row.event_index)] = (
                    row.cron,
                    row.timezone,
                    row.scheduled_at,
                )
                item = self._queue(row, schedules[(row.workflow, row.event_index)])
                fired.append(item)
                if item.execution_id is not None:
                    queued.append((row.id, item.execution_id))
        finally:  # confirmed even when a later one fails (a crash leaves them to recovery)
            self.ticks.confirm(queued)
        return [item for item in fired if item is not None]

    def next_wake(self) -> datetime | None:
        """The earliest next fire time of any schedule (None without schedules)."""
        now = self.clock()
        times = [s.next_fire(now)[0] for s in self.schedules()]
        return min(times) if times else None

    def run(self, stop: threading.Event, *, max_sleep: float = 30.0) -> None:
        """Pass after pass until ``stop`` is set; sleeps until the next fire time (at most
        ``max_sleep`` seconds, so newly applied schedules are seen). A failing pass is
        logged and retried."""
        while not stop.is_set():
            try:
                for item in self.run_once():
                    log.info(
                        "schedule tick %s %s -> %s%s",
                        item.workflow,
                        item.scheduled_at.isoformat(),
                        item.execution_id or item.error,
                        f" (caught up, {item.missed} skipped)" if item.missed else "",
                    )
                wake = self.next_wake()
            except Exception as exc:  # the loop must outlive a lost database connection
                log.warning("scheduler pass failed: %s", exc)
                wake = None
            delay = max_sleep
            if wake is not None:
                delay = min(max_sleep, max(0.05, (wake - wall_clock()).total_seconds()))
            stop.wait(delay)

    # -- one tick --------------------------------------------------------------------------

    def _stale(self, schedule: Schedule, due: datetime) -> bool:
        """Whether the newest tick known of ``schedule`` may be out of date: none seen yet,
        one of another cron or time zone, or one older than the fire time ``due`` (another
        scheduler may have fired it)."""
        known = self._anchors.get((schedule.workflow, schedule.index))
        return known is None or known[:2] != (schedule.cron, schedule.timezone) or known[2] < due

    def _refresh_anchors(self, keys: Iterable[tuple[str, int]]) -> None:
        """Read the newest tick of these schedules (one round trip per 100); a schedule
        without ticks has no anchor."""
        keys = list(keys)
        newest = self.ticks.latest(keys)
        for key in keys:
            if key in newest:
                cron, timezone, at = newest[key]
                self._anchors[key] = (cron, timezone, at)
            else:
                self._anchors.pop(key, None)

    def _due(self, schedule: Schedule, due: datetime) -> TickClaim | None:
        """The tick to claim for ``schedule`` whose latest fire time is ``due`` (None if
        its newest tick, or its definition being applied, is not older)."""
        known = self._anchors.get((schedule.workflow, schedule.index))
        anchor = schedule.applied_at
        if known is not None and known[:2] == (schedule.cron, schedule.timezone):
            anchor = known[2]
        if due <= anchor:
            return None
        missed = count_due(schedule.cron, schedule.timezone, anchor, due) - 1
        return TickClaim(
            schedule.workflow, schedule.index, schedule.cron, schedule.timezone, due, missed
        )

    def _queue(self, tick: ScheduleTickRow, schedule: Schedule) -> Fired:
        """Queue the execution of a claimed tick (confirmed by the caller)."""
        tags = {**schedule.tags, "schedule": f"{schedule.cron} ({schedule.timezone})"}
        tags[TICK_TAG] = tick.id
        try:
            execution_id = self.enqueue(schedule.workflow, dict(schedule.config), tags)
        except (DefinitionError, NotFoundError) as exc:  # bad input: retrying will not help
            self.ticks.fail(tick.id, str(exc))
            return self._fired(tick, None, str(exc))
        return self._fired(tick, execution_id)

    def _recover(self, row: ScheduleTickRow, now: datetime) -> Fired | None:
        if not self.ticks.take_over(row, owner=self.owner, now=now, expires=now + self.lease):
            return None
        queued = self._queued_execution(row)
        if queued is not None:
            self.ticks.confirm([(row.id, queued)])
            return self._fired(row, queued)
        schedule = next(
            (
                s
                for s in self.schedules()
                if (s.workflow, s.index, s.cron) == (row.workflow, row.event_index, row.cron)
            ),
            None,
        )
        if schedule is None:
            error = "the schedule was removed before its tick was queued"
            self.ticks.fail(row.id, error)
            return self._fired(row, None, error)
        item = self._queue(row, schedule)
        if item.execution_id is not None:
            self.ticks.confirm([(row.id, item.execution_id)])
        return item

    def _queued_execution(self, row: ScheduleTickRow, window: int = 200) -> str | None:
        """The execution a crashed scheduler queued for ``row`` before it could confirm it:
        among the workflow's newest ``window`` executions, the one tagged with the tick."""
        with self.db.session() as session:
            found = session.execute(
                select(ExecutionRow.id, ExecutionRow.tags)
                .where(ExecutionRow.workflow == row.workflow)
                .order_by(ExecutionRow.queued_at.desc())
                .limit(window)
            ).all()
        return next((eid for eid, tags in found if (tags or {}).get(TICK_TAG) == row.id), None)

    @staticmethod
    def _fired(row: ScheduleTickRow, execution_id: str | None, error: str | None = None) -> Fired:
        return Fired(row.id, row.workflow, row.scheduled_at, row.missed, execution_id, error)
