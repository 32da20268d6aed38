"""Explanations as plain values: why a model gives its guess for a drawing (a map per digit of how each
input pixel pushed that digit's score), and what one of its units learned (its stimuli, from the model's
index). What they look like on the wire is the web layer's business."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from app.core.errors import DigitPadError
from app.core.inference import Prediction, elapsed_ms, predict
from app.nn import explain
from app.nn.network import Model
from app.nn.preprocess import Preprocessed
from app.nn.stimuli import StimulusIndex, UnitStimuli

DIGITS = 10
DEFAULT_TARGETS = 2  # the first and the second guess


@dataclass
class Explanation:
    prediction: Prediction
    method: str
    digits: list[int]
    maps: np.ndarray  # (len(digits), 28, 28): positive where a pixel is evidence for the digit


def parse_digits(text: str | None) -> list[int] | None:
    """`digits` as a query gives it: comma-separated, each 0 to 9, a digit named again counted once (in the
    order first named); None when absent or blank. Raises DigitPadError invalid_request."""
    if text is None or not text.strip():
        return None
    parts = [part.strip() for part in text.split(",")]
    if not all(len(part) == 1 and part in "0123456789" for part in parts):  # str.isdigit takes any script's digits
        raise DigitPadError(
            "invalid_request", f"`digits` must be digits 0 to 9 separated by commas, e.g. 3,5; got {text[:40]!r}."
        )
    return list(dict.fromkeys(int(part) for part in parts))


def explain_input(
    model: Model,
    pre: Preprocessed,
    digits: list[int] | None = None,
    timings: dict[str, float] | None = None,
    method: str = explain.SHIPPED_METHOD,
) -> Explanation:
    """The guesses for one network input and the attribution map of each of `digits` (default: the first
    and the second guess), each pixel's push on that digit's logit."""
    prediction = predict(model, pre, DEFAULT_TARGETS, activations=False, timings=timings)
    targets = digits or [g.digit for g in prediction.guesses[:DEFAULT_TARGETS]]
    start = time.perf_counter()
    maps = explain.attribution(model.network, pre.bits.astype(np.float32), targets, method)
    prediction.timings_ms["explain"] = elapsed_ms(start)
    return Explanation(prediction, method, targets, maps)


@dataclass(frozen=True)
class StimulusSource:
    """The test digits a model's index points into: (N, 28, 28) bits of 0/1 and their labels."""

    bits: np.ndarray
    labels: np.ndarray

    def bit_string(self, i: int) -> str:
        return (self.bits[i].reshape(-1) + ord("0")).astype(np.uint8).tobytes().decode("ascii")


def unit_stimuli(model: str, index: StimulusIndex | None, why_not: str | None, layer: str, unit: int) -> UnitStimuli:
    """One unit's top stimuli and optimal stimulus from a model's index. Raises DigitPadError
    `no_stimulus_index` (saying `why_not`) when it has none, `unknown_unit` for a unit it lacks."""
    if index is None:
        raise DigitPadError(
            "no_stimulus_index",
            why_not
            or f"Model {model!r} has no stimulus index: only models built with `digitpad index` show what their "
            f"units learned (its attributions come from POST /api/explain all the same).",
        )
    try:
        return index.unit(layer, unit)
    except (KeyError, IndexError) as exc:
        raise DigitPadError(
            "unknown_unit",
            f"Model {index.meta['model']!r} has no unit {unit} in a layer {layer!r} with stimuli; its layers are "
            f"{', '.join(index.layers)} (see GET /api/models for their shapes).",
        ) from exc
