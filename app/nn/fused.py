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

Every other layer runs its own forward pass. `forward` gives the network's output; `trace` also gives
the outputs of the layers asked for, which a fused step then computes one layer at a time.
"""

from __future__ import annotations

from app.nn.layers import Array, Conv2D, Layer, MaxPool2D, ReLU


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

    def forward(self, x: Array) -> Array:
        y = self.pool.forward(self.conv.products(x), False)
        y += self.conv.params["b"]
        return self.relu.forward(y, False) if self.relu else y


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
        steps.append(_conv_step(layers, i) or Step(i, [layers[i]]))
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
