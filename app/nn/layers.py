"""Layers of a feed-forward network, each a forward and a backward pass over a batch.

Every layer has the same small interface:

    y = layer.forward(x, train)     # remembers what backward needs
    dx = layer.backward(dy)         # fills layer.grads, returns dL/dx
    y = layer.forward_kept(x)       # inference (no dropout), remembering what backward needs
    layer.params, layer.grads       # dicts of float32 arrays with the same keys

Images travel as (B, H, W, C) arrays, float32 end to end. Backward is the chain rule:
given delta = dL/dy it returns dL/dx and stores dL/dW for the optimiser.
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray
DTYPE = np.float32
# Images whose patches one inference matmul takes: their im2col matrix (a few MB) stays in cache.
CONV_CHUNK = 32


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

    def backward_params(self, dy: Array) -> None:
        """Fill self.grads without dL/dx, for the first layer: nothing reads its input's gradient."""
        self.backward(dy)

    def forward_kept(self, x: Array) -> Array:
        """The inference forward pass, remembering what backward needs: for gradients with respect to
        the input of a trained network (explanations). A layer that behaves differently in training
        (dropout, batch statistics) overrides it to compute exactly what `forward(x)` does."""
        return self.forward(x, train=True)

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
        self.params = {
            "W": _init_weights(rng, (n_in, self.units), n_in, self.units, self.init_scheme),
            "b": np.zeros(self.units, DTYPE),
        }

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.units,)

    def forward(self, x: Array, train: bool = False) -> Array:
        if train:
            self.x = x  # (B, n_in)
        z = x @ self.params["W"]  # (B, n_out)
        z += self.params["b"]
        return z

    def backward(self, dy: Array) -> Array:
        self.backward_params(dy)
        return dy @ self.params["W"].T

    def backward_params(self, dy: Array) -> None:
        self.grads = {"W": self.x.T @ dy, "b": _sum_rows(dy)}

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
        # the bias repeated over one image's positions, by their number of values, with the bias's bytes
        self._bias_tiles: dict[int, tuple[bytes, Array]] = {}

    def init(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        _, _, c = input_shape
        fan_in = self.kernel * self.kernel * c
        self.params = {
            "W": _init_weights(rng, (self.kernel, self.kernel, c, self.filters), fan_in, self.filters, "he"),
            "b": np.zeros(self.filters, DTYPE),
        }

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        h, w, _ = input_shape
        return (h - self.kernel + 1, w - self.kernel + 1, self.filters)

    def forward(self, x: Array, train: bool = False) -> Array:
        return self.add_bias(self.products(x, train))

    def add_bias(self, z: Array) -> Array:
        """z += b at every position of contiguous maps z (B, H, W, F), in place; the maps may be pooled."""
        flat = z.reshape(z.shape[0], -1)
        flat += self.bias_tile(flat.shape[1])
        return z

    def bias_tile(self, n: int) -> Array:
        """The bias repeated over one image's n values of maps, (n,).

        Broadcast from its F values, the bias is a run of F numbers per position, and NumPy pays for
        each run (6.6 us for conv1's maps of one drawing); repeated over a whole image it is one run an
        image (1.7 us). It is kept with the bias's bytes, so a bias changed in place (the optimiser's
        updates) is never read stale.
        """
        b = self.params["b"]
        key = b.tobytes()
        tile = self._bias_tiles.get(n)
        if tile is None or tile[0] != key:
            tile = self._bias_tiles[n] = (key, np.tile(b, n // b.size))
        return tile[1]

    def products(self, x: Array, train: bool = False) -> Array:
        """(B, Ho, Wo, F): every kernel's dot product with every patch, before the bias. The inference
        steps of `app.nn.fused` call this too, so their outputs are this layer's to the last bit."""
        b, h, w, c = x.shape
        k, f = self.kernel, self.filters
        ho, wo = h - k + 1, w - k + 1
        weights = self.params["W"].reshape(k * k * c, f)
        if train or b <= CONV_CHUNK:
            cols = _im2col(x, k)  # (B*Ho*Wo, k*k*C)
            z = cols @ weights
            if train:  # backward needs every patch again
                self.cols, self.x_shape = cols, x.shape
        else:  # a few images at a time, so their patches are still in cache when the matmul reads them
            z = np.empty((b * ho * wo, f), np.result_type(x, weights))
            n = ho * wo
            for i in range(0, b, CONV_CHUNK):
                np.matmul(_im2col(x[i : i + CONV_CHUNK], k), weights, out=z[i * n : (i + CONV_CHUNK) * n])
        return z.reshape(b, ho, wo, f)

    def backward(self, dy: Array) -> Array:
        self.backward_params(dy)
        b, h, w, c = self.x_shape
        k, f = self.kernel, self.filters
        ho, wo = h - k + 1, w - k + 1
        dcols = (dy.reshape(-1, f) @ self.params["W"].reshape(k * k * c, f).T).reshape(b, ho, wo, k, k * c)
        # col2im: patch row i of output column x0 covers input row y + i, columns x0..x0+k-1, which
        # are k*C adjacent numbers of that row; adding whole patch rows moves k*C numbers at a time.
        dx = np.zeros((b, h, w * c), dcols.dtype)
        for i in range(k):
            for x0 in range(wo):
                dx[:, i : i + ho, x0 * c : (x0 + k) * c] += dcols[:, :, x0, i, :]
        return dx.reshape(self.x_shape)

    def backward_params(self, dy: Array) -> None:
        k, c, f = self.kernel, self.x_shape[3], self.filters
        delta = dy.reshape(-1, f)  # (B*Ho*Wo, F)
        self.grads = {"W": (self.cols.T @ delta).reshape(k, k, c, f), "b": _sum_rows(delta)}

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
        out = max_pool(x, self.size)
        if train:
            self.x, self.y = x, out
        return out

    def backward(self, dy: Array) -> Array:
        x, y = self.x, self.y
        s = self.size
        h, w = x.shape[1:3]
        exact = h % s == 0 and w % s == 0
        dx = np.empty_like(x, dtype=dy.dtype) if exact else np.zeros_like(x, dtype=dy.dtype)
        # only the winner of each block receives the gradient: on a tie, the first in row-major order,
        # as argmax would choose (ties are common: binary inputs make equal conv outputs). `rest` is the
        # gradient no candidate has won yet: the first winner takes all of it and leaves zeros.
        rest = dy
        candidates = self._candidates(x)
        for n, view in enumerate(candidates):
            i, j = divmod(n, s)
            part = dx[:, i : (h // s) * s : s, j : (w // s) * s : s, :]
            np.multiply(rest, view == y, out=part)
            if n < len(candidates) - 1:
                rest = rest - part
        return dx

    def _candidates(self, x: Array) -> list[Array]:
        """The s*s strided views of x (B, H, W, C) whose element-wise maximum is the output (B, H/s, W/s, C)."""
        s = self.size
        ho, wo = x.shape[1] // s, x.shape[2] // s
        return [x[:, i : ho * s : s, j : wo * s : s, :] for i in range(s) for j in range(s)]

    def config(self) -> dict[str, object]:
        return {"size": self.size}


class ReLU(Layer):
    kind = "relu"

    def forward(self, x: Array, train: bool = False) -> Array:
        if train:
            self.mask = x > 0
        # against an array of zeros, which also takes the result: NumPy's vectorised maximum skips a
        # broadcast scalar (3x slower)
        out = np.zeros(x.shape, x.dtype)
        return np.maximum(x, out, out=out)

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

    def forward_kept(self, x: Array) -> Array:
        self.mask = None
        return x

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


def _im2col(x: Array, k: int) -> Array:
    """(B, H, W, C) -> every k x k patch as a row, (B*Ho*Wo, k*k*C) in the (k, k, C) order of W.

    One copy of a strided view, laid out so that it moves the longest runs of adjacent numbers: with
    several channels a patch row (k*C numbers of one image row), with one channel an output row (Wo
    pixels), which builds the matrix transposed; BLAS reads either without another copy.
    """
    return patch_matrix(np.ascontiguousarray(patches(np.ascontiguousarray(x), k)), k, x.shape[3])


def patches(x: Array, k: int) -> Array:
    """The strided view of a contiguous x (B, H, W, C) that `_im2col` copies: (k, k, B, Ho, Wo) with one
    channel, (B, Ho, Wo, k, k*C) with several."""
    b, h, w, c = x.shape
    ho, wo = h - k + 1, w - k + 1
    sb, sh, sw, sc = x.strides
    if c == 1:
        return np.ndarray((k, k, b, ho, wo), x.dtype, x, 0, (sh, sw, sb, sh, sw))
    return np.ndarray((b, ho, wo, k, k * c), x.dtype, x, 0, (sb, sh, sw, sh, sc))


def patch_matrix(copied: Array, k: int, c: int) -> Array:
    """A contiguous copy of `patches` of C channels as the (B*Ho*Wo, k*k*C) matrix, without another copy."""
    if c == 1:  # (k, k, B, Ho, Wo)
        return copied.reshape(k * k, -1).T
    return copied.reshape(-1, k * k * c)


def _sum_rows(delta: Array) -> Array:
    """delta.sum(axis=0) for a bias gradient, as a vector-matrix product: NumPy sums a tall, narrow
    array down its columns a short row at a time (0.53 ms for conv1's (36864, 16) deltas), BLAS in 26 us."""
    return np.ones(delta.shape[0], delta.dtype) @ delta


def max_pool(x: Array, s: int) -> Array:
    """(B, H, W, C) -> (B, H/s, W/s, C): the largest of each s x s block, a new contiguous array.

    NumPy pays for every run of adjacent numbers it visits, and a block's column is a run of only C
    numbers (16 for conv1): ~2.5 us of iteration for one drawing's pool1 before any maximum is taken.
    So the maxima are taken over the whole array as one run against itself shifted: by 1..s-1 image
    rows, which gives every pixel the maximum of the s pixels from it downwards, then by 1..s-1
    pixels; the pixels that start a block hold their block's maximum and are copied out. The shifted
    runs cover every pixel, twice the work of the blocks alone, and still take about half the time of
    the blocks' own views. A maximum is the same number whatever the order it is taken in.
    """
    b, h, w, c = x.shape
    ho, wo = h // s, w // s
    if (h, w) != (ho * s, wo * s):  # rows or columns no block covers
        x = x[:, : ho * s, : wo * s]
    flat = np.ascontiguousarray(x).reshape(-1)
    row = wo * s * c  # the numbers of one image row
    down = _shifted_maximum(flat, row, s)  # (B*H*W*C - (s-1)*row,)
    block = _shifted_maximum(down, c, s)
    # the top-left pixel of each block, (B, Ho, Wo, C); the last block's ends inside `block`
    step = block.itemsize
    starts = np.ndarray(
        (b, ho, wo, c), block.dtype, block, 0, (ho * s * row * step, s * row * step, s * c * step, step)
    )
    return starts.copy()  # a copy even when s is 1 and `block` is x itself


def _shifted_maximum(flat: Array, shift: int, s: int) -> Array:
    """Element i of the result: the maximum of flat[i], flat[i + shift], ..., flat[i + (s-1)*shift]."""
    if s == 1:
        return flat
    n = flat.size - (s - 1) * shift
    return _maximum([flat[j * shift : j * shift + n] for j in range(s)])


def _maximum(parts: list[Array]) -> Array:
    """The element-wise maximum of arrays of one shape, into a new array."""
    out = np.maximum(parts[0], parts[1]) if len(parts) > 1 else parts[0].copy()
    for part in parts[2:]:
        np.maximum(out, part, out=out)
    return out


def sigmoid(z: Array) -> Array:
    # written with exp of a non-positive number only, so it never overflows
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def softmax(z: Array) -> Array:
    """Softmax over the last axis: the multi-class sigmoid, shifted by the max for stability."""
    e = z - z.max(axis=-1, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=-1, keepdims=True)
    return e


def _init_weights(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int, scheme: str) -> Array:
    if scheme == "he":  # keeps the variance of ReLU activations from layer to layer
        std = np.sqrt(2.0 / fan_in)
    elif scheme == "xavier":  # for sigmoid, tanh and softmax outputs
        std = np.sqrt(2.0 / (fan_in + fan_out))
    elif scheme == "zeros":
        return np.zeros(shape, DTYPE)
    else:
        raise ValueError(f"unknown weight initialisation {scheme!r}")
    return (rng.standard_normal(shape) * std).astype(DTYPE)
