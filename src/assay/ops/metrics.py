"""Prometheus metrics, read from the store at each scrape.

Every number comes from the database, so all replicas of ``assay server`` report the same
values and a restart loses none (no counter lives in a process):

- ``assay_executions_total{workflow,status}``: executions recorded
- ``assay_queue_depth`` / ``assay_executions_running``: queued / running executions
- ``assay_execution_duration_seconds{workflow}``: histogram of finished executions
- ``assay_step_duration_seconds{workflow}``: histogram of steps
- ``assay_webhook_deliveries_total{target,status}``: deliveries (pending, delivered, failed)
- ``assay_webhook_attempts_total{target,result}``: attempts (success, failure)
- ``assay_schedule_ticks_total{workflow,state}``: schedule ticks (queued, failed, claimed)

A scrape costs a handful of aggregate queries.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import Column, func, select
from sqlalchemy.sql import ColumnElement

from assay.status import ExecutionStatus
from assay.store.database import Database
from assay.store.tables import (
    ExecutionRow,
    ScheduleTickRow,
    StepRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
)

__all__ = ["BUCKETS", "CONTENT_TYPE", "StoreCollector", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

BUCKETS: tuple[float, ...] = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)
"""Upper bounds (seconds) of the duration histograms."""

_FINISHED = tuple(s.value for s in ExecutionStatus if s.finished)


class StoreCollector(Collector):
    """Collects the metrics of one store at each scrape."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        with self.db.engine.connect() as connection:

            def rows(query: Any) -> Sequence[Any]:
                return connection.execute(query).all()

            executions = CounterMetricFamily(
                "assay_executions", "Executions recorded", labels=["workflow", "status"]
            )
            queued = running = 0
            for workflow, status, count in rows(
                select(ExecutionRow.workflow, ExecutionRow.status, func.count()).group_by(
                    ExecutionRow.workflow, ExecutionRow.status
                )
            ):
                executions.add_metric([workflow, status], count)
                queued += count if status == ExecutionStatus.QUEUED.value else 0
                running += count if status == ExecutionStatus.RUNNING.value else 0
            yield executions
            yield GaugeMetricFamily("assay_queue_depth", "Executions waiting to run", queued)
            yield GaugeMetricFamily("assay_executions_running", "Executions running", running)

            yield _histogram(
                rows,
                "assay_execution_duration_seconds",
                "Duration of finished executions",
                ExecutionRow.workflow,
                ExecutionRow.duration_ms,
                select_from=ExecutionRow,
                where=ExecutionRow.status.in_(_FINISHED),
            )
            yield _histogram(
                rows,
                "assay_step_duration_seconds",
                "Duration of steps",
                ExecutionRow.workflow,
                StepRow.duration_ms,
                select_from=StepRow,
                join=True,
            )

            deliveries = CounterMetricFamily(
                "assay_webhook_deliveries", "Webhook deliveries", labels=["target", "status"]
            )
            for target, status, count in rows(
                select(WebhookDeliveryRow.target, WebhookDeliveryRow.status, func.count()).group_by(
                    WebhookDeliveryRow.target, WebhookDeliveryRow.status
                )
            ):
                deliveries.add_metric([target, status], count)
            yield deliveries

            attempts = CounterMetricFamily(
                "assay_webhook_attempts", "Webhook delivery attempts", labels=["target", "result"]
            )
            failed = WebhookAttemptRow.error.is_not(None)
            for target, is_failure, count in rows(
                select(WebhookDeliveryRow.target, failed, func.count())
                .join(WebhookDeliveryRow, WebhookDeliveryRow.id == WebhookAttemptRow.delivery_id)
                .group_by(WebhookDeliveryRow.target, failed)
            ):
                attempts.add_metric([target, "failure" if is_failure else "success"], count)
            yield attempts

            ticks = CounterMetricFamily(
                "assay_schedule_ticks", "Schedule ticks fired", labels=["workflow", "state"]
            )
            for workflow, state, count in rows(
                select(ScheduleTickRow.workflow, ScheduleTickRow.state, func.count()).group_by(
                    ScheduleTickRow.workflow, ScheduleTickRow.state
                )
            ):
                ticks.add_metric([workflow, state], count)
            yield ticks


def _histogram(
    rows: Any,
    name: str,
    documentation: str,
    label: Column[str] | Any,
    duration_ms: Column[Any] | Any,
    *,
    select_from: Any,
    where: ColumnElement[bool] | None = None,
    join: bool = False,
) -> HistogramMetricFamily:
    """A histogram over ``duration_ms`` grouped by ``label``, counted in SQL."""
    from sqlalchemy import case

    columns = [func.sum(case((duration_ms <= bound * 1000, 1), else_=0)) for bound in BUCKETS]
    query = select(label, func.count(), func.coalesce(func.sum(duration_ms), 0), *columns)
    query = query.select_from(select_from).where(duration_ms.is_not(None))
    if join:
        query = query.join(ExecutionRow, ExecutionRow.id == StepRow.execution_id)
    if where is not None:
        query = query.where(where)
    family = HistogramMetricFamily(name, documentation, labels=["workflow"])
    for workflow, count, total_ms, *cumulative in rows(query.group_by(label)):
        buckets = [(str(float(b)), int(c or 0)) for b, c in zip(BUCKETS, cumulative, strict=True)]
        buckets.append(("+Inf", int(count)))
        family.add_metric([workflow], buckets, sum_value=float(total_ms) / 1000)
    return family


def render(db: Database) -> bytes:
    """The metrics of ``db`` in the Prometheus text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(db))
    return generate_latest(registry)
