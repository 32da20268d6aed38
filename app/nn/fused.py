"""The forward pass for inference only: a convolution, its activation and the max-pooling after it as one
step, with the same outputs as the layers run one by one, to the last bit.

Training runs layer by layer, each layer keeping what its backward pass needs. Inference needs none of
that, and for one drawing the cnn's time is mostly NumPy's per-call overhead and passes over the
convolution's full maps. So when a convolution is followed by ReLU (or no activation) and a max-pooling,
its bias and activation wait until after the pooling and run on a quarter of the numbers:
max(z + b) = max(z) + b and max(relu(z)) = relu(max(z)) hold exactly in floating point, as adding a
number and rounding never reverse an order, and ReLU never does either. The dot products themselves are
the convolution's own (`Conv2D.products`), so nothing else changes. Sigmoid and tanh keep their place,
before the pooling: their rounding is not guaranteed to keep every order.

A fused step of up to CONV_CHUNK images runs on a plan (`_Plan`): its thread's buffers for that input
shape, made once, and the views of them each call reads and writes, so that a call makes one view and
one new array, and the matmul and maxima write where they wrote the call before. What a step returns is
always a new array: buffers never leave the step. More images go through in chunks of CONV_CHUNK, the
chunks `Conv2D.products` takes, so the matmuls are the same.

Every other layer runs its own forward pass. `forward` gives the network's output; `trace` also gives
the outputs of the layers asked for. A fused step asked for its activated maps as well as its pooled
ones makes both from the same products; asked for anything else inside it, it runs layer by layer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from app.nn.layers import (
    CONV_CHUNK,
    DTYPE,
    Array,
    Conv2D,
    Dense,
    Layer,
    MaxPool2D,
    ReLU,
    patch_matrix,
    patches,
)

# Input shapes a thread keeps the buffers of, per step: one drawing, a chunk of a batch and its last chunk.
PLANS_KEPT = 3
FLOAT32 = np.dtype(DTYPE)
Key = TypeVar("Key")
Kept = TypeVar("Kept")


def _plain(layer: Layer | None, kind: type[Layer], settings: set[str]) -> bool:
    """Whether a layer is exactly `kind` with exactly these settings: anything more runs as it is."""
    return layer is not None and type(layer) is kind and set(layer.config()) == settings


class Step:
    """Layers `first` to `last` (positions in the network), run as one."""

    def __init__(self, first: int, layers: list[Layer]) -> None:
        self.first, self.last, self.layers = first, first + len(layers) - 1, layers

    def forward(self, x: Array) -> Array:
        """The output of layer `last`: each layer's own forward pass."""
        for layer in self.layers:
            x = layer.forward(x, False)
        return x

    def trace(self, x: Array, keep: set[int]) -> tuple[Array, dict[int, Array]]:
        """The output, and the outputs of the layers in `keep` (positions) that this step covers."""
        if not keep.intersection(range(self.first, self.last)):  # at most the last: the step at once
            y = self.forward(x)
            return y, {self.last: y}
        outputs = {}
        for index, layer in enumerate(self.layers, self.first):
            x = layer.forward(x, False)
            outputs[index] = x
        return x, outputs


class ConvStep(Step):
    """A convolution, ReLU or no activation, and a max-pooling: the bias and ReLU after the pooling."""

    def __init__(self, first: int, conv: Conv2D, relu: Layer | None, pool: MaxPool2D) -> None:
        super().__init__(first, [layer for layer in (conv, relu, pool) if layer is not None])
        self.conv, self.relu, self.pool = conv, relu, pool
        self._local = threading.local()  # each thread's plans: the buffers are that thread's alone

    def forward(self, x: Array) -> Array:
        plan = self._plan(x)
        if plan is not None:  # one chunk
            plan.products(x)
            return plan.pooled(self.conv.params["b"], self.relu is not None)
        first = self._plan(x[:CONV_CHUNK])
        if first is None:  # a shape or type without plans: layer by layer, fused
            y = self.pool.forward(self.conv.products(x), False)  # a new array: the bias and ReLU go in place
            y += self.conv.params["b"]
            return self.relu.forward(y, False) if self.relu else y
        # CONV_CHUNK images at a time, as Conv2D.products takes them: the same matmuls, in cache
        out = np.empty((len(x), *first.starts.shape[1:]), DTYPE)
        for i in range(0, len(x), CONV_CHUNK):
            chunk = x[i : i + CONV_CHUNK]
            plan = self._plan(chunk)
            assert plan is not None  # a smaller chunk of the same images: planned as well
            plan.products(chunk)
            plan.pooled(self.conv.params["b"], self.relu is not None, out=out[i : i + CONV_CHUNK])
        return out

    def trace(self, x: Array, keep: set[int]) -> tuple[Array, dict[int, Array]]:
        plan = self._plan(x)
        if (
            plan is None
            or self.relu is None
            or self.first in keep
            or not keep.intersection(range(self.first, self.last))
        ):
            return super().trace(x, keep)
        # the activated maps are asked for as well: made from the same products, beside the pooled ones
        maps = plan.products(x)
        a = np.add(maps.reshape(len(x), -1), self.conv.bias_tile(maps[0].size))  # a new array
        np.maximum(a, plan.map_zeros, out=a)
        y = plan.pooled(self.conv.params["b"], True)
        return y, {self.first + 1: a.reshape(maps.shape), self.last: y}

    def _plan(self, x: Array) -> _Plan | None:
        """This thread's plan for x's shape, or None when x takes another path: more than CONV_CHUNK
        images, a type other than float32, pooling blocks that leave rows or columns over."""
        if len(x) > CONV_CHUNK:
            return None
        plans: dict[tuple[int, ...], _Plan | None] | None = getattr(self._local, "plans", None)
        if plans is None:
            plans = self._local.plans = {}
        plan = _kept(plans, x.shape, lambda: _Plan.make(x.shape, self.conv, self.pool.size))
        # each check costs about a microsecond, a few percent of a step: the quick test first
        if plan is None or (x.dtype is not FLOAT32 and x.dtype != DTYPE):
            return None
        if x.strides != plan.strides and not x.flags.c_contiguous:
            return None
        weights = self.conv.params["W"]
        if weights is not plan.weights_of:  # new weights (a view of them sees updates in place)
            if weights.dtype != DTYPE or not weights.flags.c_contiguous:  # a reshape would copy them
                return None
            plan.weights_of, plan.weights = weights, weights.reshape(plan.cols.shape[1], -1)
        return plan


class _Plan:
    """A ConvStep's buffers for one input shape (B, H, W, C) in one thread, and the views of them that
    each call reads and writes: the patches, the dot products and the two shifted maxima of pooling.

    For one drawing the work of a step is a few hundred thousand multiply-adds; the time went to the
    NumPy calls around them, each a few microseconds, most of them making views and new arrays that
    are the same every call. Here a call makes one view (of its input's patches) and one new array
    (the pooled maps it returns), and every other operation writes into a buffer made once. The
    arithmetic is the general path's: the same matmul on the same matrices, the same maxima.
    """

    @classmethod
    def make(cls, shape: tuple[int, ...], conv: Conv2D, s: int) -> _Plan | None:
        b, h, w, _ = shape
        ho, wo = h - conv.kernel + 1, w - conv.kernel + 1
        if b > CONV_CHUNK or s < 2 or ho % s or wo % s or ho < s or wo < s:
            return None
        return cls(shape, conv, s)

    def __init__(self, shape: tuple[int, ...], conv: Conv2D, s: int) -> None:
        b, h, w, c = shape
        k, f = conv.kernel, conv.filters
        ho, wo = h - k + 1, w - k + 1
        example = np.empty(shape, DTYPE)
        view = patches(example, k)
        self.strides, self.patch_shape, self.patch_strides = example.strides, view.shape, view.strides
        self.copied = np.empty(view.shape, DTYPE)
        self.cols = patch_matrix(self.copied, k, c)  # (B*Ho*Wo, k*k*C)
        self.weights_of: Array | None = None  # the convolution's W, as `weights` reshapes it
        self.weights = np.empty((k * k * c, f), DTYPE)
        self.z = np.empty((b * ho * wo, f), DTYPE)
        self.maps = self.z.reshape(b, ho, wo, f)
        # max_pool's shifted maxima (`app.nn.layers.max_pool`), into buffers: by rows, then by pixels.
        # One drawing's maps are shifted whole (one run); a chunk's go through a view of each block's
        # rows, which needs half the memory traffic, and it is a chunk's that matters then.
        row = wo * f
        flat = self.z.reshape(-1)
        step = flat.itemsize
        if b == 1:
            n = flat.size - (s - 1) * row
            self.down = np.empty(n, DTYPE)
            self.down_parts = [flat[j * row : j * row + n] for j in range(s)]
            image, block_row = ho * row, s * row  # where `block` holds an image and a row of blocks
        else:
            rows = self.z.reshape(b * (ho // s), s, row)
            self.down = np.empty(b * (ho // s) * row, DTYPE)
            self.down_parts = [rows[:, j] for j in range(s)]
            image, block_row = (ho // s) * row, row
        m = self.down.size - (s - 1) * f
        self.block = np.empty(m, DTYPE)
        self.block_parts = [self.down[j * f : j * f + m] for j in range(s)]
        strides = (image * step, block_row * step, s * f * step, step)
        self.starts = np.ndarray((b, ho // s, wo // s, f), DTYPE, self.block, 0, strides)  # each block's maximum
        self.zeros = _zeros(self.starts.shape)
        self._map_zeros: Array | None = None

    @property
    def map_zeros(self) -> Array:
        """Zeros for the ReLU of the maps before pooling, (B, Ho*Wo*F): made when a trace first asks."""
        if self._map_zeros is None:
            self._map_zeros = _zeros((len(self.maps), self.maps[0].size))
        return self._map_zeros

    def products(self, x: Array) -> Array:
        """The convolution's products (`Conv2D.products`) for a contiguous x, into this plan's buffer:
        (B, Ho, Wo, F). The caller has checked x and set `weights` (`ConvStep._plan`)."""
        np.copyto(self.copied, np.ndarray(self.patch_shape, DTYPE, x, 0, self.patch_strides))  # `patches`
        np.matmul(self.cols, self.weights, out=self.z)
        return self.maps

    def pooled(self, bias: Array, relu: bool, out: Array | None = None) -> Array:
        """The products pooled, plus the bias, through ReLU or not: (B, Ho/s, Wo/s, F), into `out` or a
        new array."""
        _maximum_into(self.down_parts, self.down)
        _maximum_into(self.block_parts, self.block)
        y = np.add(self.starts, bias, out=out)
        return np.maximum(y, self.zeros, out=y) if relu else y


def _zeros(shape: tuple[int, ...], dtype: np.dtype | type = DTYPE) -> Array:
    """Zeros to take a ReLU's maximum against: NumPy vectorises a maximum of two arrays, not one against
    a broadcast scalar 0 (2.3x slower for pool1's maps of one drawing). Read-only, shared by every call."""
    zeros = np.zeros(shape, dtype)
    zeros.flags.writeable = False
    return zeros


def _maximum_into(parts: list[Array], out: Array) -> None:
    out = out.reshape(parts[0].shape)
    np.maximum(parts[0], parts[1], out=out)
    for part in parts[2:]:
        np.maximum(out, part, out=out)


class DenseStep(Step):
    """A fully connected layer and its ReLU, the ReLU in place on the layer's new output."""

    def __init__(self, first: int, dense: Dense, relu: ReLU) -> None:
        super().__init__(first, [dense, relu])
        self.dense = dense
        self._zeros: dict[tuple[tuple[int, ...], np.dtype], Array] = {}  # read-only, shared by threads

    def forward(self, x: Array) -> Array:
        z = self.dense.forward(x, False)
        zeros = _kept(self._zeros, (z.shape, z.dtype), lambda: _zeros(z.shape, z.dtype))
        return np.maximum(z, zeros, out=z)


def _kept(cache: dict[Key, Kept], key: Key, make: Callable[[], Kept]) -> Kept:
    """cache[key], made first if it is not there; a cache of PLANS_KEPT entries is emptied for a new one."""
    if key in cache:
        return cache[key]
    if len(cache) >= PLANS_KEPT:
        cache.clear()
    value = cache[key] = make()
    return value


def _dense_step(layers: list[Layer], i: int) -> DenseStep | None:
    """Layer i as the start of a fully connected layer and a ReLU, when it is one."""
    dense, relu = layers[i], layers[i + 1] if i + 1 < len(layers) else None
    if not (isinstance(dense, Dense) and _plain(dense, Dense, {"units", "init"})):
        return None
    return DenseStep(i, dense, relu) if isinstance(relu, ReLU) and _plain(relu, ReLU, set()) else None


def _conv_step(layers: list[Layer], i: int) -> ConvStep | None:
    """Layer i as the start of a convolution, ReLU (or none) and max-pooling, when it is one."""
    conv, rest = layers[i], layers[i + 1 : i + 3]
    relu = rest.pop(0) if rest and type(rest[0]) is ReLU else None
    pool = rest[0] if rest else None
    if not (isinstance(conv, Conv2D) and _plain(conv, Conv2D, {"filters", "kernel"})):
        return None
    if not (isinstance(pool, MaxPool2D) and _plain(pool, MaxPool2D, {"size"})):
        return None
    return ConvStep(i, conv, relu, pool)


def compile_steps(layers: list[Layer]) -> list[Step]:
    """The layers as steps, in order, every layer in exactly one."""
    steps: list[Step] = []
    while (i := steps[-1].last + 1 if steps else 0) < len(layers):
        steps.append(_conv_step(layers, i) or _dense_step(layers, i) or Step(i, [layers[i]]))
    return steps


def forward(steps: list[Step], x: Array) -> Array:
    """The network's output for a batch x."""
    for step in steps:
        x = step.layers[0].forward(x, False) if step.first == step.last else step.forward(x)
    return x


def trace(steps: list[Step], x: Array, keep: set[int]) -> tuple[Array, dict[int, Array]]:
    """The network's output for a batch x, and the outputs of the layers (positions) in `keep`."""
    outputs: dict[int, Array] = {}
    for step in steps:
        if step.first == step.last:  # one layer: nothing to choose
            x = step.layers[0].forward(x, False)
            if step.last in keep:
                outputs[step.last] = x
            continue
        x, produced = step.trace(x, keep)
        for i, a in produced.items():
            if i in keep:
                outputs[i] = a
    return x, outputs
