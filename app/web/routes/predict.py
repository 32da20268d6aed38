"""POST /api/predict and /api/predict/batch: drawings in, guesses (and activations) out."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, WebSocket
from starlette.responses import Response

from app.web.deps import InferenceDep, ReaderDep, RegistryDep, SettingsDep, find_model
from app.web.drawings import IMAGE_TYPES, read_batch, read_drawing
from app.web.live import serve_live
from app.web.predictions import ClientGone, answer_batch, answer_one
from app.web.schemas import BatchJSON, BatchOut, PredictionOut, PredictJSON, error_responses

router = APIRouter(prefix="/api/predict", tags=["predict"])
# What a route taking one drawing (the inputs of POST /api/predict) may answer besides its own errors.
DRAWING_ERRORS = (
    "unknown_model",
    "request_timeout",
    "payload_too_large",
    "image_too_large",
    "unsupported_media_type",
    "invalid_request",
    "invalid_image",
    "empty_drawing",
)

# No one reads it: the status access logs and metrics record for a request whose client left first.
CLIENT_CLOSED_REQUEST = 499
BINARY = {"schema": {"type": "string", "format": "binary"}}
PREDICT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            **{kind: BINARY for kind in IMAGE_TYPES},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {"image": {"type": "string", "format": "binary"}},
                },
                "encoding": {"image": {"contentType": ", ".join(IMAGE_TYPES)}},
            },
            "application/json": {"schema": PredictJSON.model_json_schema()},
        },
    }
}
BATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": BatchJSON.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["images"],
                    "properties": {
                        "images": {  # maxItems: the settings' batch size (openapi.py)
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "string", "format": "binary"},
                            "description": "The images, each a file part: PNG, JPEG, WebP, GIF or BMP.",
                        },
                        "model": {
                            "type": "string",
                            "maxLength": 64,
                            "description": "Model name; the default if empty.",
                        },
                        "top_k": {"type": "integer", "minimum": 1, "maximum": 10, "default": 2},
                    },
                },
            },
        },
    }
}


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


@router.post(
    "",
    response_model=PredictionOut,
    responses=error_responses(*DRAWING_ERRORS),
    openapi_extra=PREDICT_BODY,
    summary="Guess the digit in one drawing",
)
async def predict(
    request: Request,
    reader: ReaderDep,
    top_k: Annotated[int, Query(ge=1, le=10, description="How many guesses to return.")] = 2,
    activations: Annotated[bool, Query(description="Include every layer's activations.")] = True,
) -> Response:
    """Send the drawing as a raw image body, as the multipart file `image`, or as JSON `{"image"}`,
    `{"pixels"}` or `{"bits"}`. The format of an image is read from its bytes; `bits` is the network's own
    28x28 input, used as it is and echoed in `input.bits`."""
    source = await read_drawing(request)
    try:
        answer = await answer_one(reader.model, source, top_k, activations, reader.settings, reader.inference, request)
    except ClientGone:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    return _json(answer)


@router.post(
    "/batch",
    response_model=BatchOut,
    responses=error_responses(
        "unknown_model", "request_timeout", "payload_too_large", "unsupported_media_type", "invalid_request"
    ),
    openapi_extra=BATCH_BODY,
    summary="Guess the digits in a batch of drawings",
)
async def predict_batch(
    request: Request, registry: RegistryDep, inference: InferenceDep, settings: SettingsDep
) -> Response:
    """One result per image, in order; an image that cannot be read gets an `error` in its place."""
    batch = await read_batch(request, settings)
    model = await find_model(registry, batch.model)
    try:
        answer = await answer_batch(model, batch.sources, batch.top_k, settings, inference, request)
    except ClientGone:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    return _json(answer)


@router.websocket("/live")
async def predict_live(websocket: WebSocket) -> None:
    """Live guesses: each message a drawing, each answer POST /api/predict's (see app.web.live)."""
    await serve_live(websocket, answer_one, activations_default=True)
