"""What the API's answers look like: JSON encoded by orjson (thousands of floats in well under a
millisecond), predictions with their activations quantised to bytes so an answer stays small, and models
as GET /api/models and the page describe them."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import orjson
from starlette.responses import Response

from app.core.explanations import Explanation, StimulusSource
from app.core.inference import Prediction
from app.nn.network import LayerInfo, Model
from app.nn.stimuli import SOURCE, UnitStimuli

MAP_DECIMALS = 4


class OrjsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def prediction_json(prediction: Prediction) -> dict[str, Any]:
    """A prediction as POST /api/predict answers it; `layers` only when it carries activations."""
    out: dict[str, Any] = {
        "model": prediction.model,
        "prediction": prediction.prediction,
        "guesses": [{"digit": g.digit, "probability": g.probability} for g in prediction.guesses],
        "probabilities": prediction.probabilities,
        "input": {"width": 28, "height": 28, "bits": prediction.input.bit_string()},
    }
    if prediction.activations is not None:
        out["layers"] = [encode_activations(info, values) for info, values in prediction.activations]
    out["timings_ms"] = prediction.timings_ms
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
    return {
        "name": info.name,
        "kind": info.kind,
        "shape": layer_shape(info),
        "min": lo,
        "max": hi,
        "data": base64.b64encode(q.tobytes()).decode("ascii"),
    }


def model_json(model: Model) -> dict[str, Any]:
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


def explanation_json(explanation: Explanation) -> dict[str, Any]:
    """An explanation as POST /api/explain answers it: the prediction without activations, and a map per digit."""
    out = prediction_json(explanation.prediction)
    timings = out.pop("timings_ms")
    out["explanations"] = [
        {"digit": d, "method": explanation.method, "map": np.round(m, MAP_DECIMALS).tolist()}
        for d, m in zip(explanation.digits, explanation.maps, strict=True)
    ]
    out["timings_ms"] = timings
    return out


def stimuli_json(model: str, stimuli: UnitStimuli, source: StimulusSource) -> dict[str, Any]:
    """A unit's stimuli as GET /api/models/{model}/layers/{layer}/units/{index}/stimuli answers them."""
    top = []
    for s in stimuli.top:
        item: dict[str, Any] = {
            "bits": source.bit_string(s.source),
            "label": s.label,
            "activation": s.activation,
            "source": f"{SOURCE}:{s.source}",
        }
        if s.logit is not None:
            item["logit"] = s.logit
        if s.box is not None:
            item["box"] = list(s.box)
        top.append(item)
    optimal: dict[str, Any] = {
        "map": np.round(stimuli.optimal, MAP_DECIMALS).tolist(),
        "activation": stimuli.optimal_activation,
    }
    if stimuli.optimal_logit is not None:
        optimal["logit"] = stimuli.optimal_logit
    return {"model": model, "layer": stimuli.layer, "unit": stimuli.unit, "top": top, "optimal": optimal}
