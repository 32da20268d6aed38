"""GET /docs: Swagger UI served from the app itself, so the API docs work offline.

Its one inline script is allowed by hash; this page alone also allows inline styles, which Swagger UI sets.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import swagger_ui_bundle
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse, Response

ASSETS_PATH = "/docs/assets"
ASSETS_DIR = Path(swagger_ui_bundle.swagger_ui_path)
INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)

router = APIRouter(tags=["docs"])


def docs_policy(html: bytes) -> str:
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'"
                      for s in INLINE_SCRIPT.findall(html))
    return (f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


@router.get("/docs", include_in_schema=False)
async def swagger_ui(request: Request) -> Response:
    page = get_swagger_ui_html(
        openapi_url=request.app.openapi_url, title=f"{request.app.title} API",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png", swagger_ui_parameters={"validatorUrl": None},
    )
    body = bytes(page.body)
    return HTMLResponse(body, headers={"Content-Security-Policy": docs_policy(body)})
