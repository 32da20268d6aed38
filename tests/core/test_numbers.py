"""Reading a number with every layer's activations: the digits found whole keep theirs from the pass
that read them, and digits cut from touching ones get their own, each what `trace` gives its input."""

from __future__ import annotations

import numpy as np
import pytest

from app.config import MODEL_DIR
from app.core.numbers import read_number
from app.nn.data import PenDigit, load_pen_digits
from app.nn.network import Network, load_model
from app.nn.writing import GAPS, number_drawing
from tests.factories import TEST_DATA_DIR


@pytest.fixture(scope="module")
def pen_digits() -> list[PenDigit]:
    return load_pen_digits(TEST_DATA_DIR / "pen-strokes-held-out.npz")


@pytest.fixture
def traced_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each batch `trace_all` is asked for while reading."""
    sizes: list[int] = []
    trace_all = Network.trace_all

    def counted(self: Network, x: np.ndarray):  # type: ignore[no-untyped-def]
        sizes.append(len(x))
        return trace_all(self, x)

    monkeypatch.setattr(Network, "trace_all", counted)
    return sizes


def assert_activations_are_their_inputs(network: Network, reading) -> None:  # type: ignore[no-untyped-def]
    for digit in reading.digits:
        acts = digit.prediction.activations
        assert acts is not None
        _, expected = network.trace(digit.prediction.input.bits)
        assert [info for info, _ in acts] == [info for info, _ in expected]
        np.testing.assert_array_equal(acts[0][1], digit.prediction.input.bits)
        for (_, got), (_, want) in zip(acts[1:], expected[1:], strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(acts[-1][1], digit.prediction.probabilities, atol=1e-6)


def test_digits_apart_take_their_activations_from_the_pass_that_read_them(pen_digits, traced_batches):
    model = load_model(MODEL_DIR / "cnn.npz")
    rng = np.random.default_rng(3)
    drawing = number_drawing(pen_digits[100:700:150], [GAPS["wide"][0]] * 3, rng)
    reading = read_number(model, drawing.image, activations=True)
    assert reading.text == drawing.text
    assert traced_batches == []  # no second pass
    assert_activations_are_their_inputs(model.network, reading)
    assert read_number(model, drawing.image).digits[0].prediction.activations is None


def test_digits_cut_apart_get_activations_of_their_own(pen_digits, traced_batches):
    model = load_model(MODEL_DIR / "cnn.npz")
    rng = np.random.default_rng(0)
    for first in range(0, 600, 7):  # pairs written touching until one is read by cutting it in two
        pair = [pen_digits[first], pen_digits[first + 301]]
        drawing = number_drawing(pair, [GAPS["touching"][0]], rng)
        reading = read_number(model, drawing.image, activations=True)
        if traced_batches and reading.text == drawing.text:
            break
    else:
        pytest.fail("no touching pair was read by cutting it")
    assert traced_batches == [2]  # both digits, cut from one piece, in one more pass
    assert_activations_are_their_inputs(model.network, reading)
