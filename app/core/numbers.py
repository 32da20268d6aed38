"""Numbers through a model: a drawing of several digits -> each digit's box, input, guesses and, when
asked for, activations, as plain values. How the digits are found is `app.nn.segment`'s business; what the
answer looks like on the wire is the web layer's."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from app.core.errors import DigitPadError, EmptyDrawing
from app.core.inference import Activations, Prediction, elapsed_ms, rounded, top_guesses
from app.nn.network import Model, Network
from app.nn.preprocess import BlankDrawing, Preprocessed
from app.nn.segment import MAX_DIGITS, TooManyDigits, segment

Box = tuple[int, int, int, int]  # x, y, width, height, in the drawing's pixels


@dataclass
class NumberDigit:
    box: Box
    prediction: Prediction


@dataclass
class Reading:
    model: str
    digits: list[NumberDigit]
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The number as the first guesses spell it, left to right: "2026"."""
        return "".join(str(d.prediction.prediction) for d in self.digits)


def read_number(
    model: Model,
    image: np.ndarray,
    top_k: int = 2,
    activations: bool = False,
    max_digits: int = MAX_DIGITS,
    timings: dict[str, float] | None = None,
) -> Reading:
    """A decoded drawing -> its digits, left to right, each read by `model`.

    Every digit goes through one batched forward pass (one more for a piece that may be digits touching);
    with `activations`, that first pass keeps every visible layer's values, and only digits cut from
    touching ones are traced again, together.
    Raises EmptyDrawing, or DigitPadError too_many_digits past `max_digits`.
    """
    start = time.perf_counter()
    traced = _Traced(model.network) if activations else None
    try:
        digits = segment(image, model.network.classify if traced is None else traced, max_digits, model.judge)
    except BlankDrawing as exc:
        raise EmptyDrawing(str(exc)) from exc
    except TooManyDigits as exc:
        raise too_many_digits(exc.limit) from exc
    timings = {**(timings or {}), "segment": elapsed_ms(start)}
    layers: list[Activations | None] = [None] * len(digits)
    if traced is not None:
        layers = [traced.kept.get(d.input.bits.tobytes()) for d in digits]
        cut = [i for i, acts in enumerate(layers) if acts is None]  # digits cut from touching ones
        if cut:
            again = model.network.trace_all(np.stack([digits[i].input.bits for i in cut]))
            for i, (_, acts) in zip(cut, again, strict=True):
                layers[i] = acts
        timings["activations"] = elapsed_ms(start) - timings["segment"]
    found = [
        NumberDigit(d.box, _prediction(model, d.input, d.probabilities, top_k, acts))
        for d, acts in zip(digits, layers, strict=True)
    ]
    return Reading(model.name, found, timings)


class _Traced:
    """The network as `segment` calls it, keeping every visible layer's activations of the first batch
    (each digit found whole) from the same pass, by input: only digits cut from touching ones need a
    pass of their own for their activations. Later batches (the candidate cuts) are classified alone."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.kept: dict[bytes, Activations] = {}
        self.first = True

    def __call__(self, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.first:
            return self.network.classify(bits)
        self.first = False
        probs, reads, traced = self.network.classify_traced(bits)
        self.kept = {b.tobytes(): acts for b, acts in zip(bits, traced, strict=True)}
        return probs, reads


def read_input(model: Model, pre: Preprocessed, top_k: int = 2, activations: bool = False) -> Reading:
    """The network's own 28x28 input, which holds one digit: a reading of that digit, boxed where its ink is."""
    start = time.perf_counter()
    if activations:
        probs, acts = model.network.trace(pre.bits)
    else:
        probs, acts = model.network.predict_proba(pre.bits[None])[0], None
    prediction = _prediction(model, pre, probs, top_k, acts)
    rows, cols = np.flatnonzero(pre.bits.any(axis=1)), np.flatnonzero(pre.bits.any(axis=0))
    box = (int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))
    return Reading(model.name, [NumberDigit(box, prediction)], {"forward": elapsed_ms(start)})


def too_many_digits(limit: int) -> DigitPadError:
    return DigitPadError(
        "too_many_digits", f"The drawing holds more than {limit} digits; write at most {limit} and try again."
    )


def _prediction(model: Model, pre: Preprocessed, probs: np.ndarray, top_k: int, acts: Activations | None) -> Prediction:
    return Prediction(model.name, top_guesses(probs, top_k), rounded(probs), pre, acts)
