"""Drawings through a model as plain values: the input, the guesses, the probabilities, the activations."""

from __future__ import annotations

import numpy as np
import pytest

from app.config import MODEL_DIR
from app.core.errors import DigitPadError, EmptyDrawing
from app.core.inference import elapsed_ms, input_from_bits, predict, predict_all, predict_image, prepare, top_guesses
from app.nn.network import Model, load_model
from tests.factories import DIGIT_STROKES, stroke_image


@pytest.fixture(scope="module")
def cnn() -> Model:
    return load_model(MODEL_DIR / "cnn.npz")


def drawing(digit: int) -> np.ndarray:
    return np.asarray(stroke_image(DIGIT_STROKES[digit]).convert("L"))


def test_a_drawing_is_read_with_its_guesses_best_first(cnn):
    prediction = predict_image(cnn, drawing(3), top_k=3, activations=False)
    assert prediction.model == "cnn" and prediction.prediction == 3
    assert [g.probability for g in prediction.guesses] == sorted(
        (g.probability for g in prediction.guesses), reverse=True
    )
    assert len(prediction.guesses) == 3 and len({g.digit for g in prediction.guesses}) == 3
    assert sum(prediction.probabilities) == pytest.approx(1, abs=1e-4)
    assert prediction.guesses[0].probability == max(prediction.probabilities)
    assert prediction.activations is None
    assert set(prediction.timings_ms) == {"preprocess", "forward"}


def test_activations_are_every_visible_layer_from_input_to_output(cnn):
    pre = prepare(drawing(7))
    prediction = predict(cnn, pre, activations=True)
    assert prediction.activations is not None
    assert [info.name for info, _ in prediction.activations] == [info.name for info in cnn.network.visible]
    _, values = prediction.activations[0]
    np.testing.assert_array_equal(values, pre.bits)  # what the network saw
    info, output = prediction.activations[-1]
    assert info.kind == "output"
    np.testing.assert_allclose(output, prediction.probabilities, atol=1e-6)


def test_many_drawings_in_one_pass_read_as_each_alone(cnn):
    inputs = [prepare(drawing(d)) for d in range(10)]
    together = predict_all(cnn, inputs, top_k=2)
    assert [p.prediction for p in together] == list(range(10))
    for pre, batched in zip(inputs, together, strict=True):
        alone = predict(cnn, pre, top_k=2, activations=False)
        assert batched.guesses[0].digit == alone.guesses[0].digit
        np.testing.assert_allclose(batched.probabilities, alone.probabilities, atol=1e-5)
    assert predict_all(cnn, [], top_k=2) == []


def test_a_blank_drawing_is_an_empty_drawing_error():
    with pytest.raises(EmptyDrawing) as caught:
        prepare(np.full((280, 280), 255, np.uint8))
    assert caught.value.code == "empty_drawing"
    assert caught.value.detail.startswith("The drawing has no ink.") and caught.value.detail.endswith(".")


def test_ties_go_to_the_smaller_digit():
    probs = np.array([0.1, 0.3, 0.0, 0.3, 0.0, 0.0, 0.0, 0.3, 0.0, 0.0])
    assert [g.digit for g in top_guesses(probs, 3)] == [1, 3, 7]


def test_elapsed_milliseconds():
    assert elapsed_ms(1.0, 1.0025) == 2.5


def test_bits_are_the_input_as_they_are():
    pre = input_from_bits("0" * 392 + "1" * 28 + "0" * 364)
    assert pre.bits.dtype == np.uint8 and pre.bits.shape == (28, 28)
    assert pre.bits[14].tolist() == [1] * 28 and pre.bits.sum() == 28
    assert pre.bit_string() == "0" * 392 + "1" * 28 + "0" * 364


@pytest.mark.parametrize(
    ("bits", "code"), [("0" * 784, "empty_drawing"), ("1" * 783, "invalid_request"), ("x" * 784, "invalid_request")]
)
def test_bits_that_are_no_input_are_refused(bits, code):
    with pytest.raises(DigitPadError) as caught:
        input_from_bits(bits)
    assert caught.value.code == code
