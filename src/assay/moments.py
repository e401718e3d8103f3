"""Moments in time as assay keeps and prints them: aware datetimes in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["as_utc", "maybe_utc"]


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; a naive one is taken to be UTC already (as
    SQLite hands moments back, and as naive input is read)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def maybe_utc(moment: datetime | None) -> datetime | None:
    """:func:`as_utc`, passing ``None`` through."""
    return None if moment is None else as_utc(moment)
