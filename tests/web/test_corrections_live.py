"""Corrections through a real `digitpad serve` on SQLite and PostgreSQL: kept across a restart, none lost by
two workers under 200 concurrent saves, one rate limit for all workers, and a database that goes away and
comes back while predictions carry on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url

from app.web.schemas import SEVEN_BITS
from tests import servers
from tests.factories import assert_error, digit_png
from tests.postgres import Postgres
from tests.proxy import Relay
from tests.web.live import ENV

pytestmark = pytest.mark.slow
TOKEN = "live-operator-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def database_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """SQLite as a user gets it, in the data folder; PostgreSQL by its URL."""
    if database_url.startswith("sqlite"):
        return {"DIGITPAD_DATA_DIR": str(tmp_path / "data")}
    return {"DIGITPAD_DATABASE_URL": database_url}


def serving(env: dict[str, str], workers: int | None = None) -> servers.Server:
    try:
        return servers.start({**ENV, "DIGITPAD_ADMIN_TOKEN": TOKEN, **env}, workers=workers)
    except servers.ServerDidNotStart as exc:
        pytest.fail(str(exc))


@pytest.fixture
def stop_after() -> Iterator[list[servers.Server]]:
    started: list[servers.Server] = []
    yield started
    for server in started:
        servers.stop(server)
        assert "Traceback" not in server.output(), server.output()


def save(url: str, client: httpx.Client | None = None, label: int = 7) -> httpx.Response:
    post = (client or httpx).post
    return post(f"{url}/api/corrections", json={"bits": SEVEN_BITS, "label": label, "guess": 1}, timeout=30)


def test_a_correction_survives_a_restart(database_url, tmp_path, stop_after):
    env = database_env(database_url, tmp_path)
    first = serving(env)
    saved = [
        save(first.url).json(),
        httpx.post(
            f"{first.url}/api/corrections?label=2&model=mlp",
            content=digit_png(2),
            headers={"Content-Type": "image/png"},
            timeout=30,
        ).json(),
    ]
    assert servers.stop(first) == 0
    if database_url.startswith("sqlite"):
        assert (tmp_path / "data" / "digitpad.db").is_file()

    second = serving(env)
    stop_after.append(second)
    assert httpx.get(f"{second.url}/api/corrections/stats", timeout=10).json()["total"] == 2
    kept = httpx.get(f"{second.url}/api/corrections", headers=ADMIN, timeout=10).json()["corrections"]
    assert [(c["id"], c["label"], c["bits"]) for c in reversed(kept)] == [
        (s["id"], s["label"], s["input"]["bits"]) for s in saved
    ]
    assert kept[0]["model"] == "mlp"


def test_two_workers_lose_none_of_200_concurrent_corrections(database_url, tmp_path, stop_after):
    server = serving({**database_env(database_url, tmp_path), "DIGITPAD_CORRECTIONS_RATE_LIMIT": "1000"}, workers=2)
    stop_after.append(server)
    with httpx.Client(timeout=60) as client, ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda i: save(server.url, client, label=i % 10), range(200)))
    assert [a.status_code for a in answers] == [201] * 200, [a.text for a in answers if a.status_code != 201][:3]
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 200
    stats = httpx.get(f"{server.url}/api/corrections/stats", timeout=10).json()
    assert stats["total"] == 200 and set(stats["by_label"].values()) == {20}
    listed = httpx.get(f"{server.url}/api/corrections?limit=200", headers=ADMIN, timeout=10).json()["corrections"]
    assert {c["id"] for c in listed} == ids


def test_one_client_flooding_two_workers_gets_one_limit(tmp_path, stop_after):
    env = {"DIGITPAD_DATA_DIR": str(tmp_path), "DIGITPAD_CORRECTIONS_RATE_LIMIT": "20"}
    server = serving({**env, "DIGITPAD_CORRECTIONS_RATE_WINDOW": "3600"}, workers=2)
    stop_after.append(server)
    with httpx.Client(timeout=60) as client, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: save(server.url, client), range(60)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * 20 + [429] * 40
    refused = next(a for a in answers if a.status_code == 429)
    assert_error(refused, 429, "too_many_requests")
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    assert httpx.get(f"{server.url}/api/corrections/stats", timeout=10).json()["total"] == 20
    predicted = httpx.post(f"{server.url}/api/predict", json={"bits": SEVEN_BITS}, timeout=10)
    assert predicted.status_code == 200


def test_a_database_that_goes_away_gives_503_until_it_is_back(postgres_server: Postgres, stop_after):
    url = make_url(postgres_server.create_database())
    relay = Relay((url.host or "127.0.0.1", url.port or 5432))
    through_relay = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    server = serving({"DIGITPAD_DATABASE_URL": through_relay, "DIGITPAD_DATABASE_TIMEOUT": "3"})
    stop_after.append(server)
    try:
        assert save(server.url).status_code == 201
        relay.cut()
        started = time.monotonic()
        for _ in range(3):
            assert_error(save(server.url), 503, "storage_unavailable")
            assert_error(httpx.get(f"{server.url}/api/corrections/stats", timeout=10), 503, "storage_unavailable")
        assert time.monotonic() - started < 10  # no request waits out more than one connection timeout
        predicted = httpx.post(f"{server.url}/api/predict", json={"bits": SEVEN_BITS}, timeout=10)
        assert predicted.json()["prediction"] == 7
        assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200

        relay.restore()
        deadline = time.monotonic() + 15
        while (answer := save(server.url)).status_code != 201 and time.monotonic() < deadline:
            assert_error(answer, 503, "storage_unavailable")
            time.sleep(0.3)
        assert answer.status_code == 201
        assert httpx.get(f"{server.url}/api/corrections/stats", timeout=10).json()["total"] == 2
    finally:
        relay.cut()
    assert "unavailable" in server.output()
