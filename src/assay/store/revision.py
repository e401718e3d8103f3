"""A cheap token of the store's committed state, for answers cached per state.

Two readings are equal only when nothing was committed in between, by any connection of any
process (any machine sharing PostgreSQL). On PostgreSQL it is the current MVCC snapshot
(``pg_current_snapshot()``, ``txid_current_snapshot()`` before 13): every transaction that
ends changes it, and equal snapshots see the same rows. On a SQLite file it is ``PRAGMA
data_version`` of a connection kept for this alone (it changes when another connection
commits, and this one never writes). An in-memory SQLite store has none (None: nothing may
be cached). A reading taken *before* an answer is computed is a safe key for that answer:
the answer reflects that state or a newer one, and no reading equals it again once anything
newer is committed.
"""

from __future__ import annotations

import sqlite3
import threading

from sqlalchemy import text

from assay.store.database import Database

__all__ = ["StoreRevision"]


class StoreRevision:
    """:meth:`current` reads the token of the store's committed state."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._watcher: sqlite3.Connection | None = None
        database = db.engine.url.database
        self._sqlite_file = (
            database
            if db.engine.dialect.name == "sqlite" and database and database != ":memory:"
            else None
        )

    def current(self) -> str | None:
        """The token now; None when the store has no such token (then cache nothing)."""
        dialect = self.db.engine.dialect.name
        if dialect == "postgresql":
            with self.db.engine.connect() as connection:
                version = connection.dialect.server_version_info or (0,)
                # the same snapshot under its pre-13 name
                function = "pg_current_snapshot" if version >= (13,) else "txid_current_snapshot"
                return str(connection.execute(text(f"SELECT {function}()")).scalar())
        if self._sqlite_file is None:
            return None
        with self._lock:
            if self._watcher is None:
                self._watcher = sqlite3.connect(self._sqlite_file, check_same_thread=False)
            row = self._watcher.execute("PRAGMA data_version").fetchone()
        return f"sqlite:{row[0]}"

    def close(self) -> None:
        """Close the SQLite watcher connection, if any."""
        with self._lock:
            if self._watcher is not None:
                self._watcher.close()
                self._watcher = None
