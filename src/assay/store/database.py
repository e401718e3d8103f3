"""Opening the store: engine, schema migration to head, sessions.

Many assay processes may share one store (parallel CI jobs on one ASSAY_HOME). Migration is
serialised across processes: an exclusive ``flock`` on ``<db>.lock`` next to a SQLite file,
``pg_advisory_lock`` on PostgreSQL; whoever gets the lock re-reads the revision first. SQLite
runs in WAL mode with a busy timeout; write sessions take turns on an ``flock`` of the same file
and begin with ``BEGIN IMMEDIATE``, so that a transaction that reads before it writes waits for
the write lock instead of failing with "database is locked".
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from assay.errors import InfrastructureError
from assay.faults import os_fault, store_cause

__all__ = ["HEAD_REVISION", "Database", "run_migrations"]

HEAD_REVISION = "0008"
"""Newest Alembic revision; a test checks it against the migration scripts."""

_MIGRATIONS = Path(__file__).with_name("migrations")

PG_POOL_SIZE = 20
"""PostgreSQL connections kept open for reuse by one process (only as many as it ever used at
once): enough for a server answering 20 requests at once. Opening one costs ~5 ms and a
backend process; with SQLAlchemy's default of 5, most of 20 concurrent list requests opened
and closed a connection of their own."""
PG_POOL_OVERFLOW = 5
"""Connections opened beyond :data:`PG_POOL_SIZE` at peaks (closed when returned); more
requests wait for a free connection."""


def run_migrations(engine: Engine) -> None:
    """Upgrade the schema to head with Alembic."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _current_revision(engine: Engine) -> str | None:
    if not inspect(engine).has_table("alembic_version"):
        return None
    with engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


_PG_MIGRATION_LOCK = 0x61737361  # "assa": the pg_advisory_lock key of schema migration


class _FileLock:
    """An exclusive ``flock`` on a file next to a SQLite store, across processes and threads;
    re-entrant within a thread.

    Writers wait in the kernel and the next one wakes as soon as the lock is released, where
    SQLite's own busy handler polls with growing sleeps: with 30 processes writing at once on
    a busy machine some of them starved past any busy timeout ("database is locked").
    """

    def __init__(self, path: str | None, store: str) -> None:
        self.path = path
        self.store = store
        self._held = threading.local()

    @contextmanager
    def __call__(self) -> Iterator[None]:
        depth: int = getattr(self._held, "depth", 0)
        if self.path is None or depth:
            self._held.depth = depth + 1
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # private like the DB
            lock = os.fdopen(fd, "r+b")  # closed below, which releases the lock
        except OSError as exc:
            raise InfrastructureError(f"store {self.store}: {os_fault(exc)}") from exc
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._held.depth = 1
            try:
                yield
            finally:
                self._held.depth = 0


@contextmanager
def _migration_lock(engine: Engine, file_lock: _FileLock) -> Iterator[None]:
    """Hold the store's migration lock (one migrating process at a time)."""
    if engine.dialect.name != "postgresql":
        with file_lock():
            yield
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_MIGRATION_LOCK})
            connection.commit()


def _lock_path(engine: Engine) -> str | None:
    """``<db>.lock`` for a SQLite file, None for anything else (in-memory, PostgreSQL)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return f"{database}.lock"


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA busy_timeout=10000")  # first: switching to WAL may wait for a lock
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Database:
    """The SQL store; the schema is migrated to head when opened."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            pool = (
                {"pool_size": PG_POOL_SIZE, "max_overflow": PG_POOL_OVERFLOW}
                if make_url(url).get_backend_name() == "postgresql"
                else {}
            )
            self.engine = create_engine(url, **pool)
            if self.engine.dialect.name == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
            self._file_lock = _FileLock(_lock_path(self.engine), _redact(url))
            if _current_revision(self.engine) != HEAD_REVISION:
                with _migration_lock(self.engine, self._file_lock):
                    if _current_revision(self.engine) != HEAD_REVISION:
                        run_migrations(self.engine)
        except SQLAlchemyError as exc:
            raise InfrastructureError(
                f"cannot open the store at {_redact(url)}: {store_cause(exc)}{_why(url)}"
            ) from exc
        except OSError as exc:
            raise InfrastructureError(f"store {_redact(url)}: {os_fault(exc)}") from exc
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._immediate = self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session committed on success and rolled back on error. A ``write`` session
        holds the store's write lock (see :meth:`writing`), so a transaction that reads
        before it writes cannot fail on a concurrent writer. Operational faults (disk full,
        read-only file, lost server) become :class:`InfrastructureError` naming the store."""
        with self.writing() if write else nullcontext(), self._sessions() as session:
            try:
                if write and self._immediate:
                    session.connection().exec_driver_sql("BEGIN IMMEDIATE")
                yield session
                session.commit()
            except OperationalError as exc:
                session.rollback()
                raise self.fault(exc) from exc
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the write lock of a SQLite store (an ``flock`` on ``<db>.lock``; nothing on
        PostgreSQL): writers of one file, in any process, take turns."""
        with self._file_lock():
            yield

    def fault(self, exc: SQLAlchemyError) -> InfrastructureError:
        """A store fault as one line naming the store and the driver's message."""
        return InfrastructureError(f"store {_redact(self.url)}: {store_cause(exc)}")

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()


def _why(url: str) -> str:
    """What SQLite's "unable to open database file" leaves out: the directory's state."""
    if not url.startswith("sqlite:///"):
        return ""
    directory = Path(url.removeprefix("sqlite:///")).parent
    try:
        stats = os.statvfs(directory)
    except OSError as exc:
        return f" ({os_fault(exc, 'cannot use')})"
    if stats.f_flag & os.ST_RDONLY:
        return f" ({directory}: read-only file system)"
    if stats.f_bavail == 0:
        return f" ({directory}: no space left on device)"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f" ({directory}: not writable)"
    return ""


def _redact(url: str) -> str:
    """Hide a password in a database URL."""
    return make_url(url).render_as_string(hide_password=True)
