"""Schema fuzzing: requests generated from the app's own /openapi.json, every answer checked against it.

Every operation is called with its documented examples and with generated valid and invalid requests,
under every check schemathesis has: no 5xx; documented statuses, content types, headers and bodies;
invalid requests refused (schemathesis.toml says with which statuses) and valid ones accepted. The one
valid request the API may refuse is a blank drawing (422 `empty_drawing`), which the document cannot
describe; tests/web/fuzz_hooks.py lets that refusal through and no other.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

import tests.web.fuzz_hooks  # noqa: F401  (registers the hooks schemathesis.toml names)
from app.config import ROOT
from app.main import create_app
from tests.factories import make_settings

CONFIG = ROOT / "schemathesis.toml"


@pytest.fixture(scope="module")
def api_schema() -> Iterator[Any]:
    # Generated training requests are refused past the smallest run (documented 422s), so the few accepted
    # train for a moment, not for minutes.
    app = create_app(make_settings(training_max_epochs=1, training_max_examples=500))
    with TestClient(app):  # runs the lifespan: the models are loaded before the first case
        yield schemathesis.openapi.from_asgi("/openapi.json", app, config=SchemathesisConfig.from_path(CONFIG))


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_answer_matches_the_documented_schema(case: Any) -> None:
    case.call_and_validate()
