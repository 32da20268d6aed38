"""GET /docs: Swagger UI 5 served from the app itself, so the API docs work offline. It reads the OpenAPI
3.1 document at /openapi.json as FastAPI writes it.

The assets are in app/web/static: Swagger UI as released (swagger-ui/), and docs.css and docs.js, which
make its page pass WCAG AA (contrast, names of controls). The page's one inline script is allowed by its
hash; this page alone also allows inline styles, which Swagger UI sets.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

ASSETS_PATH = "/docs/assets"
ASSETS_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(tags=["docs"])


def docs_policy(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return (
        f"default-src 'self'; script-src 'self' 'sha256-{digest}'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def docs_page(title: str, openapi_url: str) -> tuple[str, str]:
    """The page and its inline script, which starts Swagger UI on the document at `openapi_url`."""
    options = {
        "url": openapi_url,
        "dom_id": "#swagger-ui",
        "deepLinking": False,  # its links inside the operations' buttons would nest interactive controls
        "showExtensions": True,
        "showCommonExtensions": True,
        "validatorUrl": None,  # the validator badge would send the document to another host
        "syntaxHighlight": {"theme": "monokai"},  # the default theme's numbers fall short of AA contrast
    }
    # `<` escaped: nothing in the options can close the script element.
    script = f"SwaggerUIBundle({{...{json.dumps(options)}, presets: [SwaggerUIBundle.presets.apis]}});"
    script = script.replace("<", "\\u003c")
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui/swagger-ui.css">
<link rel="stylesheet" href="{ASSETS_PATH}/docs.css">
<link rel="icon" type="image/png" href="{ASSETS_PATH}/swagger-ui/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS_PATH}/swagger-ui/swagger-ui-bundle.js"></script>
<script>{script}</script>
<script type="module" src="{ASSETS_PATH}/docs.js"></script>
</body>
</html>
"""
    return page, script


@router.get("/docs", include_in_schema=False)
async def swagger_ui(request: Request) -> Response:
    page, script = docs_page(f"{request.app.title} API", request.app.openapi_url or "/openapi.json")
    return HTMLResponse(page, headers={"Content-Security-Policy": docs_policy(script)})
