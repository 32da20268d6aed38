"""Numbers written with pen digits' strokes, as a person writes one on the wide pad: digits left to right
at a pitch, with gaps from touching to wide, each a little larger or smaller, higher or lower. The number
tests and benchmarks read them, and the piece judges are fitted to them (`app.nn.judge_fit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.nn.data import PenDigit
from app.nn.strokes import NUMBER_PAD_HEIGHT, NUMBER_PAD_WIDTH, PEN_WIDTH, render_strokes

PEN_WIDTHS = (0.06, 0.075, 0.09)  # pens numbers are written with, of the pad's height: the page's is 0.075
# Gaps between neighbouring digits, as the horizontal distance between their inks in digit heights
# (drawn from the range named): touching digits share ink, close ones almost do.
GAPS = {"touching": (-0.04, -0.01), "close": (0.03, 0.08), "normal": (0.1, 0.3), "wide": (0.4, 0.8)}


@dataclass(frozen=True)
class NumberDrawing:
    image: np.ndarray  # (H, W) uint8, light ink on dark, as render_strokes draws
    labels: list[int]
    boxes: list[tuple[int, int, int, int]]  # each digit's ink as (x, y, w, h)
    alone: list[np.ndarray]  # each digit drawn by itself in its place: what a perfect segmentation finds

    @property
    def text(self) -> str:
        return "".join(map(str, self.labels))


def number_drawing(
    digits: Sequence[PenDigit],
    gaps: Sequence[float],
    rng: np.random.Generator,
    pen: float = PEN_WIDTH,
    size: tuple[int, int] = (NUMBER_PAD_WIDTH, NUMBER_PAD_HEIGHT),
    jitter: float = 0.1,
) -> NumberDrawing:
    """Pen digits written left to right on a wide pad, as a person writes a number.

    Each digit is scaled to about 0.6 of the pad's height (90 to 110 % of that, digit by digit) and moved
    up or down by up to `jitter` of its height; `gaps[i]` is the horizontal distance between the inks of
    digits i and i + 1 in digit heights (negative: they overlap, so they touch). A number too long for
    the pad is written smaller, as a person would. The pen is `pen` of the pad's height, as the page draws.
    """
    width, height = size
    pen_px = max(1, round(pen * height))
    margin = pen_px + 4
    digit_px = 0.6 * height
    for _ in range(3):  # shrink until the number fits: a smaller digit changes the gaps the pen makes
        placed = _lay_out(digits, gaps, rng_copy(rng), digit_px, pen_px, jitter)
        extent = max(p[:, 0].max() for strokes in placed for p in strokes) + pen_px
        if extent <= width - 2 * margin:
            break
        digit_px *= (width - 2 * margin) / extent
    placed = _lay_out(digits, gaps, rng, digit_px, pen_px, jitter)
    tops = [min(p[:, 1].min() for p in strokes) for strokes in placed]
    bottoms = [max(p[:, 1].max() for p in strokes) for strokes in placed]
    shift = np.array([margin, (height - (max(bottoms) - min(tops))) / 2 - min(tops)], np.float32)
    placed = [[p + shift for p in strokes] for strokes in placed]
    image = render_strokes([p for strokes in placed for p in strokes], height, pen_px / height, height, width)
    boxes, alone = [], []
    for strokes in placed:
        alone.append(render_strokes(strokes, height, pen_px / height, height, width))
        ys, xs = np.nonzero(alone[-1])
        boxes.append((int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)))
    return NumberDrawing(image, [d.label for d in digits], boxes, alone)


def rng_copy(rng: np.random.Generator) -> np.random.Generator:
    """A generator in the same state, so a trial layout does not use up the real one's numbers."""
    copy = np.random.default_rng()
    copy.bit_generator.state = rng.bit_generator.state
    return copy


def _lay_out(
    digits: Sequence[PenDigit],
    gaps: Sequence[float],
    rng: np.random.Generator,
    digit_px: float,
    pen_px: int,
    jitter: float,
) -> list[list[np.ndarray]]:
    """Each digit's strokes in pixels, left to right at the gaps asked for (x from 0, y about 0)."""
    placed: list[list[np.ndarray]] = []
    previous: np.ndarray | None = None  # the rightmost ink of the digits so far, per row (-inf: none)
    for i, digit in enumerate(digits):
        points = np.concatenate(digit.strokes)
        low, high = points.min(axis=0), points.max(axis=0)
        scale = digit_px * rng.uniform(0.9, 1.1) / max(high[1] - low[1], 1.0)
        dy = rng.uniform(-jitter, jitter) * digit_px
        strokes = [(s - low) * scale + np.array([0.0, dy], np.float32) for s in digit.strokes]
        left, right = _ink_profile(strokes, pen_px)
        dx = 0.0
        if previous is not None:
            both = np.isfinite(left) & np.isfinite(previous)  # rows where both have ink
            ends = previous[np.isfinite(previous)].max()
            reach = previous[both] - left[both] if both.any() else ends - left.min()
            # People write at a pitch: a digit tucks under the one before by a little, never into it.
            dx = max(float(np.max(reach)) + gaps[i - 1] * digit_px, ends - left.min() - MAX_TUCK * digit_px)
        placed.append([s + np.array([dx, 0.0], np.float32) for s in strokes])
        previous = np.maximum(right + dx, previous) if previous is not None else right + dx
    return placed


MAX_TUCK = 0.15  # how far a digit's box may reach back under the one before, in digit heights
PROFILE_ROWS = 1024  # rows of the profile canvas, y = 0 in the middle: room for any vertical jitter


def _ink_profile(strokes: list[np.ndarray], pen_px: int) -> tuple[np.ndarray, np.ndarray]:
    """The leftmost (+inf where none) and rightmost (-inf where none) ink of each row, rows from y = -512."""
    offset = np.array([pen_px, PROFILE_ROWS / 2], np.float32)
    extent = int(max(s[:, 0].max() for s in strokes)) + 2 * pen_px + 2
    ink = render_strokes([s + offset for s in strokes], PROFILE_ROWS, pen_px / PROFILE_ROWS, PROFILE_ROWS, extent) > 0
    has = ink.any(axis=1)
    left = np.where(has, ink.argmax(axis=1) - offset[0], np.inf)
    right = np.where(has, extent - 1 - ink[:, ::-1].argmax(axis=1) - offset[0], -np.inf)
    return left, right
