"""Fixtures of the run-queue tests: a private ASSAY_HOME on SQLite and on a real PostgreSQL,
an :class:`Assay` over it, and workflow files to apply."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from queue_support import Apply

from assay.app import Assay
from assay.settings import Settings
from support import postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def queue_settings(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """ASSAY_HOME and ASSAY_DATABASE_URL (exported, for `assay worker` subprocesses too)."""
    home = tmp_path / "assay-home"
    url = (
        f"sqlite:///{home / 'assay.db'}"
        if request.param == "sqlite"
        else postgres_database(request)
    )
    monkeypatch.setenv("ASSAY_HOME", str(home))
    monkeypatch.setenv("ASSAY_DATABASE_URL", url)
    monkeypatch.delenv("ASSAY_RUNNER", raising=False)
    monkeypatch.delenv("ASSAY_QUEUE_KEY", raising=False)
    return Settings.from_env()


@pytest.fixture
def assay(queue_settings: Settings) -> Iterator[Assay]:
    """The application over the store."""
    app = Assay(queue_settings)
    yield app
    app.db.close()


@pytest.fixture
def apply(assay: Assay, tmp_path: Path) -> Apply:
    """Apply YAML text as a definition file; returns the applied (kind, name) pairs."""
    counter = iter(range(1000))

    def go(text: str) -> list[tuple[str, str]]:
        path = tmp_path / f"definition{next(counter)}.yaml"
        path.write_text(text)
        return assay.apply([path])

    return go
