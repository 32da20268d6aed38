"""GET /: the drawing page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from app import __version__
from app.api.deps import RegistryDep, TemplatesDep
from app.nn.data import PEN_WIDTH

router = APIRouter(tags=["pages"])


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(request: Request, registry: RegistryDep, templates: TemplatesDep) -> Response:
    return templates.TemplateResponse(request, "index.html", {
        "models": registry.describe(), "default_model": registry.default, "pen_width": PEN_WIDTH,
        "version": __version__,
    })
