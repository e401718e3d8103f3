"""Retention: the logs and artifacts of old executions are deleted; their results stay.

An execution is pruned when it finished before the cut-off and is not among the newest
``keep`` finished executions of its workflow: its directory ``executions/<id>/`` (the
masked log, the artifacts) is removed and ``executions.pruned_at`` set. Its row, steps,
summary and per-test results (``test_results``, ``test_case_details``) are kept, so flaky
detection, trends and traceability still see it. Finished webhook deliveries older than
the cut-off go too (with their attempts). Work is done in batches of ``batch``
executions, one short transaction each, so a large backlog never holds the store long.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, select, update

from assay.status import ExecutionStatus
from assay.store.database import Database
from assay.store.executions import now as wall_clock
from assay.store.outbox import PENDING
from assay.store.tables import ExecutionRow, WebhookAttemptRow, WebhookDeliveryRow

__all__ = ["PruneResult", "Pruner", "parse_age"]

log = logging.getLogger("assay.retention")

_AGE = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_FINISHED = tuple(s.value for s in ExecutionStatus if s.finished)


def parse_age(text: str) -> timedelta:
    """``90m``, ``12h``, ``30d``, ``2w`` as a duration (ValueError otherwise)."""
    match = _AGE.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"expected a positive age such as 30d, 12h, 2w or 90m, got {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(slots=True)
class PruneResult:
    """What a prune removed."""

    executions: int = 0
    bytes: int = 0
    deliveries: int = 0


class Pruner:
    """Deletes logs and artifacts of old executions (see the module)."""

    def __init__(
        self,
        db: Database,
        executions_dir: Path,
        *,
        clock: Callable[[], datetime] = wall_clock,
        batch: int = 100,
    ) -> None:
        self.db = db
        self.executions_dir = executions_dir
        self.clock = clock
        self.batch = batch

    def candidates(
        self, older_than: timedelta, keep: int = 0, limit: int | None = None
    ) -> list[str]:
        """Ids of the executions a prune would take next (oldest first)."""
        cutoff = self.clock() - older_than
        newest = (
            func.row_number()
            .over(partition_by=ExecutionRow.workflow, order_by=ExecutionRow.queued_at.desc())
            .label("newest")
        )
        ranked = (
            select(ExecutionRow.id, ExecutionRow.finished_at, ExecutionRow.pruned_at, newest)
            .where(ExecutionRow.status.in_(_FINISHED))
            .subquery()
        )
        query = (
            select(ranked.c.id)
            .where(
                ranked.c.pruned_at.is_(None),
                ranked.c.finished_at < cutoff,
                ranked.c.newest > keep,
            )
            .order_by(ranked.c.finished_at)
            .limit(limit or self.batch)
        )
        with self.db.session() as session:
            return list(session.scalars(query))

    def run_once(
        self, older_than: timedelta, keep: int = 0, *, dry_run: bool = False
    ) -> PruneResult:
        """Prune everything due, batch after batch (``dry_run``: only count it)."""
        if dry_run:
            ids = self.candidates(older_than, keep, limit=2**31 - 1)
            return PruneResult(len(ids), sum(self._size(i) for i in ids))
        result = PruneResult()
        while ids := self.candidates(older_than, keep):
            for execution_id in ids:
                result.bytes += self._size(execution_id)
                shutil.rmtree(self.executions_dir / execution_id, ignore_errors=True)
            result.executions += len(ids)
            with self.db.session(write=True) as session:
                session.execute(
                    update(ExecutionRow)
                    .where(ExecutionRow.id.in_(ids))
                    .values(pruned_at=self.clock())
                )
        result.deliveries = self._prune_deliveries(self.clock() - older_than)
        return result

    def run(
        self,
        stop: threading.Event,
        older_than: timedelta,
        *,
        keep: int = 0,
        interval: float = 3600.0,
    ) -> None:
        """Prune every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                done = self.run_once(older_than, keep)
                if done.executions or done.deliveries:
                    log.info(
                        "retention: pruned %d execution(s) (%d bytes), %d delivery(ies)",
                        done.executions,
                        done.bytes,
                        done.deliveries,
                    )
            except Exception as exc:  # the loop must outlive a lost database connection
                log.warning("retention pass failed: %s", exc)
            stop.wait(interval)

    def _size(self, execution_id: str) -> int:
        directory = self.executions_dir / execution_id
        if not directory.is_dir():
            return 0
        return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())

    def _prune_deliveries(self, cutoff: datetime) -> int:
        removed = 0
        while True:
            with self.db.session(write=True) as session:
                ids = list(
                    session.scalars(
                        select(WebhookDeliveryRow.id)
                        .where(
                            WebhookDeliveryRow.status != PENDING,
                            WebhookDeliveryRow.created_at < cutoff,
                        )
                        .limit(self.batch)
                    )
                )
                if not ids:
                    return removed
                session.execute(
                    delete(WebhookAttemptRow).where(WebhookAttemptRow.delivery_id.in_(ids))
                )
                session.execute(delete(WebhookDeliveryRow).where(WebhookDeliveryRow.id.in_(ids)))
            removed += len(ids)
