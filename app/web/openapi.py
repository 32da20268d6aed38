"""The OpenAPI document: FastAPI's, with the limits that come from the settings written in, so that it
says exactly what this server takes: pixel grids up to `max_image_side` a side, batches of up to
`max_batch_images`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.config import Settings
from app.web.schemas import error_responses

# What any request may be answered with, whatever its route: a body over the limit or too slow to arrive,
# a request line and headers too large or too slow (`digitpad serve`), and the unexpected.
EVERY_ROUTE_ERRORS = error_responses(
    "request_timeout", "payload_too_large", "request_header_too_large", "internal_error"
)


def openapi_document(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        settings: Settings = app.state.settings
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        paths = document["paths"]
        predict = paths["/api/predict"]["post"]["requestBody"]["content"]
        pixels = predict["application/json"]["schema"]["properties"]["pixels"]
        pixels["maxItems"] = pixels["items"]["maxItems"] = settings.max_image_side
        for kind in ("application/json", "multipart/form-data"):
            batch = paths["/api/predict/batch"]["post"]["requestBody"]["content"][kind]
            batch["schema"]["properties"]["images"]["maxItems"] = settings.max_batch_images
        app.openapi_schema = document
    return app.openapi_schema
