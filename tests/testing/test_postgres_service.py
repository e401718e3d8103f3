"""postgres_service: a real throwaway PostgreSQL, a configured DSN, and binary discovery.

The real-server tests need initdb/pg_ctl (apt-get install -y postgresql); they skip
without them, except on CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import psycopg
import pytest

from assay.testing import (
    PostgresService,
    ServiceStartError,
    find_pg_bin,
    parse_postgres_dsn,
    running_postgres,
)
from assay.testing.postgres import _unprivileged_account

needs_pg = pytest.mark.usefixtures("require_pg_binaries")


@needs_pg
def test_postgres_service_fixture_is_a_real_server(
    postgres_service: PostgresService, unique_name: str
) -> None:
    table = unique_name.replace("-", "_")
    with psycopg.connect(postgres_service.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text)")
        conn.execute(f"INSERT INTO {table} VALUES (1, 'one')")
        assert conn.execute(f"SELECT name FROM {table}").fetchone() == ("one",)


@needs_pg
def test_running_postgres_uses_tcp_and_a_socket_then_cleans_up() -> None:
    bin_dir = find_pg_bin()
    assert bin_dir is not None
    with running_postgres(bin_dir) as service:
        assert service.host == "127.0.0.1"
        assert service.log_path is not None
        base = service.log_path.parent
        socket_dir = base / "socket"
        with psycopg.connect(host=str(socket_dir), port=service.port, user="postgres") as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
        if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to another account
            assert (base / "data").stat().st_uid != 0
        assert "ready to accept connections" in service.log_path.read_text()
    assert not base.exists()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", service.port), timeout=5),
    ):
        pass


FAILING_DB_TEST = """
import psycopg

def test_query(postgres_service):
    with psycopg.connect(postgres_service.dsn) as conn:
        conn.execute("SELECT * FROM no_such_table_assay")
"""


@needs_pg
def test_server_log_is_attached_to_a_failing_test(
    pytester: pytest.Pytester, isolated_env: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_db=FAILING_DB_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*UndefinedTable*",
            "*- postgres log -*",
            '*ERROR:  relation "no_such_table_assay" does not exist*',
        ]
    )


def test_a_configured_dsn_is_used_as_is(
    pytester: pytest.Pytester, isolated_env: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        """
        def test_dsn(postgres_service):
            assert postgres_service.dsn == "postgresql://app:s3cret@db.example:6543/orders"
            assert (postgres_service.host, postgres_service.port) == ("db.example", 6543)
            assert postgres_service.log_path is None
        """
    )
    dsn = "postgresql://app:s3cret@db.example:6543/orders"
    pytester.runpytest("--postgres-dsn", dsn).assert_outcomes(passed=1)
    isolated_env.setenv("ASSAY_POSTGRES_DSN", dsn)
    pytester.runpytest().assert_outcomes(passed=1)


def test_missing_binaries_skip_with_what_was_looked_for(
    pytester: pytest.Pytester, isolated_env: pytest.MonkeyPatch
) -> None:
    isolated_env.setenv("PATH", "")
    isolated_env.delenv("ASSAY_PG_BIN", raising=False)
    isolated_env.setattr("assay.testing.postgres.BIN_GLOBS", ())
    pytester.makepyfile("def test_db(postgres_service):\n    pass\n")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*PostgreSQL is not available: no initdb/pg_ctl on PATH*"])
    result = pytester.runpytest("--no-skip", ".")
    result.assert_outcomes(errors=1)


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        (
            "postgresql://u%40x:p%2Fw@[::1]:5433/db",
            PostgresService("::1", 5433, "u@x", "db", password="p/w"),
        ),
        ("postgres://h", PostgresService("h", 5432, "postgres", "postgres")),
        (
            "host=/run/pg port=5555 user=me dbname=app password=pw",
            PostgresService("/run/pg", 5555, "me", "app", password="pw"),
        ),
        ("user=me", PostgresService("localhost", 5432, "me", "me")),
    ],
)
def test_parse_dsn(dsn: str, expected: PostgresService) -> None:
    assert parse_postgres_dsn(dsn) == expected


def test_dsn_round_trips_quoting() -> None:
    service = PostgresService("::1", 5433, "u@x", "my db", password="p/w")
    assert service.dsn == "postgresql://u%40x:p%2Fw@[::1]:5433/my%20db"
    assert parse_postgres_dsn(service.dsn) == service
    assert "p/w" not in repr(service)


@pytest.mark.parametrize("dsn", ["mysql://h/db", "not a dsn"])
def test_bad_dsn(dsn: str) -> None:
    with pytest.raises(ValueError):
        parse_postgres_dsn(dsn)


def _fake_bin(directory: Path) -> Path:
    directory.mkdir(parents=True)
    for tool in ("initdb", "pg_ctl"):
        path = directory / tool
        path.write_text("#!/bin/sh\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return directory


def test_find_pg_bin_order(tmp_path: Path) -> None:
    explicit = _fake_bin(tmp_path / "explicit")
    on_path = _fake_bin(tmp_path / "path")
    newest = _fake_bin(tmp_path / "lib" / "10" / "bin")
    _fake_bin(tmp_path / "lib" / "9" / "bin")
    globs = [str(tmp_path / "lib" / "*" / "bin")]
    env = {"ASSAY_PG_BIN": str(explicit), "PATH": str(on_path)}
    assert find_pg_bin(env, globs) == explicit
    assert find_pg_bin({"PATH": str(on_path)}, globs) == on_path
    assert find_pg_bin({"PATH": str(tmp_path)}, globs) == newest
    assert find_pg_bin({"PATH": ""}, []) is None
    with pytest.raises(ServiceStartError, match="ASSAY_PG_BIN"):
        find_pg_bin({"ASSAY_PG_BIN": str(tmp_path)}, globs)


def test_root_needs_an_existing_unprivileged_account() -> None:
    with pytest.raises(ServiceStartError, match="set ASSAY_PG_USER"):
        _unprivileged_account({"ASSAY_PG_USER": "assay-no-such-user"})
    assert _unprivileged_account({"ASSAY_PG_USER": "nobody"}).name == "nobody"
