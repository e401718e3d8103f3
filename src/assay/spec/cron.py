"""Cron expressions of ``spec.events[].cronjob``: checked at load, evaluated by the scheduler.

The syntax is Kubernetes CronJob's: five fields (minute, hour, day of month, month, day of
week) or one of ``@yearly``, ``@annually``, ``@monthly``, ``@weekly``, ``@daily``,
``@midnight``, ``@hourly``. Times are evaluated in a time zone of the tz database (the
schedule's ``timezone``, else the scheduler's, UTC by default), so ``0 3 * * *`` in
``Europe/Berlin`` is 03:00 there on both sides of a daylight-saving change; instants are
returned in UTC.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from croniter import croniter

__all__ = ["MACROS", "check_cron", "check_timezone", "count_due", "latest_due", "next_times"]

MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)


def check_cron(expression: str) -> str:
    """``expression`` stripped, or ValueError saying what a cron expression looks like."""
    from croniter import croniter

    text = " ".join(expression.split())
    fields = text.split(" ")
    if text in MACROS or (len(fields) == 5 and croniter.is_valid(text)):
        return text
    raise ValueError(
        f"invalid cron expression {expression!r}: expected five fields (minute hour "
        f"day-of-month month day-of-week, e.g. '0 3 * * *') or one of {', '.join(sorted(MACROS))}"
    )


def check_timezone(name: str) -> str:
    """``name`` if the tz database knows it, else ValueError."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (a tz database name, e.g. UTC, Europe/Berlin)"
        ) from None
    return name


@functools.lru_cache(maxsize=256)
def _parsed(expression: str) -> croniter:
    """``expression`` parsed (what the scheduler's every pass would parse again)."""
    from croniter import croniter

    return croniter(expression, datetime(2000, 1, 1, tzinfo=UTC))


def _cron(expression: str, timezone: str, start: datetime) -> croniter:
    """An iterator of ``expression`` from ``start`` in ``timezone``: a copy of the parsed
    expression (iterating moves it), set to start there."""
    found = copy.copy(_parsed(expression))
    found.set_current(start.astimezone(ZoneInfo(timezone)), force=True)
    return found


def _iterate(expression: str, timezone: str, start: datetime) -> Iterator[datetime]:
    return _cron(expression, timezone, start).all_next(datetime)


def latest_due(expression: str, timezone: str, now: datetime) -> datetime:
    """The latest fire time at or before ``now`` (UTC)."""
    # croniter's get_prev is strictly before its start: start one second past `now`,
    # truncated to the second (a cron time has no fraction of a second)
    start = now.replace(microsecond=0) + timedelta(seconds=1)
    found: datetime = _cron(expression, timezone, start).get_prev(datetime)
    return found.astimezone(UTC)


def next_times(expression: str, timezone: str, after: datetime, count: int = 1) -> list[datetime]:
    """The next ``count`` fire times strictly after ``after`` (UTC)."""
    times = _iterate(expression, timezone, after)
    return [next(times).astimezone(UTC) for _ in range(count)]


def count_due(
    expression: str, timezone: str, after: datetime, until: datetime, limit: int = 10_000
) -> int:
    """How many fire times lie in (``after``, ``until``], counting up to ``limit``."""
    count = 0
    for moment in _iterate(expression, timezone, after):
        if moment > until or count >= limit:
            break
        count += 1
    return count
