"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from app.web.deps import RegistryDep
from app.web.errors import error_response
from app.web.responses import OrjsonResponse
from app.web.schemas import HealthOut, ReadyOut, error_responses

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut, summary="The process is alive")
async def healthz() -> Response:
    return OrjsonResponse({"status": "ok"})


@router.get("/readyz", response_model=ReadyOut, responses=error_responses("not_ready"), summary="Every model is loaded")
async def readyz(registry: RegistryDep) -> Response:
    if not registry.ready:
        reasons = " ".join(registry.failures.values()) or f"The default model {registry.default!r} is not loaded."
        return error_response("not_ready", f"Not ready: {reasons}")
    return OrjsonResponse({"status": "ready", "models": sorted(registry.models)})
