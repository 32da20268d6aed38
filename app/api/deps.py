"""Dependencies the routes declare: the settings, the loaded models, the templates and the chosen model.

They are coroutines although none awaits anything: FastAPI runs a plain function dependency in its
thread pool, a thread hop per dependency per request (together ~280 us of a 1.5 ms prediction)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from starlette.templating import Jinja2Templates

from app.api.errors import ApiError
from app.api.registry import ModelRegistry
from app.config import Settings
from app.nn.network import Model


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


async def get_templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]


def find_model(registry: ModelRegistry, name: str | None) -> Model:
    """The model called `name` (the server's default when None). Raises ApiError 404 unknown_model."""
    model = registry.get(name)
    if model is None:
        known = ", ".join(sorted(registry.models)) or "none"
        raise ApiError(404, "unknown_model", f"There is no model called {name or registry.default!r}; "
                                             f"the models here are: {known}.")
    return model


async def query_model(registry: RegistryDep,
                      model: Annotated[str | None, Query(description="Model name; the server's default when absent.",
                                                         max_length=64, examples=["cnn"])] = None) -> Model:
    return find_model(registry, model)


ModelDep = Annotated[Model, Depends(query_model)]
