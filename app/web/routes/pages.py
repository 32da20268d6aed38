"""GET /: the drawing page; GET /train: the training lab; and the configuration each reads from the server
instead of copying it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from app import __version__
from app.config import Settings
from app.core.registry import ModelRegistry
from app.nn import lab, preprocess
from app.nn.strokes import PAD_SIZE, PEN_WIDTH
from app.web.deps import RegistryDep, SettingsDep, TemplatesDep
from app.web.responses import model_json

router = APIRouter(tags=["pages"])


def page_config(registry: ModelRegistry, training: bool = False) -> dict[str, Any]:
    """What the page needs to know: the models with their layers, and how to draw what the server reads."""
    return {
        "models": [model_json(m) for m in registry.models.values()],
        "default_model": registry.default,
        "training": training,  # whether the lab is on: the page links to it
        "pad": {
            "size": PAD_SIZE,  # the side of the image the page sends
            "pen_width": PEN_WIDTH,  # as a fraction of the side
            "ink_alpha": preprocess.MIN_INK_ALPHA,  # the alpha a pixel needs to count as ink
            # ink spanning less than this fraction of the side, or these pixels, is a speck, not a digit
            "min_extent": preprocess.MIN_EXTENT,
            "min_extent_px": preprocess.MIN_EXTENT_PX,
        },
    }


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(request: Request, registry: RegistryDep, templates: TemplatesDep) -> Response:
    config = page_config(registry, request.app.state.settings.training)
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


ARCHITECTURE_TITLES = {
    "logreg": "Softmax regression",
    "mlp": "Multilayer perceptron",
    "cnn": "Small convolutional network",
}


def lab_config(settings: Settings) -> dict[str, Any]:
    """What the training page needs to know: the settings' ranges (within this server's caps), the presets
    and the probe digit."""
    caps = {"epochs": settings.training_max_epochs, "train_size": settings.training_max_examples}
    limits = {
        key: {
            "min": limit.low,
            "max": min(limit.high, caps.get(key, limit.high)),
            "default": limit.default,
            "min_exclusive": limit.low_exclusive,
        }
        for key, limit in lab.LIMITS.items()
    }
    return {
        "architectures": [
            {
                "name": name,
                "title": ARCHITECTURE_TITLES[name],
                "hidden_layers": list(lab.HIDDEN_LAYERS[name]),
                "default_hidden": list(lab.DEFAULT_HIDDEN[name]),
                "default_activation": lab.DEFAULT_ACTIVATION[name],
            }
            for name in lab.ARCHITECTURES
        ],
        "activations": list(lab.ACTIVATIONS),
        "hidden_units": {
            "min": lab.HIDDEN_UNITS.low,
            "max": lab.HIDDEN_UNITS.high,
            "default": lab.HIDDEN_UNITS.default,
        },
        "limits": limits,
        "presets": [preset.to_json() for preset in lab.PRESETS],
        "probe": lab.probe_digit(),
        "validation": {"first": lab.POOL_SIZE, "count": lab.VALIDATION_SIZE},
        "max_seconds": settings.training_max_seconds,
        "cnn": {"filters": list(lab.CNN_FILTERS), "kernel": lab.CNN_KERNEL},
    }


@router.api_route("/train", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
async def train_page(request: Request, settings: SettingsDep, templates: TemplatesDep) -> Response:
    if not settings.training:  # the lab is off: there is no such page
        raise HTTPException(404)
    return templates.TemplateResponse(request, "train.html", {"config": lab_config(settings), "version": __version__})
