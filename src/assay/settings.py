"""Where assay keeps its data, read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    """Runtime settings: ``ASSAY_HOME`` and ``ASSAY_DATABASE_URL``."""

    home: Path
    database_url: str

    @classmethod
    def from_env(cls) -> Settings:
        """Read settings from the environment, with per-user defaults."""
        raw_home = os.environ.get("ASSAY_HOME")
        if raw_home:
            home = Path(raw_home).expanduser().resolve()
        else:
            from platformdirs import user_data_dir

            home = Path(user_data_dir("assay", appauthor=False))
        url = os.environ.get("ASSAY_DATABASE_URL") or f"sqlite:///{home / 'assay.db'}"
        return cls(home=home, database_url=url)

    @property
    def executions_dir(self) -> Path:
        """Per-execution logs and artifacts."""
        return self.home / "executions"

    @property
    def work_dir(self) -> Path:
        """Scratch workspaces of running executions."""
        return self.home / "work"

    @property
    def secrets_dir(self) -> Path:
        """The local secret store (files of mode 0600)."""
        return self.home / "secrets"
