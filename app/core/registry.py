"""The models a server answers with: the shipped ones, loaded once at start-up, each verified against the
manifest first, with the stimulus index beside each one (what its units learned) when there is one that
describes it; and the lab's trained models (`lab-...`), found by name in the folder every worker shares."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from app.config import Settings
from app.core.errors import UnknownModel
from app.core.explanations import StimulusSource
from app.core.trained import TrainedModels
from app.nn import manifest
from app.nn.data import DataError, bundled_mnist
from app.nn.judge import judge_for, judge_path
from app.nn.network import Model, ModelFileError, load_model
from app.nn.stimuli import StimulusIndex, StimulusIndexError, index_path, load_index, source_digest

logger = logging.getLogger(__name__)


@dataclass
class ModelRegistry:
    default: str
    models: dict[str, Model] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # name -> why it did not load
    trained: TrainedModels | None = None  # the lab's models, when the lab is on
    indexes: dict[str, StimulusIndex] = field(default_factory=dict)
    no_index: dict[str, str] = field(default_factory=dict)  # name -> why it has no stimuli to show
    stimulus_source: StimulusSource | None = None

    @classmethod
    def load(cls, settings: Settings) -> ModelRegistry:
        registry = cls(settings.default_model)
        for name in settings.models:
            path = settings.model_dir / f"{name}.npz"
            try:
                manifest.verify(path)  # before parsing: a file that fails its sum is never read
                registry.models[name] = load_model(path, judge=False)
            except ModelFileError as exc:
                registry.failures[name] = str(exc)
                logger.error("Model %s not loaded from %s: %s", name, path, exc)
                continue
            registry._load_judge(name, path)
        registry._load_indexes(settings)
        if settings.default_model not in settings.models:
            registry.failures[settings.default_model] = (
                f"The default model {settings.default_model!r} is not among DIGITPAD_MODELS."
            )
        return registry

    def _load_judge(self, name: str, path: Path) -> None:
        """A model's piece judge, verified against the manifest first. A model without one reads numbers
        without it; one that fails its sum, is unreadable or was fitted to another model file makes the
        server not ready, naming the file, and the model reads numbers without it."""
        where = judge_path(path)
        if not where.is_file():
            logger.warning("Model %s has no piece judge at %s: it reads numbers without one.", name, where)
            return
        try:
            manifest.verify(where)
            self.models[name].judge = judge_for(path)
        except ModelFileError as exc:
            self.failures[f"{name} judge"] = str(exc)
            logger.error("Piece judge of model %s not loaded: %s", name, exc)

    def _load_indexes(self, settings: Settings) -> None:
        """Each loaded model's stimulus index. A model without one still serves (it shows no stimuli); an
        index that fails its sum, is unreadable or was built for another model file makes the server not
        ready, naming the file: serving it would show stimuli of some other network."""
        paths = {name: index_path(settings.model_dir / f"{name}.npz") for name in self.models}
        present = [name for name, path in paths.items() if path.is_file()]
        for name, path in paths.items():
            if name not in present:
                self.no_index[name] = (
                    f"Model {name!r} has no stimulus index ({path.name}); `digitpad index` builds one for "
                    f"every model in {settings.model_dir}."
                )
                logger.warning("Model %s has no stimulus index at %s: it shows no stimuli.", name, path)
        if not present:
            return
        try:
            bits, labels = bundled_mnist("test")
        except DataError as exc:
            for name in present:
                self._index_failed(name, str(exc))
            return
        self.stimulus_source = StimulusSource(bits, labels)
        digest = source_digest(bits, labels)
        sums = manifest.read_manifest(settings.model_dir)
        for name in present:
            try:
                manifest.verify(paths[name])
                index = load_index(paths[name])
                index.check(sums[f"{name}.npz"], digest)
            except (ModelFileError, StimulusIndexError) as exc:
                self._index_failed(name, str(exc))
                continue
            self.indexes[name] = index

    def _index_failed(self, name: str, reason: str) -> None:
        self.failures[f"{name} stimuli"] = reason
        self.no_index[name] = reason
        logger.error("Stimulus index of model %s not loaded: %s", name, reason)

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
