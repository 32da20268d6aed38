"""Drawings through a model: the preprocessed input, the guesses, the probabilities and, when asked for,
every visible layer's activations. What the answers look like on the wire is the web layer's business."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from app.core.errors import DigitPadError, EmptyDrawing
from app.nn.network import LayerInfo, Model
from app.nn.preprocess import SIZE, BlankDrawing, Preprocessed, preprocess

Activations = list[tuple[LayerInfo, np.ndarray]]  # each visible layer and its values, input to output


@dataclass(frozen=True)
class Guess:
    digit: int
    probability: float


@dataclass
class Prediction:
    model: str
    guesses: list[Guess]
    probabilities: list[float]
    input: Preprocessed
    activations: Activations | None = None  # every visible layer, input to output
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def prediction(self) -> int:
        return self.guesses[0].digit


def prepare(image: np.ndarray) -> Preprocessed:
    """A decoded drawing -> the network's input. Raises EmptyDrawing when there is no digit to read."""
    try:
        return preprocess(image)
    except BlankDrawing as exc:
        raise EmptyDrawing(str(exc)) from exc


def input_from_bits(bits: str) -> Preprocessed:
    """The network's own input, 784 characters of 0 and 1 row by row, used as it is: no preprocessing.
    Raises DigitPadError invalid_request for anything else, EmptyDrawing when no bit is set."""
    if len(bits) != SIZE * SIZE or bits.strip("01"):
        raise DigitPadError("invalid_request", f"`bits` must be {SIZE * SIZE} characters of 0 and 1, row by row.")
    grid = (np.frombuffer(bits.encode("ascii"), np.uint8) - ord("0")).reshape(SIZE, SIZE)
    if not grid.any():
        raise EmptyDrawing("The input has no ink: no bit is 1.")
    return Preprocessed(grid.astype(np.float32), grid)


def predict_image(model: Model, image: np.ndarray, top_k: int = 2, activations: bool = True) -> Prediction:
    """Preprocess one drawing and run it. Raises EmptyDrawing."""
    start = time.perf_counter()
    pre = prepare(image)
    return predict(model, pre, top_k, activations, {"preprocess": elapsed_ms(start)})


def predict(
    model: Model, pre: Preprocessed, top_k: int = 2, activations: bool = True, timings: dict[str, float] | None = None
) -> Prediction:
    """One preprocessed drawing through the model; with `activations`, every visible layer's values."""
    start = time.perf_counter()
    if activations:
        probs, acts = model.network.trace(pre.bits)
    else:
        probs, acts = model.network.predict_proba(pre.bits[None])[0], None
    timings = {**(timings or {}), "forward": elapsed_ms(start)}
    return Prediction(model.name, top_guesses(probs, top_k), rounded(probs), pre, acts, timings)


def predict_all(model: Model, inputs: list[Preprocessed], top_k: int = 2) -> list[Prediction]:
    """Many preprocessed drawings through one forward pass, without activations."""
    if not inputs:
        return []
    start = time.perf_counter()
    probs = model.network.predict_proba(np.stack([p.bits for p in inputs]))
    per_image = {"forward": elapsed_ms(start) / len(inputs)}
    return [
        Prediction(model.name, top_guesses(p, top_k), rounded(p), pre, None, dict(per_image))
        for p, pre in zip(probs, inputs, strict=True)
    ]


def top_guesses(probs: np.ndarray, top_k: int) -> list[Guess]:
    """The `top_k` most probable digits, best first; ties go to the smaller digit."""
    order = np.argsort(-probs, kind="stable")[:top_k].tolist()
    values = probs.tolist()
    return [Guess(d, round(values[d], 6)) for d in order]


def rounded(probs: np.ndarray) -> list[float]:
    """Probabilities as the API gives them: to six decimals."""
    return [round(p, 6) for p in probs.tolist()]


def elapsed_ms(start: float, end: float | None = None) -> float:
    """Milliseconds from a `time.perf_counter()` reading to another (default: now), to the microsecond."""
    return round(((time.perf_counter() if end is None else end) - start) * 1000, 3)
