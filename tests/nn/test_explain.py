"""Explanations: gradients to the input, the attribution methods, the deletion test, optimal stimuli."""

from __future__ import annotations

import numpy as np
import pytest

from app.config import MODEL_DIR
from app.nn import explain
from app.nn.data import load_pen_digits, mnist_inputs
from app.nn.layers import DTYPE, LAYER_TYPES
from app.nn.network import ARCHITECTURES, Network, load_model
from app.nn.preprocess import binarize, preprocess
from app.nn.strokes import render_strokes
from tests.factories import DIGIT_STROKES, TEST_DATA_DIR, stroke_image

MODELS = ("cnn", "mlp", "logreg")
# Settings that build each layer type on a small input; a new layer type needs a line here.
LAYER_CONFIGS = {
    "dense": {"units": 5},
    "conv": {"filters": 3, "kernel": 3},
    "pool": {"size": 2},
    "relu": {},
    "sigmoid": {},
    "tanh": {},
    "dropout": {"rate": 0.5},
    "flatten": {},
}


@pytest.fixture(scope="module")
def networks() -> dict[str, Network]:
    return {name: load_model(MODEL_DIR / f"{name}.npz").network for name in MODELS}


@pytest.fixture(scope="module")
def mnist_sample(mnist_test) -> np.ndarray:
    """Every 100th committed MNIST test digit, binarised as the networks see it: 100 digits."""
    images, _ = mnist_test
    return binarize(mnist_inputs(images[::100])).astype(np.float32)


@pytest.fixture(scope="module")
def pen_digits() -> np.ndarray:
    """Pen strokes rendered as the pad draws them: every 25th held-out digit of writers the models never
    trained on (60), and each digit of tests.factories at three sizes and two pen widths (60)."""
    held_out = load_pen_digits(TEST_DATA_DIR / "pen-strokes-held-out.npz")[::25]
    drawn = [preprocess(render_strokes(digit.strokes)).bits for digit in held_out]
    drawn += [
        preprocess(np.asarray(stroke_image(strokes, pen=pen, scale=scale))).bits
        for strokes in DIGIT_STROKES.values()
        for scale in (0.7, 0.85, 1.0)
        for pen in (0.06, 0.09)
    ]
    return np.array(drawn, np.float32)


@pytest.mark.parametrize("kind", sorted(LAYER_TYPES))
def test_forward_kept_computes_what_inference_computes(kind):
    layer = LAYER_TYPES[kind](**LAYER_CONFIGS[kind])
    shape = (6, 6, 2) if kind != "dense" else (8,)
    layer.init(shape, np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((3, *shape)).astype(DTYPE)
    np.testing.assert_array_equal(layer.forward_kept(x), layer.forward(x))


@pytest.mark.parametrize("name", MODELS)
def test_the_input_gradient_matches_finite_differences(name):
    network = Network(ARCHITECTURES[name](), seed=3)
    rng = np.random.default_rng(4)
    for layer in network.layers:  # in float64, so that differences of 1e-3 are exact enough
        for key, value in layer.params.items():
            # untrained zero biases leave dead ReLUs: give every unit some signal
            layer.params[key] = rng.uniform(0.05, 0.2, value.shape) if key == "b" else value.astype(np.float64)
    x = np.random.default_rng(5).uniform(0.2, 0.8, (28, 28))
    tape = explain.Tape(network, x[None], len(network.layers) - 1)
    delta = np.zeros_like(tape.output)
    delta[0, 4] = 1
    grad = tape.backward(delta)[0]
    eps = 1e-3
    for i in (100, 350, 406, 500):
        up, down = x.copy().reshape(-1), x.copy().reshape(-1)
        up[i] += eps
        down[i] -= eps
        fd = (network.forward(up.reshape(1, 28, 28, 1))[0, 4] - network.forward(down.reshape(1, 28, 28, 1))[0, 4]) / (
            2 * eps
        )
        assert grad.reshape(-1)[i] == pytest.approx(fd, rel=1e-3, abs=1e-6)


def test_a_tape_leaves_the_network_as_it_was(networks):
    network = networks["cnn"]
    before = {id(layer): dict(vars(layer)) for layer in network.layers}
    explain.attribution(network, np.ones((28, 28), DTYPE), [3], "integrated-gradients")
    assert {id(layer): dict(vars(layer)) for layer in network.layers}.keys() == before.keys()
    for layer in network.layers:
        assert set(vars(layer)) == set(before[id(layer)])  # nothing remembered on the shared layers


@pytest.mark.parametrize("name", MODELS)
def test_integrated_gradients_add_up_to_the_rise_of_the_score(networks, mnist_sample, name):
    network = networks[name]
    x = mnist_sample[3]
    maps = explain.integrated_gradients(network, x, [0, 5])
    rise = network.forward(x.reshape(1, 28, 28, 1))[0] - network.forward(np.zeros((1, 28, 28, 1), DTYPE))[0]
    for m, d in zip(maps, (0, 5), strict=True):
        assert m.sum() == pytest.approx(rise[d], rel=0.03, abs=0.05)


@pytest.mark.parametrize("method", sorted(explain.METHODS))
def test_every_method_is_zero_off_the_ink_and_linear_in_the_target(networks, mnist_sample, method):
    x = mnist_sample[7]
    maps = explain.attribution(networks["cnn"], x, [1, 2, 7], method)
    assert maps.shape == (3, 28, 28)
    assert not maps[:, x == 0].any()
    assert np.abs(maps[:, x > 0]).max() > 0


def test_occlusion_is_the_fall_of_the_score_when_a_pixel_is_erased(networks, mnist_sample):
    network, x = networks["mlp"], mnist_sample[11]
    maps = explain.occlusion(network, x, [2])
    y, x0 = np.argwhere(x > 0)[4]
    erased = x.copy()
    erased[y, x0] = 0
    fall = network.forward(x.reshape(1, 28, 28, 1))[0, 2] - network.forward(erased.reshape(1, 28, 28, 1))[0, 2]
    assert maps[0, y, x0] == pytest.approx(fall, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("inputs", ["mnist_sample", "pen_digits"])
def test_the_shipped_method_passes_the_deletion_test(networks, request, name, inputs):
    """Erasing the 15 % of the ink with the highest attribution for the first guess lowers its probability
    at least twice as much, on average, as erasing a random 15 %."""
    network = networks[name]
    rng = np.random.default_rng(0)
    drops = np.array([explain.deletion_drops(network, x, rng=rng) for x in request.getfixturevalue(inputs)])
    top, random = drops.mean(axis=0)
    assert random > 0
    assert top >= 2 * random, f"{explain.SHIPPED_METHOD} on {name}: top {top:.4f}, random {random:.4f}"


def test_the_deletion_test_can_fail(networks, mnist_sample):
    """The same test on a map that points at the wrong pixels (the negated map) falls far short."""

    def backwards(network, x, digits):
        return -explain.occlusion(network, x, digits)

    explain.METHODS["backwards"] = backwards
    try:
        drops = np.array([explain.deletion_drops(networks["cnn"], x, "backwards") for x in mnist_sample[:40]])
    finally:
        del explain.METHODS["backwards"]
    top, random = drops.mean(axis=0)
    assert top < random


def test_optimal_stimuli_are_deterministic_and_do_not_depend_on_their_batch(networks):
    recipe = explain.StimulusRecipe(steps=24)
    together = explain.optimal_stimuli(networks["cnn"], "fc", np.array([3, 40, 77]), recipe)
    alone = explain.optimal_stimuli(networks["cnn"], "fc", np.array([40]), recipe)
    np.testing.assert_allclose(alone[0], together[1], atol=1e-5)
    assert together.min() >= 0 and together.max() <= 1
    again = explain.optimal_stimuli(networks["cnn"], "fc", np.array([3, 40, 77]), recipe)
    np.testing.assert_array_equal(together, again)


def test_an_optimal_stimulus_excites_its_unit_more_than_the_seed_does(networks):
    network = networks["cnn"]
    units = np.arange(10)
    stimuli = explain.optimal_stimuli(network, "output", units)
    seed = explain.optimal_stimuli(network, "output", units, explain.StimulusRecipe(steps=0))
    logits, before = network.forward(stimuli[..., None]), network.forward(seed[..., None])
    assert (logits[units, units] > before[units, units] + 5).all()
    assert (logits.argmax(axis=1) == units).all()
