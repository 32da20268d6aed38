"""The forward pass for inference only: a network's layers run as a few fused steps, fewer NumPy calls each.

Training runs layer by layer, each layer keeping what its backward pass needs. Inference needs none of
that, and for one drawing the cnn's time is mostly NumPy's per-call overhead, so here:

- A convolution, its activation and the max-pooling after it are one step. The image patches are
  gathered in the order of the pooling windows, so one matmul gives every candidate and two elementwise
  maxima (for 2x2 windows) pool them. With ReLU the bias and the activation come after the pooling, on
  a quarter of the numbers: max(z + b) = max(z) + b and max(relu(z)) = relu(max(z)) hold exactly, as
  rounding and ReLU never reverse an order.
- A dense layer and its activation are one step; dropout and flatten cost nothing.
- Any other layer, or a layer configured in a way these steps do not know, runs its own forward.

`trace` also gives the outputs the page shows. A convolution's maps are then computed at every
position and given channel first, viewed as (B, H, W, C): the order the API sends them in.
"""

from __future__ import annotations

import numpy as np

from app.nn.layers import CONV_CHUNK, Array, Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D, ReLU, Sigmoid, Tanh
from app.nn.layers import sigmoid as sigmoid_of

ACTIVATIONS: tuple[type[Layer], ...] = (ReLU, Sigmoid, Tanh)


def _plain(layer: Layer | None, kind: type[Layer], settings: set[str]) -> bool:
    """Whether a layer is exactly `kind` with exactly these settings: anything more runs as it is."""
    return layer is not None and type(layer) is kind and set(layer.config()) == settings


def _activate(z: Array, activation: Layer | None) -> Array:
    """The activation of z, in place where it can be."""
    if isinstance(activation, ReLU):
        return np.maximum(z, 0, out=z)
    if isinstance(activation, Sigmoid):
        return sigmoid_of(z)
    if isinstance(activation, Tanh):
        return np.tanh(z, out=z)
    return z


class Step:
    """Layers `first` to `last` (positions in the network), run as one."""

    def __init__(self, first: int, last: int) -> None:
        self.first, self.last = first, last

    def forward(self, x: Array) -> Array:
        """The output of layer `last`."""
        raise NotImplementedError

    def trace(self, x: Array, keep: set[int]) -> tuple[Array, dict[int, Array]]:
        """The output, and the outputs of every layer in `keep` (positions) that this step covers."""
        y = self.forward(x)
        return y, {self.last: y}


class LayerStep(Step):
    """One layer by its own forward pass."""

    def __init__(self, index: int, layer: Layer) -> None:
        super().__init__(index, index)
        self.layer = layer

    def forward(self, x: Array) -> Array:
        return self.layer.forward(x, False)


class Reshape(Step):
    """Dropout (the identity outside training) or a flatten."""

    def __init__(self, index: int, flatten: bool) -> None:
        super().__init__(index, index)
        self.flatten = flatten

    def forward(self, x: Array) -> Array:
        return x.reshape(x.shape[0], -1) if self.flatten else x


class DenseStep(Step):
    """z = x @ W + b, then its activation, if any."""

    def __init__(self, first: int, dense: Dense, activation: Layer | None) -> None:
        super().__init__(first, first + (activation is not None))
        self.dense, self.activation = dense, activation

    def forward(self, x: Array) -> Array:
        z = x @ self.dense.params["W"]  # (B, n_out)
        z += self.dense.params["b"]
        return _activate(z, self.activation)


class ConvStep(Step):
    """A convolution, then its activation and a max-pooling, each if there is one."""

    def __init__(self, first: int, conv: Conv2D, activation: Layer | None, pool: MaxPool2D | None) -> None:
        self.maps = first + (activation is not None)  # the layer whose output is the activated maps
        super().__init__(first, self.maps + (pool is not None))
        self.conv, self.activation, self.pool = conv, activation, pool
        self.size = pool.size if pool else 1
        # ReLU (or none) keeps every order exactly, so it and the bias can wait until after the pooling
        self.after_pooling = activation is None or isinstance(activation, ReLU)

    def forward(self, x: Array) -> Array:
        b, h, w, _ = x.shape
        k, f, s = self.conv.kernel, self.conv.filters, self.size
        hp, wp = (h - k + 1) // s, (w - k + 1) // s
        if b <= CONV_CHUNK:
            return self._pooled(x, k, s, hp, wp).reshape(b, hp, wp, f)
        out = np.empty((b, hp, wp, f), np.float32)
        for i in range(0, b, CONV_CHUNK):  # a few images at a time: their patches stay in cache
            out[i : i + CONV_CHUNK] = self._pooled(x[i : i + CONV_CHUNK], k, s, hp, wp).reshape(-1, hp, wp, f)
        return out

    def _pooled(self, x: Array, k: int, s: int, hp: int, wp: int) -> Array:
        """(B*Hp*Wp, F): the step's output for a few images."""
        z = window_patches(x, k, s, hp, wp) @ self.conv.params["W"].reshape(-1, self.conv.filters)
        if not self.after_pooling:
            z += self.conv.params["b"]
            z = _activate(z, self.activation)
        pooled = window_max(z, s)
        if self.after_pooling:
            pooled += self.conv.params["b"]
            pooled = _activate(pooled, self.activation)
        return pooled

    def trace(self, x: Array, keep: set[int]) -> tuple[Array, dict[int, Array]]:
        wanted = {i for i in keep if self.first <= i <= self.last}
        if self.maps not in wanted:
            return super().trace(x, keep)
        b, h, w, _ = x.shape
        k, f, s = self.conv.kernel, self.conv.filters, self.size
        ho, wo = h - k + 1, w - k + 1
        if wanted - {self.maps, self.last} or ho % s or wo % s:  # the maps before activation, or unpooled
            return self._layer_by_layer(x)
        hp, wp = ho // s, wo // s
        z = window_patches(x, k, s, hp, wp) @ self.conv.params["W"].reshape(-1, f)
        z += self.conv.params["b"]
        z = _activate(z, self.activation)  # (s*B*Hp*Wp*s, F) in the order (i, B, Hp, Wp, j)
        # (i, B, Hp, Wp, j, F) -> (B, F, Hp, i, Wp, j): channel first, rows and columns in order
        maps = z.reshape(s, b, hp, wp, s, f).transpose(1, 5, 2, 0, 3, 4).reshape(b, f, ho, wo)
        outputs = {self.maps: maps.transpose(0, 2, 3, 1)}
        if self.pool is not None:
            outputs[self.last] = window_max(z, s).reshape(b, hp, wp, f)
        return outputs[self.last], outputs

    def _layer_by_layer(self, x: Array) -> tuple[Array, dict[int, Array]]:
        outputs = {}
        for index, layer in enumerate(layer for layer in (self.conv, self.activation, self.pool) if layer):
            x = layer.forward(x, False)
            outputs[self.first + index] = x
        return x, outputs


def window_patches(x: Array, k: int, s: int, hp: int, wp: int) -> Array:
    """(B, H, W, C) -> the k x k patch at every output position an s x s pooling window covers, as rows
    (s*B*Hp*Wp*s, k*k*C) in the (k, k, C) order of a kernel. Row (i, b, y, x, j) is the position
    (s*y + i, s*x + j) of image b: the rows of one window row offset i are one slab, and its column
    offsets j adjacent rows, so pooling is an elementwise maximum of slabs, then of neighbouring rows.
    Positions past the last whole window are left out, as pooling drops them. One copy of a strided
    view; like `layers._im2col`, a single channel is gathered transposed, copying whole runs of an
    image row (x and j together walk it)."""
    x = np.ascontiguousarray(x)
    b, _, _, c = x.shape
    sb, sh, sw, sc = x.strides
    rows = s * b * hp * wp * s
    if c == 1:
        shape, strides = (k, k, s, b, hp, wp, s), (sh, sw, sh, sb, s * sh, s * sw, sw)
        return np.ascontiguousarray(np.ndarray(shape, x.dtype, x, 0, strides)).reshape(k * k, rows).T
    view = np.ndarray((s, b, hp, wp, s, k, k * c), x.dtype, x, 0, (sh, sb, s * sh, s * sw, sw, sh, sc))
    return view.reshape(rows, k * k * c)


def window_max(z: Array, s: int) -> Array:
    """(s*N*s, F) in the order of `window_patches` -> (N, F): the maximum of every window."""
    if s == 1:
        return z
    f = z.shape[1]
    slabs = z.reshape(s, -1, s * f)  # per window row offset: (N, s*F), the s column offsets side by side
    rows = np.maximum(slabs[0], slabs[1])
    for i in range(2, s):
        np.maximum(rows, slabs[i], out=rows)
    out = np.maximum(rows[:, :f], rows[:, f : 2 * f])
    for j in range(2, s):
        np.maximum(out, rows[:, j * f : (j + 1) * f], out=out)
    return out


def compile_steps(layers: list[Layer]) -> list[Step]:
    """The layers as fused steps, in order, every layer in exactly one."""
    steps: list[Step] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        following = layers[i + 1] if i + 1 < len(layers) else None
        activation = following if type(following) in ACTIVATIONS else None
        after = i + 1 + (activation is not None)
        if isinstance(layer, Conv2D) and _plain(layer, Conv2D, {"filters", "kernel"}):
            candidate = layers[after] if after < len(layers) else None
            pool = candidate if isinstance(candidate, MaxPool2D) and _plain(candidate, MaxPool2D, {"size"}) else None
            steps.append(ConvStep(i, layer, activation, pool))
        elif isinstance(layer, Dense) and _plain(layer, Dense, {"units", "init"}):
            steps.append(DenseStep(i, layer, activation))
        elif type(layer) is Flatten or type(layer) is Dropout:
            steps.append(Reshape(i, flatten=type(layer) is Flatten))
        else:
            steps.append(LayerStep(i, layer))
        i = steps[-1].last + 1
    return steps


def forward(steps: list[Step], x: Array) -> Array:
    """The network's output for a batch x."""
    for step in steps:
        x = step.forward(x)
    return x


def trace(steps: list[Step], x: Array, keep: set[int]) -> tuple[Array, dict[int, Array]]:
    """The network's output for a batch x, and the outputs of the layers (positions) in `keep`."""
    outputs: dict[int, Array] = {}
    for step in steps:
        x, produced = step.trace(x, keep)
        outputs.update((i, a) for i, a in produced.items() if i in keep)
    return x, outputs
