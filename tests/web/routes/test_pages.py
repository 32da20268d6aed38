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
