"""Stroke-level augmentation: deterministic for a seed, near the original, and style variants in the right place."""

from __future__ import annotations

import numpy as np
import pytest

from app.nn import stroke_augment as sa
from app.nn.data import PenDigit, pendigit_inputs
from app.nn.preprocess import binarize, preprocess
from app.nn.stroke_augment import StrokeAugmentation, chaikin
from app.nn.strokes import render_strokes
from app.nn.train import NEW_WRITERS
from tests.factories import DIGIT_STROKES, agreement

# the recipe's strengths: what the tests below must hold for
VARIED = NEW_WRITERS


def pen(digit: int) -> list[np.ndarray]:
    """A factory digit in pendigits' coordinates: a 500-unit box, y down."""
    return [np.array(stroke) * 500 for stroke in DIGIT_STROKES[digit]]


def ink(strokes: list[np.ndarray], size: int = 280) -> np.ndarray:
    """Where the strokes put ink on a canvas, as booleans (H, W)."""
    return render_strokes(strokes, size=size, pen_width=0.03) > 0


def test_the_same_seed_gives_the_same_strokes_and_another_seed_others():
    for digit in range(10):
        a = VARIED.apply(pen(digit), digit, np.random.default_rng(7))
        b = VARIED.apply(pen(digit), digit, np.random.default_rng(7))
        c = VARIED.apply(pen(digit), digit, np.random.default_rng(8))
        assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
        assert len(a) != len(c) or any(x.shape != y.shape or not np.allclose(x, y) for x, y in zip(a, c, strict=True))


def test_inactive_augmentation_leaves_the_strokes_alone():
    strokes = pen(7)
    out = StrokeAugmentation().apply(strokes, 7, np.random.default_rng(0))
    assert all(np.array_equal(x, y) for x, y in zip(out, strokes, strict=True))
    assert out[0] is not strokes[0]  # a copy: the caller's digit is never changed


@pytest.fixture(scope="module")
def originals() -> list[np.ndarray]:
    return [preprocess(render_strokes(pen(d), pen_width=0.05)).bits for d in range(10)]


@pytest.mark.parametrize("digit", range(10))
def test_a_varied_digit_stays_nearer_its_original_than_other_digits(digit, originals):
    rng = np.random.default_rng(digit)
    plain = StrokeAugmentation(**{**VARIED.to_json(), "styles": 0.0})
    nearest, shares = [], []
    for _ in range(20):
        bits = preprocess(render_strokes(plain.apply(pen(digit), digit, rng), pen_width=0.05)).bits
        against = [agreement(original, bits) for original in originals]
        nearest.append(int(np.argmax(against)))
        shares.append(against[digit])
    # most of the ink stays within a pixel of the original's, and the original is usually the nearest digit
    assert np.median(shares) > 0.85
    assert nearest.count(digit) >= 12


def test_each_kind_of_variation_changes_the_points():
    base = pen(5)
    for field in VARIED.to_json():
        if field == "styles":
            continue
        one = StrokeAugmentation(**{field: 1.0 if field == "smooth" else getattr(VARIED, field)})
        out = one.apply(base, 5, np.random.default_rng(3))
        assert len(out) == len(base), field
        if field == "smooth":
            assert all(len(o) > len(b) for o, b in zip(out, base, strict=True))
        else:
            assert any(not np.allclose(o, b) for o, b in zip(out, base, strict=True)), field


def test_proportion_moves_the_middle_but_keeps_top_and_bottom():
    stroke = np.array([[100.0, 0.0], [100.0, 100.0], [100.0, 200.0]])
    (up,) = sa._proportion([stroke], stroke.min(0), stroke.max(0), -0.5)
    np.testing.assert_allclose(up[:, 1], [0.0, 75.0, 200.0])  # the middle rises: a smaller upper part


def test_chaikin_rounds_corners_and_keeps_the_ends():
    corner = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]])
    smooth = chaikin(corner, 2)
    np.testing.assert_array_equal(smooth[0], corner[0])
    np.testing.assert_array_equal(smooth[-1], corner[-1])
    assert len(smooth) > len(corner)
    assert np.linalg.norm(smooth - corner[1], axis=1).min() > 1.0  # the corner point itself is cut off


def test_a_crossbar_seven_has_extra_ink_across_the_middle_of_its_stem():
    seven = pen(7)  # one stroke: the bar, then the stem from (0.73, 0.17) to (0.44, 0.86)
    crossed = sa.seven_with_crossbar(seven, np.random.default_rng(0))
    assert len(crossed) == 2
    extra = ink(crossed) & ~ink(seven)
    rows, cols = np.nonzero(extra)
    top, bottom = 0.17 * 280, 0.86 * 280
    assert top + 0.25 * (bottom - top) < rows.mean() < top + 0.7 * (bottom - top)
    # on both sides of the stem, at the height where the bar crosses it
    y = rows.mean() / 280
    stem_x = 0.73 + (0.44 - 0.73) * (y - 0.17) / (0.86 - 0.17)
    assert cols.min() < stem_x * 280 - 15 and cols.max() > stem_x * 280 + 15
    assert np.ptp(cols) > 3 * np.ptp(rows)  # a bar: wide, not tall


def test_a_seven_with_a_crossbar_gets_a_new_one_or_none():
    crossed = sa.seven_with_crossbar(pen(7), np.random.default_rng(0))
    again = sa.seven_with_crossbar(crossed, np.random.default_rng(1))
    assert len(again) == 2 and not np.allclose(again[1], crossed[1])
    assert len(sa.seven_plain(crossed, np.random.default_rng(0))) == 1


def test_a_one_with_a_base_has_a_wide_foot_and_a_flag():
    one = [np.array([[0.54, 0.14], [0.54, 0.86]]) * 500]  # a bare stem
    based = sa.one_with_base(one, np.random.default_rng(0))
    extra = ink(based) & ~ink(one)
    rows, cols = np.nonzero(extra)
    bottom = 0.86 * 280
    foot = rows > bottom - 10
    assert np.ptp(cols[foot]) > 0.2 * 0.72 * 280  # the base spans a fifth of the height or more
    head = rows < 0.4 * 280
    assert head.any() and cols[head].min() < 0.54 * 280 - 10  # a flag, out to the left of the top


def test_a_closed_four_joins_its_slanted_stroke_to_the_top_of_its_stem():
    four = [
        np.array([[0.5, 0.2], [0.26, 0.62], [0.78, 0.62]]) * 500,  # slanted stroke and bar
        np.array([[0.62, 0.14], [0.62, 0.86]]) * 500,  # the stem
    ]
    closed = sa.four_closed(four, np.random.default_rng(0))
    extra = ink(closed) & ~ink(four)
    rows, cols = np.nonzero(extra)
    assert extra.sum() > 0
    assert rows.max() < 0.25 * 280  # all of it across the top
    assert cols.min() > 0.45 * 280 and cols.max() < 0.67 * 280  # between the two tops


def test_a_nine_curls_its_tail_or_leaves_its_loop_open():
    nine = pen(9)
    curled = sa.nine_curled(nine, np.random.default_rng(0))
    n = len(nine[0])
    np.testing.assert_array_equal(curled[0][:n], nine[0])
    tail = curled[0][n:]
    assert len(tail) > 0 and tail[:, 0].max() < nine[0][-1, 0]  # it turns back towards the loop's side
    opened = sa.nine_open(nine, np.random.default_rng(0))
    assert len(opened[0]) < n
    np.testing.assert_array_equal(opened[0], nine[0][n - len(opened[0]) :])  # the start is left out


def test_digits_without_style_variants_keep_their_strokes():
    for digit in (0, 2, 3, 5, 6, 8):
        out = sa.restyle(pen(digit), digit, np.random.default_rng(0))
        assert all(np.array_equal(a, b) for a, b in zip(out, pen(digit), strict=True))


def test_rendered_pen_inputs_are_deterministic_for_a_seed():
    digits = [PenDigit(d, 1, tuple(np.float32(s) for s in pen(d))) for d in range(10)]
    a, la = pendigit_inputs(digits, (0.04, 0.07), np.random.default_rng(2), VARIED, variants=2)
    b, lb = pendigit_inputs(digits, (0.04, 0.07), np.random.default_rng(2), VARIED, variants=2)
    assert a.shape == (40, 28, 28)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    assert la.tolist() == list(range(10)) * 4
    plain, _ = pendigit_inputs(digits, (0.04,))
    np.testing.assert_array_equal(plain[7], preprocess(render_strokes(digits[7].strokes, pen_width=0.04)).grey)
    # at each width, the first rendering is the digit as written (its pen a little wider or narrower)
    # and the second a variation of its strokes
    for first, second, original in zip(a[:10], a[10:20], plain, strict=True):
        assert agreement(binarize(first), binarize(original)) > 0.7
        assert not np.array_equal(first, second)
