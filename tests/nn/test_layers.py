"""Every layer and the loss against finite differences of the loss they feed."""

from __future__ import annotations

import numpy as np
import pytest

from app.nn.layers import Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D, ReLU, Sigmoid, Tanh
from app.nn.optim import softmax_cross_entropy

EPS = 1e-3


def numeric_grad(f, x: np.ndarray) -> np.ndarray:
    """Central differences of the scalar f() with respect to each entry of x (changed in place)."""
    grad = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + EPS
        up = f()
        x[i] = old - EPS
        down = f()
        x[i] = old
        grad[i] = (up - down) / (2 * EPS)
    return grad


def check_layer(layer: Layer, x: np.ndarray, rng: np.random.Generator) -> None:
    """Compare backward's dL/dx and dL/dparams with finite differences for L = sum(y * r)."""
    layer.init(x.shape[1:], rng)
    for key in layer.params:
        layer.params[key] = layer.params[key].astype(np.float64)
    y = layer.forward(x, train=True)
    r = rng.standard_normal(y.shape)

    def loss() -> float:
        return float((layer.forward(x, train=True) * r).sum())

    dx = layer.backward(r)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-4, atol=1e-6)
    for key, param in layer.params.items():
        layer.forward(x, train=True)
        layer.backward(r)
        analytic = layer.grads[key]
        np.testing.assert_allclose(analytic, numeric_grad(loss, param), rtol=1e-4, atol=1e-6, err_msg=key)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_dense(rng):
    check_layer(Dense(5), rng.standard_normal((4, 7)), rng)


def test_conv(rng):
    check_layer(Conv2D(filters=3, kernel=5), rng.standard_normal((2, 8, 7, 2)), rng)


def test_maxpool(rng):
    # distinct values, so each block has one clear winner and the function is differentiable
    x = rng.permutation(2 * 6 * 6 * 3).reshape(2, 6, 6, 3).astype(np.float64) / 10
    check_layer(MaxPool2D(2), x, rng)


@pytest.mark.parametrize("layer", [Sigmoid(), Tanh(), Flatten()], ids=lambda layer: layer.kind)
def test_elementwise(layer, rng):
    check_layer(layer, rng.standard_normal((3, 4, 5)), rng)


def test_relu(rng):
    x = rng.standard_normal((3, 10))
    x[np.abs(x) < 0.05] = 0.5  # keep away from the kink at 0
    check_layer(ReLU(), x, rng)


def test_dropout_gradient_follows_its_mask(rng):
    layer = Dropout(0.5, seed=3)
    x = rng.standard_normal((50, 20))
    y = layer.forward(x, train=True)
    kept = y != 0
    assert 0.35 < kept.mean() < 0.65
    np.testing.assert_allclose(y[kept], 2 * x[kept])
    np.testing.assert_allclose(layer.backward(np.ones_like(x)), kept * 2.0)
    np.testing.assert_array_equal(layer.forward(x, train=False), x)


def test_softmax_cross_entropy(rng):
    logits = rng.standard_normal((5, 10))
    labels = rng.integers(0, 10, 5)
    loss, delta = softmax_cross_entropy(logits, labels)
    numeric = numeric_grad(lambda: softmax_cross_entropy(logits, labels)[0], logits)
    np.testing.assert_allclose(delta, numeric, rtol=1e-4, atol=1e-7)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.log(p[np.arange(5), labels]).mean())


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    loss, delta = softmax_cross_entropy(np.array([[1000.0, -1000.0]]), np.array([1]))
    assert np.isfinite(loss) and loss == pytest.approx(2000.0)
    assert np.isfinite(delta).all()


def test_maxpool_gives_a_tied_block_all_its_gradient_to_the_first_maximum():
    # ties are common after a convolution of binary pixels; argmax's rule: row-major order, first wins
    x = np.array([[0.0, 0.0, 1.0, 3.0], [0.0, 0.0, 3.0, 3.0]]).reshape(1, 2, 4, 1)
    pool = MaxPool2D(2)
    np.testing.assert_array_equal(pool.forward(x, train=True).ravel(), [0.0, 3.0])
    dx = pool.backward(np.array([5.0, 7.0]).reshape(1, 1, 2, 1))
    np.testing.assert_array_equal(dx.reshape(2, 4), [[5.0, 0.0, 0.0, 7.0], [0.0, 0.0, 0.0, 0.0]])
