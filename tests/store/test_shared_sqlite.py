"""Two processes on one SQLite store: preparing ASSAY_HOME in a process whose connections
are open must not drop their locks (closing any descriptor of the database file does), or
another process deletes the WAL they still use and each then sees only its own writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from assay.settings import Settings
from assay.store import Database

WRITER = """\
import sys
from sqlalchemy import text
from assay.store import Database
db = Database(sys.argv[1])
with db.engine.begin() as connection:
    connection.execute(text("CREATE TABLE IF NOT EXISTS probe (value TEXT)"))
    connection.execute(text("INSERT INTO probe VALUES (:v)"), {"v": sys.argv[2]})
db.close()
"""


def write_elsewhere(url: str, value: str) -> None:
    """A row written by another process, which then closes the store (the last connection
    of a WAL database checkpoints and deletes the WAL, unless other processes hold locks)."""
    subprocess.run([sys.executable, "-c", WRITER, url, value], check=True, timeout=120)


def test_make_private_keeps_the_locks_of_open_connections(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", database_url="")
    settings = Settings(home=settings.home, database_url=f"sqlite:///{settings.home / 'assay.db'}")
    settings.make_private()
    db = Database(settings.database_url)
    try:
        write_elsewhere(settings.database_url, "before")
        with db.engine.connect() as connection:  # this process holds the store open
            assert connection.execute(text("SELECT count(*) FROM probe")).scalar() == 1
            settings.make_private()  # e.g. a worker preparing a run in `assay server`
            write_elsewhere(settings.database_url, "after")
            values = connection.execute(text("SELECT value FROM probe")).scalars().all()
        assert sorted(values) == ["after", "before"]
        wal = settings.home / "assay.db-wal"
        assert wal.exists()  # still the file this process writes to
    finally:
        db.close()
