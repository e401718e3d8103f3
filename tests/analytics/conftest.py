from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from analytics_support import Cli, History

from assay.settings import Settings
from assay.store import Database


@pytest.fixture
def cli(assay_home: Settings, tmp_path: Path) -> Cli:
    """The `assay` command with a private home and a private global git config."""
    env = {**os.environ, "ASSAY_HOME": str(assay_home.home)}
    gitconfig = tmp_path / "gitconfig"
    gitconfig.touch()
    env["GIT_CONFIG_GLOBAL"] = str(gitconfig)
    env.pop("PYTEST_ADDOPTS", None)
    return Cli(env, tmp_path)


@pytest.fixture
def home_db(assay_home: Settings) -> Iterator[Database]:
    """The store of the private ASSAY_HOME (the one the CLI uses)."""
    database = Database(assay_home.database_url)
    yield database
    database.close()


@pytest.fixture
def history(any_db: Database) -> History:
    return History(any_db)
