"""Errors as the API reports them: JSON {"detail": "<a sentence>", "code": "<machine code>"}, with the HTTP
status of each code decided here, in STATUS, and nowhere else."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

from app.core.errors import DigitPadError
from app.web.responses import OrjsonResponse

# Every code the API answers with, and its HTTP status.
STATUS = {
    "invalid_request": 422,
    "invalid_image": 422,
    "empty_drawing": 422,
    "image_too_large": 413,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "unknown_model": 404,
    "unknown_unit": 404,
    "unknown_job": 404,
    "no_model": 409,
    "too_busy": 429,
    "no_stimulus_index": 404,
    "not_found": 404,
    "method_not_allowed": 405,
    "request_timeout": 408,
    "request_header_too_large": 431,
    "not_ready": 503,
    "internal_error": 500,
}
# Codes for the statuses Starlette raises itself (routing, method checks, multipart limits).
CODE_OF_STATUS = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}


class ApiError(DigitPadError):
    """An error of the web layer itself (the request, not the drawing), with headers for its answer."""

    def __init__(self, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(code, detail)
        self.headers = headers


def error_response(
    code: str, detail: str, headers: Mapping[str, str] | None = None, status: int | None = None
) -> Response:
    """The JSON answer for an error code; `status` only for statuses Starlette chose (see CODE_OF_STATUS)."""
    return OrjsonResponse({"detail": detail, "code": code}, status_code=status or STATUS[code], headers=headers)


def problem_response(exc: DigitPadError) -> Response:
    headers = getattr(exc, "headers", None)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:  # a 429 says when to come back
        headers = {**(headers or {}), "Retry-After": str(int(retry_after))}
    return error_response(exc.code, exc.detail, headers)


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
    return ApiError("invalid_request", validation_detail(exc.errors(include_url=False, include_input=False)))


async def _digitpad_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DigitPadError)
    return problem_response(exc)


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response("invalid_request", validation_detail(list(exc.errors())))


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        detail = f"There is nothing at {request.url.path}; see /docs for the API."
    elif exc.status_code == 405:
        allowed = _allowed_methods(request) or (exc.headers or {}).get("Allow") or "another method"
        exc.headers = {**(exc.headers or {}), "Allow": allowed}
        detail = f"{request.method} is not allowed on {request.url.path}; use {allowed}."
    else:
        detail = str(exc.detail)
    code = CODE_OF_STATUS.get(exc.status_code, "invalid_request" if 400 <= exc.status_code < 500 else "http_error")
    return error_response(code, detail, exc.headers, status=exc.status_code)


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path: Starlette's own 405 names only the first route's, and
    a path served by two routes (GET and DELETE of one job) would seem to allow less than it does."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DigitPadError, _digitpad_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(HTTPException, _http_exception)
