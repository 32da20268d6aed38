"""GET /: the drawing page, and the configuration it reads from the server instead of copying it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from app import __version__
from app.core.registry import ModelRegistry
from app.nn import preprocess
from app.nn.strokes import PAD_SIZE, PEN_WIDTH
from app.web.deps import RegistryDep, SettingsDep, TemplatesDep
from app.web.responses import model_json

router = APIRouter(tags=["pages"])


def page_config(registry: ModelRegistry, corrections: bool = True) -> dict[str, Any]:
    """What the page needs to know: the models with their layers, how to draw what the server reads, and
    whether it keeps corrections."""
    return {
        "corrections": corrections,
        "models": [model_json(m) for m in registry.models.values()],
        "default_model": registry.default,
        "pad": {
            "size": PAD_SIZE,  # the side of the image the page sends
            "pen_width": PEN_WIDTH,  # as a fraction of the side
            "ink_alpha": preprocess.MIN_INK_ALPHA,  # the alpha a pixel needs to count as ink
            # ink spanning less than this fraction of the side, or these pixels, is a speck, not a digit
            "min_extent": preprocess.MIN_EXTENT,
            "min_extent_px": preprocess.MIN_EXTENT_PX,
        },
    }


@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
async def index(request: Request, registry: RegistryDep, templates: TemplatesDep, settings: SettingsDep) -> Response:
    config = page_config(registry, settings.corrections)
    return templates.TemplateResponse(
        request,
        "index.html",
        {
            "models": config["models"],
            "default_model": registry.default,
            "config": config,
            "version": __version__,
        },
    )
