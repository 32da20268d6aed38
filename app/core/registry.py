"""The models a server answers with: the shipped ones, loaded once at start-up, each verified against the
manifest first; and the lab's trained models (`lab-...`), found by name in the folder every worker shares."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from app.config import Settings
from app.core.errors import UnknownModel
from app.core.trained import TrainedModels
from app.nn import manifest
from app.nn.network import Model, ModelFileError, load_model

logger = logging.getLogger(__name__)


@dataclass
class ModelRegistry:
    default: str
    models: dict[str, Model] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # name -> why it did not load
    trained: TrainedModels | None = None  # the lab's models, when the lab is on

    @classmethod
    def load(cls, settings: Settings) -> ModelRegistry:
        registry = cls(settings.default_model)
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
                f"The default model {settings.default_model!r} is not among DIGITPAD_MODELS."
            )
        return registry

    @property
    def ready(self) -> bool:
        return not self.failures and self.default in self.models

    def find(self, name: str | None) -> Model:
        """The model called `name` (the default when None). Raises UnknownModel; a trained model's name
        may also raise UnknownTrainedModel, and may read its file (see `in_memory`)."""
        model = self.models.get(name or self.default)
        if model is None and self.trained is not None and self.trained.is_trained_name(name):
            return self.trained.find(str(name))
        if model is None:
            raise UnknownModel(name or self.default, list(self.models))
        return model

    def in_memory(self, name: str | None) -> bool:
        """Whether `find(name)` answers without reading a file (a trained model not loaded yet reads one)."""
        if self.trained is None or not self.trained.is_trained_name(name):
            return True
        return self.trained.in_memory(str(name))
