"""Persistence: SQL store (SQLite by default, PostgreSQL for teams), files, secrets."""

from __future__ import annotations

from assay.store.database import Database
from assay.store.definitions import DefinitionStore
from assay.store.executions import ExecutionStore, StepOutcome
from assay.store.secrets import SecretStore

__all__ = ["Database", "DefinitionStore", "ExecutionStore", "SecretStore", "StepOutcome"]
