"""Security headers on every response, CORS only when configured, a JSON 500, FastAPI's own errors as JSON,
and HEAD wherever GET is answered."""

from __future__ import annotations

import asyncio
import http.client
import logging

import orjson
import pytest

from app.web.middleware import SECURITY_HEADERS, BodyLimitMiddleware
from tests import servers
from tests.factories import assert_error


def assert_security_headers(response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/healthz"), ("GET", "/api/models"), ("GET", "/no/such/page"), ("POST", "/api/predict")],
)
def test_security_headers_on_every_response(client, method, path):
    assert_security_headers(client.request(method, path, content=b"x", headers={"Content-Type": "text/plain"}))


def test_unknown_route_is_json_404_with_security_headers(client):
    response = client.get("/no/such/page")
    assert_error(response, 404, "not_found")
    assert_security_headers(response)


def test_wrong_method_is_json_405(client):
    response = client.get("/api/predict")
    body = assert_error(response, 405, "method_not_allowed")
    assert "POST" in body["detail"] and response.headers["allow"] == "POST"


def test_payload_too_large_carries_security_headers(client):
    response = client.post("/api/predict", content=b"\0" * (3 * 1024 * 1024), headers={"Content-Type": "image/png"})
    assert_error(response, 413, "payload_too_large")
    assert_security_headers(response)


def test_unexpected_exception_is_a_logged_500_without_a_trace(make_client, seven_png, monkeypatch, caplog):
    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("app.web.predictions._answer_one", explode)
    with make_client() as app_client, caplog.at_level(logging.ERROR):
        response = app_client.post("/api/predict", content=seven_png, headers={"Content-Type": "image/png"})
    body = assert_error(response, 500, "internal_error")
    assert "secret" not in response.text and "Traceback" not in response.text and "secret" not in body["detail"]
    assert_security_headers(response)
    assert any("secret internals" in (record.exc_text or str(record.exc_info)) for record in caplog.records)


def test_cors_is_off_by_default(client):
    response = client.get("/api/models", headers={"Origin": "https://example.org"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_when_configured(make_client):
    with make_client(cors_origins=("https://example.org",)) as app_client:
        allowed = app_client.get("/api/models", headers={"Origin": "https://example.org"})
        other = app_client.get("/api/models", headers={"Origin": "https://evil.example"})
        preflight = app_client.options(
            "/api/predict", headers={"Origin": "https://example.org", "Access-Control-Request-Method": "POST"}
        )
    assert allowed.headers["access-control-allow-origin"] == "https://example.org"
    assert "access-control-allow-origin" not in other.headers
    assert preflight.status_code == 200


def test_cors_origins_from_the_environment(monkeypatch):
    from app.config import Settings

    monkeypatch.setenv("DIGITPAD_CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings().cors_origins == ("https://a.example", "https://b.example")


def test_static_files_cannot_escape_their_folder(make_client, tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    (static / "app.js").write_text("export {};")
    (tmp_path / "secret.txt").write_text("the contents of a file outside static/")
    with make_client(static_dir=static) as app_client:
        assert app_client.get("/static/app.js").text == "export {};"
        for path in (
            "/static/../secret.txt",
            "/static/%2e%2e/secret.txt",
            "/static/..%2fsecret.txt",
            "/static/%2e%2e%2fsecret.txt",
        ):
            response = app_client.get(path)
            assert "outside static" not in response.text
            assert response.status_code == 404


def test_head_is_405_where_get_is_too(client):
    for path in ("/api/predict", "/api/predict/batch"):
        response = client.head(path)
        assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert client.head("/nowhere").status_code == 404


def test_head_is_counted_under_its_method_and_route(client):
    def count() -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith('digitpad_http_requests_total{method="HEAD",route="/healthz",status="200"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = count()
    client.head("/healthz")
    assert count() == before + 1


@pytest.mark.slow
def test_head_under_digitpad_serve_sends_headers_only():
    """Under uvicorn too, and on a kept-alive connection: a body sent after a HEAD answer would be read
    as the start of the next answer."""
    with servers.running() as server:
        connection = http.client.HTTPConnection(servers.HOST, server.port, timeout=10)
        try:
            for path in ("/", "/healthz", "/readyz", "/docs", "/openapi.json", "/static/css/digitpad.css"):
                connection.request("GET", path)
                get = connection.getresponse()
                body = get.read()
                connection.request("HEAD", path)
                head = connection.getresponse()
                assert head.status == get.status == 200, path
                assert head.read() == b""
                assert head.getheader("content-length") == str(len(body)), path
                assert head.getheader("content-type") == get.getheader("content-type"), path
            connection.request("HEAD", "/api/predict")
            refused = connection.getresponse()
            refused.read()
            assert refused.status == 405 and refused.getheader("allow") == "POST"
        finally:
            connection.close()


CHUNK = 64 * 1024


def stream_into_body_limit(limit: int, chunks: int) -> tuple[int, dict, int, int]:
    """A client streaming `chunks` chunks without a Content-Length into BodyLimitMiddleware around an app
    that reads its whole body, as the routes do. Returns the status, the JSON body, the chunks the server
    had pulled when its answer started, and the chunks it pulled in all."""
    pulled = 0
    at_answer = -1
    sent: list[dict] = []

    async def app(scope, receive, send):
        while (await receive()).get("more_body", False):
            pass
        raise AssertionError("the app read a body over the limit to its end")

    async def receive():
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"\0" * CHUNK, "more_body": pulled < chunks}

    async def send(message):
        nonlocal at_answer
        if message["type"] == "http.response.start":
            at_answer = pulled
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/predict", "headers": [(b"content-type", b"image/png")]}
    asyncio.run(BodyLimitMiddleware(app, limit=limit)(scope, receive, send))
    body = orjson.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    return sent[0]["status"], body, at_answer, pulled


def test_body_over_the_limit_is_refused_while_streaming():
    limit = 2 * 1024 * 1024
    status, body, at_answer, pulled = stream_into_body_limit(limit, chunks=100)
    assert (status, body["code"]) == (413, "payload_too_large")
    # refused on the chunk that crossed the limit, not after the whole 6.4 MB body...
    assert at_answer == limit // CHUNK + 1
    # ...and the rest the client still sends is read and dropped so that it gets the answer (no reset)
    assert pulled == 100
