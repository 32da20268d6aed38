"""GET /docs: Swagger UI from the app's own assets, and an OpenAPI document for every endpoint."""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib

from app.config import ROOT
from app.web.errors import STATUS
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


def test_every_error_status_lists_its_codes_with_the_status_of_each(client):
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            # Any request can be too large, too slow, have too large a head, or meet the unexpected.
            assert statuses >= {"408", "413", "431", "500"}, (method, path)
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    continue
                schema = response["content"]["application/json"]["schema"]
                assert schema["$ref"] == "#/components/schemas/ErrorOut"
                codes = schema["properties"]["code"]["enum"]
                assert codes and all(STATUS[code] == int(status) for code in codes), (method, path, status)
                assert all(f"`{code}`" in response["description"] for code in codes)


def test_the_drawing_bodies_say_what_the_api_takes(make_client):
    with make_client(max_image_side=500, max_batch_images=8) as small, make_client() as default:
        small.get("/openapi.json")
        other = default.get("/openapi.json").json()["paths"]["/api/predict/batch"]["post"]["requestBody"]
        paths = small.get("/openapi.json").json()["paths"]  # the other app's document changed nothing here
    assert other["content"]["application/json"]["schema"]["properties"]["images"]["maxItems"] == 256
    predict = paths["/api/predict"]["post"]["requestBody"]["content"]
    drawing = predict["application/json"]["schema"]
    assert drawing["oneOf"] == [{"required": ["image"]}, {"required": ["pixels"]}, {"required": ["bits"]}]
    assert drawing["properties"]["bits"]["pattern"] == "^[01]{784}$"
    assert drawing["additionalProperties"] is False
    assert drawing["properties"]["image"] == {
        "type": "string",
        "minLength": 1,
        "description": drawing["properties"]["image"]["description"],
    }
    pixels = drawing["properties"]["pixels"]
    assert (pixels["minItems"], pixels["maxItems"]) == (1, 500)
    assert (pixels["items"]["minItems"], pixels["items"]["maxItems"]) == (1, 500)
    assert pixels["items"]["items"] == {"type": "number", "minimum": 0, "maximum": 255}
    assert predict["multipart/form-data"]["schema"]["required"] == ["image"]
    batch = paths["/api/predict/batch"]["post"]["requestBody"]["content"]
    for kind in ("application/json", "multipart/form-data"):
        schema = batch[kind]["schema"]
        assert schema["required"] == ["images"]
        assert (schema["properties"]["images"]["minItems"], schema["properties"]["images"]["maxItems"]) == (1, 8)
