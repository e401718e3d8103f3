"""Alembic environment: runs on the connection handed over by :mod:`assay.store.database`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from assay.store.tables import Base


def _transactional_ddl(connection: Connection) -> None:
    """Put each run of migrations, DDL included, in the transaction alembic commits or rolls
    back.

    pysqlite's default (legacy) transaction control begins a transaction only before an
    INSERT, UPDATE or DELETE: DDL run before the first of them is committed at once, so a
    migration that fails on data would leave its new tables behind at the old revision (and
    the next upgrade would fail on them). PostgreSQL DDL is transactional already.
    """
    if connection.dialect.name != "sqlite":
        return
    driver = connection.connection.driver_connection
    if (
        getattr(driver, "autocommit", -1) != -1  # Python >= 3.12: not legacy control
        or getattr(driver, "isolation_level", None) is None  # autocommit: commits nothing
        or getattr(driver, "in_transaction", True)
    ):
        return
    connection.exec_driver_sql("BEGIN")


config = context.config
connection = config.attributes.get("connection")
if connection is None:  # `alembic` CLI use (autogenerate during development)
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            _transactional_ddl(conn)
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        _transactional_ddl(connection)
        context.run_migrations()
