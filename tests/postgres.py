"""A PostgreSQL server for the tests and benchmarks that need one, and a fresh database on it for each use.

The server is the one named by DIGITPAD_TEST_POSTGRES_URL (CI starts Debian's cluster and hands it over;
the role needs CREATEDB), else a throwaway cluster made here with the `initdb` and `pg_ctl` of an installed
PostgreSQL (Debian's `postgresql` package), run as the `postgres` user when this process is root, since
initdb refuses root. It listens on loopback only, trusts local connections and is deleted when stopped.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import URL, make_url

URL_VARIABLE = "DIGITPAD_TEST_POSTGRES_URL"
BIN_DIRS = "/usr/lib/postgresql/*/bin"  # Debian's layout; PATH is searched too
SYSTEM_USER = "postgres"
# A test server loses nothing it is asked to keep until it stops, and has no need to survive a power cut.
FAST = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL to test against; the message says what is missing."""


@dataclass
class Postgres:
    """A server the tests may create and drop databases on."""

    admin_url: URL  # a database to connect to while creating others
    data_dir: Path | None = None  # a throwaway cluster's folder; None for a server handed over
    pg_ctl: Path | None = None
    user: str | None = None
    created: list[str] = field(default_factory=list)

    def create_database(self) -> str:
        """A new, empty database; its SQLAlchemy URL (psycopg 3), password included."""
        name = f"digitpad_test_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        self._drop(make_url(url).database or "")

    def _drop(self, name: str) -> None:
        """Drop a database, ending the connections still open to it.

        FORCE ends them, but a role that is not a superuser may not end an autovacuum worker's, and one
        may be at work on the database: then this role's own connections are ended, and a plain DROP
        waits for them to go and tells autovacuum to stop.
        """
        import psycopg

        try:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.errors.InsufficientPrivilege:
            self._admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND usename = current_user AND pid <> pg_backend_pid()",
                (name,),
            )
            self._admin(f'DROP DATABASE IF EXISTS "{name}"')
        if name in self.created:
            self.created.remove(name)

    def _admin(self, statement: str, params: tuple[object, ...] | None = None) -> None:
        import psycopg

        url = self.admin_url
        with psycopg.connect(
            host=url.host, port=url.port, user=url.username, password=url.password, dbname=url.database, autocommit=True
        ) as connection:
            connection.execute(statement.encode(), params)

    def stop(self) -> None:
        """Drop what was created on a server handed over; stop and delete a throwaway cluster."""
        if self.data_dir is None:
            for name in list(self.created):
                self._drop(name)
            return
        assert self.pg_ctl is not None
        subprocess.run(
            [str(self.pg_ctl), "stop", "-D", str(self.data_dir / "data"), "-m", "immediate"],
            user=self.user,
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.data_dir, ignore_errors=True)


def find_binary(name: str) -> Path | None:
    for folder in sorted(glob.glob(BIN_DIRS), reverse=True):  # the newest installed version first
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    found = shutil.which(name)
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(durable: bool = False) -> Postgres:
    """The server of DIGITPAD_TEST_POSTGRES_URL, else a new throwaway cluster (with fsync and synchronous
    commits off unless `durable`). Raises PostgresUnavailable."""
    given = os.environ.get(URL_VARIABLE)
    if given:
        url = make_url(given)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        return Postgres(url)
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise PostgresUnavailable(
            f"no PostgreSQL server: set {URL_VARIABLE}, or install PostgreSQL (Debian: apt-get install postgresql)"
        )
    user = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(SYSTEM_USER)
        except KeyError as exc:
            raise PostgresUnavailable(f"running as root, and there is no `{SYSTEM_USER}` user to run initdb") from exc
        user = SYSTEM_USER
    folder = Path(tempfile.mkdtemp(prefix="digitpad-postgres-"))
    if user is not None:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    port = free_port()
    data = folder / "data"
    try:
        _run([str(initdb), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"], user)
        settings = ["listen_addresses=127.0.0.1", f"port={port}", f"unix_socket_directories={folder}"]
        settings += [] if durable else list(FAST)
        options = " ".join(f"-c {setting}" for setting in settings)
        _run([str(pg_ctl), "start", "-w", "-t", "60", "-D", str(data), "-l", str(folder / "log"), "-o", options], user)
    except PostgresUnavailable:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    admin = URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=port, database="postgres")
    return Postgres(admin, folder, pg_ctl, user)


def _run(command: list[str], user: str | None) -> None:
    result = subprocess.run(command, user=user, capture_output=True, text=True, cwd="/", check=False)
    if result.returncode != 0:
        raise PostgresUnavailable(f"{Path(command[0]).name} failed: {(result.stderr or result.stdout).strip()}")


@contextmanager
def running(durable: bool = False) -> Iterator[Postgres]:
    server = start(durable)
    try:
        yield server
    finally:
        server.stop()
