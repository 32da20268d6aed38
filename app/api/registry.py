"""The models a server answers with, loaded once at start-up and described for the API and the page."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from app.config import Settings
from app.inference import layer_shape
from app.nn import manifest
from app.nn.network import Model, ModelFileError, load_model

logger = logging.getLogger(__name__)


@dataclass
class ModelRegistry:
    default: str
    models: dict[str, Model] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # name -> why it did not load
    # The inference threads of this worker, first come first served: more at once would only contend for
    # the same cores. A plain executor: handing work to anyio's thread pool costs ~80 us of CPU a call, this ~25.
    inference: ThreadPoolExecutor = field(default_factory=lambda: _inference_threads(1))
    # Turns at those threads, handed out in arrival order. Requests wait here rather than in the executor's
    # queue, so one whose client has gone by its turn is dropped instead of run for nobody.
    turns: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))

    @classmethod
    def load(cls, settings: Settings) -> ModelRegistry:
        registry = cls(settings.default_model, inference=_inference_threads(settings.inference_threads),
                       turns=asyncio.Semaphore(settings.inference_threads))
        for name in settings.models:
            path = settings.model_dir / f"{name}.npz"
            try:
                manifest.verify(path)  # before parsing: a file that fails its sum is never read
                registry.models[name] = load_model(path)
            except ModelFileError as exc:
                registry.failures[name] = str(exc)
                logger.error("Model %s not loaded from %s: %s", name, path, exc)
        if settings.default_model not in settings.models:
            registry.failures[settings.default_model] = (
                f"The default model {settings.default_model!r} is not among DIGITPAD_MODELS.")
        return registry

    @property
    def ready(self) -> bool:
        return not self.failures and self.default in self.models

    def get(self, name: str | None) -> Model | None:
        return self.models.get(name or self.default)

    def describe(self) -> list[dict[str, Any]]:
        return [describe(model) for model in self.models.values()]


def _inference_threads(count: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(count, thread_name_prefix="inference")


def describe(model: Model) -> dict[str, Any]:
    """A model as GET /api/models lists it."""
    network = model.network
    test = model.meta.get("metrics", {}).get("test", {})
    return {
        "name": model.name,
        "title": network.arch.title,
        "description": network.arch.description,
        "parameters": network.parameter_count,
        "layers": [{"name": info.name, "kind": info.kind, "shape": layer_shape(info)} for info in network.visible],
        "test_accuracy": test.get("accuracy"),
    }
