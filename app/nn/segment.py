"""Reading a number: a drawing of several digits -> one piece of the drawing per digit, left to right.

The postal readers' recipe: find each digit, then classify it. The ink's 8-connected pieces are found;
the short ones (the bar of a 5, the cross of a 7, a dot) join the digit whose ink comes nearest, so the
strokes of one digit read together, while tall ones stay apart even where they overlap in x. Each
digit's ink, cropped to it, goes through the rest of the one `preprocess` (`from_crop`) and the
network, all in one batch. A piece wide enough to hold two digits that the network does not read as one
digit with confidence, or that is much wider than the digit it reads, may be digits that touch: it is
cut where the network agrees best. The candidate cuts are the paths from top
to bottom that cross the least ink (through the one stroke two touching digits share, around the one
that leans into the other), and every piece between two cuts is read in one more batch, unless the
cuts around it cross so many strokes that no way of cutting through them could beat the piece read
whole; the cuts chosen make the most probable digits, each cut through more than one stroke counting
against it.
With a judge fitted to the network (`app.nn.judge`), how likely each piece is one whole digit, and not
two digits or a part of one, weighs in too, both in whether to try cuts and in which to keep.

The network comes in as `classify`, so this module knows nothing of models or the web, and nothing
here is random: the same drawing always gives the same digits.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.nn.judge import PieceJudge
from app.nn.preprocess import MIN_EXTENT, MIN_EXTENT_PX, BlankDrawing, InkLayer, Preprocessed, from_crop, preprocess

# (N, 28, 28) bits of 0/1 -> (N, 10) probabilities, and (N, units) of what the network's output layer
# reads (`Network.classify`): the judge's features.
Classify = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
MAX_DIGITS = 12  # the most digits one drawing may hold
# The ink is labelled on a grid of at most this many pixels (large photos on a coarser one).
MAX_GRID_PIXELS = 1_000_000

# Sizes below are fractions of the number's digit height (see `_digit_height`).
TALL = 0.5  # ink at least this tall is a digit, or the body of one; shorter ink is a stroke of one
DOT = 0.25  # a stroke smaller than this both ways, far from any digit, is a stray dot: dropped
REACH = 0.35  # a stroke whose ink comes this close to a digit's ink is part of it
MAX_STROKES = 200  # short strokes looked at (the largest): the rest of a noisy image's specks are dropped
# A piece that passes for one digit this well (see `_fitness`: the log of its top probability, less a
# penalty for being unusually wide, and the judge's say) is read as it is; one that does not may be
# digits that touch.
SURE = math.log(0.9)
# With a judge the bar is lower: it doubts two digits read as one, and a piece it doubts less is
# one digit often enough that cutting it only costs time (fewer cuts tried, the same numbers read).
JUDGED_SURE = math.log(0.4)
THREE_WIDE = 1.3  # a piece narrower than this is cut in two at most: three digits touching are wider
TWO_WIDE = 0.7  # and a piece narrower than this is one digit, however unsure: two touching digits are wider
MIN_PART = 0.1  # a cut leaves at least this much width on either side
FULL = 0.75  # a piece a cut leaves is at least this share as tall as what it was cut from
CUT_EVERY = 0.1  # cut paths start this far apart across a piece...
BAND = 0.15  # ...and stray at most this far either side of where they start
STEP = 0.25  # what a cut's path pays to move a column sideways, against 1 for each pixel of ink it crosses
MAX_CUTS = 8  # the cuts crossing the fewest strokes (then the least ink) that are tried in one piece
# A cut through more strokes than one (two digits touching share one) is this much less likely for
# each stroke more: a cut across a 0 crosses two. Weighed against the digits' probabilities.
EXTRA_STROKE_ODDS = 0.1
# How much the judge's log-probability that a piece is one whole digit weighs beside the log-probability
# of the digit the network reads in it.
JUDGE_WEIGHT = 2.0
ROUNDING = 1e-9  # what sums of the same scores taken in another order may differ by, and more


class TooManyDigits(ValueError):
    """The drawing holds more digits than the limit."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"The drawing holds {count} or more digits; at most {limit} are read at once.")
        self.count = count
        self.limit = limit


@dataclass(frozen=True)
class Digit:
    """One digit of a number: where its ink is, what the network saw, and what it made of it."""

    box: tuple[int, int, int, int]  # x, y, width, height of its ink, in the drawing's pixels
    input: Preprocessed
    probabilities: np.ndarray  # (10,) from the batch that chose the cuts


class _Ink:
    """Some of the drawing's ink: a stroke, a digit, or a candidate piece of one, as its pixels."""

    __slots__ = ("_xs", "_ys", "bottom", "left", "right", "top")

    def __init__(self, xs: np.ndarray, ys: np.ndarray, box: tuple[int, int, int, int] | None = None) -> None:
        """Pixels at columns xs and rows ys; `box` is their (left, top, right, bottom), when already known."""
        self._xs, self._ys = xs, ys
        if box is None:
            box = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        self.left, self.top, self.right, self.bottom = box  # right and bottom exclusive

    @property
    def xs(self) -> np.ndarray:
        return self._xs

    @property
    def ys(self) -> np.ndarray:
        return self._ys

    @property
    def size(self) -> int:
        return int(self.xs.size)

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def centre_x(self) -> float:
        return int(self.xs.sum()) / self.xs.size  # the mean, exactly: the sum of the columns is a whole number

    def box(self) -> tuple[int, int, int, int]:
        return self.left, self.top, self.width, self.height

    def join(self, other: _Ink) -> _Ink:
        return _Ink(np.concatenate([self.xs, other.xs]), np.concatenate([self.ys, other.ys]))

    def crop(self, ink: InkLayer) -> np.ndarray:
        """Its ink alone, cropped to its box: float32, 0 where it has no pixel (a new array)."""
        top, bottom, left, right = self.top, self.bottom, self.left, self.right
        if np.count_nonzero(ink.mask[top:bottom, left:right]) == self.size:  # no other ink in its box
            return ink.crop(top, bottom, left, right)
        crop = np.zeros((self.height, self.width), np.float32)
        crop[self.ys - top, self.xs - left] = ink.at(self.ys, self.xs)
        return crop


class _Cuttable:
    """A digit that cuts may divide: which pixels of its box are its own, and their ink, read once for
    every piece between two cuts."""

    __slots__ = ("_crop", "digit", "mask")

    def __init__(self, digit: _Ink) -> None:
        self.digit = digit
        self.mask = np.zeros((digit.height, digit.width), bool)
        self.mask[digit.ys - digit.top, digit.xs - digit.left] = True
        self._crop: np.ndarray | None = None

    def crop(self, ink: InkLayer) -> np.ndarray:
        if self._crop is None:
            self._crop = self.digit.crop(ink)
        return self._crop

    def between(self, edges: np.ndarray, pairs: np.ndarray) -> tuple[np.ndarray, ...]:
        """Where the digit's own pixels between each pair of edges lie, for all pairs at once.

        edges (E, rows): each edge's column in each row of the box; pairs (P, 2): a left and a right edge,
        indices into edges; the pixels between are those at or right of the left edge and left of the
        right one. Returns, each (P,): their first and last row (meaningless where `count` is 0), first
        and last column, and count. Each row's own pixels left of every column, and the first at or past
        it and the last before it, are counted once, so no pair's pixels are gathered to measure it.
        """
        height, width = self.mask.shape
        columns = np.arange(width)
        rows = np.arange(height)[:, None]
        before = np.zeros((height, width + 1), np.int64)  # own pixels of each row left of each column
        np.cumsum(self.mask, axis=1, out=before[:, 1:])
        nearest_after = np.full((height, width + 1), width)  # each row's first own pixel at or past a column
        nearest_after[:, :-1] = np.minimum.accumulate(np.where(self.mask, columns, width)[:, ::-1], axis=1)[:, ::-1]
        nearest_before = np.full((height, width + 1), -1)  # and its last own pixel left of it
        nearest_before[:, 1:] = np.maximum.accumulate(np.where(self.mask, columns, -1), axis=1)
        at = np.clip(edges, 0, width).T  # (rows, edges)
        left, right = pairs[:, 0], pairs[:, 1]
        counts = np.maximum(before[rows, at[:, right]] - before[rows, at[:, left]], 0)  # (rows, pairs)
        inked = counts > 0
        first_row = inked.argmax(axis=0)
        last_row = height - 1 - inked[::-1].argmax(axis=0)
        first_col = np.where(inked, nearest_after[rows, at[:, left]], width).min(axis=0)
        last_col = np.where(inked, nearest_before[rows, at[:, right]], -1).max(axis=0)
        return first_row, last_row, first_col, last_col, counts.sum(axis=0)


class _CutPiece(_Ink):
    """The pixels of a digit between two cuts: its own pixels at or right of the column `low` and left
    of `high` in each row of its box. Most pieces are read and never chosen, and many not even read, so
    which pixels of the box they are is found only when the piece is read, and its pixels listed only
    when it is chosen."""

    __slots__ = ("_count", "_high", "_inside", "_low", "_of")

    def __init__(
        self, of: _Cuttable, low: np.ndarray, high: np.ndarray, box: tuple[int, int, int, int], count: int
    ) -> None:
        self._of, self._low, self._high, self._count = of, low, high, count
        self._inside: np.ndarray | None = None
        self.left, self.top, self.right, self.bottom = box
        self._xs = self._ys = None  # type: ignore[assignment]

    def inside(self) -> np.ndarray:
        """Which pixels of the digit's box are the piece's, (rows, columns) of the box."""
        if self._inside is None:
            columns = np.arange(self._of.mask.shape[1])
            self._inside = self._of.mask & (columns >= self._low[:, None]) & (columns < self._high[:, None])
        return self._inside

    def _pixels(self) -> None:
        digit = self._of.digit
        keep = self.inside()[digit.ys - digit.top, digit.xs - digit.left]  # in the digit's own order
        self._xs, self._ys = digit.xs[keep], digit.ys[keep]

    @property
    def xs(self) -> np.ndarray:
        if self._xs is None:
            self._pixels()
        return self._xs

    @property
    def ys(self) -> np.ndarray:
        if self._ys is None:
            self._pixels()
        return self._ys

    @property
    def size(self) -> int:
        return self._count

    def crop(self, ink: InkLayer) -> np.ndarray:
        digit = self._of.digit
        rows = slice(self.top - digit.top, self.bottom - digit.top)
        cols = slice(self.left - digit.left, self.right - digit.left)
        return self._of.crop(ink)[rows, cols] * self.inside()[rows, cols]  # the digit's ink, the piece's pixels


def segment(
    image: np.ndarray, classify: Classify, max_digits: int = MAX_DIGITS, judge: PieceJudge | None = None
) -> list[Digit]:
    """A drawing (any form `preprocess` reads) -> its digits, left to right.

    Raises BlankDrawing when no digit is there, TooManyDigits past `max_digits`.
    """
    img = np.asarray(image)
    ink = InkLayer(img)
    strokes, digits, h = _digits(ink, max_digits)
    whole = len(digits) == 1 and digits[0].size == sum(s.size for s in strokes)
    # A drawing that is all one digit is read whole, exactly as a drawing of a single digit is, unless
    # it is too small for that: `preprocess` measures a digit against the longer side, and on a wide
    # pad the first strokes of a number are digit enough against its height.
    inputs = [_whole(img, ink, digits[0])] if whole else [_piece_input(ink, d) for d in digits]
    probs, hidden = classify(np.stack([p.bits for p in inputs]))
    fit = _fitness(probs, hidden, digits, h, judge)
    found: list[tuple[_Ink, Preprocessed, np.ndarray]] = []
    unsure: list[tuple[_CutPlan, list[int], Preprocessed, np.ndarray, float]] = []
    sure = SURE if judge is None else JUDGED_SURE
    for digit, pre, p, f in zip(digits, inputs, probs, fit, strict=True):
        plan = _cut_plan(digit, h) if f < sure and digit.width >= TWO_WIDE * h else None
        worth = [] if plan is None else plan.could_beat(float(f))
        if plan is None or not worth:
            found.append((digit, pre, p))
        else:
            unsure.append((plan, worth, pre, p, float(f)))
    if unsure:
        # Pieces that might be digits touching: every way of cutting them that could beat the piece
        # whole, in one more batch.
        extra = [plan.pieces[i] for plan, worth, _, _, _ in unsure for i in worth]
        extra_inputs = [_piece_input(ink, piece) for piece in extra]
        extra_probs, extra_hidden = classify(np.stack([p.bits for p in extra_inputs]))
        extra_fit = _fitness(extra_probs, extra_hidden, extra, h, judge)
        start = 0
        for plan, worth, pre, p, f in unsure:
            read = range(start, start + len(worth))
            gains = np.full(len(plan.pieces), -math.inf)  # a piece left unread is in no way that beats the whole
            gains[0], gains[worth] = f, extra_fit[read]
            inputs_of = {0: pre, **dict(zip(worth, (extra_inputs[k] for k in read), strict=True))}
            probs_of = {0: p, **dict(zip(worth, (extra_probs[k] for k in read), strict=True))}
            found += [(plan.pieces[i], inputs_of[i], probs_of[i]) for i in plan.best(gains)]
            start += len(worth)
    if len(found) > max_digits:
        raise TooManyDigits(len(found), max_digits)
    found.sort(key=lambda item: item[0].centre_x)
    return [Digit(piece.box(), pre, p) for piece, pre, p in found]


@dataclass(frozen=True)
class Candidate:
    """A piece of a drawing that `segment` weighs as a digit: its pixels and what the network sees of it."""

    xs: np.ndarray
    ys: np.ndarray
    width: int
    height: int
    input: Preprocessed


def candidates(image: np.ndarray, max_digits: int = MAX_DIGITS) -> tuple[float, list[Candidate]]:
    """The number's digit height and every piece `segment` may weigh in a drawing, whatever the network
    makes of them: each digit found, and in one wide enough to hold two, every piece between the cuts it
    would try. What a judge is fitted to (`app.nn.judge_fit`). Raises as `segment` does."""
    ink = InkLayer(np.asarray(image))
    _, digits, h = _digits(ink, max_digits)
    pieces = [
        piece for digit in digits for piece in (_cut_plan(digit, h).pieces if digit.width >= TWO_WIDE * h else [digit])
    ]
    return h, [Candidate(p.xs, p.ys, p.width, p.height, _piece_input(ink, p)) for p in pieces]


def _digits(ink: InkLayer, max_digits: int) -> tuple[list[_Ink], list[_Ink], float]:
    """The drawing's connected strokes, the digits they make (those big enough to be one) and the digit
    height. Raises BlankDrawing when no digit is there, TooManyDigits past `max_digits`."""
    strokes = _strokes(ink.mask)
    if not strokes:
        raise BlankDrawing("The drawing has no ink.")
    min_extent = max(MIN_EXTENT_PX, MIN_EXTENT * min(ink.mask.shape))
    digits = [d for d in _group(strokes, max_digits) if max(d.width, d.height) >= min_extent]
    if not digits:
        raise BlankDrawing("The ink is too small to be a digit.")
    if len(digits) > max_digits:
        raise TooManyDigits(len(digits), max_digits)
    return strokes, digits, _digit_height(digits)


# --- connected ink ---


def connected_ink(mask: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The 8-connected pieces of a boolean (H, W) mask, each as the columns and rows of its pixels, in
    the order of their first pixel. A mask over MAX_GRID_PIXELS is labelled on a coarser grid, so ink
    closer than a grid cell may join."""
    return [(piece.xs, piece.ys) for piece in _strokes(mask)]


def _strokes(mask: np.ndarray) -> list[_Ink]:
    """`connected_ink`'s pieces as ink, their boxes taken from the runs of pixels they are made of."""
    factor = max(1, math.ceil(math.sqrt(mask.size / MAX_GRID_PIXELS)))
    grid = mask if factor == 1 else _coarse(mask, factor)
    rows, cols, lengths, labels = _label_runs(grid)
    if rows.size == 0:
        return []
    if factor == 1:
        order = np.argsort(labels, kind="stable")  # runs, not pixels, are sorted: a few hundred
        rows, cols, lengths, labels = rows[order], cols[order], lengths[order], labels[order]
        ends = np.cumsum(lengths)
        ys = np.repeat(rows, lengths)
        xs = np.repeat(cols - (ends - lengths), lengths) + np.arange(ends[-1])  # each run's columns in turn
        firsts = np.flatnonzero(np.diff(labels, prepend=-1))  # each piece's first run
        lasts = np.append(firsts[1:], labels.size) - 1
        boxes = zip(
            np.minimum.reduceat(cols, firsts).tolist(),
            rows[firsts].tolist(),  # a piece's runs are in raster order: its first is in its top row
            np.maximum.reduceat(cols + lengths, firsts).tolist(),
            (rows[lasts] + 1).tolist(),
            strict=True,
        )
        bounds = np.append(ends[lasts], 0)  # where each piece's pixels end, and so the next one's start
        return [_Ink(xs[bounds[i - 1] : bounds[i]], ys[bounds[i - 1] : bounds[i]], box) for i, box in enumerate(boxes)]
    # On a coarser grid: each pixel takes its cell's label.
    cell_label = np.full(grid.size, -1, np.int64)
    first = rows * grid.shape[1] + cols
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    cell_label[np.repeat(first, lengths) + offsets] = np.repeat(labels, lengths)
    ys, xs = np.nonzero(mask)
    pixel_labels = cell_label[(ys // factor) * grid.shape[1] + xs // factor]
    order = np.argsort(pixel_labels, kind="stable")
    ys, xs, pixel_labels = ys[order], xs[order], pixel_labels[order]
    bounds = np.flatnonzero(np.diff(pixel_labels)) + 1
    return [_Ink(x, y) for x, y in zip(np.split(xs, bounds), np.split(ys, bounds), strict=True)]


def _coarse(mask: np.ndarray, factor: int) -> np.ndarray:
    """Whether each factor x factor block of the mask holds any ink."""
    height, width = mask.shape
    padded = np.zeros((-(-height // factor) * factor, -(-width // factor) * factor), bool)
    padded[:height, :width] = mask
    blocks = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor)
    return np.asarray(blocks.any(axis=(1, 3)))


def _label_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The runs of set pixels along the mask's rows, in raster order: row, first column, length, and
    the label of the 8-connected piece each belongs to (0, 1, ..., numbered by first pixel). Runs of
    neighbouring rows that touch are joined by union-find in NumPy."""
    height, width = mask.shape
    stride = width + 2  # a clear column either side, so no run crosses from one row to the next
    padded = np.zeros((height, stride), bool)
    padded[:, 1:-1] = mask
    flat = padded.ravel()
    # Runs start and end in turn, as a clear pixel comes before and after each. (NumPy finds the places
    # of a boolean array's True values several times faster than those of any other type.)
    edges = np.flatnonzero(flat[1:] != flat[:-1])
    starts = edges[0::2] + 1  # first pixel of each run, in padded flat coordinates
    ends = edges[1::2] + 1  # one past its last
    n = starts.size
    # Runs a (row r) and b (row r + 1) touch, diagonals included, when b starts at most one past a's last
    # pixel and ends at least one before a's first: a contiguous range of b's, found by binary search.
    lo = np.searchsorted(ends, starts + stride, "left")
    hi = np.searchsorted(starts, ends + stride, "right")
    counts = np.maximum(hi - lo, 0)
    a = np.repeat(np.arange(n), counts)
    b = lo[a] + np.arange(a.size) - np.repeat(np.cumsum(counts) - counts, counts)
    parent = np.arange(n)
    while a.size:
        pa, pb = parent[a], parent[b]
        apart = pa != pb
        if not apart.any():
            break
        a, b, pa, pb = a[apart], b[apart], pa[apart], pb[apart]
        root = np.minimum(pa, pb)
        np.minimum.at(parent, pa, root)  # hook each root onto the smaller one
        np.minimum.at(parent, pb, root)
        while True:  # and point every run straight at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    # Each piece's root is its first run (hooks go to the smaller index), so numbering the roots in order
    # numbers the pieces by their first pixel.
    labels = (np.cumsum(parent == np.arange(n)) - 1)[parent]
    return starts // stride, starts % stride - 1, ends - starts, labels


# --- strokes -> digits ---


def _digit_height(pieces: list[_Ink]) -> float:
    """How tall the number's digits are: the median height of the tall pieces (those at least half as
    tall as the tallest), so a bar or a dot does not count and one big digit does not decide alone."""
    tallest = max(p.height for p in pieces)
    return float(statistics.median([p.height for p in pieces if p.height >= 0.5 * tallest]))


def _group(strokes: list[_Ink], max_digits: int) -> list[_Ink]:
    """Connected strokes -> digits: each tall one is a digit; each short one joins the digit whose ink
    comes nearest, within REACH; a short one near none is a digit of its own, unless it is a dot."""
    h = _digit_height(strokes)
    bodies = [s for s in strokes if s.height >= TALL * h]
    if len(bodies) > max_digits:
        raise TooManyDigits(len(bodies), max_digits)
    short = [s for s in strokes if s.height < TALL * h]
    # The larger first, so a dot may join a stroke that has joined a digit; stable, so ties keep
    # the order of the drawing.
    short = sorted(short, key=lambda s: -s.size)[:MAX_STROKES]
    joined: list[list[_Ink]] = [[b] for b in bodies]
    boxes = [[b.left, b.top, b.right, b.bottom] for b in bodies]  # each group's box, its parts' together
    cells = _Cells(h)
    for stroke in short:
        distances = [
            min(_ink_distance(stroke, part, h, cells) for part in group)
            if _box_gap(stroke, *box) <= REACH * h  # else every part of it is further still
            else math.inf
            for group, box in zip(joined, boxes, strict=True)
        ]
        nearest = int(np.argmin(distances)) if distances else -1
        if nearest >= 0 and distances[nearest] <= REACH * h:
            joined[nearest].append(stroke)
            box = boxes[nearest]
            box[:] = (
                min(box[0], stroke.left),
                min(box[1], stroke.top),
                max(box[2], stroke.right),
                max(box[3], stroke.bottom),
            )
        elif max(stroke.width, stroke.height) >= DOT * h:
            joined.append([stroke])
            boxes.append([stroke.left, stroke.top, stroke.right, stroke.bottom])
    digits = []
    for group in joined:
        digit = group[0]
        for part in group[1:]:
            digit = digit.join(part)
        digits.append(digit)
    return digits


def _box_gap(a: _Ink, left: int, top: int, right: int, bottom: int) -> float:
    """How far apart an ink's box and another box are (0 when they touch or overlap)."""
    return math.hypot(max(a.left - right, left - a.right, 0), max(a.top - bottom, top - a.bottom, 0))


class _Cells:
    """The cells of about a twentieth of the digit height that each ink's pixels fall in, as (rows,
    columns), found once an ink: a large stroke is measured against every short one near it."""

    def __init__(self, h: float) -> None:
        self.size = max(1, round(h / 20))
        self._found: dict[_Ink, tuple[np.ndarray, np.ndarray]] = {}  # by the ink itself (its identity)

    def of(self, ink: _Ink) -> tuple[np.ndarray, np.ndarray]:
        found = self._found.get(ink)
        if found is None:
            packed = np.unique((ink.ys // self.size) * 65536 + ink.xs // self.size)
            found = self._found[ink] = (packed // 65536, packed % 65536)
        return found


def _ink_distance(a: _Ink, b: _Ink, h: float, cells: _Cells) -> float:
    """The shortest distance between two inks' pixels, to within a cell of about a twentieth of the
    digit height; infinite when their boxes are already further apart than REACH."""
    if _box_gap(a, b.left, b.top, b.right, b.bottom) > REACH * h:
        return math.inf
    (ya, xa), (yb, xb) = cells.of(a), cells.of(b)
    d2 = (ya[:, None] - yb[None, :]) ** 2 + (xa[:, None] - xb[None, :]) ** 2
    return max(0.0, (math.sqrt(float(d2.min())) - 1) * cells.size)


# --- digits that touch ---

# How wide each digit is for its height, as the mean and the standard deviation of log(width / height)
# of its ink in MNIST's training set (`aspect_statistics` computes them from app/nn/bundled).
ASPECT = np.array(
    [
        [-0.119, 0.218],
        [-1.007, 0.489],
        [-0.083, 0.242],
        [-0.262, 0.226],
        [-0.270, 0.229],
        [-0.086, 0.286],
        [-0.360, 0.229],
        [-0.294, 0.230],
        [-0.311, 0.236],
        [-0.433, 0.215],
    ]
)


def aspect_statistics(bits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(10, 2): the mean and standard deviation of log(width / height) of each digit's ink, from
    binary inputs (N, 28, 28) and their labels."""
    index = np.arange(bits.shape[1])

    def extent(any_ink: np.ndarray) -> np.ndarray:
        return np.where(any_ink, index, -1).max(axis=1) - np.where(any_ink, index, index.size).min(axis=1) + 1

    log_aspect = np.log(extent(np.asarray(bits.any(axis=1))) / extent(np.asarray(bits.any(axis=2))))
    return np.array([[log_aspect[labels == d].mean(), log_aspect[labels == d].std()] for d in range(10)])


def digit_fit(probs: np.ndarray, aspects: np.ndarray) -> np.ndarray:
    """How well each piece passes for one digit: the log of its top probability, less a penalty when it
    is wider for its height than the digit read usually is (a half squared z-score of log(width /
    height) against ASPECT, one-sided: narrow writing is common, a digit twice its usual width is not).
    The network alone reads two 4s squeezed together as a 4 without a doubt. probs (N, 10), aspects (N,)."""
    best = probs.argmax(axis=1)
    mean, spread = ASPECT[best, 0], ASPECT[best, 1]
    wide = np.maximum((np.log(aspects) - mean) / spread, 0.0)
    return np.log(np.maximum(probs.max(axis=1), 1e-12)) - 0.5 * wide**2


def _fitness(
    probs: np.ndarray, hidden: np.ndarray, pieces: list[_Ink], h: float, judge: PieceJudge | None
) -> np.ndarray:
    """How well each piece passes for one digit: `digit_fit`, plus JUDGE_WEIGHT times the log of the
    judge's probability that it is one whole digit, when there is a judge."""
    widths = np.array([p.width for p in pieces], np.float64)
    heights = np.array([p.height for p in pieces], np.float64)
    fit = digit_fit(probs, widths / heights)
    if judge is not None:
        fit = fit + JUDGE_WEIGHT * judge.log_whole(probs, hidden, widths, heights, h)
    return fit


@dataclass(frozen=True)
class _CutPlan:
    """A digit-sized piece of ink and the ways of cutting it: `pieces[i]` lies between cuts
    `spans[i]`, indices into the sorted cut positions, first and last being the ink's own edges."""

    pieces: list[_Ink]
    spans: list[tuple[int, int]]
    crossings: list[int]  # strokes each cut crosses, by edge index (0 for the ink's own edges)

    def _costs(self) -> list[float]:
        """What each edge costs a way of cutting that cuts there: its strokes crossed beyond one."""
        return [max(n - 1, 0) * math.log(EXTRA_STROKE_ODDS) for n in self.crossings]

    def could_beat(self, whole: float) -> list[int]:
        """The pieces (indices into `pieces`, the whole left out) that some way of cutting better than
        the whole piece, whose fitness is `whole`, may hold. No piece's fitness is above 0 (a
        log-probability, less penalties), so a way whose cuts alone cost as much as the whole falls
        short cannot beat it, however well its pieces read: pieces found only in such ways, or in none
        reaching from edge to edge, need not be read."""
        cost = self._costs()
        last = len(self.crossings) - 1
        cuts = self.spans[1:]
        # The least any way of cutting pays from the left edge to each edge, and from each to the right.
        to: dict[int, float] = {0: 0.0}
        for end in range(1, last + 1):
            ways = [to[start] + cost[start] for start, stop in cuts if stop == end and start in to]
            if ways:
                to[end] = max(ways)
        on: dict[int, float] = {last: 0.0}
        for begin in range(last - 1, -1, -1):
            ways = [cost[begin] + on[stop] for start, stop in cuts if start == begin and stop in on]
            if ways:
                on[begin] = max(ways)
        return [
            i
            for i, (start, stop) in enumerate(self.spans)
            if i > 0 and start in to and stop in on and to[start] + cost[start] + on[stop] > whole - ROUNDING
        ]

    def best(self, gain: np.ndarray) -> list[int]:
        """The pieces (indices into `pieces`) of the most probable way to cut, left to right, from how
        well each piece passes for one digit (`_fitness`)."""
        if len(self.pieces) == 1:
            return [0]
        cost = self._costs()
        last = len(self.crossings) - 1
        score: dict[int, tuple[float, list[int]]] = {
            0: (0.0, [])
        }  # the best score and pieces reaching each edge from the left one
        for end in range(1, last + 1):
            options = [
                (score[start][0] + cost[start] + gain[i], [*score[start][1], i])
                for i, (start, stop) in enumerate(self.spans)
                if stop == end and start in score
            ]
            if options:
                score[end] = max(options, key=lambda option: option[0])
        return score[last][1]


def _cut_plan(digit: _Ink, h: float) -> _CutPlan:
    """The candidate cuts of a piece of ink and every piece between two of them that could be a digit."""
    margin = max(1, round(MIN_PART * h))
    starts = list(range(digit.left + margin, digit.right - margin, max(1, round(CUT_EVERY * h))))
    cuttable = _Cuttable(digit)
    cuts = _cut_paths(cuttable, starts, h)
    # Each edge's column in each row of the box: the ink's own sides and the cuts between.
    edges = np.array(
        [np.zeros(digit.height, np.int64), *(path - digit.left for path, _ in cuts), np.full(digit.height, digit.width)]
    )
    last = len(edges) - 1
    pairs = [
        (i, j)
        for i in range(last)
        for j in range(i + 1, last + 1)
        if (i, j) != (0, last) and not (digit.width < THREE_WIDE * h and i > 0 and j < last)
    ]
    pieces: list[_Ink] = [digit]
    spans = [(0, last)]
    if pairs:
        first_row, last_row, first_col, last_col, counts = cuttable.between(edges, np.array(pairs))
        tall_enough = max(TALL * h, FULL * digit.height, MIN_EXTENT_PX)
        for k in np.flatnonzero((counts > 0) & (last_row + 1 - first_row >= tall_enough)).tolist():
            i, j = pairs[k]
            box = (
                digit.left + int(first_col[k]),
                digit.top + int(first_row[k]),
                digit.left + int(last_col[k]) + 1,
                digit.top + int(last_row[k]) + 1,
            )
            pieces.append(_CutPiece(cuttable, edges[i], edges[j], box, int(counts[k])))
            spans.append((i, j))
    return _CutPlan(pieces, spans, [0, *(crossed for _, crossed in cuts), 0])


def _cut_paths(cuttable: _Cuttable, cuts: list[int], h: float) -> list[tuple[np.ndarray, int]]:
    """From each start column, the top-to-bottom path within BAND of it that crosses the least ink
    (moving at most a column a row, each sideways step costing STEP against 1 an ink pixel), as its
    column in each row of the ink, and the strokes it crosses. So a cut between digits that touch goes
    around the one that leans into the other and through only the stroke they share. The MAX_CUTS
    distinct paths crossing the fewest strokes come back, left to right."""
    if not cuts:
        return []
    digit, mask = cuttable.digit, cuttable.mask
    band = max(1, round(BAND * h))
    cols = np.array(cuts)[:, None] - digit.left + np.arange(-band, band + 1)  # (cuts, band columns)
    outside = np.where((cols >= 0) & (cols < digit.width), 0.0, np.inf).astype(np.float32)
    ink_under = mask[:, np.clip(cols, 0, digit.width - 1)] + outside  # (rows, cuts, band columns)
    # The cost of the cheapest way to each row's columns, with a column of inf either side so a band's
    # edge has no way in from beyond it: a row takes the cheaper of its two sideways ways in, plus
    # STEP, against the one from above, and its own ink.
    so_far = np.full((digit.height, len(cuts), cols.shape[1] + 2), np.inf, np.float32)
    so_far[0, :, 1:-1] = ink_under[0]
    sideways = np.empty(cols.shape, np.float32)
    lefts, aboves, rights, costs = so_far[:-1, :, :-2], so_far[:-1, :, 1:-1], so_far[:-1, :, 2:], so_far[1:, :, 1:-1]
    for y in range(digit.height - 1):  # row y + 1 from row y
        np.minimum(lefts[y], rights[y], out=sideways)
        sideways += STEP
        cost = costs[y]
        np.minimum(aboves[y], sideways, out=cost)
        cost += ink_under[y + 1]
    # The way each step came, all rows at once (from above first, then the left, on a tie), and back
    # up from the cheapest end of each band.
    before = so_far[:-1]
    left, above, right = before[..., :-2], before[..., 1:-1], before[..., 2:]
    side = np.where(left <= right, np.int8(-1), np.int8(1))
    came = np.where(above <= np.minimum(left, right) + STEP, np.int8(0), side)
    # Where each place (cuts x band columns, flattened) is reached from in the row above.
    reached_from = came.reshape(digit.height - 1, -1) + np.arange(came[0].size)
    ends = so_far[-1, :, 1:-1]
    index = np.arange(len(cuts))
    flat = index * cols.shape[1]
    at = flat + ends.argmin(axis=1)
    where = np.empty((digit.height, len(cuts)), np.int64)  # each path's place, row by row
    where[-1] = at
    for y in range(digit.height - 2, -1, -1):
        at = reached_from[y].take(at)
        where[y] = at
    where = (where - flat).T  # each path's place in its band
    path = cols[index[:, None], where]
    on_ink = mask[np.arange(digit.height), path]  # (cuts, rows): whether each step is on ink
    crossed = (np.diff(on_ink.astype(np.int8), axis=1, prepend=0) == 1).sum(axis=1)
    ink_crossed = ends.min(axis=1)
    order = np.argsort(path.mean(axis=1), kind="stable")
    unique: list[tuple[np.ndarray, int, float]] = []
    for i in order:  # paths from neighbouring columns often settle into the same groove
        if not unique or np.abs(path[i] + digit.left - unique[-1][0]).max() > 1:
            unique.append((path[i] + digit.left, int(crossed[i]), float(ink_crossed[i])))
    margin = max(1, round(MIN_PART * h))
    inside = [u for u in unique if u[0].min() >= digit.left + margin and u[0].max() < digit.right - margin]
    best = sorted(inside, key=lambda u: (u[1], u[2]))[:MAX_CUTS]
    return [(u[0], u[1]) for u in sorted(best, key=lambda u: float(u[0].mean()))]


def _whole(image: np.ndarray, ink: InkLayer, digit: _Ink) -> Preprocessed:
    try:
        return preprocess(image)
    except BlankDrawing:
        return _piece_input(ink, digit)


def _piece_input(ink: InkLayer, piece: _Ink) -> Preprocessed:
    """What the network sees of a piece's ink alone: its pixels cropped to it, through the rest of
    `preprocess` (scaled to the box, centred by mass, thresholded), as a drawing of that digit alone is."""
    return from_crop(piece.crop(ink))
