"""The quarantine list (SQLite and PostgreSQL) and parsing of --until."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from analytics_support import History, tid

from assay.cli.quarantine import parse_until
from assay.errors import DefinitionError, NotFoundError
from assay.store.quarantine import QuarantineStore

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_add_list_active_remove(history: History) -> None:
    history.run("wf", {"flaky": "failed", "steady": "passed"})
    store = QuarantineStore(history.db)
    with pytest.raises(NotFoundError, match="no test 'feedfacefeedface'"):
        store.add("feedfacefeedface")
    entry = store.add(tid("wf", "flaky"), reason="races the cache", until=NOW + timedelta(days=1))
    assert (entry.workflow, entry.classname, entry.name) == ("wf", "mod", "flaky")
    assert entry.until == NOW + timedelta(days=1) and entry.until.tzinfo is not None
    assert store.active(NOW) == {tid("wf", "flaky")}
    assert store.active(NOW + timedelta(days=1)) == set()  # expiry honoured
    assert store.active(NOW + timedelta(days=2)) == set()
    permanent = store.add(tid("wf", "steady"))
    assert permanent.until is None and permanent.active(NOW + timedelta(days=3650))
    assert store.active(NOW + timedelta(days=2)) == {tid("wf", "steady")}

    listed = store.list(at=NOW + timedelta(days=2))
    assert [e.name for e in listed] == ["steady"]
    every = store.list(include_expired=True, at=NOW + timedelta(days=2))
    assert [(e.name, e.active(NOW + timedelta(days=2))) for e in every] == [
        ("flaky", False),
        ("steady", True),
    ]
    assert every[0].as_dict(NOW)["reason"] == "races the cache"
    assert every[0].as_dict(NOW)["active"] is True

    renewed = store.add(tid("wf", "flaky"), until=NOW + timedelta(days=30))
    assert renewed.reason is None and store.get(tid("wf", "flaky")) == renewed
    assert len(store.list(include_expired=True)) == 2

    store.remove(tid("wf", "flaky"))
    assert store.get(tid("wf", "flaky")) is None
    with pytest.raises(NotFoundError, match="not quarantined"):
        store.remove(tid("wf", "flaky"))


def test_each_test_keeps_its_own_entry(history: History) -> None:
    """Re-adding, reading or removing one test leaves the others alone, whichever sorts
    first (the rows are stored in an order that is not the order of their ids)."""
    names = ["a", "b", "c"]
    history.run("wf", dict.fromkeys(names, "failed"))
    store = QuarantineStore(history.db)
    low, middle, high = sorted(tid("wf", name) for name in names)
    for test_id in (middle, low, high):
        store.add(test_id, reason=f"reason {test_id}")
    store.add(low, reason="renewed", until=NOW)
    expected = {low: "renewed", middle: f"reason {middle}", high: f"reason {high}"}
    assert {e.test_id: e.reason for e in store.list(include_expired=True)} == expected
    for test_id, reason in expected.items():
        entry = store.get(test_id)
        assert entry is not None and (entry.test_id, entry.reason) == (test_id, reason)
    store.remove(middle)
    assert {e.test_id for e in store.list(include_expired=True)} == {low, high}


def test_expiry_is_exclusive_and_compared_in_utc(history: History) -> None:
    history.run("wf", {"t": "failed"})
    entry = QuarantineStore(history.db).add(tid("wf", "t"), until=NOW)
    assert entry.active(NOW - timedelta(microseconds=1)) and not entry.active(NOW)
    two_hours_east = timezone(timedelta(hours=2))
    # 13:30 at UTC+2 is 11:30 UTC: before the 12:00 UTC expiry
    assert entry.active(datetime(2026, 11, 22, 13, 30, tzinfo=two_hours_east))
    assert entry.as_dict(NOW)["until"] == "2026-11-22T12:00:00+00:00"
    assert entry.as_dict(NOW)["active"] is False


def test_active_defaults_to_now(history: History) -> None:
    history.run("wf", {"t": "failed"})
    store = QuarantineStore(history.db)
    store.add(tid("wf", "t"), until=datetime.now(UTC) + timedelta(minutes=5))
    assert store.active() == {tid("wf", "t")}
    store.add(tid("wf", "t"), until=datetime.now(UTC) - timedelta(seconds=1))
    assert store.active() == set()


def test_parse_until() -> None:
    assert parse_until("2026-12-31") == datetime(2027, 1, 1, tzinfo=UTC)  # through that day
    assert parse_until("2026-12-31T08:30") == datetime(2026, 12, 31, 8, 30, tzinfo=UTC)
    assert parse_until("2026-12-31T08:30+02:00") == datetime(2026, 12, 31, 6, 30, tzinfo=UTC)
    assert parse_until("7d", at=NOW) == NOW + timedelta(days=7)
    assert parse_until("12h", at=NOW) == NOW + timedelta(hours=12)
    assert parse_until("2w", at=NOW) == NOW + timedelta(weeks=2)
    with pytest.raises(DefinitionError, match="--until 'soon'"):
        parse_until("soon")
