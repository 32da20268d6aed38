"""Fixtures shared by the API and CLI tests: settings on the shipped models, a client with its lifespan run,
and the databases corrections are kept in (SQLite, and PostgreSQL when there is one)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests import postgres
from tests.factories import digit_png, make_settings

ClientFactory = Callable[..., AbstractContextManager[TestClient]]


@pytest.fixture(scope="session")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(make_settings())) as test_client:
        yield test_client


@pytest.fixture
def make_client() -> ClientFactory:
    """A client on an app with some settings changed, e.g. make_client(max_body_bytes=100)."""

    def factory(raise_server_exceptions: bool = True, **overrides: Any) -> AbstractContextManager[TestClient]:
        return TestClient(create_app(make_settings(**overrides)), raise_server_exceptions=raise_server_exceptions)

    return factory


@pytest.fixture(scope="session")
def seven_png() -> bytes:
    return digit_png(7)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.Postgres]:
    """A PostgreSQL server (tests/postgres.py). Under CI=true the PostgreSQL tests must run; elsewhere a
    machine without PostgreSQL skips them, saying so."""
    try:
        server = postgres.start()
    except postgres.PostgresUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc}; under CI=true the PostgreSQL tests must run")
        pytest.skip(f"{exc}: PostgreSQL tests skipped")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file, and a database on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'digitpad.db'}"
        return
    server: postgres.Postgres = request.getfixturevalue("postgres_server")
    url = server.create_database()
    try:
        yield url
    finally:
        server.drop_database(url)
