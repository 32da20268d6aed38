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


def test_the_page_offers_corrections_only_when_the_server_keeps_them(client, make_client, tmp_path):
    html = client.get("/").text
    for hook in ["correct", "confirm", "correct-status", *(f"correct-{d}" for d in range(10))]:
        assert f'data-testid="{hook}"' in html
    assert "Never your drawing itself" in html and "/static/css/corrections.css" in html
    with make_client(data_dir=tmp_path, corrections=False) as off:
        page = off.get("/").text
    assert 'id="correct"' not in page and "corrections.css" not in page
    assert '"corrections": false' in page
