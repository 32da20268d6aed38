"""GET /metrics, the X-Request-ID header and access log lines."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import digit_png

ROOT = Path(__file__).resolve().parents[2]


def sample(client, name: str, **labels: str) -> float:
    """One sample's value from /metrics, 0 while the series does not exist yet."""
    response = client.get("/metrics")
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return 0.0


def test_metrics_are_prometheus_text(client):
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"digitpad_http_requests", "digitpad_http_request_duration_seconds"} <= names


def test_a_prediction_moves_the_counters(client, seven_png):
    def counts() -> tuple[float, ...]:
        return (
            sample(client, "digitpad_predictions_total", model="cnn", digit="7"),
            sample(client, "digitpad_inference_duration_seconds_count", model="cnn"),
            sample(client, "digitpad_http_requests_total", method="POST", route="/api/predict", status="200"),
            sample(client, "digitpad_http_request_duration_seconds_count", method="POST", route="/api/predict"),
        )

    before = counts()
    response = client.post("/api/predict", content=seven_png, headers={"Content-Type": "image/png"})
    assert response.json()["prediction"] == 7
    assert counts() == tuple(value + 1 for value in before)


def test_a_batch_counts_each_drawing_it_read(client):
    def count(digit: int) -> float:
        return sample(client, "digitpad_predictions_total", model="cnn", digit=str(digit))

    before = count(1), count(4)
    images = [base64.b64encode(digit_png(d)).decode() for d in (1, 4, 4)] + ["not an image"]
    response = client.post("/api/predict/batch", json={"images": images})
    assert [r.get("prediction") for r in response.json()["results"]] == [1, 4, 4, None]
    assert (count(1), count(4)) == (before[0] + 1, before[1] + 2)


@pytest.mark.parametrize(
    ("path", "route", "status"),
    [
        ("/api/models/cnn/layers/nope/units/0", "/api/models/{name}/layers/{layer}/units/{index}", "404"),
        ("/static/no-such-file.js", "/static/{path}", "404"),
        ("/no/such/page", "unmatched", "404"),
    ],
)
def test_requests_are_counted_by_route_template(client, path, route, status):
    before = sample(client, "digitpad_http_requests_total", method="GET", route=route, status=status)
    assert client.get(path).status_code == int(status)
    assert sample(client, "digitpad_http_requests_total", method="GET", route=route, status=status) == before + 1


def test_a_request_id_is_generated(client):
    first, second = (client.get("/healthz").headers["x-request-id"] for _ in range(2))
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second


@pytest.mark.parametrize("path", ["/healthz", "/no/such/page"])
def test_a_sane_request_id_is_echoed(client, path):
    rid = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert client.get(path, headers={"X-Request-ID": rid}).headers["x-request-id"] == rid


@pytest.mark.parametrize("rid", ["x" * 200, "two words", "<script>"])
def test_an_unusable_request_id_is_replaced(client, rid):
    echoed = client.get("/healthz", headers={"X-Request-ID": rid}).headers.get_list("x-request-id")
    assert len(echoed) == 1 and re.fullmatch(r"[0-9a-f]{32}", echoed[0])


def test_json_access_log_lines_parse(make_client, seven_png, capsys):
    with make_client(access_log="json") as client:
        capsys.readouterr()
        client.post(
            "/api/predict?activations=false",
            content=seven_png,
            headers={"Content-Type": "image/png", "X-Request-ID": "req-42", "User-Agent": "pytest"},
        )
        client.get("/api/models/cnn/layers/nope/units/0")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["method"], line["route"], line["status"]) for line in lines] == [
        ("POST", "/api/predict", 200),
        ("GET", "/api/models/{name}/layers/{layer}/units/{index}", 404),
    ]
    predict = lines[0]
    assert predict["request_id"] == "req-42" and predict["path"] == "/api/predict"
    assert predict["user_agent"] == "pytest" and predict["bytes"] > 0 and predict["duration_ms"] > 0
    assert predict["time"].endswith("+00:00")


def test_text_access_log_escapes_the_path(make_client, capsys):
    with make_client(access_log="text") as client:
        capsys.readouterr()
        client.get("/no%0Asuch", headers={"X-Request-ID": "req-43"})
    (line,) = capsys.readouterr().out.splitlines()
    assert '"GET /no\\nsuch" 404' in line and line.endswith(" req-43")


def test_no_access_log_unless_configured(client, capsys):
    capsys.readouterr()
    client.get("/healthz")
    assert capsys.readouterr().out == ""


def test_worker_processes_add_up_in_multiprocess_mode(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}

    def run(code: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True, text=True, timeout=60
        ).stdout

    for _ in range(2):  # two workers, each predicting one 3
        run("from app.web.observability import observe_prediction; observe_prediction('cnn', 3, 0.002)")
    text = run("from app.web.observability import render_metrics; print(render_metrics()[0].decode())")
    assert 'digitpad_predictions_total{digit="3",model="cnn"} 2.0' in text


def server_timing(header: str) -> dict[str, float]:
    """A Server-Timing header's spans: name -> milliseconds."""
    spans = {}
    for entry in header.split(","):
        name, _, duration = entry.strip().partition(";dur=")
        spans[name] = float(duration)
    return spans


def test_every_answer_says_how_long_the_app_took(client):
    spans = server_timing(client.get("/healthz").headers["server-timing"])
    assert list(spans) == ["app"] and spans["app"] >= 0


def test_a_prediction_says_where_its_time_went(client, seven_png):
    response = client.post("/api/predict", content=seven_png, headers={"Content-Type": "image/png"})
    spans = server_timing(response.headers["server-timing"])
    assert set(spans) == {"app", "turn", "work", "handoff"}
    assert all(ms >= 0 for ms in spans.values())
    # the work is in the app's time, and the work is the decoding, preprocessing and forward pass it reports
    assert spans["turn"] + spans["work"] + spans["handoff"] <= spans["app"]
    assert spans["work"] >= sum(response.json()["timings_ms"].values())


def test_a_batch_adds_up_its_turns(client):
    images = [base64.b64encode(digit_png(d)).decode() for d in range(10)] * 7  # 70 drawings: three turns
    response = client.post("/api/predict/batch", json={"images": images})
    spans = server_timing(response.headers["server-timing"])
    reported = sum(sum(r["timings_ms"].values()) for r in response.json()["results"])
    assert spans["work"] >= reported - 1e-6 and spans["work"] <= spans["app"]
