"""GET /docs: Swagger UI from the app's own assets, and an OpenAPI document for every endpoint."""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib

from app.config import ROOT
from app.web.routes.docs import ASSETS_DIR


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


def test_swagger_ui_reads_the_3_1_document_itself(client):
    html = client.get("/docs").text
    assert '"url": "/openapi.json"' in html
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1.")
    assert client.get("/docs/openapi.json").status_code == 404  # no restated 3.0 copy any more


def test_swagger_ui_is_served_with_its_licence(client):
    bundle = client.get("/docs/assets/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and bundle.headers["content-type"].startswith("text/javascript")
    assert "Apache License" in client.get("/docs/assets/swagger-ui/LICENSE").text
    assert "SmartBear" in (ASSETS_DIR / "swagger-ui" / "NOTICE").read_text()
    version = re.search(r"# Swagger UI (5\.\d+\.\d+)", (ASSETS_DIR / "swagger-ui" / "README.md").read_text())
    assert version, "the README names the version of Swagger UI it holds"


def test_every_docs_asset_is_package_data():
    """`pip install .` installs what /docs serves: pyproject.toml's package data covers every file."""
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    package = ROOT / "app" / "web"
    covered = {path for pattern in package_data["app.web"] for path in package.glob(pattern)}
    assets = {path for path in ASSETS_DIR.rglob("*") if path.is_file() and "__pycache__" not in path.parts}
    assert assets and assets <= covered, sorted(str(p) for p in assets - covered)


def test_head_on_the_docs_page_and_its_assets(client):
    for path in ("/docs", "/docs/assets/swagger-ui/swagger-ui.css", "/openapi.json"):
        get, head = client.get(path), client.head(path)
        assert head.status_code == 200 and head.content == b"", path
        assert head.headers["content-length"] == str(len(get.content)), path
