"""Layers of a feed-forward network, each a forward and a backward pass over a batch.

Every layer has the same small interface:

    y = layer.forward(x, train)     # remembers what backward needs
    dx = layer.backward(dy)         # fills layer.grads, returns dL/dx
    layer.params, layer.grads       # dicts of float32 arrays with the same keys

Images travel as (B, H, W, C) arrays, float32 end to end. Backward is the chain rule:
given delta = dL/dy it returns dL/dx and stores dL/dW for the optimiser.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Array = np.ndarray
DTYPE = np.float32


class Layer:
    """Base class: a layer without parameters passes its gradient straight through."""

    kind = "layer"

    def __init__(self) -> None:
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}

    def forward(self, x: Array, train: bool = False) -> Array:
        raise NotImplementedError

    def backward(self, dy: Array) -> Array:
        raise NotImplementedError

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one example's output (no batch axis) for one example's input shape."""
        return input_shape

    def init(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        """Create parameters for this input shape (no-op for layers without any)."""

    def config(self) -> dict[str, object]:
        """The settings that rebuild this layer (stored in model files)."""
        return {}


class Dense(Layer):
    """Fully connected: z = x @ W + b, W of shape (n_in, n_out)."""

    kind = "dense"

    def __init__(self, units: int, init: str = "he") -> None:
        super().__init__()
        self.units = units
        self.init_scheme = init

    def init(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        (n_in,) = input_shape
        self.params = {"W": _init_weights(rng, (n_in, self.units), n_in, self.units, self.init_scheme),
                       "b": np.zeros(self.units, DTYPE)}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.units,)

    def forward(self, x: Array, train: bool = False) -> Array:
        self.x = x  # (B, n_in)
        return x @ self.params["W"] + self.params["b"]  # (B, n_out)

    def backward(self, dy: Array) -> Array:
        self.grads = {"W": self.x.T @ dy, "b": dy.sum(axis=0)}
        return dy @ self.params["W"].T

    def config(self) -> dict[str, object]:
        return {"units": self.units, "init": self.init_scheme}


class Conv2D(Layer):
    """2-D convolution, stride 1, no padding ("valid"): the same kernels slide over every position.

    Weight sharing is what makes it a convolution: W holds one (k, k, C) kernel per output map
    and every position of the output uses it. Computed as a single matmul on image patches:
    cols (B*Ho*Wo, k*k*C) @ W (k*k*C, F).
    """

    kind = "conv"

    def __init__(self, filters: int, kernel: int = 5) -> None:
        super().__init__()
        self.filters = filters
        self.kernel = kernel

    def init(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        _, _, c = input_shape
        fan_in = self.kernel * self.kernel * c
        self.params = {"W": _init_weights(rng, (self.kernel, self.kernel, c, self.filters), fan_in,
                                          self.filters, "he"),
                       "b": np.zeros(self.filters, DTYPE)}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        h, w, _ = input_shape
        return (h - self.kernel + 1, w - self.kernel + 1, self.filters)

    def forward(self, x: Array, train: bool = False) -> Array:
        b, h, w, c = x.shape
        k = self.kernel
        ho, wo = h - k + 1, w - k + 1
        # (B, Ho, Wo, C, k, k) view -> (B, Ho, Wo, k, k, C) copy, so a row is one patch
        patches = sliding_window_view(x, (k, k), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3)
        self.cols = np.ascontiguousarray(patches).reshape(b * ho * wo, k * k * c)
        self.x_shape = x.shape
        z = self.cols @ self.params["W"].reshape(k * k * c, self.filters) + self.params["b"]
        return z.reshape(b, ho, wo, self.filters)

    def backward(self, dy: Array) -> Array:
        b, h, w, c = self.x_shape
        k, f = self.kernel, self.filters
        ho, wo = h - k + 1, w - k + 1
        delta = dy.reshape(b * ho * wo, f)
        self.grads = {"W": (self.cols.T @ delta).reshape(k, k, c, f), "b": delta.sum(axis=0)}
        dcols = (delta @ self.params["W"].reshape(k * k * c, f).T).reshape(b, ho, wo, k, k, c)
        dx = np.zeros(self.x_shape, DTYPE)
        for i in range(k):  # col2im: each kernel offset sends its gradient back to a shifted window
            for j in range(k):
                dx[:, i:i + ho, j:j + wo, :] += dcols[:, :, :, i, j, :]
        return dx

    def config(self) -> dict[str, object]:
        return {"filters": self.filters, "kernel": self.kernel}


class MaxPool2D(Layer):
    """2x2 max-pooling ("downsampling"): each output is the largest of four neighbours."""

    kind = "pool"

    def __init__(self, size: int = 2) -> None:
        super().__init__()
        self.size = size

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        h, w, c = input_shape
        return (h // self.size, w // self.size, c)

    def forward(self, x: Array, train: bool = False) -> Array:
        b, h, w, c = x.shape
        s = self.size
        ho, wo = h // s, w // s
        # (B, Ho, s, Wo, s, C) -> (B, Ho, Wo, C, s*s): the s*s candidates of each output last
        blocks = x[:, :ho * s, :wo * s, :].reshape(b, ho, s, wo, s, c).transpose(0, 1, 3, 5, 2, 4)
        blocks = blocks.reshape(b, ho, wo, c, s * s)
        self.argmax = blocks.argmax(axis=-1)
        self.x_shape = x.shape
        return np.take_along_axis(blocks, self.argmax[..., None], axis=-1)[..., 0]

    def backward(self, dy: Array) -> Array:
        b, h, w, c = self.x_shape
        s = self.size
        ho, wo = h // s, w // s
        # only the winner of each block receives the gradient
        dblocks = np.zeros((b, ho, wo, c, s * s), DTYPE)
        np.put_along_axis(dblocks, self.argmax[..., None], dy[..., None], axis=-1)
        dx = np.zeros(self.x_shape, DTYPE)
        dx[:, :ho * s, :wo * s, :] = (dblocks.reshape(b, ho, wo, c, s, s)
                                      .transpose(0, 1, 4, 2, 5, 3).reshape(b, ho * s, wo * s, c))
        return dx

    def config(self) -> dict[str, object]:
        return {"size": self.size}


class ReLU(Layer):
    kind = "relu"

    def forward(self, x: Array, train: bool = False) -> Array:
        self.mask = x > 0
        return x * self.mask

    def backward(self, dy: Array) -> Array:
        return dy * self.mask


class Sigmoid(Layer):
    """a = 1 / (1 + exp(-z)): the logistic function, so each unit is one logistic regression."""

    kind = "sigmoid"

    def forward(self, x: Array, train: bool = False) -> Array:
        self.a = sigmoid(x)
        return self.a

    def backward(self, dy: Array) -> Array:
        return dy * self.a * (1 - self.a)


class Tanh(Layer):
    kind = "tanh"

    def forward(self, x: Array, train: bool = False) -> Array:
        self.a = np.tanh(x)
        return self.a

    def backward(self, dy: Array) -> Array:
        return dy * (1 - self.a * self.a)


class Dropout(Layer):
    """Inverted dropout: in training each unit is kept with probability 1 - rate and scaled up,
    so at test time the layer is the identity."""

    kind = "dropout"

    def __init__(self, rate: float = 0.5, seed: int = 0) -> None:
        super().__init__()
        self.rate = rate
        self.rng = np.random.default_rng(seed)

    def forward(self, x: Array, train: bool = False) -> Array:
        if not train or self.rate == 0:
            self.mask = None
            return x
        keep = 1.0 - self.rate
        self.mask = (self.rng.random(x.shape, dtype=DTYPE) < keep).astype(DTYPE) / DTYPE(keep)
        return x * self.mask

    def backward(self, dy: Array) -> Array:
        return dy if self.mask is None else dy * self.mask

    def config(self) -> dict[str, object]:
        return {"rate": self.rate}


class Flatten(Layer):
    kind = "flatten"

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (int(np.prod(input_shape)),)

    def forward(self, x: Array, train: bool = False) -> Array:
        self.x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: Array) -> Array:
        return dy.reshape(self.x_shape)


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls for cls in (Dense, Conv2D, MaxPool2D, ReLU, Sigmoid, Tanh, Dropout, Flatten)
}


def sigmoid(z: Array) -> Array:
    # written with exp of a non-positive number only, so it never overflows
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def softmax(z: Array) -> Array:
    """Softmax over the last axis: the multi-class sigmoid, shifted by the max for stability."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _init_weights(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int,
                  scheme: str) -> Array:
    if scheme == "he":  # keeps the variance of ReLU activations from layer to layer
        std = np.sqrt(2.0 / fan_in)
    elif scheme == "xavier":  # for sigmoid, tanh and softmax outputs
        std = np.sqrt(2.0 / (fan_in + fan_out))
    elif scheme == "zeros":
        return np.zeros(shape, DTYPE)
    else:
        raise ValueError(f"unknown weight initialisation {scheme!r}")
    return (rng.standard_normal(shape) * std).astype(DTYPE)
