"""The OpenAPI document: FastAPI's, with the limits that come from the settings written in, so that it
says exactly what this server takes: pixel grids up to `max_image_side` a side, batches of up to
`max_batch_images`, training runs of up to `training_max_epochs` epochs on `training_max_examples` digits."""

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
        # FastAPI documents a 422 of its own shape on every route with parameters; this API's 422s are
        # ErrorOut, declared by each route that can answer one: FastAPI's is never what is sent.
        for operations in paths.values():
            for operation in operations.values():
                default = operation["responses"].get("422", {})
                if "HTTPValidationError" in str(default.get("content", {})):
                    del operation["responses"]["422"]
        for name in ("HTTPValidationError", "ValidationError"):
            document.get("components", {}).get("schemas", {}).pop(name, None)
        predict = paths["/api/predict"]["post"]["requestBody"]["content"]
        pixels = predict["application/json"]["schema"]["properties"]["pixels"]
        pixels["maxItems"] = pixels["items"]["maxItems"] = settings.max_image_side
        for kind in ("application/json", "multipart/form-data"):
            batch = paths["/api/predict/batch"]["post"]["requestBody"]["content"][kind]
            batch["schema"]["properties"]["images"]["maxItems"] = settings.max_batch_images
        if "/api/training" in paths:  # this server's caps on a run, which may be below the lab's own ranges
            body = paths["/api/training"]["post"]["requestBody"]["content"]["application/json"]["schema"]
            for field, cap in (
                ("epochs", settings.training_max_epochs),
                ("train_size", settings.training_max_examples),
            ):
                number = next(
                    option for option in body["properties"][field]["anyOf"] if option.get("type") == "integer"
                )
                number["maximum"] = min(number["maximum"], cap)
        app.openapi_schema = document
    return app.openapi_schema
