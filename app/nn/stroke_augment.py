"""Stroke-level augmentation: many plausible writers from a few, by varying pen trajectories before rendering.

A pen digit is a few strokes of points. Varying those points, rather than the pixels they become, keeps
the stroke a stroke: it bends, slants and stretches, and the pen still draws it with an even width.

- the digit as a whole: rotated, slanted, narrowed or widened, its upper and lower parts resized
  against each other (a 6 with a small or a tall loop, a 4 with its bar higher or lower);
- each stroke on its own: rescaled, turned and moved a little (a 5's bar, a 7's crossbar, a 4's stem);
- the trajectory: bent by a smooth random field, jittered point by point, its corners rounded or not;
- style variants that people write and a stroke model can draw honestly: a crossbar on a 7 (or none),
  a flag and a base on a 1, the top of a 4 closed, the tail of a 9 curled back or its loop left open.

All of it is deterministic for the generator it is given. Strokes are (n, 2) arrays of (x, y), y down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

Strokes = list[np.ndarray]


@dataclass(frozen=True)
class StrokeAugmentation:
    rotate_deg: float = 0.0  # the digit turned by up to +-rotate_deg
    slant: float = 0.0  # x shifted by slant * (y - centre), slant uniform in +-slant
    aspect: float = 0.0  # width scaled by 1 +- aspect against the height
    proportion: float = 0.0  # y -> y + a y (1 - y) over the digit's height, a in +-proportion
    stroke_scale: float = 0.0  # each stroke scaled about its centre by 1 +- stroke_scale
    stroke_rotate_deg: float = 0.0  # and turned by up to +-stroke_rotate_deg
    stroke_shift: float = 0.0  # and moved by up to stroke_shift of the digit's size
    wobble: float = 0.0  # amplitude of a smooth random displacement field, a fraction of the size
    jitter: float = 0.0  # standard deviation of each point's own noise, a fraction of the size
    smooth: float = 0.0  # probability of rounding the corners between points (two rounds of Chaikin)
    styles: float = 0.0  # probability of redrawing a digit in one of its style variants

    @property
    def active(self) -> bool:
        return any(asdict(self).values())

    def to_json(self) -> dict[str, float]:
        return asdict(self)

    def apply(self, strokes: Sequence[np.ndarray], label: int, rng: np.random.Generator) -> Strokes:
        """A new drawing of the digit `label`: its strokes varied, in the same coordinates."""
        out = [np.asarray(s, np.float64).copy() for s in strokes]
        if not self.active:
            return out
        if self.styles and rng.random() < self.styles:
            out = restyle(out, label, rng)
        lo, hi = _bounds(out)
        size = float(max(hi - lo).max(initial=1.0)) or 1.0
        if self.proportion:
            out = _proportion(out, lo, hi, rng.uniform(-self.proportion, self.proportion))
        if self.stroke_scale or self.stroke_rotate_deg or self.stroke_shift:
            out = [self._move_stroke(s, size, rng) for s in out]
        if self.rotate_deg or self.slant or self.aspect:
            out = self._whole_digit(out, (lo + hi) / 2, rng)
        if self.wobble:
            out = _wobble(out, lo, size, self.wobble, rng)
        if self.jitter:
            out = [s + rng.normal(0.0, self.jitter * size, s.shape) for s in out]
        if self.smooth and rng.random() < self.smooth:
            out = [chaikin(s, 2) for s in out]
        return out

    def _move_stroke(self, stroke: np.ndarray, size: float, rng: np.random.Generator) -> np.ndarray:
        c = (stroke.min(axis=0) + stroke.max(axis=0)) / 2
        k = rng.uniform(1 - self.stroke_scale, 1 + self.stroke_scale)
        shift = rng.uniform(-self.stroke_shift, self.stroke_shift, 2) * size
        return (stroke - c) @ (k * _rotation(rng.uniform(-1, 1) * self.stroke_rotate_deg)).T + c + shift

    def _whole_digit(self, strokes: Strokes, c: np.ndarray, rng: np.random.Generator) -> Strokes:
        slant = rng.uniform(-self.slant, self.slant)
        aspect = rng.uniform(1 - self.aspect, 1 + self.aspect)
        # first narrow or widen, then slant (x moves with y), then turn: p' = R @ S @ A @ (p - c) + c
        a = _rotation(rng.uniform(-1, 1) * self.rotate_deg) @ np.array([[1.0, slant], [0.0, 1.0]])
        a = a @ np.diag([aspect, 1.0])
        return [(s - c) @ a.T + c for s in strokes]


def _rotation(deg: float) -> np.ndarray:
    """The 2x2 matrix turning (x, y) points by deg (clockwise on a y-down canvas)."""
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def _bounds(strokes: Strokes) -> tuple[np.ndarray, np.ndarray]:
    points = np.concatenate(strokes)
    return points.min(axis=0), points.max(axis=0)


def _proportion(strokes: Strokes, lo: np.ndarray, hi: np.ndarray, a: float) -> Strokes:
    """Move the digit's middle up (a < 0) or down (a > 0): monotone for |a| < 1, so nothing folds over."""
    height = max(hi[1] - lo[1], 1e-9)
    out = []
    for s in strokes:
        t = (s[:, 1] - lo[1]) / height
        moved = s.copy()
        moved[:, 1] = lo[1] + height * (t + a * t * (1 - t))
        out.append(moved)
    return out


def _wobble(strokes: Strokes, lo: np.ndarray, size: float, amplitude: float, rng: np.random.Generator) -> Strokes:
    """Displace every point by a smooth random field: a few plane waves of about one cycle a digit."""
    waves = 3
    direction = rng.normal(size=(2, waves, 2))
    direction /= np.linalg.norm(direction, axis=2, keepdims=True)
    frequency = rng.uniform(0.5, 1.5, (2, waves, 1)) * 2 * np.pi / size
    phase = rng.uniform(0, 2 * np.pi, (2, waves))
    weight = rng.normal(size=(2, waves)) * amplitude * size / np.sqrt(waves)
    out = []
    for s in strokes:
        p = s - lo  # (n, 2)
        # (2 displacement axes, waves, n): each wave's phase at each point
        angle = np.einsum("awk,nk->awn", direction * frequency, p) + phase[:, :, None]
        out.append(s + (weight[:, :, None] * np.sin(angle)).sum(axis=1).T)
    return out


def chaikin(stroke: np.ndarray, rounds: int = 1) -> np.ndarray:
    """Chaikin's corner cutting: each segment's quarter points replace its corners; the ends stay put."""
    for _ in range(rounds):
        if len(stroke) < 3:
            return stroke
        a, b = stroke[:-1], stroke[1:]
        cut = np.empty((2 * len(a), 2))
        cut[0::2] = 0.75 * a + 0.25 * b
        cut[1::2] = 0.25 * a + 0.75 * b
        stroke = np.concatenate([stroke[:1], cut[1:-1], stroke[-1:]])
    return stroke


# --- style variants ---


def restyle(strokes: Strokes, label: int, rng: np.random.Generator) -> Strokes:
    """The digit redrawn in one of its style variants; unchanged for a digit without any."""
    variants = STYLES.get(label)
    if not variants:
        return strokes
    return variants[rng.integers(len(variants))](strokes, rng)


def _size(strokes: Strokes) -> float:
    lo, hi = _bounds(strokes)
    return float(max(hi - lo).max(initial=1.0)) or 1.0


def _line(a: np.ndarray, b: np.ndarray, n: int = 6) -> np.ndarray:
    return np.linspace(a, b, n)


def _main_stroke(strokes: Strokes) -> int:
    """The index of the tallest stroke: a 7's bar and stem, a 1's stem, a 9's loop and tail."""
    return int(np.argmax([np.ptp(s[:, 1]) for s in strokes]))


def _is_bar(stroke: np.ndarray) -> bool:
    """A short, nearly horizontal stroke: a crossbar or a base."""
    width, height = np.ptp(stroke, axis=0)
    return bool(width > 2.5 * max(height, 1e-9))


def seven_with_crossbar(strokes: Strokes, rng: np.random.Generator) -> Strokes:
    """A 7 with a new crossbar through the middle of its stem (any crossbar it had is replaced)."""
    main = _main_stroke(strokes)
    stem_stroke = strokes[main]
    size = _size(strokes)
    top, bottom = stem_stroke[:, 1].min(), stem_stroke[:, 1].max()
    # the corner: the rightmost point of the top third; the stem runs from there to the end
    upper = np.flatnonzero(stem_stroke[:, 1] <= top + 0.35 * (bottom - top))
    corner = int(upper[np.argmax(stem_stroke[upper, 0])])
    stem = stem_stroke[corner:]
    if len(stem) < 2:
        return strokes
    y = stem[0, 1] + rng.uniform(0.35, 0.6) * (stem[-1, 1] - stem[0, 1])
    x = _x_at(stem, y)
    left, right = rng.uniform(0.12, 0.28) * size, rng.uniform(0.12, 0.3) * size
    tilt = np.tan(np.deg2rad(rng.uniform(-12, 4)))  # a crossbar tends to rise to the right
    bar = _line(np.array([x - left, y + tilt * -left]), np.array([x + right, y + tilt * right]))
    kept = [s for i, s in enumerate(strokes) if i == main or not _is_bar(s)]
    return [*kept, bar]


def seven_plain(strokes: Strokes, rng: np.random.Generator) -> Strokes:
    """A 7 without its crossbar, if it had one."""
    main = _main_stroke(strokes)
    return [s for i, s in enumerate(strokes) if i == main or not _is_bar(s)]


def _x_at(stroke: np.ndarray, y: float) -> float:
    """x where the stroke first reaches height y (the nearest point if it never does)."""
    crossing = np.flatnonzero((stroke[:-1, 1] - y) * (stroke[1:, 1] - y) <= 0)
    if crossing.size == 0:
        return float(stroke[np.argmin(np.abs(stroke[:, 1] - y)), 0])
    i = int(crossing[0])
    (x0, y0), (x1, y1) = stroke[i], stroke[i + 1]
    return float(x0 if y1 == y0 else x0 + (x1 - x0) * (y - y0) / (y1 - y0))


def one_with_base(strokes: Strokes, rng: np.random.Generator) -> Strokes:
    """A 1 standing on a base: a short horizontal stroke under its foot, and a flag if it had none."""
    strokes = [s for s in strokes if not _is_bar(s)] or strokes
    main = _main_stroke(strokes)
    if _flag_length(strokes[main]) < 0.1 * np.ptp(strokes[main][:, 1]):
        strokes = one_with_flag(strokes, rng)
        main = _main_stroke(strokes)
    stem = strokes[main]
    height = float(np.ptp(stem[:, 1]))
    foot = stem[np.argmax(stem[:, 1])]
    y = foot[1] + rng.uniform(0.0, 0.03) * height
    base = _line(
        np.array([foot[0] - rng.uniform(0.15, 0.3) * height, y]),
        np.array([foot[0] + rng.uniform(0.15, 0.3) * height, y]),
    )
    return [*strokes, base]


def _flag_length(stem: np.ndarray) -> float:
    """How far the stroke travels before its top point: the flag a 1 starts with."""
    top = int(np.argmin(stem[:, 1]))
    return float(np.linalg.norm(np.diff(stem[: top + 1], axis=0), axis=1).sum())


def one_with_flag(strokes: Strokes, rng: np.random.Generator) -> Strokes:
    """A 1 whose flag (the up-stroke into its top) is redrawn: shorter, longer, or added where it had none."""
    strokes = list(strokes)
    main = _main_stroke(strokes)
    stem = strokes[main]
    top = int(np.argmin(stem[:, 1]))
    height = float(np.ptp(stem[:, 1]))
    length = rng.uniform(0.2, 0.45) * height
    angle = np.deg2rad(rng.uniform(20, 60))  # below the horizontal, to the left of the top
    start = stem[top] + length * np.array([-np.cos(angle), np.sin(angle)])
    strokes[main] = np.concatenate([_line(start, stem[top], 5)[:-1], stem[top:]])
    return strokes


def four_closed(strokes: Strokes, rng: np.random.Generator) -> Strokes:
    """A 4 drawn in two strokes with its top closed: the slanted stroke starts at the top of the stem."""
    if len(strokes) != 2:
        return strokes
    stem = int(np.argmax([np.ptp(s[:, 1]) - np.ptp(s[:, 0]) for s in strokes]))
    other = 1 - stem
    tip = strokes[stem][np.argmin(strokes[stem][:, 1])]
    closed = list(strokes)
    closed[other] = np.concatenate([_line(tip, strokes[other][0], 5)[:-1], strokes[other]])
    return closed


def nine_curled(strokes: Strokes, rng: np.random.Generator) -> Strokes:
    """A 9 whose tail curls back at the bottom, turning towards the loop's side."""
    strokes = list(strokes)
    main = _main_stroke(strokes)
    s = strokes[main]
    size = _size(strokes)
    end = s[-1]
    before = s[max(0, len(s) - 4)]
    d = end - before
    norm = float(np.linalg.norm(d))
    if norm == 0:
        return strokes
    d /= norm
    radius = rng.uniform(0.08, 0.16) * size
    sweep = np.deg2rad(rng.uniform(70, 160))
    turn = np.array([-d[1], d[0]])  # a quarter turn from the direction of travel
    centre = end + radius * turn
    hook = np.array([centre + _rotation(np.rad2deg(t)) @ (end - centre) for t in np.linspace(0, sweep, 7)[1:]])
    strokes[main] = np.concatenate([s, hook])
    return strokes


def nine_open(strokes: Strokes, rng: np.random.Generator) -> Strokes:
    """A 9 drawn in one stroke whose loop is left open: the first part of its stroke is not drawn."""
    if len(strokes) != 1 or len(strokes[0]) < 8:
        return strokes
    s = strokes[0]
    travelled = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(s, axis=0), axis=1))])
    first = int(np.searchsorted(travelled, rng.uniform(0.06, 0.16) * travelled[-1]))
    return [s[first:]]


STYLES = {
    1: (one_with_base, one_with_flag),
    4: (four_closed,),
    7: (seven_with_crossbar, seven_with_crossbar, seven_plain),
    9: (nine_curled, nine_open),
}
