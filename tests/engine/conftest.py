from __future__ import annotations

from typing import Any

import pytest
from engine_support import RunWorkflow, workflow

from assay.engine.execution import Engine, RunOptions
from assay.engine.resolve import Catalog
from assay.runners import LocalRunner
from assay.settings import Settings
from assay.store import Database
from assay.store.tables import ExecutionRow


@pytest.fixture
def db(assay_home: Settings) -> Database:
    return Database(assay_home.database_url)


@pytest.fixture
def engine(assay_home: Settings, db: Database) -> Engine:
    return Engine(assay_home, db, LocalRunner(grace_seconds=0.5), Catalog())


@pytest.fixture
def run(engine: Engine) -> RunWorkflow:
    def go(text: str, **options: Any) -> ExecutionRow:
        return engine.run(workflow(text), RunOptions(**options))

    return go
