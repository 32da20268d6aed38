"""POST /api/corrections and GET /api/corrections/stats: the digit a drawing really is, kept to retrain on;
and, with the admin token, the stored corrections to review and delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from app.core import corrections
from app.core.corrections import MAX_ID, NewCorrection, Quota
from app.web.deps import AdminDep, InferenceDep, RegistryDep, SettingsDep, StorageDep
from app.web.drawings import IMAGE_TYPES, read_correction
from app.web.errors import ApiError
from app.web.predictions import ClientGone, read_for_correction
from app.web.responses import OrjsonResponse, correction_stats_json, input_json, stored_correction_json
from app.web.routes.predict import DRAWING_ERRORS
from app.web.schemas import (
    GUESS_DESCRIPTION,
    LABEL_DESCRIPTION,
    CorrectionJSON,
    CorrectionOut,
    CorrectionPageOut,
    CorrectionStatsOut,
    error_responses,
)

router = APIRouter(prefix="/api/corrections", tags=["corrections"])
# Only when DIGITPAD_ADMIN_TOKEN is set; every route needs it.
admin = APIRouter(
    prefix="/api/corrections", tags=["corrections"], dependencies=[AdminDep], responses=error_responses("unauthorized")
)
PAGE_SIZE = 200
REVIEW_PAGE_SIZE = 100  # drawings the review page loads at a time
PRIVATE = {"Cache-Control": "no-store"}  # what the admin API answers is for the operator's eyes only

CLIENT_CLOSED_REQUEST = 499
BINARY = {"schema": {"type": "string", "format": "binary"}}
FORM_FIELDS = {
    "image": {"type": "string", "format": "binary"},
    "label": {"type": "integer", "minimum": 0, "maximum": 9, "description": LABEL_DESCRIPTION},
    "model": {"type": "string", "maxLength": 64},
    "guess": {"type": "integer", "minimum": 0, "maximum": 9, "description": GUESS_DESCRIPTION},
}
# The answers POST /api/corrections may give besides 201: those of POST /api/predict, a flood, a database away.
SAVE_ERRORS = error_responses(*DRAWING_ERRORS, "too_many_requests", "storage_unavailable")
SAVE_ERRORS[429]["headers"] = {
    "Retry-After": {"description": "Seconds until the client may save again.", "schema": {"type": "integer"}}
}
CORRECTION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            **{kind: BINARY for kind in IMAGE_TYPES},
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["image"], "properties": FORM_FIELDS},
                "encoding": {"image": {"contentType": ", ".join(IMAGE_TYPES)}},
            },
            "application/json": {"schema": CorrectionJSON.model_json_schema()},
        },
    }
}


@router.post(
    "",
    status_code=201,
    response_model=CorrectionOut,
    responses=SAVE_ERRORS,
    openapi_extra=CORRECTION_BODY,
    summary="Save the digit a drawing really is",
)
async def save_correction(
    request: Request,
    registry: RegistryDep,
    inference: InferenceDep,
    storage: StorageDep,
    settings: SettingsDep,
    label: Annotated[int | None, Query(ge=0, le=9, description=f"{LABEL_DESCRIPTION} For image bodies.")] = None,
    model: Annotated[str | None, Query(max_length=64, description="The model whose guess is corrected.")] = None,
    guess: Annotated[int | None, Query(ge=0, le=9, description=GUESS_DESCRIPTION)] = None,
) -> Response:
    """The drawing in any form POST /api/predict takes, with `label` (and optionally `model` and `guess`):
    in the JSON, or for an image or multipart body as query parameters (multipart: or form fields).

    Stored: the network's 28x28 input for the drawing, the label, the model and its first guess, and the
    time. Never the image sent, nothing about the sender. One client (address) may save
    DIGITPAD_CORRECTIONS_RATE_LIMIT corrections in each window of DIGITPAD_CORRECTIONS_RATE_WINDOW seconds
    (default 60 a minute), counted across every worker and replica; past that, 429 with Retry-After."""
    drawing = await read_correction(request, {"label": label, "model": model, "guess": guess})
    chosen = registry.find(drawing.fields.model)
    try:
        reading = await read_for_correction(chosen, drawing.source, settings, inference, request)
    except ClientGone:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    fields = drawing.fields
    guess = fields.guess if fields.guess is not None else reading.prediction
    new = NewCorrection(reading.input.bits, fields.label, chosen.name, guess, reading.guesses)
    quota = Quota(client_address(request), settings.corrections_rate_limit, settings.corrections_rate_window)
    correction_id = await storage.run(lambda engine: corrections.save(engine, new, quota))
    return OrjsonResponse({"id": correction_id, "label": new.label, "input": input_json(new.bits)}, status_code=201)


def client_address(request: Request) -> str:
    """The client's address: the proxy's X-Forwarded-For where `digitpad serve` trusts it (FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "unknown"


@router.get(
    "/stats",
    response_model=CorrectionStatsOut,
    responses=error_responses("storage_unavailable"),
    summary="How many corrections there are, by digit and model",
)
async def correction_stats(storage: StorageDep) -> Response:
    return OrjsonResponse(correction_stats_json(await storage.run(corrections.stats)))


@admin.get(
    "",
    response_model=CorrectionPageOut,
    responses=error_responses("invalid_request", "storage_unavailable"),
    summary="The stored corrections, newest first (admin)",
)
async def list_corrections(
    storage: StorageDep,
    label: Annotated[int | None, Query(ge=0, le=9, description="Only the corrections of this digit.")] = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only ids below this one: `next_before` of a page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE, description="At most this many.")] = 100,
) -> Response:
    """Needs `Authorization: Bearer <DIGITPAD_ADMIN_TOKEN>`."""
    found = await storage.run(lambda engine: corrections.page(engine, label, before, limit))
    next_before = found[-1].id if len(found) == limit else None
    page = {"corrections": [stored_correction_json(c) for c in found], "next_before": next_before}
    return OrjsonResponse(page, headers=PRIVATE)


@admin.delete(
    "/{correction_id:int}",
    status_code=204,
    # not_found: a path whose id is not a whole number is no correction's
    responses=error_responses("unknown_correction", "not_found", "invalid_request", "storage_unavailable"),
    summary="Delete a correction that is wrong or unusable (admin)",
)
async def delete_correction(storage: StorageDep, correction_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Response:
    """Needs `Authorization: Bearer <DIGITPAD_ADMIN_TOKEN>`."""
    if not await storage.run(lambda engine: corrections.remove(engine, correction_id)):
        raise ApiError(
            "unknown_correction", f"There is no correction {correction_id}; it may have been deleted already."
        )
    return Response(status_code=204)
