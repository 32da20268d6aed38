"""What an operator sees of a running server: Prometheus metrics, a request id on every response, and
access logs as text or JSON lines.

With several worker processes each keeps its own counters. Set PROMETHEUS_MULTIPROC_DIR to an empty,
writable directory (the container image does) and /metrics adds up every worker's; without it, /metrics
shows the counters of whichever worker answered the scrape.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.exposition import choose_encoder
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if MULTIPROC_DIR:
    # prometheus_client writes one file per process there as soon as a series first appears.
    os.makedirs(MULTIPROC_DIR, exist_ok=True)

AccessLogFormat = Literal["off", "text", "json"]

REQUEST_ID_HEADER = b"x-request-id"
# Ids from a proxy or client are kept when they look like ids (UUIDs, trace ids); anything else could
# forge log lines or bloat them, so it is replaced.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")
# A client can send any method; only these become label values, so the series stay bounded.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"
SERVER_TIMING_HEADER = b"server-timing"
# The spans of the request being answered, in milliseconds, for its Server-Timing header: `app` (from the
# request reaching the app to its answer's head) and what the work inside it adds (`turn`, `handoff`,
# `work`; see app.web.predictions). The browser shows them beside its own Resource Timing of the request.
SERVER_TIMING: ContextVar[dict[str, float] | None] = ContextVar("server_timing", default=None)

HTTP_REQUESTS = Counter(
    "digitpad_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "digitpad_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
INFERENCE_SECONDS = Histogram(
    "digitpad_inference_duration_seconds",
    "Time a model's forward pass took for one drawing.",
    ["model"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)
LIVE_SOCKETS = Gauge("digitpad_live_sockets", "Live-guess WebSockets open.", multiprocess_mode="livesum")
LIVE_DRAWINGS = Counter(
    "digitpad_live_drawings",
    "Drawings answered on live-guess WebSockets, by route and outcome (`ok` or the error code).",
    ["route", "outcome"],
)
PREDICTIONS = Counter("digitpad_predictions", "Drawings read, by model and the digit it guessed.", ["model", "digit"])


def observe_prediction(model: str, digit: int, seconds: float) -> None:
    """Count one answer of `model`: the digit it guessed and its forward pass time."""
    INFERENCE_SECONDS.labels(model).observe(seconds)
    PREDICTIONS.labels(model, str(digit)).inc()


def add_span(name: str, seconds: float) -> None:
    """Adds to a span of the request being answered, for its Server-Timing header (nothing outside a
    request); a span may be added to more than once, as a batch takes many turns."""
    spans = SERVER_TIMING.get()
    if spans is not None:
        spans[name] = spans.get(name, 0.0) + seconds * 1000


def server_timing(spans: dict[str, float]) -> bytes:
    """The Server-Timing header's value (W3C Server Timing): `name;dur=milliseconds`, comma-separated."""
    return ", ".join(f"{name};dur={ms:.2f}" for name, ms in spans.items()).encode("ascii")


def render_metrics(accept: str = "") -> tuple[bytes, str]:
    """The metrics in the format the scraper's Accept header asks for (Prometheus text by default), and
    its content type."""
    encode, content_type = choose_encoder(accept)
    if MULTIPROC_DIR:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=MULTIPROC_DIR)
        return encode(registry), content_type
    return encode(REGISTRY), content_type


class _StdoutHandler(logging.Handler):
    """Writes each record as one line to whatever sys.stdout is when it is written."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


access_logger = logging.getLogger("digitpad.access")
access_logger.setLevel(logging.INFO)
# Lines go out exactly as formatted here; the server's log configuration would prefix them.
access_logger.propagate = False
if not access_logger.handlers:
    access_logger.addHandler(_StdoutHandler())


class ObservabilityMiddleware:
    """Times and counts every HTTP request, gives it a request id and a Server-Timing header, and writes its
    access log line.

    Add it last so it wraps the other middleware and sees their answers (413s, security headers) too.
    """

    def __init__(self, app: ASGIApp, access_log: AccessLogFormat = "off") -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        rid = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        before_routing = dict(scope)
        start = time.perf_counter()
        status = 500  # what the client gets if the app raises before it answers
        sent = 0
        spans: dict[str, float] = {}
        SERVER_TIMING.set(spans)

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REQUEST_ID_HEADER]
                headers.append((REQUEST_ID_HEADER, rid.encode("latin-1")))
                headers.append(
                    (SERVER_TIMING_HEADER, server_timing({"app": (time.perf_counter() - start) * 1000, **spans}))
                )
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - start
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
            route = route_template(scope, before_routing)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_REQUEST_SECONDS.labels(method, route).observe(seconds)
            if self.access_log != "off":
                self._log(before_routing, rid, route, status, seconds, sent)

    def _log(self, scope: Scope, rid: str, route: str, status: int, seconds: float, sent: int) -> None:
        path = scope["path"]
        fields = _access_fields(
            scope, seconds, request_id=rid, method=scope["method"], route=route, status=status, bytes=sent
        )
        if self.access_log == "json":
            access_logger.info(orjson.dumps(fields).decode())
        else:
            # The path is percent-decoded: escape it so that a %0A cannot start a forged line.
            access_logger.info(
                '%s "%s %s" %d %d %.1fms %s',
                fields["client"] or "-",
                fields["method"],
                path.encode("unicode_escape").decode("ascii"),
                status,
                sent,
                fields["duration_ms"],
                rid,
            )


def _access_fields(scope: Scope, seconds: float, **fields: Any) -> dict[str, Any]:
    """An access log line's fields: `fields` between what every line has (the time, the client and the
    path before them; the duration and the user agent after)."""
    client = scope.get("client")
    headers = dict(scope.get("headers", []))
    return {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "client": client[0] if client else None,
        "path": scope["path"],
        **fields,
        "duration_ms": round(seconds * 1000, 3),
        "user_agent": headers.get(b"user-agent", b"").decode("latin-1") or None,
    }


def log_socket(scope: Scope, access_log: AccessLogFormat, seconds: float, answered: int) -> None:
    """A live socket's access log line, once it has closed: a socket is one entry however many drawings it
    answered, with their number (the HTTP log's `bytes` has no meaning for it)."""
    if access_log == "off":
        return
    fields = _access_fields(scope, seconds, method="WEBSOCKET", route=scope["path"], status=101, drawings=answered)
    if access_log == "json":
        access_logger.info(orjson.dumps(fields).decode())
    else:
        access_logger.info(
            '%s "WEBSOCKET %s" 101 %d drawings %.1fms', fields["client"] or "-", scope["path"], answered, seconds * 1000
        )


def route_template(scope: Scope, before_routing: Scope) -> str:
    """The path template a request was routed by (`/api/models/{name}`), never the raw path, so that
    label values stay few."""
    route = scope.get("route")  # FastAPI's routes record themselves in the scope
    if route is None and "app" in scope:
        # Plain Starlette routes and mounts do not: find which one the path matches.
        route = next(
            (r for r in getattr(scope["app"], "routes", []) if r.matches(before_routing)[0] is Match.FULL), None
        )
    return getattr(route, "path_format", None) or UNMATCHED_ROUTE


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() == REQUEST_ID_HEADER:
            candidate = value.decode("latin-1").strip()
            return candidate if SANE_REQUEST_ID.fullmatch(candidate) else None
    return None
