"""Pure ASGI middleware: body size and time limits, security headers, a JSON 500 for the unexpected, and HEAD
for every GET route."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import anyio
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.web.errors import ApiError, problem_response

logger = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


# After refusing a body, how much more of it is read and thrown away before the connection closes.
DRAIN_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 5.0


class PayloadTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        # The rest of the body is never kept: the connection closes once the answer is out.
        super().__init__(
            "payload_too_large",
            f"The request body is larger than the limit of {limit:,} bytes; send a smaller image.",
            headers={"Connection": "close"},
        )


def _lingering(send: Send, receive: Receive) -> Send:
    """A send that, before it ends a refusal, reads and discards what the client is still sending, up to
    DRAIN_BYTES or DRAIN_SECONDS. Closing a socket with unread data in it resets the connection, and the
    client, still writing its body, would lose the answer before reading it."""

    async def lingering_send(message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            await send({**message, "more_body": True})
            drained = 0
            with anyio.move_on_after(DRAIN_SECONDS):
                while drained <= DRAIN_BYTES:
                    request = await receive()
                    drained += len(request.get("body", b""))
                    if request["type"] != "http.request" or not request.get("more_body", False):
                        break
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(message)

    return lingering_send


class RequestTimeout(ApiError):
    def __init__(self, seconds: float) -> None:
        super().__init__(
            "request_timeout",
            f"The request body did not arrive within {seconds:g} seconds; send it again in one go.",
            headers={"Connection": "close"},
        )


class BodyLimitMiddleware:
    """Refuses a body over the limit: at once from Content-Length, else as soon as the stream passes it;
    and a body that has not arrived in full `timeout` seconds after the request began.

    Counting while streaming matters for chunked uploads, which declare no length up front.
    """

    def __init__(
        self, app: ASGIApp, limit: int, path_limits: Mapping[str, int] | None = None, timeout: float = 30.0
    ) -> None:
        self.app = app
        self.limit = limit
        self.path_limits = dict(path_limits or {})
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope["path"].rstrip("/"), self.limit)
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        refusal = _lingering(send, receive) if "100-continue" not in headers.get("expect", "").lower() else send
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_error(
                scope, receive, refusal if int(declared) <= limit + DRAIN_BYTES else send, PayloadTooLarge(limit)
            )
            return

        received = 0
        started = False
        refused = False
        body_complete = False
        deadline = anyio.current_time() + self.timeout

        async def limited_receive() -> Message:
            nonlocal received, body_complete, refused
            if body_complete:  # all that is left to wait for is the client hanging up, however long it takes
                return await receive()
            try:
                with anyio.fail_after(max(deadline - anyio.current_time(), 0)):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(self.timeout) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    raise PayloadTooLarge(limit)
                body_complete = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await (refusal if refused else send)(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except (PayloadTooLarge, RequestTimeout) as exc:
            if started:
                raise
            await _send_error(scope, receive, refusal if refused else send, exc)


class UnexpectedErrorMiddleware:
    """Logs any exception no handler took and answers 500 internal_error, with no trace in the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception("Unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await _send_error(
                scope,
                receive,
                send,
                ApiError(
                    "internal_error",
                    "The server failed to answer this request; try again, and report it if it keeps happening.",
                ),
            )


class SecurityHeadersMiddleware:
    """Adds the security headers to every response, errors included, unless a route set its own."""

    def __init__(self, app: ASGIApp, headers: Mapping[str, str] = SECURITY_HEADERS) -> None:
        self.app = app
        self.headers = dict(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _HeadersSent(Exception):
    """Stops the route behind a HEAD once its headers are out: nothing of its body is sent."""


class HeadMiddleware:
    """Answers HEAD like GET without the body, wherever a route answers GET (RFC 9110 section 9.3.2).

    FastAPI's routes answer only the methods they declare, so HEAD would be 405; static files answer HEAD
    themselves. The route runs as for GET on a copy of the scope (the server reads the method from its
    own), headers (Content-Length included) are sent as they are, and the route is stopped at its first
    body message, so a stream (a training job's events) ends with its headers instead of running on. What
    routing wrote into the copy is copied back, so the middleware outside sees the route HEAD was answered by.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or not self._answers_get(scope):
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                raise _HeadersSent
            await send(message)

        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, send_headers_only)
        except _HeadersSent:
            pass
        finally:
            scope.update({key: value for key, value in as_get.items() if key != "method"})

    def _answers_get(self, scope: Scope) -> bool:
        """Whether a route takes GET here but none takes HEAD (static files and /openapi.json do)."""
        return not self._routed(scope) and self._routed({**scope, "method": "GET"})

    def _routed(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] is Match.FULL for route in self.routes)


async def _send_error(scope: Scope, receive: Receive, send: Send, error: ApiError) -> None:
    await problem_response(error)(scope, receive, send)
