"""Fitting a model's piece judge (`app.nn.judge`) to numbers written with the pendigits training writers.

Each number is one writer's digits, 2 to 6 of them, written as `app.nn.writing` writes them, with more
touching gaps than people leave so that the judge sees enough of them. Every piece `segment` weighs in
it (`candidates`) is labelled by the digits the number was written with: one whole digit when at least
PURE of its ink is one digit's and it holds at least WHOLE of that digit's ink. The writers the models
are validated on (`PEN_VALIDATION_WRITERS`) are never used. A few of the rest are kept out of a first
fit, to report how well the judge does on writers it never saw; the judge kept is then fitted to all.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.nn.data import PenDigit
from app.nn.judge import PieceJudge, fit_judge, piece_features
from app.nn.manifest import sha256
from app.nn.network import Network
from app.nn.segment import Candidate, candidates
from app.nn.train import PEN_VALIDATION_WRITERS
from app.nn.writing import GAPS, PEN_WIDTHS, NumberDrawing, number_drawing

NUMBERS = 6000  # numbers written to fit to: about 100,000 pieces
SEED = 0
# How often each kind of gap comes between two digits: more touching than people write (5 %).
GAP_WEIGHTS = {"touching": 0.12, "close": 0.15, "normal": 0.45, "wide": 0.28}
PURE = 0.9  # a piece is one whole digit when at least this share of its ink is that digit's...
WHOLE = 0.85  # ...and it holds at least this share of the digit's ink
CHECK_WRITERS = 4  # writers kept out of the first fit, to measure it on


@dataclass
class Pieces:
    features: np.ndarray  # (N, F) from `piece_features`
    labels: np.ndarray  # (N,) 1: one whole digit
    writers: np.ndarray  # (N,) whose number each piece is from


@dataclass
class JudgeFit:
    judge: PieceJudge
    report: dict[str, float | int]


def written_pieces(
    network: Network,
    pen_digits: Sequence[PenDigit],
    numbers: int = NUMBERS,
    seed: int = SEED,
    progress: Callable[[int], None] | None = None,
    exclude: Collection[int] = PEN_VALIDATION_WRITERS,
) -> Pieces:
    """The labelled pieces of `numbers` numbers, each written with the pen digits of one writer not in
    `exclude`."""
    by_writer: dict[int, list[PenDigit]] = defaultdict(list)
    for digit in pen_digits:
        if digit.writer not in exclude:
            by_writer[digit.writer].append(digit)
    writers = sorted(by_writer)
    if not writers:
        raise ValueError("There are no pen digits of writers outside the validation writers to write numbers with.")
    rng = np.random.default_rng(seed)
    kinds, weights = list(GAP_WEIGHTS), list(GAP_WEIGHTS.values())
    features, labels, whose = [], [], []
    for n in range(numbers):
        writer = writers[rng.integers(len(writers))]
        pool = by_writer[writer]
        count = min(int(rng.integers(2, 7)), len(pool))
        digits = [pool[i] for i in rng.choice(len(pool), count, replace=False)]
        gaps = [rng.uniform(*GAPS[kinds[i]]) for i in rng.choice(len(kinds), count - 1, p=weights)]
        drawing = number_drawing(digits, gaps, rng, pen=float(rng.choice(PEN_WIDTHS)))
        h, found = candidates(drawing.image)
        probs, hidden = network.classify(np.stack([c.input.bits for c in found]))
        widths = np.array([c.width for c in found], np.float64)
        heights = np.array([c.height for c in found], np.float64)
        features.append(piece_features(probs, hidden, widths, heights, h))
        labels.append(labels_of(drawing, found))
        whose += [writer] * len(found)
        if progress is not None:
            progress(n + 1)
    return Pieces(np.concatenate(features), np.concatenate(labels), np.array(whose))


def labels_of(drawing: NumberDrawing, found: Sequence[Candidate]) -> np.ndarray:
    """(N,) 1 for each piece that is one of the digits the number was written with: at least PURE of its
    ink is that digit's, and it holds at least WHOLE of that digit's ink; 0 for any other."""
    owners = [alone > 0 for alone in drawing.alone]
    sizes = [int(mask.sum()) for mask in owners]
    labels = np.zeros(len(found), np.int64)
    for i, c in enumerate(found):
        shared = np.array([mask[c.ys, c.xs].sum() for mask in owners])
        best = int(shared.argmax())
        labels[i] = shared[best] >= PURE * c.xs.size and shared[best] >= WHOLE * sizes[best]
    return labels


def fit_for(
    model_path: Path,
    network: Network,
    pen_digits: Sequence[PenDigit],
    numbers: int = NUMBERS,
    seed: int = SEED,
    progress: Callable[[int], None] | None = None,
) -> JudgeFit:
    """A judge for the model file's network, and how well it does on writers kept out of a first fit."""
    start = time.perf_counter()
    pieces = written_pieces(network, pen_digits, numbers, seed, progress)
    writers = np.unique(pieces.writers)
    count = min(CHECK_WRITERS, len(writers) // 2)  # with one writer there is no one else to check on
    checked = np.isin(pieces.writers, writers[:: max(1, len(writers) // max(count, 1))][:count])
    digest = sha256(model_path)
    report: dict[str, float | int] = {
        "numbers": numbers,
        "pieces": int(pieces.labels.size),
        "whole_digit_share": round(float(pieces.labels.mean()), 4),
        "checked_writers": count,
    }
    if count:
        first = fit_judge(pieces.features[~checked], pieces.labels[~checked], digest, seed=seed)
        held = pieces.features[checked], pieces.labels[checked]
        report["checked_log_likelihood"] = round(first.log_likelihood(*held), 4)
        report["checked_accuracy"] = round(float((first.logits(held[0]).argmax(axis=1) == held[1]).mean()), 4)
    judge = fit_judge(pieces.features, pieces.labels, digest, seed=seed)
    report["log_likelihood"] = round(judge.log_likelihood(pieces.features, pieces.labels), 4)
    report["seconds"] = round(time.perf_counter() - start, 1)
    judge.meta = {"fit": report, "seed": seed}
    return JudgeFit(judge, report)
