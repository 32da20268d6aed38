"""Dependencies the routes declare: the settings, the loaded models, the inference turns, the templates and
the chosen model.

They are coroutines although none awaits anything: FastAPI runs a plain function dependency in its
thread pool, a thread hop per dependency per request (together ~280 us of a 1.5 ms prediction)."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Query, Request
from starlette.templating import Jinja2Templates

from app.config import Settings
from app.core.registry import ModelRegistry
from app.nn.network import Model
from app.web.predictions import InferenceTurns


async def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def app_registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


async def app_inference(request: Request) -> InferenceTurns:
    inference: InferenceTurns = request.app.state.inference
    return inference


async def app_templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


SettingsDep = Annotated[Settings, Depends(app_settings)]
RegistryDep = Annotated[ModelRegistry, Depends(app_registry)]
InferenceDep = Annotated[InferenceTurns, Depends(app_inference)]
TemplatesDep = Annotated[Jinja2Templates, Depends(app_templates)]


async def query_model(
    registry: RegistryDep,
    model: Annotated[
        str | None, Query(description="Model name; the server's default when absent.", max_length=64, examples=["cnn"])
    ] = None,
) -> Model:
    return await find_model(registry, model)


async def find_model(registry: ModelRegistry, name: str | None) -> Model:
    """registry.find, off the event loop when it has to read a trained model's file first."""
    if registry.in_memory(name):
        return registry.find(name)
    return await anyio.to_thread.run_sync(registry.find, name)


ModelDep = Annotated[Model, Depends(query_model)]
