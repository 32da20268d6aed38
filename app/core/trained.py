"""The lab's trained models by name (`lab-<key>`), for whichever worker is asked: loaded from the shared data
folder, checked against the digest their run recorded, and kept in memory for a while."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from app.core.errors import DigitPadError
from app.core.runs import MODEL_NAME, MODEL_PREFIX, RunFiles, key_of_model, touch
from app.nn.network import Model, ModelFileError, load_model

logger = logging.getLogger(__name__)

USED_TOUCH_S = 60.0  # how often a worker records that a model in its memory is still being used


class UnknownTrainedModel(DigitPadError):
    def __init__(self, name: str, ttl: float) -> None:
        super().__init__(
            "unknown_model",
            f"There is no trained model {name!r} here: a trained model is kept for {ttl / 60:g} minutes after "
            "its last use. Train it again on /train (the same settings give the same model).",
        )


@dataclass
class _Loaded:
    model: Model
    loaded: float
    touched: float = field(default=0.0)


class TrainedModels:
    """Trained models by name (`lab-<key>`): loaded from the shared folder by whichever worker is asked,
    kept in its memory for `ttl` seconds after their last use, at most `cap` of them."""

    def __init__(self, runs: Path, ttl: float, cap: int) -> None:
        self.runs, self.ttl, self.cap = runs, ttl, cap
        self.loaded: OrderedDict[str, _Loaded] = OrderedDict()
        self.lock = threading.Lock()

    @staticmethod
    def is_trained_name(name: str | None) -> bool:
        return bool(name) and MODEL_NAME.match(name or "") is not None

    def in_memory(self, name: str) -> bool:
        with self.lock:
            return name in self.loaded

    def find(self, name: str) -> Model:
        """The trained model called `name`. Raises UnknownTrainedModel."""
        now = time.monotonic()
        with self.lock:
            for stale in [n for n, e in self.loaded.items() if now - max(e.loaded, e.touched) > self.ttl]:
                del self.loaded[stale]
            entry = self.loaded.get(name)
            if entry is not None:
                self.loaded.move_to_end(name)
                if now - entry.touched > USED_TOUCH_S:
                    entry.touched = now
                    touch(self.runs / name[len(MODEL_PREFIX) :] / "used")
                return entry.model
        model = self._load(name)
        with self.lock:
            self.loaded[name] = _Loaded(model, now, now)
            while len(self.loaded) > self.cap:
                self.loaded.popitem(last=False)
        return model

    def _load(self, name: str) -> Model:
        key = key_of_model(name)
        run = RunFiles(self.runs / key) if key else None
        state = run.state() if run else None
        if run is None or state is None or state.get("status") != "done":
            raise UnknownTrainedModel(name, self.ttl)
        try:
            data = run.model_path.read_bytes()
            if hashlib.sha256(data).hexdigest() != state.get("sha256"):
                raise ModelFileError(f"Model file {run.model_path} does not match the digest its run recorded.")
            model = load_model(run.model_path)
        except (OSError, ModelFileError) as exc:
            logger.error("Trained model %s not loaded: %s", name, exc)
            raise UnknownTrainedModel(name, self.ttl) from exc
        touch(run.used)
        return model
