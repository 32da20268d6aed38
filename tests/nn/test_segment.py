"""Reading a number: connected ink, the strokes of one digit merged, digits apart, touching digits cut,
dots, order, the digit limit and determinism, on digits drawn with the pad's pen."""

from __future__ import annotations

import itertools
import math
from collections import deque

import numpy as np
import pytest

from app.config import MODEL_DIR
from app.nn import segment as segment_module
from app.nn.data import bundled_mnist, load_pen_digits
from app.nn.judge import PieceJudge
from app.nn.network import Model, Network, load_model
from app.nn.preprocess import MIN_EXTENT, BlankDrawing, preprocess
from app.nn.segment import ASPECT, MAX_DIGITS, TooManyDigits, aspect_statistics, connected_ink, segment
from app.nn.strokes import NUMBER_PAD_HEIGHT, NUMBER_PAD_WIDTH
from app.nn.writing import GAPS, number_drawing
from tests.factories import DIGIT_STROKES, TEST_DATA_DIR, pad_number, stroke_image

FIVE_BAR = [[(0.38, 0.12), (0.72, 0.12)]]
FIVE_BODY = [[(0.36, 0.28), (0.33, 0.46), *DIGIT_STROKES[5][0][3:]]]  # a 5 whose bar the pen left apart
SEVEN_CROSSED = [*DIGIT_STROKES[7], [(0.3, 0.52), (0.44, 0.52)]]  # the cross stops short of the stem


@pytest.fixture(scope="module")
def model() -> Model:
    return load_model(MODEL_DIR / "cnn.npz")


@pytest.fixture(scope="module")
def network(model: Model) -> Network:
    return model.network


@pytest.fixture(scope="module")
def judge(model: Model) -> PieceJudge:
    assert model.judge is not None, "the shipped cnn reads numbers with its piece judge"
    return model.judge


def read(image: np.ndarray, network: Network, judge: PieceJudge | None) -> str:
    return "".join(str(int(d.probabilities.argmax())) for d in segment(image, network.classify, judge=judge))


def pieces(image: np.ndarray) -> int:
    return len(connected_ink(image > 0))


def x_overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
    return min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])


# --- connected ink ---


def flood_fill_pieces(mask: np.ndarray) -> set[frozenset[tuple[int, int]]]:
    """The 8-connected pieces the slow, obvious way."""
    seen = np.zeros_like(mask)
    found = set()
    for y, x in zip(*np.nonzero(mask), strict=True):
        if seen[y, x]:
            continue
        piece, queue = set(), deque([(y, x)])
        seen[y, x] = True
        while queue:
            cy, cx = queue.popleft()
            piece.add((int(cy), int(cx)))
            for ny in range(max(cy - 1, 0), min(cy + 2, mask.shape[0])):
                for nx in range(max(cx - 1, 0), min(cx + 2, mask.shape[1])):
                    if mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        queue.append((ny, nx))
        found.add(frozenset(piece))
    return found


@pytest.mark.parametrize("seed", range(6))
def test_connected_ink_finds_the_pieces_a_flood_fill_finds(seed):
    mask = np.random.default_rng(seed).random((37, 53)) < 0.3 + 0.05 * seed
    found = connected_ink(mask)
    assert {frozenset(zip(ys.tolist(), xs.tolist(), strict=True)) for xs, ys in found} == flood_fill_pieces(mask)
    firsts = [min(zip(ys.tolist(), xs.tolist(), strict=True)) for xs, ys in found]
    assert firsts == sorted(firsts)  # in the order of their first pixel
    for piece in segment_module._strokes(mask):  # each piece's box, from its runs, is its pixels' own
        assert piece.box() == segment_module._Ink(piece.xs, piece.ys).box()


def test_diagonal_neighbours_are_connected_and_a_gap_is_not():
    mask = np.zeros((5, 6), bool)
    mask[0, 0] = mask[1, 1] = mask[2, 2] = True  # a diagonal line
    mask[0, 4] = mask[2, 4] = True  # one pixel apart vertically
    assert sorted(len(xs) for xs, _ in connected_ink(mask)) == [1, 1, 3]


def test_a_huge_mask_is_labelled_on_a_coarser_grid(monkeypatch: pytest.MonkeyPatch):
    mask = np.zeros((60, 90), bool)
    mask[10:50, 10:20] = mask[10:50, 40:50] = mask[10:50, 70:80] = True
    monkeypatch.setattr(segment_module, "MAX_GRID_PIXELS", 1000)  # a 3x3 grid cell
    found = connected_ink(mask)
    assert [(int(xs.min()), int(xs.max())) for xs, _ in found] == [(10, 19), (40, 49), (70, 79)]
    assert sum(len(xs) for xs, _ in found) == mask.sum()  # every pixel, at full resolution


# --- cut paths ---


def cheapest_path_costs(mask: np.ndarray, start: int, band: int) -> np.ndarray:
    """What the cheapest top-to-bottom path within `band` columns of `start` costs to reach each column
    of the last row, the slow, obvious way: each ink pixel costs 1 and each sideways step STEP."""
    step = segment_module.STEP
    cols = [c for c in range(start - band, start + band + 1) if 0 <= c < mask.shape[1]]
    cost = {c: float(mask[0, c]) for c in cols}
    for y in range(1, mask.shape[0]):
        cost = {
            c: float(mask[y, c]) + min(cost[c], cost.get(c - 1, np.inf) + step, cost.get(c + 1, np.inf) + step)
            for c in cols
        }
    return np.array([cost[c] for c in cols])


@pytest.mark.parametrize("seed", range(4))
def test_each_cut_path_is_the_cheapest_within_its_band(seed):
    """Each path `_cut_paths` gives moves at most a column a row and costs no more than the cheapest
    path a plain search finds within the band of one of the starts."""
    rng = np.random.default_rng(seed)
    mask = rng.random((40, 64)) < 0.5 + 0.05 * seed  # dense: every path trades ink against steps
    ys, xs = np.nonzero(mask)
    ink = segment_module._Ink(xs, ys)
    h = 40.0
    band = max(1, round(segment_module.BAND * h))
    starts = list(range(ink.left + 4, ink.right - 4, 4))
    paths = segment_module._cut_paths(segment_module._Cuttable(ink), starts, h)
    assert paths
    box = mask[ink.top : ink.bottom, ink.left : ink.right]
    for path, crossed in paths:
        assert np.abs(np.diff(path)).max() <= 1
        on_ink = box[np.arange(box.shape[0]), path - ink.left]
        assert crossed == np.count_nonzero(np.diff(on_ink.astype(np.int8), prepend=0) == 1)
        cost = on_ink.sum() + segment_module.STEP * np.count_nonzero(np.diff(path))
        within = [s for s in starts if np.abs(path - s).max() <= band]
        assert within
        assert any(np.isclose(cost, cheapest_path_costs(box, s - ink.left, band).min()) for s in within)


# --- strokes -> digits ---


def test_separate_digits_are_read_left_to_right_with_their_boxes(network, judge):
    image = pad_number((DIGIT_STROKES[5], 0.0, 0.05), (DIGIT_STROKES[2], 0.6, 0.05), (DIGIT_STROKES[8], 1.2, 0.1))
    digits = segment(image, network.classify, judge=judge)
    assert [int(d.probabilities.argmax()) for d in digits] == [5, 2, 8]
    for digit in digits:
        x, y, w, h = digit.box
        inside = image[y : y + h, x : x + w] > 0
        assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()  # tight


def test_the_lifted_bar_of_a_5_joins_its_body(network, judge):
    image = pad_number((FIVE_BAR + FIVE_BODY, 0.0, 0.05), (DIGIT_STROKES[2], 0.6, 0.05))
    assert pieces(image) == 3
    digits = segment(image, network.classify, judge=judge)
    assert read(image, network, judge) == "52"
    bar_top = int(np.nonzero(image[:, :100].any(axis=1))[0][0])
    assert digits[0].box[1] == bar_top  # the 5's box takes in its bar


def test_a_cross_that_misses_the_stem_of_a_7_joins_it(network, judge):
    image = pad_number((SEVEN_CROSSED, 0.0, 0.05), (DIGIT_STROKES[1], 0.55, 0.05))
    assert pieces(image) == 3
    assert read(image, network, judge) == "71"


def test_digits_that_overlap_in_x_but_not_in_ink_stay_apart(network, judge):
    image = pad_number((DIGIT_STROKES[7], 0.0, 0.0), (DIGIT_STROKES[0], 0.3, 0.3), scale=0.65)
    assert pieces(image) == 2
    digits = segment(image, network.classify, judge=judge)
    assert read(image, network, judge) == "70"
    assert x_overlap(digits[0].box, digits[1].box) > 5


@pytest.mark.parametrize(
    ("placed", "text"),
    [
        (((DIGIT_STROKES[2], 0.0, 0.1), (DIGIT_STROKES[3], 0.36, 0.1)), "23"),
        (((DIGIT_STROKES[4], 0.0, 0.1), (DIGIT_STROKES[0], 0.45, 0.1)), "40"),
        (((DIGIT_STROKES[1], 0.0, 0.1), (DIGIT_STROKES[7], 0.25, 0.1)), "17"),
        # three in a row, all touching: the middle one is cut from both sides
        (((DIGIT_STROKES[2], 0.0, 0.1), (DIGIT_STROKES[3], 0.36, 0.1), (DIGIT_STROKES[4], 0.72, 0.1)), "234"),
        (((DIGIT_STROKES[1], 0.0, 0.1), (DIGIT_STROKES[7], 0.25, 0.1), (DIGIT_STROKES[3], 0.62, 0.1)), "173"),
    ],
)
def test_digits_that_touch_are_cut_apart(placed, text, network, judge):
    image = pad_number(*placed)
    assert pieces(image) == 1  # the inks touch
    digits = segment(image, network.classify, judge=judge)
    assert read(image, network, judge) == text
    cols = np.nonzero(image.any(axis=0))[0]
    (x0, _, _, _), (x1, _, w1, _) = digits[0].box, digits[-1].box
    assert x0 == cols[0] and x1 + w1 - 1 == cols[-1]  # between them the digits hold all the ink
    for a, b in itertools.pairwise(digits):
        assert a.box[0] < b.box[0] and a.box[0] + a.box[2] <= b.box[0] + b.box[2]


def test_the_judge_cuts_apart_touching_pairs_the_network_alone_reads_as_one(network, judge):
    """Every pair of the drawn digits written close enough that their inks touch: with the judge most are
    read as the two digits; by the network's confidence and the digits' widths alone, far fewer are."""
    touching = []
    for a, b in itertools.product(range(10), repeat=2):
        image = pad_number((DIGIT_STROKES[a], 0.0, 0.05), (DIGIT_STROKES[b], 0.4, 0.05), scale=0.9)
        if pieces(image) == 1:
            touching.append((f"{a}{b}", image))
    assert len(touching) >= 40
    judged = sum(read(image, network, judge) == text for text, image in touching)
    alone = sum(read(image, network, None) == text for text, image in touching)
    report = {"pairs": len(touching), "with the judge": judged, "without": alone}
    assert judged >= 0.75 * len(touching), report
    assert judged >= alone + 10, report


def test_a_dot_near_a_digit_joins_it_and_a_stray_dot_far_off_is_dropped(network, judge):
    near = pad_number((DIGIT_STROKES[1], 0.2, 0.1), ([[(0.75, 0.9)]], 0.2, 0.1))
    assert pieces(near) == 2
    [digit] = segment(near, network.classify, judge=judge)
    x, _, w, _ = digit.box
    assert x + w - 1 == int(np.nonzero(near.any(axis=0))[0][-1])  # the box reaches the dot
    far = pad_number((DIGIT_STROKES[1], 0.0, 0.1), (DIGIT_STROKES[7], 0.25, 0.1), ([[(0.5, 0.5)]], 2.5, 0.0))
    assert pieces(far) == 2
    digits = segment(far, network.classify, judge=judge)
    assert len(digits) == 2
    assert max(d.box[0] + d.box[2] for d in digits) < 0.6 * far.shape[1]


def test_the_order_is_left_to_right_whatever_order_the_strokes_came_in(network, judge):
    ltr = pad_number((DIGIT_STROKES[3], 0.0, 0.1), (DIGIT_STROKES[9], 0.6, 0.1), (DIGIT_STROKES[6], 1.2, 0.1))
    rtl = pad_number((DIGIT_STROKES[6], 1.2, 0.1), (DIGIT_STROKES[9], 0.6, 0.1), (DIGIT_STROKES[3], 0.0, 0.1))
    np.testing.assert_array_equal(ltr, rtl)
    assert read(ltr, network, judge) == "396"


def test_a_drawing_of_one_digit_is_read_whole_as_preprocess_reads_it(network, judge):
    image = np.asarray(stroke_image(DIGIT_STROKES[4]))  # dark on white RGB, a 280x280 pad
    [digit] = segment(image, network.classify, judge=judge)
    np.testing.assert_array_equal(digit.input.bits, preprocess(image).bits)
    np.testing.assert_array_equal(digit.probabilities, network.predict_proba(preprocess(image).bits[None])[0])


def test_a_digit_small_for_the_wide_pads_length_but_not_its_height_is_read(network, judge):
    """`preprocess` measures a digit against a drawing's longer side; a number's first strokes are
    measured against the wide pad's height, as the page measures them before it sends them."""
    height = NUMBER_PAD_HEIGHT
    small = pad_number((DIGIT_STROKES[7], 1.0, 0.3), scale=0.2)  # about 0.15 of the height tall
    ys, xs = np.nonzero(small)
    width, tall = int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1
    extent = max(width, tall)
    assert MIN_EXTENT * height < extent < MIN_EXTENT * NUMBER_PAD_WIDTH
    with pytest.raises(BlankDrawing):
        preprocess(small)
    [digit] = segment(small, network.classify, judge=judge)
    assert digit.box[2:] == (width, tall)
    assert digit.input.bits.any()


# --- limits and determinism ---


def test_blank_and_speck_drawings_are_no_number(network, judge):
    with pytest.raises(BlankDrawing, match="no ink"):
        segment(np.zeros((160, 480), np.uint8), network.classify, judge=judge)
    speck = np.zeros((160, 480), np.uint8)
    speck[80:82, 200:202] = 255
    with pytest.raises(BlankDrawing, match="too small"):
        segment(speck, network.classify, judge=judge)


def ones(count: int) -> np.ndarray:
    """`count` 1s in a row, small enough for the pad to hold them."""
    step = 0.25
    return pad_number(
        *[(DIGIT_STROKES[1], i * step, 0.2) for i in range(count)], size=(int(count * step * 60 + 40), 60), scale=0.6
    )


def test_up_to_the_limit_digits_are_read_and_more_are_refused(network, judge):
    assert read(ones(MAX_DIGITS), network, judge) == "1" * MAX_DIGITS
    with pytest.raises(TooManyDigits) as error:
        segment(ones(MAX_DIGITS + 1), network.classify, judge=judge)
    assert error.value.limit == MAX_DIGITS
    assert read(ones(3), network, judge) == "111"
    with pytest.raises(TooManyDigits):
        segment(ones(3), network.classify, max_digits=2, judge=judge)


def test_the_same_drawing_gives_the_same_digits(network, judge):
    image = pad_number((DIGIT_STROKES[2], 0.0, 0.1), (DIGIT_STROKES[3], 0.36, 0.1), (DIGIT_STROKES[0], 1.0, 0.1))
    first = segment(image, network.classify, judge=judge)
    again = segment(image.copy(), network.classify, judge=judge)
    assert [d.box for d in first] == [d.box for d in again]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.input.bits, b.input.bits)
        np.testing.assert_array_equal(a.probabilities, b.probabilities)


def test_the_classifier_sees_one_batch_when_no_digits_touch(network, judge):
    batches = []

    def classify(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batches.append(len(bits))
        return network.classify(bits)

    image = pad_number((DIGIT_STROKES[5], 0.0, 0.05), (DIGIT_STROKES[2], 0.6, 0.05), (DIGIT_STROKES[8], 1.2, 0.1))
    segment(image, classify, judge=judge)
    assert batches == [3]


def test_only_pieces_of_a_way_of_cutting_that_could_beat_the_whole_are_read():
    """No piece reads better than a fitness of 0, so a way of cutting whose cuts alone score below the
    whole piece's fitness cannot win: its pieces are not read."""
    extra = math.log(segment_module.EXTRA_STROKE_ODDS)  # a cut through two strokes costs this
    one_cut = segment_module._CutPlan([], [(0, 2), (0, 1), (1, 2)], [0, 2, 0])
    assert one_cut.could_beat(0.5 * extra) == []
    assert one_cut.could_beat(1.5 * extra) == [1, 2]
    through_one = segment_module._CutPlan([], [(0, 2), (0, 1), (1, 2)], [0, 1, 0])
    assert through_one.could_beat(0.5 * extra) == [1, 2]  # a cut through one stroke costs nothing
    # Two cuts across a piece three digits wide: the first through one stroke, the second through three.
    spans = [(0, 3), (0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]
    two_cuts = segment_module._CutPlan([], spans, [0, 1, 3, 0])
    assert [spans[i] for i in two_cuts.could_beat(1.5 * extra)] == [(0, 1), (1, 3)]
    assert [spans[i] for i in two_cuts.could_beat(2.5 * extra)] == spans[1:]


def test_leaving_unread_the_pieces_that_cannot_win_reads_the_same_digits(
    network, judge, monkeypatch: pytest.MonkeyPatch
):
    """Numbers of 2 to 4 of the held-out writers' digits, with gaps from touching to normal: read with
    every cut piece and with only those that could beat the whole, the digits are the same."""
    pen = load_pen_digits(TEST_DATA_DIR / "pen-strokes-held-out.npz")
    rng = np.random.default_rng(5)
    drawings = []
    for _ in range(120):
        digits = [pen[i] for i in rng.choice(len(pen), int(rng.integers(2, 5)), replace=False)]
        gaps = [rng.uniform(*GAPS[str(rng.choice(["touching", "close", "normal"]))]) for _ in digits[1:]]
        drawings.append(number_drawing(digits, gaps, rng).image)
    read_pieces = []

    def classify(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        read_pieces.append(len(bits))
        return network.classify(bits)

    pruned = [segment(image, classify, judge=judge) for image in drawings]
    pruned_count, read_pieces[:] = sum(read_pieces), []
    monkeypatch.setattr(segment_module._CutPlan, "could_beat", lambda plan, whole: list(range(1, len(plan.pieces))))
    every = [segment(image, classify, judge=judge) for image in drawings]
    assert pruned_count < sum(read_pieces)  # some pieces were left unread
    for a, b in zip(pruned, every, strict=True):
        assert [d.box for d in a] == [d.box for d in b]
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x.input.bits, y.input.bits)
            assert x.probabilities.argmax() == y.probabilities.argmax()
            np.testing.assert_allclose(x.probabilities, y.probabilities, atol=1e-6)


def test_the_aspect_table_is_what_the_bundled_mnist_gives():
    bits, labels = bundled_mnist("train")
    np.testing.assert_allclose(aspect_statistics(bits, labels), ASPECT, atol=5e-4)


def test_a_piece_too_narrow_for_two_digits_is_read_whole_however_unsure(network):
    """Cuts are tried only in a piece wide enough to hold two digits: a narrow digit the network is
    unsure of (here every answer is a coin toss) is one digit, not cut into slivers."""
    batches = []

    def unsure(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batches.append(len(bits))
        return np.full((len(bits), 10), 0.1), np.zeros((len(bits), 0))

    image = pad_number((DIGIT_STROKES[1], 0.0, 0.05), (DIGIT_STROKES[7], 0.6, 0.05))
    assert len(segment(image, unsure)) == 2
    assert batches == [2]
    touching = pad_number((DIGIT_STROKES[0], 0.0, 0.05), (DIGIT_STROKES[0], 0.45, 0.05), scale=0.9)
    assert pieces(touching) == 1  # two 0s that touch: one piece, two digits wide, is tried in cuts
    batches.clear()
    segment(touching, unsure)
    assert len(batches) == 2


def test_each_digit_is_what_preprocess_makes_of_it_alone(network, judge):
    """A digit's input is `preprocess` of a drawing of that digit alone on the pad, bit for bit."""
    placed = [(DIGIT_STROKES[3], 0.0, 0.05), (DIGIT_STROKES[9], 0.6, 0.0), (DIGIT_STROKES[4], 1.2, 0.1)]
    digits = segment(pad_number(*placed), network.classify, judge=judge)
    for digit, one in zip(digits, placed, strict=True):
        alone = pad_number(one)
        np.testing.assert_array_equal(digit.input.grey, preprocess(alone).grey)
