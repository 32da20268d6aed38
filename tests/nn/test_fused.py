"""The fused inference path against the layers' own forward passes: the very same outputs, bit for bit,
whatever the architecture, and every layer in exactly one step."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from app.config import MODEL_DIR
from app.nn import fused
from app.nn.layers import CONV_CHUNK, Array, Conv2D, Layer, softmax
from app.nn.network import Architecture, LayerSpec, Network, load_model


def layer_by_layer(network: Network, x: Array) -> list[Array]:
    """Every layer's output, the training path's way (without its bookkeeping)."""
    outputs = []
    for layer in network.layers:
        x = layer.forward(x, False)
        outputs.append(x)
    return outputs


def inputs(shape: tuple[int, ...], n: int, seed: int = 0) -> Array:
    """n binary drawings, as the network reads them, with some grey levels too."""
    rng = np.random.default_rng(seed)
    x = (rng.random((n, *shape)) < 0.3).astype(np.float32)
    x[: n // 2] *= rng.random((n // 2, *shape)).astype(np.float32)
    return x


def architecture(
    *layers: tuple[str, str, dict[str, object]], input_shape: tuple[int, ...] = (28, 28, 1)
) -> Architecture:
    return Architecture("test", "Test", "A test network.", tuple(LayerSpec(*spec) for spec in layers), input_shape)


def assert_same_outputs(network: Network, x: Array) -> None:
    """The network's inference output, and a trace of every layer, equal the layers' own to the last bit."""
    expected = layer_by_layer(network, x)
    np.testing.assert_array_equal(network.forward(x), expected[-1])
    steps = network._fused_steps()
    logits, outputs = fused.trace(steps, x, {len(network.layers) - 1})
    np.testing.assert_array_equal(logits, expected[-1])
    keep = set(range(len(network.layers)))
    logits, outputs = fused.trace(steps, x, keep)
    np.testing.assert_array_equal(logits, expected[-1])
    assert set(outputs) == keep
    for index, values in outputs.items():
        np.testing.assert_array_equal(values, expected[index], err_msg=network.names[index])


def assert_partition(network: Network) -> None:
    covered = [i for step in network._fused_steps() for i in range(step.first, step.last + 1)]
    assert covered == list(range(len(network.layers)))


@pytest.mark.parametrize("name", ["cnn", "mlp", "logreg"])
@pytest.mark.parametrize("batch", [1, CONV_CHUNK + 1, 100])
def test_the_shipped_models_give_the_same_probabilities(name, batch):
    network = load_model(MODEL_DIR / f"{name}.npz").network
    assert_partition(network)
    assert_same_outputs(network, inputs(network.arch.input_shape, batch))


def test_the_cnn_is_fused_into_two_convolution_steps(monkeypatch):
    network = load_model(MODEL_DIR / "cnn.npz").network
    steps = network._fused_steps()
    assert [type(step).__name__ for step in steps] == ["ConvStep", "ConvStep", "Step", "DenseStep", "Step", "Step"]
    assert [(step.first, step.last) for step in steps[:2]] == [(0, 2), (3, 5)]
    calls = []
    step_forward = fused.ConvStep.forward
    monkeypatch.setattr(fused.ConvStep, "forward", lambda self, x: calls.append(self.first) or step_forward(self, x))
    network.forward(inputs(network.arch.input_shape, 2))
    assert calls == [0, 3], "inference did not take the fused steps"


def test_trace_gives_every_visible_layer_as_the_layers_do(mnist_test):
    network = load_model(MODEL_DIR / "cnn.npz").network
    bits = (mnist_test[0][7] > 127).astype(np.uint8)
    probs, acts = network.trace(bits)
    expected = layer_by_layer(network, bits[None, :, :, None].astype(np.float32))
    np.testing.assert_array_equal(probs, softmax(expected[-1])[0])
    for info, values in acts[1:-1]:
        np.testing.assert_array_equal(values, expected[info.index][0], err_msg=info.name)


@pytest.mark.parametrize("name", ["cnn", "mlp", "logreg"])
def test_a_batch_traced_together_gives_what_each_gives_alone(name, mnist_test):
    """A number's digits are traced in one pass: each digit's layers are its own, as if traced alone
    (to float32 rounding: a batch's products may add up in another order)."""
    network = load_model(MODEL_DIR / f"{name}.npz").network
    bits = (mnist_test[0][:4] > 127).astype(np.uint8)
    together = network.trace_all(bits)
    assert len(together) == len(bits)
    for x, (probs, acts) in zip(bits, together, strict=True):
        alone_probs, alone = network.trace(x)
        np.testing.assert_allclose(probs, alone_probs, rtol=1e-5, atol=1e-7)
        assert [info for info, _ in acts] == [info for info, _ in alone]
        for (info, values), (_, expected) in zip(acts, alone, strict=True):
            assert values.shape == expected.shape
            np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-5, err_msg=info.name)


class Doubling(Layer):
    """A layer the fused path does not know."""

    kind = "doubling"

    def forward(self, x: Array, train: bool = False) -> Array:
        return 2 * x


class StridedConv(Conv2D):
    """A subclass of a known layer: it may compute something else, so it runs as it is."""


# name: (layers, input shape, the layers (first, last) of each step: a pair is a fused convolution)
ARCHITECTURES = {
    "wide kernels, 3x3 pools, tanh before a pooling (not fused)": (
        [
            ("c1", "conv", {"filters": 6, "kernel": 3}),
            ("t1", "tanh", {}),
            ("p1", "pool", {"size": 3}),
            ("c2", "conv", {"filters": 4, "kernel": 2}),
            ("r2", "relu", {}),
            ("p2", "pool", {"size": 2}),
            ("f", "flatten", {}),
            ("out", "dense", {"units": 10, "init": "xavier"}),
        ],
        (28, 28, 1),
        [(0, 0), (1, 1), (2, 2), (3, 5), (6, 6), (7, 7)],
    ),
    "odd sizes pooled with leftovers, sigmoid (not fused), no activation (fused)": (
        [
            ("c1", "conv", {"filters": 5, "kernel": 4}),  # 25x25: pooling drops a row and a column
            ("s1", "sigmoid", {}),
            ("p1", "pool", {"size": 2}),
            ("c2", "conv", {"filters": 3, "kernel": 2}),  # no activation: pooled as it is
            ("p2", "pool", {"size": 2}),
            ("f", "flatten", {}),
            ("out", "dense", {"units": 10, "init": "xavier"}),
        ],
        (28, 28, 1),
        [(0, 0), (1, 1), (2, 2), (3, 4), (5, 5), (6, 6)],
    ),
    "several channels in, conv without pooling, pool alone, dense tanh, dropout": (
        [
            ("c1", "conv", {"filters": 8, "kernel": 3}),
            ("r1", "relu", {}),
            ("c2", "conv", {"filters": 8, "kernel": 3}),
            ("r2", "relu", {}),
            ("p2", "pool", {"size": 2}),
            ("p3", "pool", {"size": 2}),
            ("f", "flatten", {}),
            ("h", "dense", {"units": 20, "init": "xavier"}),
            ("t", "tanh", {}),
            ("d", "dropout", {"rate": 0.5}),
            ("out", "dense", {"units": 10, "init": "xavier"}),
        ],
        (17, 19, 3),
        [(0, 0), (1, 1), (2, 4), *((i, i) for i in range(5, 11))],
    ),
}


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.parametrize("batch", [1, CONV_CHUNK + 3])
def test_any_architecture_of_known_layers_gives_the_same_outputs(name, batch):
    layers, input_shape, steps = ARCHITECTURES[name]
    network = Network(architecture(*layers, input_shape=input_shape), seed=2)
    assert_partition(network)
    assert [(step.first, step.last) for step in network._fused_steps()] == steps
    assert_same_outputs(network, inputs(input_shape, batch, seed=batch))


def test_unknown_layers_and_unknown_settings_run_their_own_forward(monkeypatch):
    network = Network(
        architecture(
            ("c1", "conv", {"filters": 4, "kernel": 5}),
            ("r1", "relu", {}),
            ("p1", "pool", {"size": 2}),
            ("f", "flatten", {}),
            ("out", "dense", {"units": 10, "init": "xavier"}),
        ),
        seed=1,
    )
    x = inputs((28, 28, 1), 5)
    network.layers[0].__class__ = StridedConv
    network.layers.insert(3, Doubling())
    network.names.insert(3, "double")
    network._steps = None
    steps = network._fused_steps()
    assert not any(isinstance(step, fused.ConvStep) for step in steps)
    assert_same_outputs(network, x)
    # A setting the fused steps do not know (a stride, say) leaves the layer to itself as well.
    network.layers[0].__class__ = Conv2D
    monkeypatch.setattr(Conv2D, "config", lambda self: {"filters": self.filters, "kernel": self.kernel, "stride": 1})
    network._steps = None
    assert not isinstance(network._fused_steps()[0], fused.ConvStep)
    monkeypatch.undo()
    network._steps = None
    assert isinstance(network._fused_steps()[0], fused.ConvStep)


def test_training_still_goes_layer_by_layer_and_learns_the_same_function():
    network = Network(
        architecture(
            ("c1", "conv", {"filters": 4, "kernel": 5}),
            ("r1", "relu", {}),
            ("p1", "pool", {"size": 2}),
            ("f", "flatten", {}),
            ("out", "dense", {"units": 10, "init": "xavier"}),
        ),
        seed=4,
    )
    x = inputs((28, 28, 1), 3)
    logits = network.forward(x, train=True)  # keeps what backward needs
    network.backward(softmax(logits) - np.eye(10, dtype=np.float32)[[1, 2, 3]])
    assert network.layers[0].grads["W"].shape == network.layers[0].params["W"].shape
    network.layers[0].params["W"] = network.layers[0].params["W"] - 0.1 * network.layers[0].grads["W"]
    assert_same_outputs(network, x)  # the fused path reads the weights as they are now


# Architectures whose pooling blocks cover their convolutions' maps exactly: every fused step has plans.
PLANNED = {
    "three channels in, 3x3 pools, a convolution without activation, dense ReLU": (
        [
            ("c1", "conv", {"filters": 8, "kernel": 3}),  # 18x18
            ("r1", "relu", {}),
            ("p1", "pool", {"size": 3}),  # 6x6
            ("c2", "conv", {"filters": 4, "kernel": 3}),  # 4x4, no activation
            ("p2", "pool", {"size": 2}),
            ("f", "flatten", {}),
            ("h", "dense", {"units": 12, "init": "he"}),  # with its ReLU: a step of its own
            ("r", "relu", {}),
            ("d", "dropout", {"rate": 0.3}),
            ("out", "dense", {"units": 10, "init": "xavier"}),
        ],
        (20, 20, 3),
        [(0, 2), (3, 4), (5, 5), (6, 7), (8, 8), (9, 9)],
    ),
}


@pytest.mark.parametrize("name", ["the cnn", *PLANNED, *ARCHITECTURES])
@pytest.mark.parametrize("batch", [1, 2, CONV_CHUNK + 1])
def test_a_trace_of_activations_and_pools_gives_the_layers_outputs(name, batch, monkeypatch):
    if name == "the cnn":
        network = load_model(MODEL_DIR / "cnn.npz").network
    else:
        layers, input_shape, steps = {**PLANNED, **ARCHITECTURES}[name]
        network = Network(architecture(*layers, input_shape=input_shape), seed=3)
        assert [(step.first, step.last) for step in network._fused_steps()] == steps
    x = inputs(network.arch.input_shape, batch, seed=5)
    expected = layer_by_layer(network, x)
    planned = []
    products = fused._Plan.products
    monkeypatch.setattr(fused._Plan, "products", lambda self, x: planned.append(self.weights_of) or products(self, x))
    # what the page asks for: every layer but a convolution's output before its ReLU
    keep = {i for i, layer in enumerate(network.layers) if not isinstance(layer, Conv2D)}
    logits, outputs = fused.trace(network._fused_steps(), x, keep)
    np.testing.assert_array_equal(logits, expected[-1])
    assert set(outputs) == keep
    for index, values in outputs.items():
        np.testing.assert_array_equal(values, expected[index], err_msg=network.names[index])
    if name not in ARCHITECTURES and batch <= CONV_CHUNK:  # those have leftovers: the general path
        convs = [step.conv for step in network._fused_steps() if isinstance(step, fused.ConvStep)]
        assert [id(w) for w in planned] == [id(conv.params["W"]) for conv in convs]
    assert_same_outputs(network, x)


def test_the_outputs_are_new_arrays_that_later_calls_leave_alone():
    network = load_model(MODEL_DIR / "cnn.npz").network
    steps = network._fused_steps()
    first, second = inputs(network.arch.input_shape, 1, seed=1), inputs(network.arch.input_shape, 1, seed=2)
    keep = set(range(len(network.layers))) - {0, 3}
    pooled = steps[0].forward(first)
    _, traced = fused.trace(steps, first, keep)
    kept = {i: a.copy() for i, a in traced.items()}
    pooled_copy = pooled.copy()
    for _ in range(2):
        network.forward(second)
        fused.trace(steps, second, keep)
    np.testing.assert_array_equal(pooled, pooled_copy)
    for index, values in traced.items():
        np.testing.assert_array_equal(values, kept[index])
    assert not np.array_equal(steps[0].forward(second), pooled)


def test_weights_and_biases_changed_in_place_are_read_as_they_are_now():
    network = load_model(MODEL_DIR / "cnn.npz").network
    x = inputs(network.arch.input_shape, 3)
    assert_same_outputs(network, x)
    for layer in network.layers:
        if isinstance(layer, Conv2D):  # in place, as the optimiser updates them
            layer.params["b"] += 0.25
            layer.params["W"] *= 1.5
    assert_same_outputs(network, x)
    conv = network.layers[3]
    conv.params["W"] = np.asfortranarray(conv.params["W"])  # weights a reshape would copy
    assert_same_outputs(network, x)
    conv.params["W"] *= 0.5
    assert_same_outputs(network, x)
    keep = set(range(len(network.layers))) - {0, 3}
    _, outputs = fused.trace(network._fused_steps(), x, keep)
    expected = layer_by_layer(network, x)
    for index, values in outputs.items():
        np.testing.assert_array_equal(values, expected[index], err_msg=network.names[index])


def test_threads_running_one_network_at_once_each_get_their_own_answers():
    network = load_model(MODEL_DIR / "cnn.npz").network
    batches = [inputs(network.arch.input_shape, n, seed=n) for n in (1, 1, 2, CONV_CHUNK + 5)]
    expected = [layer_by_layer(network, x)[-1] for x in batches]
    errors: list[str] = []

    def run(i: int) -> None:
        for _ in range(30):
            for j, x in enumerate(batches[i:] + batches[:i]):
                k = (i + j) % len(batches)
                if not np.array_equal(network.forward(x), expected[k]):
                    errors.append(f"thread {i}, batch {k}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
