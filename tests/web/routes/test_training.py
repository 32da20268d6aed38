"""The training lab's API through the app: a job's life from POST to its model, its events and their
reconnects, the cache, cancelling, divergence, the limits, and the lab switched off."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.nn.network import load_model
from app.web.schemas import TrainingRequest
from tests.factories import assert_error, digit_png
from tests.web.sse import SSE, parse

TINY = {"architecture": "logreg", "train_size": 500, "epochs": 1}
LONG = {"architecture": "mlp", "hidden": [256], "train_size": 20_000, "epochs": 20, "batch_size": 16}
FINAL = {"done", "diverged", "cancelled", "error"}


@pytest.fixture
def lab(make_client, tmp_path: Path) -> Iterator[TestClient]:
    with make_client(data_dir=tmp_path) as client:
        yield client


def events_of(client: TestClient, job: dict[str, Any], headers: dict[str, str] | None = None) -> list[SSE]:
    with client.stream("GET", job["events"], headers=headers or {}) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        return parse(response.iter_lines())


def start(client: TestClient, settings: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = client.post("/api/training", json=settings, headers=headers)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/api/training/{job['id']}"
    return job


def wait_for(client: TestClient, job: dict[str, Any], status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        now: dict[str, Any] = client.get(f"/api/training/{job['id']}").json()
        if now["status"] == status:
            return now
        assert time.monotonic() < deadline, f"still {now['status']}"
        time.sleep(0.1)


def test_a_job_from_post_to_a_model_that_draws(lab):
    job = start(lab, TINY)
    assert job["status"] == "queued" and job["events"] == f"/api/training/{job['id']}/events"
    assert job["settings"] == {
        **TINY,
        "hidden": [],
        "activation": None,
        "batch_size": 64,
        "learning_rate": 0.1,
        "momentum": 0.9,
        "dropout": 0.0,
        "seed": 1,
    }
    events = events_of(lab, job)
    kinds = [e.event for e in events]
    assert kinds[-1] == "done" and set(kinds[:-1]) == {"progress"} and len(kinds) >= 3
    progress = events[0].data
    assert {"epoch", "step", "log_likelihood", "loss", "train_accuracy", "examples_per_s"} <= set(progress)
    assert "validation_accuracy" in events[-2].data and events[-2].data["epoch_end"] is True
    done = events[-1].data
    name = done["model"]
    assert name.startswith("lab-") and done["metrics"]["validation"]["accuracy"] > 0.5

    status = lab.get(f"/api/training/{job['id']}").json()
    assert status["status"] == "done" and status["model"] == name and status["metrics"] == done["metrics"]
    assert status["model_file"] == f"/api/training/{job['id']}/model"

    answer = lab.post(f"/api/predict?model={name}", content=digit_png(1), headers={"Content-Type": "image/png"})
    assert answer.status_code == 200 and answer.json()["model"] == name
    assert [layer["name"] for layer in answer.json()["layers"]] == ["input", "output"]
    batch = lab.post("/api/predict/batch", json={"images": [base64.b64encode(digit_png(7)).decode()], "model": name})
    assert batch.status_code == 200 and batch.json()["results"][0]["model"] == name
    described = lab.get(f"/api/models/{name}").json()
    assert described["name"] == name and described["parameters"] == 7850 and described["title"].startswith("Trained")
    assert described["test_accuracy"] == done["metrics"]["test"]["accuracy"]
    unit = lab.get(f"/api/models/{name}/layers/output/units/7").json()
    assert unit["shape"] == [28, 28] and len(unit["weights"]) == 784
    assert name not in {m["name"] for m in lab.get("/api/models").json()["models"]}  # not one of the shipped

    download = lab.get(status["model_file"])
    assert download.status_code == 200 and f'filename="{name}.npz"' in download.headers["content-disposition"]
    path = Path(lab.app.state.settings.data_dir) / "download.npz"
    path.write_bytes(download.content)
    model = load_model(path)
    assert model.name == name and model.meta["format"] == "digitpad-model"
    weights, bias = model.network.unit_weights("output", 7)
    np.testing.assert_allclose(weights.reshape(-1), unit["weights"], rtol=1e-6)
    assert bias == pytest.approx(unit["bias"])


def test_the_same_settings_are_replayed_from_the_cache(lab):
    first = start(lab, TINY)
    trained = events_of(lab, first)
    again = start(lab, {**TINY, "seed": 1})
    assert again["status"] == "done" and again["cached"] is True and again["model"] == trained[-1].data["model"]
    assert events_of(lab, again) == trained  # the same events, all at once


def test_a_reconnect_with_last_event_id_misses_nothing_and_repeats_nothing(lab):
    job = start(lab, TINY)
    events = events_of(lab, job)
    assert events_of(lab, job, {"Last-Event-ID": "1"}) == events[1:]
    assert events_of(lab, job, {"Last-Event-ID": "nonsense"}) == events
    with lab.stream("GET", f"{job['events']}?after={events[-2].id}") as response:
        assert parse(response.iter_lines()) == events[-1:]
    finished = lab.get(job["events"], headers={"Last-Event-ID": str(events[-1].id)})
    assert finished.status_code == 204  # EventSource stops reconnecting


def test_head_on_a_running_jobs_events_answers_its_headers_at_once(lab):
    job = start(lab, LONG)
    wait_for(lab, job, "running")
    started = time.monotonic()
    head = lab.head(job["events"])
    assert time.monotonic() - started < 10  # not the whole run
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"].startswith("text/event-stream")
    lab.delete(f"/api/training/{job['id']}")


def test_stop_cancels_a_running_job(lab):
    job = start(lab, LONG)
    running = wait_for(lab, job, "running")
    deadline = time.monotonic() + 60
    while "step" not in (running["progress"] or {}):  # the figures so far, once it has taken a step
        assert time.monotonic() < deadline, running
        time.sleep(0.2)
        running = lab.get(f"/api/training/{job['id']}").json()
    assert running["progress"]["steps"] == 20 * 1250 and running["progress"]["log_likelihood"] < 0
    stopped = lab.delete(f"/api/training/{job['id']}")
    assert stopped.status_code == 200 and stopped.json()["status"] == "cancelled"
    events = events_of(lab, job)
    assert events[-1].event == "cancelled" and events[-1].data["detail"].endswith(".")
    assert lab.delete(f"/api/training/{job['id']}").json()["status"] == "cancelled"  # once is enough
    assert_error(lab.get(f"/api/training/{job['id']}/model"), 409, "no_model")


def test_a_learning_rate_far_too_large_ends_as_diverged(lab):
    job = start(lab, {"architecture": "mlp", "activation": "relu", "learning_rate": 50, "train_size": 500, "epochs": 1})
    events = events_of(lab, job)
    assert events[-1].event == "diverged"
    assert events[-1].data["step"] >= 1 and "diverged" in events[-1].data["detail"]
    status = lab.get(f"/api/training/{job['id']}").json()
    assert status["status"] == "diverged" and status["model"] is None and status["detail"] == events[-1].data["detail"]


def test_too_many_runs_get_429_too_busy_with_retry_after(make_client, tmp_path):
    with make_client(data_dir=tmp_path, training_per_client=1, training_queue=1) as client:
        job = start(client, LONG)
        refused = client.post("/api/training", json={**LONG, "seed": 2})
        assert_error(refused, 429, "too_busy")
        assert 1 <= int(refused.headers["retry-after"]) <= 121
        # other clients (the same app, seen from other addresses): one more run fits in the queue, then none
        second, third = (TestClient(client.app, client=(address, 50000)) for address in ("203.0.113.9", "203.0.113.10"))
        other = start(second, {**LONG, "seed": 3})
        body = assert_error(third.post("/api/training", json={**LONG, "seed": 4}), 429, "too_busy")
        assert "queue is full" in body["detail"]
        assert start(third, LONG)["status"] in ("queued", "running")  # joining a run under way costs nothing
        for each in (job, other):
            client.delete(f"/api/training/{each['id']}")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "`architecture`"),
        ({"architecture": "resnet"}, "`architecture`"),
        ({"architecture": "mlp", "train_size": 100}, "`train_size`"),
        ({"architecture": "mlp", "train_size": 60_000}, "`train_size`"),
        ({"architecture": "mlp", "epochs": 0}, "`epochs`"),
        ({"architecture": "mlp", "epochs": 1.5}, "`epochs`"),
        ({"architecture": "mlp", "epochs": "5"}, "`epochs`"),
        ({"architecture": "mlp", "epochs": True}, "`epochs`"),
        ({"architecture": "mlp", "dropout": False}, "`dropout`"),
        ({"architecture": "mlp", "batch_size": 5000}, "`batch_size`"),
        ({"architecture": "mlp", "learning_rate": 0}, "`learning_rate`"),
        ({"architecture": "mlp", "learning_rate": "fast"}, "`learning_rate`"),
        ({"architecture": "mlp", "momentum": 1}, "`momentum`"),
        ({"architecture": "mlp", "dropout": 0.95}, "`dropout`"),
        ({"architecture": "mlp", "seed": -1}, "`seed`"),
        ({"architecture": "mlp", "hidden": [100, 100, 100]}, "`hidden`"),
        ({"architecture": "mlp", "hidden": [0]}, "`hidden.0`"),
        ({"architecture": "mlp", "activation": "tanh"}, "`activation`"),
        ({"architecture": "mlp", "weight_decay": 0.1}, "`weight_decay`"),
        ({"architecture": "logreg", "hidden": [10]}, "no hidden layer"),
        ({"architecture": "mlp", "hidden": []}, "1 or 2 hidden layers"),
        ({"architecture": "cnn", "epochs": 60}, "50 epochs at most"),
    ],
)
def test_out_of_range_settings_are_refused_with_a_sentence(client, body, words):
    assert words in assert_error(client.post("/api/training", json=body), 422, "invalid_request")["detail"]


def test_settings_are_read_as_json_schema_reads_them(client):
    """186.0 is a JSON integer as much as 186 is: the documented schema accepts it, so the lab does."""
    settings = TrainingRequest.model_validate({"architecture": "mlp", "batch_size": 186.0, "hidden": [20.0]})
    assert (settings.batch_size, settings.hidden) == (186, [20])
    assert type(settings.batch_size) is int


def test_unknown_jobs_and_expired_models(client):
    for path in ("/api/training/0123456789abcdef", "/api/training/0123456789abcdef/events", "/api/training/nope/model"):
        assert_error(client.get(path), 404, "unknown_job")
    assert_error(client.delete("/api/training/0123456789abcdef"), 404, "unknown_job")
    body = assert_error(client.get("/api/models/lab-0123456789abcdef"), 404, "unknown_model")
    assert "Train it again" in body["detail"]
    assert_error(
        client.post(
            "/api/predict?model=lab-0123456789abcdef", content=digit_png(1), headers={"Content-Type": "image/png"}
        ),
        404,
        "unknown_model",
    )


def test_the_lab_switched_off_is_not_there(make_client):
    with make_client(training=False) as off:
        assert_error(off.post("/api/training", json=TINY), 404, "not_found")
        assert off.get("/train").status_code == 404
        assert_error(off.get("/api/models/lab-0123456789abcdef"), 404, "unknown_model")
        assert 'href="/train"' not in off.get("/").text
        assert "/api/training" not in off.get("/openapi.json").text


def test_an_unwritable_data_folder_answers_503(make_client, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    with make_client(data_dir=blocked) as client:
        body = assert_error(client.post("/api/training", json=TINY), 503, "not_ready")
        assert "DIGITPAD_DATA_DIR" in body["detail"]


def test_the_model_download_is_a_model_file(lab):
    job = start(lab, TINY)
    events_of(lab, job)
    blob = lab.get(f"/api/training/{job['id']}/model").content
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        assert {"__meta__", "output.W", "output.b"} == set(npz.files)
