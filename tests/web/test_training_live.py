"""The training lab on a live two-worker `digitpad serve`, as compose runs it: any worker may take a job's
status, its events or a prediction with its model; the queue's bounds hold across both; a cancel on one
connection ends a stream on another; and stopping the server stops its training processes."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import servers
from tests.factories import digit_png, make_settings
from tests.web.sse import SSE, parse

pytestmark = pytest.mark.slow

TINY = {"architecture": "logreg", "train_size": 1000, "epochs": 2}
LONG = {"architecture": "mlp", "hidden": [256], "train_size": 20_000, "epochs": 20, "batch_size": 16}
FRESH = 12  # requests, each on a new connection, so either worker may answer each


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "DIGITPAD_MODEL_DIR": str(make_settings().model_dir),
        "DIGITPAD_DATA_DIR": str(data_dir),
        "DIGITPAD_LOG_LEVEL": "warning",
        "DIGITPAD_TRAINING_CLIENT_GRACE": "5",
        **extra,
    }


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    folder = tmp_path_factory.mktemp("lab-data")
    try:
        server = servers.start(environment(folder, DIGITPAD_TRAINING_PER_CLIENT="1"), workers=2)
    except servers.ServerDidNotStart as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        servers.stop(server)
    output = server.output()
    assert "Traceback" not in output and "Unexpected error" not in output, output


def fresh(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request on a connection of its own."""
    return httpx.request(method, url, timeout=30, **kwargs)


def stream(url: str, headers: dict[str, str] | None = None) -> list[SSE]:
    with httpx.stream("GET", url, headers=headers or {}, timeout=120) as response:
        assert response.status_code == 200
        return parse(response.iter_lines())


def post(server: servers.Server, settings: dict[str, Any], client: str = "198.51.100.1") -> httpx.Response:
    # The server trusts X-Forwarded-For from loopback, as from a proxy in front: each address a client.
    return fresh("POST", f"{server.url}/api/training", json=settings, headers={"X-Forwarded-For": client})


def test_any_worker_answers_for_a_job_and_its_model(lab_server):
    base = lab_server.url
    created = post(lab_server, TINY)
    assert created.status_code == 202
    job = created.json()
    statuses = {fresh("GET", f"{base}/api/training/{job['id']}").json()["status"] for _ in range(FRESH)}
    assert statuses <= {"queued", "running", "done"}
    events = stream(base + job["events"])
    assert events[-1].event == "done" and {e.event for e in events[:-1]} == {"progress"}
    name = events[-1].data["model"]
    for _ in range(FRESH):  # each worker loads the model from the shared folder the first time it is asked
        answer = fresh(
            "POST",
            f"{base}/api/predict?model={name}&activations=false",
            content=digit_png(1),
            headers={"Content-Type": "image/png"},
        )
        assert answer.status_code == 200 and answer.json()["model"] == name
        assert fresh("GET", f"{base}/api/models/{name}").json()["name"] == name
    assert stream(base + job["events"], {"Last-Event-ID": "1"}) == events[1:]  # a reconnect, anywhere

    again = post(lab_server, TINY, client="198.51.100.2").json()
    assert again["status"] == "done" and again["cached"] and again["model"] == name
    assert stream(base + again["events"]) == events


def test_the_queue_is_bounded_across_workers(lab_server):
    base = lab_server.url
    first = post(lab_server, LONG, client="198.51.100.11").json()
    second = post(lab_server, {**LONG, "seed": 2}, client="198.51.100.12").json()
    refused = post(lab_server, {**LONG, "seed": 3}, client="198.51.100.11")  # one run a client, on any worker
    assert (
        refused.status_code == 429 and refused.json()["code"] == "too_busy" and int(refused.headers["retry-after"]) >= 1
    )
    seen = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "running" not in seen:
        states = [fresh("GET", f"{base}/api/training/{j['id']}").json()["status"] for j in (first, second)]
        assert states.count("running") <= 1, states  # DIGITPAD_TRAINING_WORKERS=1 for the whole server
        seen.update(states)
        time.sleep(0.3)
    for _ in range(10):
        states = [fresh("GET", f"{base}/api/training/{j['id']}").json()["status"] for j in (first, second)]
        assert sorted(states) == ["queued", "running"]
        time.sleep(0.2)
    for job in (first, second):
        assert fresh("DELETE", f"{base}/api/training/{job['id']}").json()["status"] == "cancelled"


def test_a_cancel_on_one_connection_ends_the_stream_on_another(lab_server):
    base = lab_server.url
    job = post(lab_server, {**LONG, "seed": 7}, client="198.51.100.21").json()
    got: list[SSE] = []
    reader = threading.Thread(target=lambda: got.extend(stream(base + job["events"])))
    reader.start()
    deadline = time.monotonic() + 60
    while fresh("GET", f"{base}/api/training/{job['id']}").json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert fresh("DELETE", f"{base}/api/training/{job['id']}").status_code == 200
    reader.join(timeout=60)
    assert not reader.is_alive() and got[-1].event == "cancelled"


def test_stopping_the_server_stops_its_training_processes(tmp_path):
    server = servers.start(environment(tmp_path), workers=2)
    try:
        job = post(server, LONG).json()
        deadline = time.monotonic() + 60
        while (state := fresh("GET", f"{server.url}/api/training/{job['id']}").json())["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        run = json.loads(next((tmp_path / "training" / "runs").glob("*/state.json")).read_text())
        trainer = run["trainer"]
        os.kill(trainer, 0)  # training
    finally:
        code = servers.stop(server)
    assert code == 0, server.output()
    with pytest.raises(ProcessLookupError):
        os.kill(trainer, 0)
    ended = json.loads(next((tmp_path / "training" / "runs").glob("*/state.json")).read_text())
    assert ended["status"] == "error" and "server stopped" in ended["detail"]
    assert state["status"] == "running"
