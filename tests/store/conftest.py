"""The store under test: SQLite and a real PostgreSQL (a fresh database each test)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from assay.store import Database
from assay.testing import PostgresService


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        server: PostgresService = request.getfixturevalue("postgres_service")
        name = f"assay_{uuid.uuid4().hex[:10]}"
        admin = create_engine(_url(server, server.dbname), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        database = Database(_url(server, name))
    yield database
    database.close()


def _url(server: PostgresService, dbname: str) -> str:
    return f"postgresql+psycopg://{server.user}@{server.host}:{server.port}/{dbname}"
