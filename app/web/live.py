"""Live guesses over a WebSocket: `/api/predict/live` and `/api/read/live`.

A page that guesses while the pen moves sends a drawing every 200 ms and one at pen-up. From a still page
in Chromium, a drawing's round trip over the socket takes about half that of a `fetch` of the same bytes
to the same server (`benchmarks/transport.py`: 6 against 12 ms on our machine; the difference is the
browser's request machinery, not the network).

The socket's query string is the POST route's (`model`, `top_k`, `activations`, with the same defaults).
Each message the client sends is one drawing: a binary message holds an image file's bytes (PNG, JPEG,
WebP, GIF or BMP, as a raw POST body), a text message the route's JSON body (`{"image"}`, `{"pixels"}` or
`{"bits"}`). Every drawing gets one text message back, in the order they were sent: the POST route's
JSON answer, or its error, `{"detail", "code", "status"}`, with the HTTP status the route would have
given. A bad drawing is answered and the socket stays open. A bad query string or an unknown model is
answered with its error, then the socket is closed (1008).

A browser page on another site may not open one (the handshake is refused with 403) unless its origin is
in DIGITPAD_CORS_ORIGINS, as for the routes' CORS.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import orjson
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.config import Settings
from app.core.errors import DigitPadError
from app.nn.network import Model
from app.web.decoding import Source
from app.web.deps import find_model
from app.web.drawings import read_json_drawing
from app.web.errors import STATUS, from_validation_error
from app.web.observability import LIVE_DRAWINGS, LIVE_SOCKETS, log_socket
from app.web.predictions import InferenceTurns
from app.web.schemas import LiveQuery

logger = logging.getLogger(__name__)

POLICY_VIOLATION = 1008  # the WebSocket close code for a socket that cannot be served as asked

# One drawing's answer: what the POST route's own work function gives for it (model, source, top_k,
# activations, settings, inference, client).
Answer = Callable[[Model, Source, int, bool, Settings, InferenceTurns, "Staying"], Awaitable[bytes]]


class Staying:
    """A live socket's client, as the inference turns ask after it: a drawing is always read, since one
    whose client has left is found out only when its answer cannot be sent."""

    async def is_disconnected(self) -> bool:
        return False


STAYING = Staying()
UNEXPECTED = DigitPadError(
    "internal_error", "The server failed to answer this drawing; send it again, and report it if it keeps happening."
)


def error_message(error: DigitPadError) -> str:
    return orjson.dumps({"detail": error.detail, "code": error.code, "status": STATUS[error.code]}).decode()


def origin_allowed(headers: Headers, settings: Settings) -> bool:
    """A socket from a page of this site, of an origin allowed by DIGITPAD_CORS_ORIGINS, or from no page
    at all (a program sends no Origin)."""
    origin = headers.get("origin")
    if origin is None:
        return True
    if origin in settings.cors_origins or "*" in settings.cors_origins:
        return True
    return urlsplit(origin).netloc.lower() == headers.get("host", "").lower()


async def serve_live(websocket: WebSocket, answer: Answer, activations_default: bool) -> None:
    """Answers each drawing the socket brings, in turn, until the client closes it."""
    state = websocket.app.state
    settings: Settings = state.settings
    route = websocket.scope["path"]
    if not origin_allowed(websocket.headers, settings):
        await websocket.close(POLICY_VIOLATION)  # before accepting: the handshake is refused, 403
        return
    await websocket.accept()
    try:
        query = LiveQuery.model_validate(dict(websocket.query_params))
        model = await find_model(state.registry, query.model)
    except (ValidationError, DigitPadError) as exc:
        error = from_validation_error(exc) if isinstance(exc, ValidationError) else exc
        LIVE_DRAWINGS.labels(route, error.code).inc()
        await websocket.send_text(error_message(error))
        await websocket.close(POLICY_VIOLATION, error.code)
        return
    activations = activations_default if query.activations is None else query.activations
    LIVE_SOCKETS.inc()
    opened, answered = time.perf_counter(), 0
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            answered += 1
            try:
                source = await _drawing(message, settings)
                body = await answer(model, source, query.top_k, activations, settings, state.inference, STAYING)
            except DigitPadError as exc:
                LIVE_DRAWINGS.labels(route, exc.code).inc()
                await websocket.send_text(error_message(exc))
                continue
            except Exception:  # a fault of ours: the drawing is answered as POST would be, the socket kept
                logger.exception("Unexpected error on a drawing sent to %s", route)
                LIVE_DRAWINGS.labels(route, "internal_error").inc()
                await websocket.send_text(error_message(UNEXPECTED))
                continue
            LIVE_DRAWINGS.labels(route, "ok").inc()
            await websocket.send_text(body.decode())
    except (WebSocketDisconnect, OSError):  # closed by the client while its drawing was read
        return
    finally:
        LIVE_SOCKETS.dec()
        log_socket(websocket.scope, settings.access_log, time.perf_counter() - opened, answered)


async def _drawing(message: Message, settings: Settings) -> Source:
    data = message.get("bytes")
    text = message.get("text")
    size = len(data) if isinstance(data, bytes) else len(text.encode()) if isinstance(text, str) else 0
    if size > settings.max_body_bytes:
        raise DigitPadError(
            "payload_too_large",
            f"The message is larger than the limit of {settings.max_body_bytes:,} bytes; send a smaller image.",
        )
    if isinstance(data, bytes):
        return data
    if isinstance(text, str):
        return await read_json_drawing(text.encode())
    raise DigitPadError("invalid_request", "Send each drawing as one message: an image's bytes, or JSON.")
