"""Alembic's entry point: runs the migrations on the connection `app.core.storage.database.upgrade` hands it,
in one transaction that holds the database's write lock, so workers and replicas starting together take
turns and all but the first find the schema up to date."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from app.core.storage.tables import metadata

# Any fixed number: every DigitPad process that migrates this PostgreSQL database takes the same lock.
MIGRATION_LOCK = 0x0D161DAD


def run_migrations() -> None:
    connection = context.config.attributes["connection"]
    # One transaction for every migration, SQLite's too: Alembic would otherwise commit SQLite after each
    # migration, and a worker that read the revision before another's first commit would then run the
    # next migration again (its column already there). The connection sends its own BEGIN, so SQLite
    # keeps DDL in the transaction.
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, transactional_ddl=True)
    # On SQLite the transaction begins IMMEDIATE (see database.py): the write lock is taken before the
    # current revision is read. PostgreSQL gets a lock of its own for the length of the transaction.
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


run_migrations()
