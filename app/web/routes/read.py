"""POST /api/read: a drawing of a whole number in, each digit's box, guesses (and activations) out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, WebSocket
from starlette.responses import Response

from app.web.deps import ReaderDep
from app.web.drawings import read_drawing
from app.web.live import serve_live
from app.web.predictions import ClientGone, answer_number
from app.web.routes.predict import CLIENT_CLOSED_REQUEST, DRAWING_ERRORS, PREDICT_BODY
from app.web.schemas import ReadingOut, error_responses

router = APIRouter(prefix="/api/read", tags=["read"])


@router.post(
    "",
    response_model=ReadingOut,
    responses=error_responses(*DRAWING_ERRORS, "too_many_digits"),
    openapi_extra=PREDICT_BODY,
    summary="Read a whole number: every digit of one drawing, left to right",
)
async def read(
    request: Request,
    reader: ReaderDep,
    top_k: Annotated[int, Query(ge=1, le=10, description="How many guesses to return for each digit.")] = 2,
    activations: Annotated[bool, Query(description="Include every layer's activations for each digit.")] = False,
) -> Response:
    """The same bodies as `/api/predict`. The digits are found in the drawing (ink that touches is cut
    where its pieces are most likely digits, as the network and its piece judge weigh them), each read
    like a single drawing, and given left to right with the box of its ink. `bits`, the network's own
    28x28 input, is one digit: it is read as it is. A drawing with no digit is 422 `empty_drawing`; one
    with more than 12 is 422 `too_many_digits`."""
    source = await read_drawing(request)
    try:
        answer = await answer_number(
            reader.model, source, top_k, activations, reader.settings, reader.inference, request
        )
    except ClientGone:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    return Response(answer, media_type="application/json")


@router.websocket("/live")
async def read_live(websocket: WebSocket) -> None:
    """Live reading of a number: each message a drawing, each answer POST /api/read's (see app.web.live)."""
    await serve_live(websocket, answer_number, activations_default=False)
