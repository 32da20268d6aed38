"""The DigitPad web app, assembled: settings, models, routers, static files, templates and middleware.

Run it with `digitpad serve`, or `uvicorn app.main:app` with OPENBLAS_NUM_THREADS=1 and OMP_NUM_THREADS=1
set so several workers do not oversubscribe the cores (`digitpad serve` sets them).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from app import __version__
from app.config import Settings, get_settings
from app.core.process import keep_freed_memory
from app.core.registry import ModelRegistry
from app.core.storage.database import Storage
from app.core.training import TrainingService
from app.web.connections import HEAD_LIMITS, HeadLimits
from app.web.errors import install_error_handlers
from app.web.middleware import (
    BodyLimitMiddleware,
    HeadMiddleware,
    SecurityHeadersMiddleware,
    UnexpectedErrorMiddleware,
)
from app.web.observability import ObservabilityMiddleware
from app.web.openapi import EVERY_ROUTE_ERRORS, openapi_document
from app.web.predictions import InferenceTurns
from app.web.routes import corrections, docs, explain, health, metrics, models, pages, predict, read, review, training
from app.web.training import Dispatcher, Stopping

logger = logging.getLogger(__name__)

DESCRIPTION = """Draw a digit, watch the network think.

Every error is JSON `{"detail": "<a sentence>", "code": "<machine code>"}`. Unknown query parameters are
ignored. Every GET operation also answers HEAD: the same status and headers, without the body.

A request body must arrive in full within DIGITPAD_BODY_TIMEOUT seconds (default 30), else the answer is
408 `request_timeout`. Under `digitpad serve`, the request line and headers must fit in
DIGITPAD_MAX_HEAD_BYTES (default 64 KiB; 431 `request_header_too_large`) and arrive within
DIGITPAD_HEAD_TIMEOUT seconds (default 10; 408 `request_timeout`).

Live guesses, for a client that guesses while someone draws: the WebSockets `/api/predict/live` and
`/api/read/live` (not listed below, as OpenAPI has no WebSockets) take the same query parameters as their
POST routes. Each message is one drawing (an image's bytes as a binary message, or the POST's JSON body as
a text message) and gets one text message back, in order: the POST's JSON answer, or its error with the
status the POST would have given, `{"detail", "code", "status"}`."""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    settings: Settings = app.state.settings
    # A finished prediction's response waits for the event loop to get the GIL back from the inference
    # thread, by default for up to 5 ms (four predictions' time) while the next prediction runs: 1 ms
    # roughly halved p99 at 64 connections in our runs (benchmarks/http.py, docs/performance.md).
    sys.setswitchinterval(0.001)
    keep_freed_memory()  # every worker: batches reuse their buffers instead of faulting in fresh pages
    registry = await anyio.to_thread.run_sync(ModelRegistry.load, settings)
    app.state.registry = registry
    app.state.inference = inference = InferenceTurns(settings.inference_threads)
    if registry.ready:
        logger.info("Loaded models %s from %s", ", ".join(registry.models), settings.model_dir)
    else:
        logger.error("Not ready: %s", " ".join(registry.failures.values()))
    storage: Storage | None = None
    if settings.corrections:
        # A database that is down is no reason not to serve predictions: requests for corrections retry it.
        app.state.storage = storage = Storage(settings)
        await storage.open()
    dispatcher = None
    if settings.training:
        service = await anyio.to_thread.run_sync(TrainingService, settings)
        registry.trained = service.models
        app.state.training = service
        app.state.dispatcher = dispatcher = Dispatcher(service)
        app.state.stopping = stopping = Stopping()
        stopping.install()
        dispatcher.start()
    # The app state uvicorn gives every connection: `digitpad serve`'s protocol reads its head limits there.
    yield {HEAD_LIMITS: HeadLimits.of(settings)}
    if dispatcher is not None:
        await dispatcher.stop()  # this worker's training processes end with it
    inference.shutdown()
    if storage is not None:
        await anyio.to_thread.run_sync(storage.close)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logging.getLogger("app").setLevel(settings.log_level.upper())

    app = FastAPI(
        title="DigitPad",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        responses=EVERY_ROUTE_ERRORS,
    )
    app.openapi = partial(openapi_document, app)  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.templates = Jinja2Templates(directory=settings.templates_dir)
    install_error_handlers(app)

    areas = (predict, read, explain, models, health, metrics, pages, docs, *((training,) if settings.training else ()))
    for area in areas:
        app.include_router(area.router)
    if settings.corrections:
        app.include_router(corrections.router)
        if settings.admin_token is not None:  # no token, no review: the routes do not exist
            app.include_router(corrections.admin)
            app.include_router(review.router)
    if settings.static_dir.is_dir():
        app.mount("/static", StaticFiles(directory=settings.static_dir), name="static")
    app.mount(docs.ASSETS_PATH, StaticFiles(directory=docs.ASSETS_DIR), name="docs-assets")

    # Added innermost first: security headers wrap everything, so errors and 413s carry them too.
    app.add_middleware(HeadMiddleware, routes=app.router.routes)
    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.max_body_bytes,
        timeout=settings.body_timeout,
        path_limits={"/api/predict/batch": settings.max_batch_body_bytes},
    )
    app.add_middleware(UnexpectedErrorMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Content-Type"],
        )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(ObservabilityMiddleware, access_log=settings.access_log)
    return app


app = create_app()
