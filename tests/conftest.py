"""Fixtures shared by the API and CLI tests: settings on the shipped models, and a client with its lifespan run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
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
