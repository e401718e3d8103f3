"""Helpers of the ops tests: a simulated clock, applied workflows with schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from assay.store import Database, DefinitionStore


class SimulatedClock:
    """A clock the test moves; never sleeps."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def next_minute() -> datetime:
    """The start of the next minute (after anything applied now)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now + timedelta(minutes=1)


def workflow(
    name: str, *cronjobs: dict[str, Any], config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A TestWorkflow document with ``cronjobs`` as its ``spec.events``."""
    return {
        "apiVersion": "testworkflows.testkube.io/v1",
        "kind": "TestWorkflow",
        "metadata": {"name": name},
        "spec": {
            "config": config or {},
            "events": [{"cronjob": job} for job in cronjobs],
            "steps": [{"shell": "true"}],
        },
    }


def apply(db: Database, *documents: dict[str, Any]) -> None:
    """Store ``documents`` as `assay apply` does."""
    DefinitionStore(db).save((doc["kind"], doc["metadata"]["name"], doc, None) for doc in documents)
