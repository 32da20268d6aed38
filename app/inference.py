"""One drawing or many through a model: the guesses, the probabilities and, for the page, the
activations of every layer, quantised to bytes so an answer stays small and cheap to encode."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.nn.network import LayerInfo, Model
from app.nn.preprocess import Preprocessed, preprocess


@dataclass(frozen=True)
class Guess:
    digit: int
    probability: float


@dataclass
class Prediction:
    model: str
    guesses: list[Guess]
    probabilities: list[float]
    bits: str
    layers: list[dict[str, Any]] | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def prediction(self) -> int:
        return self.guesses[0].digit

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model, "prediction": self.prediction,
            "guesses": [{"digit": g.digit, "probability": g.probability} for g in self.guesses],
            "probabilities": self.probabilities,
            "input": {"width": 28, "height": 28, "bits": self.bits},
        }
        if self.layers is not None:
            out["layers"] = self.layers
        out["timings_ms"] = self.timings_ms
        return out


def layer_shape(info: LayerInfo) -> list[int]:
    """A layer's shape as the API gives it: feature maps channel first, (C, H, W)."""
    if len(info.shape) == 3:
        h, w, c = info.shape
        return [c, h, w]
    return list(info.shape)


def encode_activations(info: LayerInfo, values: np.ndarray) -> dict[str, Any]:
    """One layer's activations as bytes: value = min + byte / 255 * (max - min), row-major in `shape`."""
    if values.ndim == 3:
        values = values.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W): each map contiguous
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo
    q = np.zeros(values.shape, np.uint8) if span <= 0 else np.rint((values - lo) * (255 / span)).astype(np.uint8)
    return {"name": info.name, "kind": info.kind, "shape": layer_shape(info), "min": lo, "max": hi,
            "data": base64.b64encode(q.tobytes()).decode("ascii")}


def _guesses(probs: np.ndarray, top_k: int) -> list[Guess]:
    order = np.argsort(-probs, kind="stable")[:top_k]
    return [Guess(int(d), round(float(probs[d]), 6)) for d in order]


def predict_image(model: Model, image: np.ndarray, top_k: int = 2, activations: bool = True) -> Prediction:
    """Preprocess one drawing and run it. Raises BlankDrawing when there is no digit to read."""
    start = time.perf_counter()
    pre = preprocess(image)
    prepared = time.perf_counter()
    return predict_preprocessed(model, pre, top_k, activations, {"preprocess": _ms(start, prepared)})


def predict_preprocessed(model: Model, pre: Preprocessed, top_k: int = 2, activations: bool = True,
                         timings: dict[str, float] | None = None) -> Prediction:
    start = time.perf_counter()
    if activations:
        probs, acts = model.network.trace(pre.bits)
        layers = [encode_activations(info, values) for info, values in acts]
    else:
        probs, layers = model.network.predict_proba(pre.bits[None])[0], None
    timings = {**(timings or {}), "forward": _ms(start, time.perf_counter())}
    return Prediction(model.name, _guesses(probs, top_k), [round(float(p), 6) for p in probs],
                      pre.bit_string(), layers, timings)


def predict_batch(model: Model, inputs: list[Preprocessed], top_k: int = 2) -> list[Prediction]:
    """Many preprocessed drawings through one forward pass."""
    if not inputs:
        return []
    start = time.perf_counter()
    probs = model.network.predict_proba(np.stack([p.bits for p in inputs]))
    per_image = {"forward": _ms(start, time.perf_counter()) / len(inputs)}
    return [Prediction(model.name, _guesses(p, top_k), [round(float(v), 6) for v in p], pre.bit_string(), None,
                       dict(per_image)) for p, pre in zip(probs, inputs, strict=True)]


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000, 3)
