"""Migrations 0002 and 0003 on SQLite and PostgreSQL: upgrade from 0001 with data, backfill
of sha/branch from tags, schema equal to the tables (0003's dropped index included),
downgrade and upgrade again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from analytics_support import postgres_database
from sqlalchemy import create_engine, inspect, text

import assay.store.database as database
from assay.store import Database
from assay.store.tables import Base


def _alembic(url: str, target: str, *, down: bool = False) -> None:
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(Path(database.__file__).with_name("migrations")))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, target)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    return postgres_database(request)


def test_upgrade_from_0001_backfills_and_matches_the_tables(url: str) -> None:
    _alembic(url, "0001")
    engine = create_engine(url)
    with engine.begin() as connection:
        for number, tags in enumerate(
            [{"sha": "abc123", "branch": "main"}, {"sha": "x" * 300}, {}, {"other": "1"}], start=1
        ):
            connection.execute(
                text(
                    "INSERT INTO executions (id, workflow, number, name, status, runner, tags,"
                    " config, summary, queued_at) VALUES (:id, 'wf', :n, :name, 'passed',"
                    " 'local', :tags, '{}', '{}', CURRENT_TIMESTAMP)"
                ),
                {"id": f"e{number}", "n": number, "name": f"wf-{number}", "tags": json.dumps(tags)},
            )
    engine.dispose()

    db = Database(url)  # migrates to head on open
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT id, sha, branch FROM executions ORDER BY id")).all()
        assert [tuple(row) for row in rows] == [
            ("e1", "abc123", "main"),
            ("e2", "x" * 255, None),
            ("e3", None, None),
            ("e4", None, None),
        ]
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    indexes = {ix["name"] for ix in inspect(db.engine).get_indexes("test_cases")}
    assert "ix_test_cases_execution_cover" in indexes
    assert "ix_test_cases_execution_id" not in indexes  # 0003: the covering index serves
    db.close()

    _alembic(url, "0001", down=True)
    engine = create_engine(url)
    assert not inspect(engine).has_table("quarantine")
    assert "sha" not in {c["name"] for c in inspect(engine).get_columns("executions")}
    engine.dispose()
    Database(url).close()  # and up again
