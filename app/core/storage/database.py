"""The database connection: an engine for DIGITPAD_DATABASE_URL (by default SQLite in the data folder), the
schema brought up to date by the Alembic migrations, and a thread pool so no query ever runs on the event
loop.

Whatever stops the database from answering (a full disk, a read-only file, a server that is down or
unreachable, a lock held too long) becomes one error, `storage_unavailable`; nothing else in the app
depends on the database, so predictions carry on meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Engine, create_engine, event, exc, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

from app.config import Settings
from app.core.errors import DigitPadError

logger = logging.getLogger(__name__)

DATABASE_FILE = "digitpad.db"  # in the data folder, unless DIGITPAD_DATABASE_URL names another database
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Queries in flight per worker. SQLite has one writer at a time, and its writers poll for the lock rather
# than queue for it, so one thread per worker waits in line first come, first served: with four, two
# workers under 200 concurrent saves had a writer starved past the lock timeout.
STORAGE_THREADS = {"sqlite": 1}
SERVER_THREADS = 4
# After a failure, calls fail at once for this long instead of each waiting out a connection timeout.
BACK_OFF_S = 1.0

# SQLite's result codes for a database that cannot answer, as opposed to a query that is wrong (SQLITE_ERROR:
# a syntax error or a missing table, which the driver raises as OperationalError too).
SQLITE_UNAVAILABLE = (
    "SQLITE_FULL",
    "SQLITE_READONLY",
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
    "SQLITE_CORRUPT",
    "SQLITE_NOTADB",
    "SQLITE_PERM",
    "SQLITE_PROTOCOL",
    "SQLITE_NOMEM",
)

Result = TypeVar("Result")


class StorageUnavailable(DigitPadError):
    """The database cannot be written or read right now."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            "storage_unavailable",
            f"Corrections cannot be saved or read right now ({reason.rstrip('.')}). Predictions still work; "
            "try again in a little while.",
        )
        self.reason = reason


def database_url(settings: Settings) -> URL:
    """DIGITPAD_DATABASE_URL, or the SQLite file in the data folder; `postgresql://` means psycopg 3."""
    if settings.database_url is None:
        return URL.create("sqlite", database=str((settings.data_dir / DATABASE_FILE).absolute()))
    url = make_url(settings.database_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def shown(url: URL) -> str:
    """The URL as logs and messages may show it: without its password."""
    return url.render_as_string(hide_password=True)


def create_database_engine(url: URL, timeout: float) -> Engine:
    """An engine that waits at most `timeout` seconds for a connection, a lock or a statement.

    SQLite runs in WAL mode (readers never wait for the writer), commits with a full sync (a saved
    correction survives a power cut), and begins every transaction IMMEDIATE: a writer takes the lock before
    it reads, so two writers never deadlock and a busy database waits instead of failing. Creates the
    folder of a SQLite file. Raises StorageUnavailable when that folder cannot be made.
    """
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            try:
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StorageUnavailable(f"the data folder cannot be created: {error.strerror or error}") from error
        engine = create_engine(url, connect_args={"timeout": timeout, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_connected)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        milliseconds = int(timeout * 1000)
        connect_args = {
            "connect_timeout": max(1, round(timeout)),
            "options": f"-c statement_timeout={milliseconds} -c lock_timeout={milliseconds}",
        }
    return create_engine(
        url,
        pool_pre_ping=True,  # a connection the server dropped is replaced, not handed to a request
        pool_size=SERVER_THREADS,
        max_overflow=0,
        pool_timeout=timeout,
        connect_args=connect_args,
    )


def _sqlite_connected(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    assert isinstance(dbapi_connection, sqlite3.Connection)
    dbapi_connection.isolation_level = None  # the driver's own BEGIN is deferred: `_sqlite_begin` sends one
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Run the migrations up to `revision`; the revision the database is at afterwards."""
    config = alembic_config()
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return current_revision(engine)


def unavailable_reason(error: BaseException) -> str | None:
    """Why the database could not answer, when `error` says it could not (None for a bug in a query)."""
    if isinstance(error, StorageUnavailable):
        return error.reason
    if isinstance(error, exc.IntegrityError | exc.ProgrammingError | exc.DataError):
        return None  # the query is wrong, not the database: a 500, logged with its trace
    if isinstance(error, exc.DBAPIError):
        original = error.orig
        if isinstance(original, sqlite3.Error) and not getattr(original, "sqlite_errorname", "").startswith(
            SQLITE_UNAVAILABLE
        ):
            return None
        message = str(original).strip().splitlines()[0] if original is not None and str(original).strip() else ""
        return message or type(error).__name__
    if isinstance(error, exc.TimeoutError):
        return "no database connection came free in time"
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return None


def _contended(error: BaseException) -> bool:
    """SQLite's lock was held by others for longer than the timeout: busy, not broken."""
    original = getattr(error, "orig", None)
    return isinstance(original, sqlite3.Error) and getattr(original, "sqlite_errorname", "").startswith(
        ("SQLITE_BUSY", "SQLITE_LOCKED")
    )


class Storage:
    """The database of one worker process: its engine, made and migrated on first use (and again after a
    failure), and the threads its queries run in."""

    def __init__(self, settings: Settings) -> None:
        self.url = database_url(settings)
        self.timeout = settings.database_timeout
        self.migrate = settings.database_migrate
        threads = STORAGE_THREADS.get(self.url.get_backend_name(), SERVER_THREADS)
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="storage")
        self.engine: Engine | None = None
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._down_reason = ""

    async def run(self, query: Callable[[Engine], Result]) -> Result:
        """`query(engine)` in a storage thread. Raises StorageUnavailable."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, partial(self.call, query))

    def call(self, query: Callable[[Engine], Result]) -> Result:
        """`query(engine)` in this thread, on a schema that is up to date. Raises StorageUnavailable."""
        if time.monotonic() < self._down_until:
            raise StorageUnavailable(self._down_reason)
        try:
            return query(self.ready_engine())
        except Exception as error:
            reason = unavailable_reason(error)
            if reason is None:
                raise
            if not _contended(error):  # a lock held too long says nothing about the next request
                self._down_reason = reason
                self._down_until = time.monotonic() + BACK_OFF_S
            logger.warning("The corrections database %s is unavailable: %s", shown(self.url), reason)
            raise error if isinstance(error, StorageUnavailable) else StorageUnavailable(reason) from error

    def ready_engine(self) -> Engine:
        """The engine, once the schema is known to be at the latest revision (migrating it when allowed)."""
        if self.engine is not None:
            return self.engine
        with self._lock:
            if self.engine is None:
                engine = create_database_engine(self.url, self.timeout)
                try:
                    self._bring_up_to_date(engine)
                except BaseException:
                    engine.dispose()
                    raise
                self.engine = engine
        return self.engine

    def _bring_up_to_date(self, engine: Engine) -> None:
        head = head_revision()
        revision = upgrade(engine) if self.migrate else current_revision(engine)
        if revision != head:
            raise StorageUnavailable(
                f"the database schema is at revision {revision or 'none'}, not {head}: run `digitpad db upgrade`"
            )
        logger.info("Corrections database %s at schema revision %s", shown(self.url), revision)

    async def open(self) -> None:
        """Connect and migrate now rather than on the first request; a failure is logged, not raised: the
        next request tries again."""
        try:
            await self.run(lambda engine: None)
        except StorageUnavailable as error:
            logger.error("Corrections are unavailable until the database answers: %s", error.reason)

    def close(self) -> None:
        self.executor.shutdown(wait=True)  # writes under way finish before the process exits
        if self.engine is not None:
            self.engine.dispose()
