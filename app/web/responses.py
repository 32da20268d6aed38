"""What the API's answers look like: JSON encoded by orjson (thousands of floats in well under a
millisecond), predictions with their activations quantised to bytes so an answer stays small, and models
as GET /api/models and the page describe them."""

from __future__ import annotations

import binascii
from collections import Counter
from typing import Any

import numpy as np
import orjson
from starlette.responses import Response

from app.core.corrections import DIGITS, Correction, Stats
from app.core.explanations import Explanation, StimulusSource
from app.core.inference import Prediction
from app.core.numbers import Reading
from app.nn.layers import Conv2D, MaxPool2D
from app.nn.network import LayerInfo, Model, Network
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


def reading_json(reading: Reading) -> dict[str, Any]:
    """A number as POST /api/read answers it: the text, then each digit left to right, its box in the
    posted image's pixels and its prediction as /api/predict gives one (without model and timings)."""
    digits = []
    for digit in reading.digits:
        prediction = prediction_json(digit.prediction)
        del prediction["model"], prediction["timings_ms"]
        digits.append({"box": list(digit.box), **prediction})
    return {"model": reading.model, "text": reading.text, "digits": digits, "timings_ms": reading.timings_ms}


def layer_shape(info: LayerInfo) -> list[int]:
    """A layer's shape as the API gives it: feature maps channel first, (C, H, W)."""
    if len(info.shape) == 3:
        h, w, c = info.shape
        return [c, h, w]
    return list(info.shape)


def encode_activations(info: LayerInfo, values: np.ndarray) -> dict[str, Any]:
    """One layer's activations as bytes: value = min + byte / 255 * (max - min), row-major in `shape`.

    The arithmetic runs on the values as the network laid them out, (H, W, C), in one buffer: on the
    (C, H, W) view NumPy visits runs of one number. Only the bytes are put in map order, in one copy.
    """
    lo, hi = float(values.min()), float(values.max())  # Python floats: the arithmetic stays float32
    span = hi - lo
    if span <= 0:
        q = np.zeros(values.shape, np.uint8)
    else:
        scaled = np.subtract(values, lo)
        scaled *= 255 / span
        q = np.rint(scaled, out=scaled).astype(np.uint8)
    if q.ndim == 3:
        q = q.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W): each map contiguous
    return {
        "name": info.name,
        "kind": info.kind,
        "shape": layer_shape(info),
        "min": lo,
        "max": hi,
        "data": binascii.b2a_base64(np.ascontiguousarray(q).data, newline=False).decode("ascii"),
    }


# What the page calls a layer of each kind; a model with several of a kind numbers them.
LAYER_TITLES = {
    "input": "Input",
    "conv": "Convolution",
    "pool": "Downsampling",
    "dense": "Hidden layer",
    "output": "Output",
}


def layer_titles(infos: list[LayerInfo]) -> list[str]:
    """Each visible layer's title, e.g. "Convolution 1", "Downsampling 2", "Hidden layer (fully connected)"."""
    of_kind = Counter(info.kind for info in infos)
    seen: Counter[str] = Counter()
    titles = []
    for info in infos:
        seen[info.kind] += 1
        title = LAYER_TITLES.get(info.kind, info.name)
        if of_kind[info.kind] > 1:
            title += f" {seen[info.kind]}"
        if info.kind == "dense":
            title += " (fully connected)"
        titles.append(title)
    return titles


def layer_json(network: Network, info: LayerInfo, title: str) -> dict[str, Any]:
    """A visible layer as the page draws and explains it: the window a unit reads where there is one."""
    out: dict[str, Any] = {"name": info.name, "kind": info.kind, "shape": layer_shape(info), "title": title}
    # The layer itself (the input has none), not the activation folded into it that `info.index` names.
    layer = network.layers[network.names.index(info.name)] if info.kind != "input" else None
    if isinstance(layer, Conv2D):
        out["kernel"] = layer.kernel
    elif isinstance(layer, MaxPool2D):
        out["size"] = layer.size
    return out


def model_json(model: Model) -> dict[str, Any]:
    """A model as GET /api/models lists it."""
    network = model.network
    test = model.meta.get("metrics", {}).get("test", {})
    titles = layer_titles(network.visible)
    return {
        "name": model.name,
        "title": network.arch.title,
        "description": network.arch.description,
        "parameters": network.parameter_count,
        "layers": [layer_json(network, info, title) for info, title in zip(network.visible, titles, strict=True)],
        "test_accuracy": test.get("accuracy"),
    }


def input_json(bits: np.ndarray) -> dict[str, Any]:
    """The network's input as the API gives it: 784 characters of 0 and 1, row by row."""
    height, width = bits.shape
    return {"width": width, "height": height, "bits": (bits.reshape(-1) + ord("0")).astype(np.uint8).tobytes().decode()}


def correction_stats_json(stats: Stats) -> dict[str, Any]:
    """Correction counts as GET /api/corrections/stats gives them: every digit present, as a string key."""
    rates = {str(d): None if (rate := stats.misread_rate(d)) is None else round(rate, 4) for d in DIGITS}
    return {
        "total": stats.total,
        "confirmations": stats.confirmations,
        "by_label": {str(d): stats.by_label[d] for d in DIGITS},
        "by_model": stats.by_model,
        "misread_rate": rates,
    }


def stored_correction_json(correction: Correction) -> dict[str, Any]:
    """A stored correction as the review API lists it."""
    return {
        "id": correction.id,
        "created_at": correction.created_at.isoformat(timespec="seconds"),
        "label": correction.label,
        "model": correction.model,
        "guess": correction.guess,
        "guesses": [{"digit": g.digit, "probability": g.probability} for g in correction.guesses],
        "bits": input_json(correction.bits)["bits"],
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
