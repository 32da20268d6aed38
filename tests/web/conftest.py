"""The live server the raw-socket and catalogue tests share: one for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests import servers
from tests.factories import make_settings
from tests.web.live import ENV


@pytest.fixture(scope="session")
def live_server() -> Iterator[servers.Server]:
    try:
        server = servers.start({**ENV, "DIGITPAD_MODEL_DIR": str(make_settings().model_dir)}, ready="/healthz")
    except servers.ServerDidNotStart as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        servers.stop(server)
    output = server.output()
    # Nothing a client sent may have crashed a handler: the server logs those as unexpected errors.
    assert "Unexpected error" not in output and "Traceback" not in output, output


@pytest.fixture(scope="session")
def http(live_server: servers.Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client
