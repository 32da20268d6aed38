"""GET /docs: Swagger UI from the app's own assets, and an OpenAPI document for every endpoint."""

from __future__ import annotations

import base64
import hashlib
import json
import re


def test_docs_page_uses_local_assets_and_allows_only_its_own_inline_script(client):
    response = client.get("/docs")
    assert response.status_code == 200
    html = response.text
    assert "cdn" not in html.lower() and "https://" not in html
    for asset in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert asset.startswith("/docs/assets/")
        assert client.get(asset).status_code == 200
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "'unsafe-eval'" not in policy
    inline = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    assert inline
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]


def test_openapi_documents_every_endpoint_and_its_errors(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths) >= {
        "/api/predict",
        "/api/predict/batch",
        "/api/models",
        "/api/models/{name}/layers/{layer}/units/{index}",
        "/healthz",
        "/readyz",
    }
    predict = paths["/api/predict"]["post"]
    assert set(predict["requestBody"]["content"]) == {
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/gif",
        "image/bmp",
        "multipart/form-data",
        "application/json",
    }
    assert predict["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("PredictionOut")
    assert predict["responses"]["413"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorOut")
    assert {p["name"] for p in predict["parameters"]} == {"model", "top_k", "activations"}


def test_swagger_ui_gets_the_document_in_the_openapi_version_it_reads(client):
    html = client.get("/docs").text
    assert "url: '/docs/openapi.json'" in html
    spec = client.get("/docs/openapi.json").json()
    assert spec["openapi"].startswith("3.0.")
    assert '{"type": "null"}' not in json.dumps(spec)
    body = spec["paths"]["/api/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["image"]["type"] == "string" and body["properties"]["image"]["nullable"] is True
    assert spec["paths"].keys() == client.get("/openapi.json").json()["paths"].keys()
