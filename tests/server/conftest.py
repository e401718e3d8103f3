from __future__ import annotations

from collections.abc import Iterator

import pytest

from server_support import ApiServer, database_url, running_server


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """A real `assay server` (no workers) shared by a module's tests, on SQLite and on
    PostgreSQL, with a token of each scope."""
    tmp = tmp_path_factory.mktemp(f"api-{request.param}")
    with running_server(tmp / "home", database_url(request, request.param, tmp)) as server:
        yield server
