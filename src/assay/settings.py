"""Where assay keeps its data, read from the environment."""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from pathlib import Path

from assay.errors import InfrastructureError

__all__ = ["Settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    """Runtime settings: ``ASSAY_HOME``, ``ASSAY_DATABASE_URL``, ``ASSAY_RUNNER``,
    ``ASSAY_TIMEZONE`` and ``ASSAY_KUBERNETES_NAMESPACE``."""

    home: Path
    database_url: str
    runner: str = "local"
    """The runner of a queued run that names none (``ASSAY_RUNNER``)."""
    timezone: str = "UTC"
    """The time zone of cron schedules that name none (``ASSAY_TIMEZONE``)."""
    kubernetes_namespace: str = "assay"
    """Where queued runs on the ``kubernetes`` runner make their Jobs
    (``ASSAY_KUBERNETES_NAMESPACE``)."""

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
        return cls(
            home=home,
            database_url=url,
            runner=os.environ.get("ASSAY_RUNNER") or "local",
            timezone=os.environ.get("ASSAY_TIMEZONE") or "UTC",
            kubernetes_namespace=os.environ.get("ASSAY_KUBERNETES_NAMESPACE") or "assay",
        )

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite database file, when the store is one."""
        prefix = "sqlite:///"
        if not self.database_url.startswith(prefix) or ":memory:" in self.database_url:
            return None
        return Path(self.database_url.removeprefix(prefix).split("?", 1)[0])

    def make_private(self) -> None:
        """Create ``home`` and its directories with mode 0700, and the SQLite database file
        with mode 0600 (SQLite gives its -wal and -shm files the same mode). Existing ones
        are tightened; an existing ``home`` only when it already holds assay's data (so
        ``ASSAY_HOME=/tmp`` does not close /tmp)."""
        try:
            self._make_private()
        except OSError as exc:
            raise InfrastructureError(f"cannot prepare ASSAY_HOME {self.home}: {exc}") from exc

    def _make_private(self) -> None:
        ours = not self.home.exists() or any(
            path.exists() for path in (self.executions_dir, self.home / "assay.db")
        )
        for directory in (self.home, self.executions_dir, self.work_dir, self.secrets_dir):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if directory != self.home or ours:
                _tighten(directory, 0o700)
        database = self.sqlite_file
        if database is not None:
            database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not database.exists():  # never open an existing one: closing any descriptor
                # of a database drops every POSIX lock this process's SQLite connections hold
                # on it, and another process may then delete the WAL they still use
                with contextlib.suppress(FileExistsError):
                    os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            for path in (database, *database.parent.glob(f"{database.name}-*")):
                _tighten(path, 0o600)

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


def _tighten(path: Path, mode: int) -> None:
    """Take away group and other permissions from ``path`` (if it is ours, and not a
    shared sticky directory)."""
    info = path.stat()
    if info.st_mode & 0o077 and info.st_uid == os.getuid() and not info.st_mode & 0o1000:
        try:
            path.chmod(info.st_mode & mode)
        except OSError as exc:
            if exc.errno != errno.EROFS:  # read-only: nothing new is written there anyway;
                raise  # the write that needs it fails later, naming its path
