"""GET /: the drawing page, rendered with the models and the pad's settings."""

from __future__ import annotations

from app import __version__


def test_page_renders_with_the_models(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "Convolutional network" in html and "Softmax regression" in html
    assert __version__ in html
    assert "<script>" not in html  # no inline script: the policy forbids it


def test_head_on_the_page_answers_like_get_without_the_body(client):
    get, head = client.get("/"), client.head("/")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == str(len(get.content))
    assert head.headers["content-security-policy"] == get.headers["content-security-policy"]
