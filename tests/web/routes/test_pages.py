"""GET / and GET /train: the drawing page and the training lab, rendered with what the server knows, and light."""

from __future__ import annotations

import json
import posixpath
import re

from app import __version__
from app.nn.segment import MAX_DIGITS
from app.nn.strokes import NUMBER_PAD_HEIGHT, NUMBER_PAD_WIDTH


def test_page_renders_with_the_models(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "Convolutional network" in html and "Softmax regression" in html
    assert __version__ in html
    assert "<script>" not in html  # no inline script: the policy forbids it


def test_number_mode_reads_the_wide_pad_and_the_digit_limit_from_the_server(client):
    html = client.get("/").text
    config = json.loads(re.search(r'<script type="application/json" id="page-config">(.*?)</script>', html, re.S)[1])
    assert config["number"] == {"width": NUMBER_PAD_WIDTH, "height": NUMBER_PAD_HEIGHT, "max_digits": MAX_DIGITS}
    for hook in ('data-testid="mode-number"', 'data-testid="number-text"', 'id="number-pad"'):
        assert hook in html
    assert f"up to {MAX_DIGITS} digits" in html


def test_the_page_offers_corrections_only_when_the_server_keeps_them(client, make_client, tmp_path):
    html = client.get("/").text
    for hook in ["correct", "confirm", "correct-status", *(f"correct-{d}" for d in range(10))]:
        assert f'data-testid="{hook}"' in html
    assert "Never your drawing itself" in html and "/static/css/corrections.css" in html
    with make_client(data_dir=tmp_path, corrections=False) as off:
        page = off.get("/").text
    assert 'id="correct"' not in page and "corrections.css" not in page
    assert '"corrections": false' in page


def page_weight(client, path: str) -> int:
    """Bytes of a page with every stylesheet and script it loads, ES module imports followed."""
    html = client.get(path).text
    seen: set[str] = set()
    todo = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    total = len(html.encode())
    while todo:
        asset = todo.pop()
        if asset in seen:
            continue
        seen.add(asset)
        response = client.get(asset)
        assert response.status_code == 200, asset
        total += len(response.content)
        if asset.endswith(".js"):
            folder = asset.rsplit("/", 1)[0]
            for module in re.findall(r"from '(\.{1,2}/[^']+)'", response.text):
                todo.append(posixpath.normpath(f"{folder}/{module}"))
    return total


def test_the_pages_stay_light(client):
    assert page_weight(client, "/") < 150_000
    assert page_weight(client, "/train") < 250_000


def test_the_lab_page_gets_its_settings_presets_and_probe_as_data(client):
    response = client.get("/train")
    assert response.status_code == 200 and "<script>" not in response.text
    config = json.loads(
        re.search(r'<script type="application/json" id="page-config">(.*?)</script>', response.text, re.S)[1]
    )
    assert [a["name"] for a in config["architectures"]] == ["logreg", "mlp", "cnn"]
    assert config["limits"]["train_size"] == {"min": 500, "max": 50_000, "default": 10_000, "min_exclusive": False}
    assert len(config["presets"]) == 6 and len(config["probe"]["bits"]) == 784
    assert 'href="/train"' in client.get("/").text  # the pad links to the lab


def test_head_on_the_page_answers_like_get_without_the_body(client):
    get, head = client.get("/"), client.head("/")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == str(len(get.content))
    assert head.headers["content-security-policy"] == get.headers["content-security-policy"]
