"""Reading a number against reading one digit: the server's work per request, in process.

What a request costs the worker's inference thread (decode, preprocess or segment, the forward passes
and the JSON answer: `app.web.predictions`' own functions), with and without every layer's
activations, for:

- POST /api/predict on single digits as the page posts them (280x280, the ink as the alpha of grey +
  alpha rows: `inkPng` in static/js/api.js);
- POST /api/read on the same single digits;
- POST /api/read on 4-digit numbers on the wide pad (480x160), the gaps people leave, and with one
  pair of digits touching (cut candidates are read in a second batch).

Every digit is a held-out writer's pen strokes (tests/data); each contender cycles through its own
SAMPLES drawings, so a figure is over many hands, not one lucky drawing. Each row gives the median
call, and the mean over the drawings of each drawing's median call: what a stream of such requests
costs on average, drawings whose cut pieces are read (a piece that may be digits touching, cut and
read again in a second batch) included. How many of each row's drawings those are is counted too.
Run from the repository root:

    python -m benchmarks.numbers [--repeats 400]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from app.config import MODEL_DIR
from app.core.process import one_blas_thread
from app.nn.data import load_pen_digits
from app.nn.network import Model, load_model
from app.nn.segment import segment
from app.nn.strokes import PAD_SIZE, render_strokes
from app.nn.writing import GAPS, number_drawing
from app.web.decoding import decode_drawing
from app.web.predictions import _answer_number, _answer_one
from benchmarks.common import add_malloc_option, describe_machine, fmt_time, interleaved_samples, table, tune_malloc
from tests.factories import TEST_DATA_DIR, make_settings, page_png

SAMPLES = 50
SEED = 2026


def drawings() -> dict[str, list[bytes]]:
    pen = load_pen_digits(TEST_DATA_DIR / "pen-strokes-held-out.npz")
    rng = np.random.default_rng(SEED)
    singles = [page_png(render_strokes(pen[i].strokes, PAD_SIZE)) for i in rng.choice(len(pen), SAMPLES)]

    def numbers(touching: bool) -> list[bytes]:
        out = []
        writers = sorted({d.writer for d in pen})
        for _ in range(SAMPLES):
            writer = writers[rng.integers(len(writers))]
            pool = [d for d in pen if d.writer == writer]
            digits = [pool[i] for i in rng.choice(len(pool), 4, replace=False)]
            gaps = [rng.uniform(*GAPS["normal"]) for _ in range(3)]
            if touching:
                gaps[rng.integers(3)] = rng.uniform(*GAPS["touching"])
            out.append(page_png(number_drawing(digits, gaps, rng).image))
        return out

    return {"1 digit": singles, "4 digits apart": numbers(False), "4 digits, two touching": numbers(True)}


@dataclass
class Cycle:
    """A contender: the next of its drawings answered on each call, and which drawing each call was."""

    bodies: list[bytes]
    answer: Callable[[bytes], object]
    used: list[int] = field(default_factory=list)

    def __call__(self) -> object:
        index = len(self.used) % len(self.bodies)
        self.used.append(index)
        return self.answer(self.bodies[index])

    def per_drawing(self, seconds: list[float]) -> np.ndarray:
        """Each drawing's median call, from the seconds of the last calls (after the warm-up)."""
        drawn = np.array(self.used[len(self.used) - len(seconds) :])
        times = np.array(seconds)
        return np.array([np.median(times[drawn == i]) for i in range(len(self.bodies)) if (drawn == i).any()])


def read_cut(model: Model, bodies: list[bytes]) -> int:
    """How many of the drawings `segment` reads in a second batch: the pieces of a piece it cuts."""
    batches: list[int] = []

    def classify(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batches.append(len(bits))
        return model.network.classify(bits)

    read = 0
    for body in bodies:
        batches.clear()
        segment(decode_drawing(body, 4096, 4096 * 4096), classify, judge=model.judge)
        read += len(batches) > 1
    return read


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=400)
    add_malloc_option(parser)
    args = parser.parse_args(argv)
    malloc = tune_malloc(args)
    one_blas_thread()  # as each server worker runs
    model = load_model(MODEL_DIR / "cnn.npz")
    settings = make_settings()
    samples = drawings()
    cuts = {name: read_cut(model, bodies) for name, bodies in samples.items()}
    rows = []
    for activations in (False, True):
        contenders = {
            "POST /api/predict, 1 digit": Cycle(
                samples["1 digit"], lambda body, act=activations: _answer_one(model, body, 2, act, settings)
            )
        }
        for name, bodies in samples.items():
            contenders[f"POST /api/read, {name}"] = Cycle(
                bodies, lambda body, act=activations: _answer_number(model, body, 2, act, settings)
            )
        times = interleaved_samples(dict(contenders), args.repeats)
        medians = {name: float(np.median(seconds)) for name, seconds in times.items()}
        means = {name: float(contenders[name].per_drawing(seconds).mean()) for name, seconds in times.items()}
        predict, read = "POST /api/predict, 1 digit", "POST /api/read, 1 digit"
        for name in times:
            kind = name.removeprefix("POST /api/read, ")
            rows.append(
                [
                    name,
                    "yes" if activations else "no",
                    f"{cuts[kind]} of {SAMPLES}" if name.startswith("POST /api/read") else "",
                    fmt_time(medians[name]),
                    fmt_time(means[name]),
                    f"{medians[name] / medians[predict]:.2f}x / {means[name] / means[predict]:.2f}x",
                    f"{medians[name] / medians[read]:.2f}x / {means[name] / means[read]:.2f}x",
                ]
            )
    print(describe_machine(malloc))
    print(
        f"- cnn, one BLAS thread, {args.repeats} calls each over {SAMPLES} drawings, interleaved: the median call, "
        "and the mean of the drawings' median calls\n"
    )
    headers = [
        "request",
        "activations",
        "cut pieces read",
        "median",
        "mean",
        "against /api/predict (median / mean)",
        "against /api/read of 1 digit",
    ]
    print(table(headers, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
