"""Fixtures of the ops tests: ``db`` is ``any_db`` (SQLite and a real PostgreSQL)."""

from __future__ import annotations

import pytest

from assay.store import Database


@pytest.fixture
def db(any_db: Database) -> Database:
    """A fresh store, on each database."""
    return any_db
