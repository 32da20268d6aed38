"""Reading drawings out of a request: a raw image body, a multipart upload, or JSON.

Only the bytes are gathered here; decoding them is CPU work and happens off the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import anyio.to_thread
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from app.config import Settings
from app.web.decoding import NetworkInput, Source
from app.web.errors import ApiError, from_validation_error
from app.web.schemas import BatchJSON, CorrectionFields, CorrectionJSON, PredictJSON

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp")  # a raw image body
Parsed = TypeVar("Parsed", bound=BaseModel)
ACCEPTED = ", ".join(IMAGE_TYPES) + ", multipart/form-data or application/json"
CORRECTION_FIELDS = tuple(CorrectionFields.model_fields)  # label, model, guess


@dataclass(frozen=True)
class CorrectionDrawing:
    source: Source
    fields: CorrectionFields


@dataclass(frozen=True)
class Batch:
    sources: list[bytes | str]
    model: str | None
    top_k: int


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_drawing(request: Request) -> Source:
    """The one drawing in a POST /api/predict body."""
    kind = media_type(request)
    if kind in IMAGE_TYPES:
        return await request.body()
    if kind == "multipart/form-data":
        async with _form(request, max_files=1) as form:
            upload = form.get("image")
            if not isinstance(upload, UploadFile):
                raise ApiError("invalid_request", "The multipart body needs the image as a file in the field `image`.")
            return await upload.read()
    if kind == "application/json":
        return await read_json_drawing(await request.body())
    raise _unsupported(kind)


async def read_correction(request: Request, query: dict[str, object]) -> CorrectionDrawing:
    """The drawing in a POST /api/corrections body, in any form /api/predict takes, and what it says about
    it: `label`, `model` and `guess` in the JSON, or for an image or multipart body in the query string
    (multipart: or as form fields), each given once."""
    kind = media_type(request)
    given = {name: value for name, value in query.items() if value is not None}
    if kind in IMAGE_TYPES:
        return CorrectionDrawing(await request.body(), _correction_fields(given))
    if kind == "multipart/form-data":
        async with _form(request, max_files=1) as form:
            upload = form.get("image")
            if not isinstance(upload, UploadFile):
                raise ApiError("invalid_request", "The multipart body needs the image as a file in the field `image`.")
            in_form = {name: value for name in CORRECTION_FIELDS if isinstance(value := form.get(name), str)}
            if twice := sorted(in_form.keys() & given.keys()):
                raise ApiError(
                    "invalid_request", f"`{twice[0]}` is both a form field and a query parameter; send it once."
                )
            return CorrectionDrawing(await upload.read(), _correction_fields({**given, **in_form}))
    if kind == "application/json":
        if given:
            raise ApiError(
                "invalid_request", f"With a JSON body, send `{next(iter(given))}` in the JSON, not in the query string."
            )
        payload = await _parse_json(CorrectionJSON, await request.body())
        fields = CorrectionFields(label=payload.label, model=payload.model, guess=payload.guess)
        return CorrectionDrawing(_json_source(payload), fields)
    raise _unsupported(kind)


async def read_json_drawing(body: bytes) -> Source:
    """The one drawing in a JSON body of POST /api/predict: `{"image"}`, `{"pixels"}` or `{"bits"}`."""
    return _json_source(await _parse_json(PredictJSON, body))


def _json_source(payload: PredictJSON) -> Source:
    if payload.bits is not None:
        return NetworkInput(payload.bits)
    return payload.image if payload.image is not None else payload.pixels or []


def _correction_fields(values: dict[str, object]) -> CorrectionFields:
    if "label" not in values:
        raise ApiError(
            "invalid_request",
            "Say which digit the drawing really is: `label`, 0 to 9, as a query parameter (or a form field).",
        )
    try:
        return CorrectionFields.model_validate(values)
    except ValidationError as exc:
        raise from_validation_error(exc) from exc


async def read_batch(request: Request, settings: Settings) -> Batch:
    """The drawings in a POST /api/predict/batch body, with the model and top_k it asks for."""
    kind = media_type(request)
    if kind == "application/json":
        batch_json = await _parse_json(BatchJSON, await request.body())
        batch = Batch(list(batch_json.images), batch_json.model, batch_json.top_k)
    elif kind == "multipart/form-data":
        async with _form(request, max_files=settings.max_batch_images + 1) as form:
            uploads = form.getlist("images")
            files = [upload for upload in uploads if isinstance(upload, UploadFile)]
            if len(files) != len(uploads):
                raise ApiError("invalid_request", "Every `images` field must be a file.")
            for option in ("model", "top_k"):
                if len(form.getlist(option)) > 1:  # one would be read and the others ignored
                    raise ApiError(
                        "invalid_request", f"The multipart body has `{option}` more than once; send it once."
                    )
            try:
                options = BatchJSON.model_validate(
                    {"images": ["-"] * len(files), "model": form.get("model"), "top_k": form.get("top_k", 2)}
                )
            except ValidationError as exc:
                raise from_validation_error(exc) from exc
            batch = Batch([await upload.read() for upload in files], options.model, options.top_k)
    else:
        raise _unsupported(kind, "application/json or multipart/form-data")
    if len(batch.sources) > settings.max_batch_images:
        raise ApiError(
            "invalid_request",
            f"The batch has {len(batch.sources)} images; send at most {settings.max_batch_images} at a time.",
        )
    return batch


async def _parse_json(model: type[Parsed], body: bytes) -> Parsed:
    """Validate a JSON body in a worker thread: a large pixel grid or batch takes milliseconds to check."""
    try:
        return await anyio.to_thread.run_sync(model.model_validate_json, body)
    except ValidationError as exc:
        raise from_validation_error(exc) from exc


@asynccontextmanager
async def _form(request: Request, max_files: int) -> AsyncIterator[FormData]:
    """The parsed multipart body; its spooled files are closed on leaving the block."""
    try:
        form = await request.form(max_files=max_files, max_fields=16)
    except HTTPException as exc:  # Starlette reports a malformed multipart body as a 400
        raise ApiError("invalid_request", f"The multipart body could not be read: {exc.detail}") from exc
    try:
        yield form
    finally:
        await form.close()


def _unsupported(kind: str, accepted: str = ACCEPTED) -> ApiError:
    what = f"Content-Type {kind!r}" if kind else "A request without a Content-Type"
    return ApiError("unsupported_media_type", f"{what} is not accepted; send {accepted}.")
