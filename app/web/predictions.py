"""Drawings through a model, off the event loop: decode, preprocess, run, and encode the answer as JSON bytes,
each request in its turn at the worker's inference thread."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson

from app.config import Settings
from app.core.errors import DigitPadError
from app.core.explanations import explain_input
from app.core.inference import Prediction, elapsed_ms, input_from_bits, predict, predict_all, prepare
from app.core.numbers import read_input, read_number
from app.nn.network import Model
from app.nn.preprocess import Preprocessed
from app.web.decoding import ImageError, NetworkInput, Source, decode_drawing
from app.web.observability import add_span, observe_prediction
from app.web.responses import explanation_json, prediction_json, reading_json

ASK_AFTER_S = 0.05  # a request that waited longer for its turn is checked for a client that has left
# Drawings of a batch run in one turn at the inference thread (about 20 ms of work for canvas PNGs).
# Requests that arrive meanwhile take their turns between a big batch's, and a batch whose client
# has gone stops at the end of the turn it is in.
BATCH_TURN = 32
CORRECTION_GUESSES = 3  # the model's guesses kept with a correction

Answer = TypeVar("Answer")


class Client(Protocol):
    """Who a drawing is read for: a request, or a live socket."""

    async def is_disconnected(self) -> bool: ...


class ClientGone(Exception):
    """The client disconnected before its drawing's turn came: nobody is left to answer."""


class InferenceTurns:
    """The inference threads of a worker, and turns at them handed out in arrival order.

    Most of a prediction holds the GIL, so more threads than one only time-slice it. Requests wait for a
    turn here rather than in the executor's queue, so one whose client has gone by its turn is dropped
    instead of run for nobody. A plain executor: handing work to anyio's thread pool costs ~80 us of CPU a
    call, this ~25.
    """

    def __init__(self, threads: int) -> None:
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="inference")
        self.turns = asyncio.Semaphore(threads)

    async def run(self, client: Client, ask_after: float, work: Callable[..., Answer], *args: Any) -> Answer:
        """`work(*args)` in its turn at an inference thread. Its request's Server-Timing gets `turn` (the
        wait for the turn), `work` (the work itself) and `handoff` (to the thread and back to the loop)."""
        queued = time.perf_counter()
        async with self.turns:
            turn = time.perf_counter()
            # Asking costs about as much as a tenth of a prediction; a client heard from moments ago is
            # still there, so only a request that has waited over `ask_after` seconds is asked.
            if turn - queued > ask_after and await client.is_disconnected():
                raise ClientGone
            worked = [0.0]

            def timed() -> Answer:
                began = time.perf_counter()
                try:
                    return work(*args)
                finally:
                    worked[0] += time.perf_counter() - began

            try:
                return await asyncio.get_running_loop().run_in_executor(self.executor, timed)
            finally:
                handed = time.perf_counter() - turn - worked[0]
                add_span("turn", turn - queued)
                add_span("work", worked[0])
                add_span("handoff", handed)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


@dataclass
class PixelBudget:
    """Pixels a batch may still decode (`max_batch_pixels`), carried from one turn to the next."""

    left: int


async def answer_one(
    model: Model,
    source: Source,
    top_k: int,
    activations: bool,
    settings: Settings,
    inference: InferenceTurns,
    client: Client,
) -> bytes:
    """The JSON answer for one drawing. Raises ImageError, EmptyDrawing or ClientGone."""
    return await inference.run(client, ASK_AFTER_S, _answer_one, model, source, top_k, activations, settings)


async def answer_batch(
    model: Model,
    sources: list[bytes | str],
    top_k: int,
    settings: Settings,
    inference: InferenceTurns,
    client: Client,
) -> bytes:
    """The JSON answer for a batch: a prediction or an error in place of each drawing, BATCH_TURN drawings
    a turn. Raises ClientGone, between turns as soon as the client has left."""
    budget = PixelBudget(settings.max_batch_pixels)
    parts = []
    for start in range(0, len(sources), BATCH_TURN):
        # A later turn asks whatever its wait: the client has already waited through the earlier ones.
        ask_after = ASK_AFTER_S if start == 0 else -1.0
        parts.append(
            await inference.run(
                client, ask_after, _answer_turn, model, sources[start : start + BATCH_TURN], top_k, settings, budget
            )
        )
    return b'{"results":[' + b",".join(parts) + b"]}"


async def answer_number(
    model: Model,
    source: Source,
    top_k: int,
    activations: bool,
    settings: Settings,
    inference: InferenceTurns,
    client: Client,
) -> bytes:
    """The JSON answer for a number: its digits, each with its box and guesses. Raises ImageError,
    EmptyDrawing, DigitPadError too_many_digits or ClientGone."""
    return await inference.run(client, ASK_AFTER_S, _answer_number, model, source, top_k, activations, settings)


async def read_for_correction(
    model: Model, source: Source, settings: Settings, inference: InferenceTurns, client: Client
) -> Prediction:
    """A correction's drawing as the network sees it, and the model's guesses on it (no activations).
    Raises ImageError, EmptyDrawing or ClientGone."""
    return await inference.run(client, ASK_AFTER_S, _read_one, model, source, settings)


async def answer_explain(
    model: Model,
    source: Source,
    digits: list[int] | None,
    settings: Settings,
    inference: InferenceTurns,
    client: Client,
) -> bytes:
    """The JSON answer of POST /api/explain for one drawing, in its turn at the inference thread like a
    prediction. Raises ImageError, EmptyDrawing or ClientGone."""
    return await inference.run(client, ASK_AFTER_S, _answer_explain, model, source, digits, settings)


def _answer_explain(model: Model, source: Source, digits: list[int] | None, settings: Settings) -> bytes:
    pre, timings = network_input(source, settings)
    # not counted as a prediction in the metrics: the page explains a drawing it has just had guessed
    explanation = explain_input(model, pre, digits, timings)
    return orjson.dumps(explanation_json(explanation))


def network_input(source: Source, settings: Settings) -> tuple[Preprocessed, dict[str, float]]:
    """Any drawing form -> the network's input, and the milliseconds decoding and preprocessing took.
    Raises ImageError or EmptyDrawing."""
    if isinstance(source, NetworkInput):
        return input_from_bits(source.bits), {}
    start = time.perf_counter()
    image = decode_drawing(source, settings.max_image_side, settings.max_image_pixels)
    decoded = time.perf_counter()
    pre = prepare(image)
    return pre, {"decode": elapsed_ms(start, decoded), "preprocess": elapsed_ms(decoded)}


def _answer_one(model: Model, source: Source, top_k: int, activations: bool, settings: Settings) -> bytes:
    pre, timings = network_input(source, settings)
    prediction = predict(model, pre, top_k, activations, timings)
    _observe(prediction)
    return orjson.dumps(prediction_json(prediction))


def _answer_number(model: Model, source: Source, top_k: int, activations: bool, settings: Settings) -> bytes:
    if isinstance(source, NetworkInput):  # the network's own input is one digit, read as it is
        reading = read_input(model, input_from_bits(source.bits), top_k, activations)
    else:
        start = time.perf_counter()
        image = decode_drawing(source, settings.max_image_side, settings.max_image_pixels)
        reading = read_number(model, image, top_k, activations, timings={"decode": elapsed_ms(start)})
    forward = reading.timings_ms.get("segment", reading.timings_ms.get("forward", 0.0)) / len(reading.digits)
    for digit in reading.digits:
        observe_prediction(model.name, digit.prediction.prediction, forward / 1000)
    return orjson.dumps(reading_json(reading))


def _read_one(model: Model, source: Source, settings: Settings) -> Prediction:
    pre, timings = network_input(source, settings)
    return predict(model, pre, CORRECTION_GUESSES, activations=False, timings=timings)


def _answer_turn(
    model: Model, sources: list[bytes | str], top_k: int, settings: Settings, budget: PixelBudget
) -> bytes:
    """One turn of a batch: its results as JSON array items, without the brackets."""
    results: list[dict[str, Any]] = [{} for _ in sources]
    readable: list[tuple[int, Preprocessed]] = []
    for i, source in enumerate(sources):
        try:
            image = decode_drawing(source, settings.max_image_side, min(settings.max_image_pixels, budget.left))
            budget.left -= image.shape[0] * image.shape[1]
            readable.append((i, prepare(image)))
        except DigitPadError as exc:
            if exc.code == "image_too_large" and budget.left < settings.max_image_pixels:
                exc = _over_budget(settings.max_batch_pixels)
            results[i] = {"error": {"code": exc.code, "detail": exc.detail}}
    predictions = predict_all(model, [pre for _, pre in readable], top_k)
    for (i, _), prediction in zip(readable, predictions, strict=True):
        _observe(prediction)
        results[i] = prediction_json(prediction)
    return orjson.dumps(results)[1:-1]


def _observe(prediction: Prediction) -> None:
    observe_prediction(prediction.model, prediction.prediction, prediction.timings_ms["forward"] / 1000)


def _over_budget(max_batch_pixels: int) -> ImageError:
    return ImageError(
        "image_too_large",
        f"The images before this one fill the batch's limit of "
        f"{max_batch_pixels / 1e6:g} megapixels; send it in another batch.",
    )
