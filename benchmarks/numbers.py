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
SAMPLES drawings, so a figure is the median over many hands, not one lucky drawing. Run from the
repository root:

    python -m benchmarks.numbers [--repeats 400]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Callable

import numpy as np

from app.config import MODEL_DIR
from app.core.process import one_blas_thread
from app.nn.data import load_pen_digits
from app.nn.network import load_model
from app.nn.strokes import PAD_SIZE, render_strokes
from app.nn.writing import GAPS, number_drawing
from app.web.predictions import _answer_number, _answer_one
from benchmarks.common import add_malloc_option, describe_machine, fmt_time, interleaved, table, tune_malloc
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
    rows = []
    for activations in (False, True):
        singles = itertools.cycle(samples["1 digit"])
        contenders: dict[str, Callable[[], object]] = {
            "POST /api/predict, 1 digit": lambda singles=singles, activations=activations: _answer_one(
                model, next(singles), 2, activations, settings
            ),
        }
        for name, bodies in samples.items():
            cycle = itertools.cycle(bodies)
            contenders[f"POST /api/read, {name}"] = lambda cycle=cycle, activations=activations: _answer_number(
                model, next(cycle), 2, activations, settings
            )
        times = interleaved(contenders, args.repeats)
        single = times["POST /api/predict, 1 digit"]
        for name, seconds in times.items():
            rows.append([name, "yes" if activations else "no", fmt_time(seconds), f"{seconds / single:.2f}x"])
    print(describe_machine(malloc))
    print(f"- cnn, one BLAS thread, median of {args.repeats} calls each over {SAMPLES} drawings, interleaved\n")
    print(table(["request", "activations", "server work", "against /api/predict"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
