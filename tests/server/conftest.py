from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from server_support import ApiServer, running_server

from support import postgres_database


def database_url(request: pytest.FixtureRequest, backend: str, tmp: Path) -> str:
    """A new empty store of ``backend`` (sqlite or postgresql)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'home' / 'assay.db'}"
    request.getfixturevalue("postgres_required")
    return postgres_database(request)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """A real `assay server` (no workers) shared by a module's tests, on SQLite and on
    PostgreSQL, with a token of each scope."""
    tmp = tmp_path_factory.mktemp(f"api-{request.param}")
    with running_server(tmp / "home", database_url(request, request.param, tmp)) as server:
        yield server
