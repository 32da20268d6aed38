"""The liveness and readiness probes."""

from __future__ import annotations

from tests.factories import assert_error


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_when_every_model_loaded(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "models": ["cnn", "logreg", "mlp"]}


def test_readyz_is_503_while_a_model_is_missing(make_client, tmp_path, caplog):
    (tmp_path / "cnn.npz").write_bytes(b"not a model")
    with make_client(model_dir=tmp_path) as broken:
        body = assert_error(broken.get("/readyz"), 503, "not_ready")
        assert broken.get("/healthz").status_code == 200  # alive, just not ready
    assert "cnn.npz" in body["detail"]
    assert any("cnn.npz" in record.getMessage() for record in caplog.records if record.levelname == "ERROR")


def test_head_answers_like_get_without_the_body(client):
    for path in ("/healthz", "/readyz"):
        get, head = client.get(path), client.head(path)
        assert head.status_code == get.status_code == 200
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"] == "application/json"
        assert head.headers["content-length"] == get.headers["content-length"] == str(len(get.content))


def test_head_on_readyz_is_503_while_a_model_is_missing(make_client, tmp_path, caplog):
    (tmp_path / "cnn.npz").write_bytes(b"not a model")
    with make_client(model_dir=tmp_path) as broken:
        response = broken.head("/readyz")
    assert response.status_code == 503 and response.content == b""
