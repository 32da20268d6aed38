"""Dependencies the routes declare: the settings, the loaded models, the inference turns, the corrections
database, the templates, and for the routes that read drawings the chosen model with the turns and
settings (`Reader`).

They are coroutines although none awaits anything: FastAPI runs a plain function dependency in its
thread pool, a thread hop per dependency per request (together ~280 us of a 1.5 ms prediction)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.templating import Jinja2Templates

from app.config import Settings
from app.core.registry import ModelRegistry
from app.core.storage.database import Storage
from app.nn.network import Model
from app.web.errors import ApiError
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


async def app_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


async def app_templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


SettingsDep = Annotated[Settings, Depends(app_settings)]
RegistryDep = Annotated[ModelRegistry, Depends(app_registry)]
InferenceDep = Annotated[InferenceTurns, Depends(app_inference)]
TemplatesDep = Annotated[Jinja2Templates, Depends(app_templates)]
StorageDep = Annotated[Storage, Depends(app_storage)]


ModelName = Annotated[
    str | None, Query(description="Model name; the server's default when absent.", max_length=64, examples=["cnn"])
]


async def find_model(registry: ModelRegistry, name: str | None) -> Model:
    """registry.find, off the event loop when it has to read a trained model's file first."""
    if registry.in_memory(name):
        return registry.find(name)
    return await anyio.to_thread.run_sync(registry.find, name)


@dataclass(frozen=True)
class Reader:
    """What a route that reads drawings needs (the model its query chose, the inference turns, the
    settings), as one dependency: FastAPI's resolving of each costs tens of microseconds of CPU a request,
    and a prediction's route spends more on that than on anything of its own but the work."""

    model: Model
    inference: InferenceTurns
    settings: Settings


async def drawing_reader(request: Request, model: ModelName = None) -> Reader:
    state = request.app.state
    return Reader(await find_model(state.registry, model), state.inference, state.settings)


ReaderDep = Annotated[Reader, Depends(drawing_reader)]


# Declares the scheme in the OpenAPI document (Swagger UI's "Authorize"); the check is require_admin's.
ADMIN_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="adminToken",
    description="The operator's token, DIGITPAD_ADMIN_TOKEN, for the review page's API.",
)


async def require_admin(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(ADMIN_BEARER)]
) -> None:
    """The operator's token in `Authorization: Bearer <token>`. A header, never a cookie or a URL: a page on
    another site cannot send it (CORS), so no forged request can delete anything, and no log records it."""
    expected = settings.admin_token.get_secret_value() if settings.admin_token else ""
    token = credentials.credentials.strip() if credentials else ""
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise ApiError(
            "unauthorized",
            "This needs the admin token (DIGITPAD_ADMIN_TOKEN) in the header `Authorization: Bearer <token>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )


AdminDep = Depends(require_admin)
