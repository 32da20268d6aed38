"""GET /docs: Swagger UI served from the app itself, so the API docs work offline.

Its one inline script is allowed by hash; this page alone also allows inline styles, which Swagger UI sets.
The bundled Swagger UI reads OpenAPI 3.0 only, so it gets /docs/openapi.json, the 3.1 document FastAPI
writes restated in 3.0 terms; /openapi.json stays as it is for every other tool.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse, Response

from app.web.responses import OrjsonResponse

ASSETS_PATH = "/docs/assets"
SWAGGER_OPENAPI_PATH = "/docs/openapi.json"
ASSETS_DIR = Path(swagger_ui_bundle.swagger_ui_path)
INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)

router = APIRouter(tags=["docs"])


def docs_policy(html: bytes) -> str:
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'" for s in INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )


@router.get("/docs", include_in_schema=False)
async def swagger_ui(request: Request) -> Response:
    page = get_swagger_ui_html(
        openapi_url=SWAGGER_OPENAPI_PATH,
        title=f"{request.app.title} API",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},
    )
    body = bytes(page.body)
    return HTMLResponse(body, headers={"Content-Security-Policy": docs_policy(body)})


@router.get(SWAGGER_OPENAPI_PATH, include_in_schema=False)
async def openapi_for_swagger_ui(request: Request) -> Response:
    return OrjsonResponse(openapi_3_0(request.app.openapi()))


def openapi_3_0(spec: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI 3.1 document restated in 3.0: nullable instead of a null type, boolean exclusive bounds."""
    converted = _schema_3_0(spec)
    converted["openapi"] = "3.0.3"
    return converted


def _schema_3_0(node: Any) -> Any:
    if isinstance(node, list):
        return [_schema_3_0(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _schema_3_0(value) for key, value in node.items() if key not in ("anyOf", "oneOf")}
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if not isinstance(options, list):
            continue
        rest = [_schema_3_0(option) for option in options if option != {"type": "null"}]
        if len(rest) == len(options):
            out[key] = rest
            continue
        out["nullable"] = True
        if len(rest) == 1 and isinstance(rest[0], dict) and "$ref" not in rest[0]:
            out = {**rest[0], **out}
        else:
            out[key] = rest
    if out.get("type") == "null":
        out.pop("type")
        out["nullable"] = True
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = out.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[plain] = value
            out[bound] = True
    if "examples" in out and isinstance(out["examples"], list) and "example" not in out:
        out["example"] = out.pop("examples")[0] if out["examples"] else None
    return out
