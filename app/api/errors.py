"""Errors as values: every failure the API reports is JSON {"detail": "<a sentence>", "code": "<machine code>"}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from app.api.responses import OrjsonResponse
from app.decoding import ImageError
from app.nn.preprocess import BlankDrawing

HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
              415: "unsupported_media_type"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers


def error_response(status: int, code: str, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    return OrjsonResponse({"detail": detail, "code": code}, status_code=status, headers=headers)


def empty_drawing_detail(exc: BlankDrawing) -> str:
    return f"{exc} Draw a digit with a thicker or larger stroke and try again."


def validation_detail(errors: list[Any]) -> str:
    """The first problem pydantic found, as a sentence that names where it is."""
    if not errors:
        return "The request is not valid."
    first = errors[0]
    loc = [str(part) for part in first.get("loc", ())]
    where = {"query": "Query parameter", "path": "Path parameter", "body": "Body field"}.get(loc[0]) if loc else None
    place = ".".join(loc[1:] if where else loc)
    message = str(first.get("msg", "is not valid")).removeprefix("Value error, ").rstrip(".")
    message = message[:1].upper() + message[1:]
    more = f" ({len(errors) - 1} more problems)" if len(errors) > 1 else ""
    if where and place:
        return f"{where} `{place}`: {message}{more}."
    if place:
        return f"`{place}`: {message}{more}."
    return f"{message}{more}."


def from_validation_error(exc: ValidationError) -> ApiError:
    return ApiError(422, "invalid_request", validation_detail(exc.errors(include_url=False, include_input=False)))


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.detail, exc.headers)


async def _image_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ImageError)
    return error_response(exc.status, exc.code, exc.detail)


async def _blank_drawing(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BlankDrawing)
    return error_response(422, "empty_drawing", empty_drawing_detail(exc))


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "invalid_request", validation_detail(list(exc.errors())))


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        detail = f"There is nothing at {request.url.path}; see /docs for the API."
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow") or "another method"
        detail = f"{request.method} is not allowed on {request.url.path}; use {allowed}."
    else:
        detail = str(exc.detail)
    code = HTTP_CODES.get(exc.status_code, "invalid_request" if 400 <= exc.status_code < 500 else "http_error")
    return error_response(exc.status_code, code, detail, exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(ImageError, _image_error)
    app.add_exception_handler(BlankDrawing, _blank_drawing)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(HTTPException, _http_exception)
