"""Why a network gives its answer, and what its units respond to: gradients with respect to the input.

- Attribution: a 28x28 map per digit of how each input pixel pushed that digit's score (its logit, before
  the softmax) up or down. The method that ships is occlusion: how much the digit's score falls when that
  one pixel's ink is erased. It removed the evidence that mattered best in the deletion test of every
  method here (benchmarks/attribution.py; figures in docs/explanations.md); integrated gradients,
  gradient x input and guided backpropagation are kept to be measured against it.
- Optimal stimulus: the input in [0, 1] that excites one unit most, by gradient ascent on the input with
  the regularisers that make MNIST stimuli look like strokes.

Both send a gradient back through every layer to the input (`Tape`), which only needs each layer's
`forward_kept` and `backward`: a new layer type gets explanations for free. A tape works on shallow copies
of the layers, so explanations running in several threads never share what a layer remembers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.nn.layers import DTYPE, Array, Layer
from app.nn.network import LayerInfo, Network

# Steps of the integrated-gradients path from the empty pad to the drawing (midpoint rule): with 32 the
# attributions add up to the score's rise within about 1 % on the shipped models.
IG_STEPS = 32
SHIPPED_METHOD = "occlusion"


class Tape:
    """A batch run forward to one layer of a network (its output `self.output`), ready to send a
    gradient with respect to that output back to the input."""

    def __init__(self, network: Network, x: Array, stop: int) -> None:
        self.layers: list[Layer] = [copy.copy(layer) for layer in network.layers[: stop + 1]]
        self.input_shape = x.shape
        a = np.asarray(x, DTYPE).reshape((x.shape[0], *network.arch.input_shape))
        for layer in self.layers:
            a = layer.forward_kept(a)
        self.output = a

    def backward(self, delta: Array, guided: bool = False) -> Array:
        """d(sum of delta * output) / d input, shaped like the input. `guided` lets only positive
        gradients through each ReLU (guided backpropagation)."""
        for layer in reversed(self.layers):
            delta = layer.backward(delta.astype(DTYPE, copy=False))
            if guided and layer.kind == "relu":
                delta = np.maximum(delta, 0)
        return delta.reshape(self.input_shape)


# --- attribution: (D, 28, 28) maps for digits D of one input x (28, 28), positive = evidence for the digit ---


def _input_gradients(network: Network, x: Array, digits: list[int], guided: bool = False) -> Array:
    """(D, *x.shape): the gradient of each digit's logit at every input of the batch x, one forward pass
    shared by the digits (backward only reads what the forward pass kept, so it can run once per digit)."""
    tape = Tape(network, x, len(network.layers) - 1)
    grads = np.empty((len(digits), *x.shape), DTYPE)
    for i, d in enumerate(digits):
        delta = np.zeros_like(tape.output)
        delta[:, d] = 1
        grads[i] = tape.backward(delta, guided)
    return grads


def integrated_gradients(network: Network, x: Array, digits: list[int], steps: int = IG_STEPS) -> Array:
    """The gradient of each digit's logit averaged along the straight path from the empty pad to x,
    times x: the attributions add up to logit(x) - logit(empty pad)."""
    alphas = ((np.arange(steps, dtype=DTYPE) + 0.5) / steps)[:, None, None]
    return _input_gradients(network, alphas * x, digits).mean(axis=1) * x


def gradient_x_input(network: Network, x: Array, digits: list[int]) -> Array:
    """The gradient of each digit's logit at x, times x: a first-order estimate of each pixel's part."""
    return _input_gradients(network, x[None], digits)[:, 0] * x


def guided_backprop(network: Network, x: Array, digits: list[int]) -> Array:
    """Gradient x input with only positive gradients let through each ReLU."""
    return _input_gradients(network, x[None], digits, guided=True)[:, 0] * x


def occlusion(network: Network, x: Array, digits: list[int]) -> Array:
    """How much each digit's logit falls when one ink pixel is removed (0 where there is no ink)."""
    ink = np.flatnonzero(x.reshape(-1) > 0)
    variants = np.repeat(x.reshape(1, -1), len(ink) + 1, axis=0)
    variants[np.arange(1, len(ink) + 1), ink] = 0
    logits = network.forward(variants.reshape(-1, *network.arch.input_shape).astype(DTYPE))
    maps = np.zeros((len(digits), x.size), DTYPE)
    for i, d in enumerate(digits):
        maps[i, ink] = logits[0, d] - logits[1:, d]
    return maps.reshape(len(digits), *x.shape)


METHODS: dict[str, Callable[[Network, Array, list[int]], Array]] = {
    "integrated-gradients": integrated_gradients,
    "gradient-x-input": gradient_x_input,
    "guided-backprop": guided_backprop,
    "occlusion": occlusion,
}


def attribution(network: Network, x: Array, digits: list[int], method: str = SHIPPED_METHOD) -> Array:
    """(len(digits), 28, 28) maps for the input x (28, 28) in [0, 1]: positive where a pixel raised the
    digit's logit, negative where it lowered it."""
    return METHODS[method](network, np.asarray(x, DTYPE), digits)


# --- optimal stimulus ---


@dataclass(frozen=True)
class StimulusRecipe:
    """Gradient ascent on the input, from a fixed seed, with the regularisers that keep it stroke-like."""

    steps: int = 160
    step_size: float = 0.08  # each step moves the input this far, in units of the gradient's RMS
    decay: float = 0.01  # L2: every step pulls every pixel this fraction of the way back to the background
    blur_every: int = 4  # a 3x3 blur every so many steps (smoothness, as a total-variation penalty would)
    blur: float = 0.25  # how much of a pixel's value the blur spreads to its neighbours
    jitter: int = 1  # each step sees the input shifted by up to this many pixels either way
    start: float = 0.2  # the seed: uniform noise in [0, start]
    seed: int = 0

    def to_json(self) -> dict[str, float | int]:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}


DEFAULT_RECIPE = StimulusRecipe()


def visible_info(network: Network, layer_name: str) -> LayerInfo:
    """The visible layer called `layer_name` (not the input). Raises KeyError."""
    for info in network.visible[1:]:
        if info.name == layer_name:
            return info
    raise KeyError(layer_name)


def pre_activation(network: Network, layer_name: str) -> int:
    """Index in network.layers of a visible layer's own output, before the activation folded into it."""
    return network.names.index(layer_name)


def unit_objective(z: Array, units: Array) -> Array:
    """d objective / d z for row i maximising unit units[i] of z (B, n) or, for feature maps (B, H, W, C),
    of map units[i] at its centre position."""
    delta = np.zeros_like(z)
    rows = np.arange(len(units))
    if z.ndim == 4:
        delta[rows, z.shape[1] // 2, z.shape[2] // 2, units] = 1
    else:
        delta[rows, units] = 1
    return delta


def optimal_stimuli(network: Network, layer_name: str, units: Array, recipe: StimulusRecipe = DEFAULT_RECIPE) -> Array:
    """(len(units), 28, 28) inputs in [0, 1] maximising each unit's pre-activation, computed together."""
    units = np.asarray(units)
    stop = pre_activation(network, layer_name)
    h, w = network.arch.input_shape[:2]
    rng = np.random.default_rng(recipe.seed)
    # every unit starts from the same seed: a unit's stimulus does not depend on which others share its batch
    x = np.repeat((rng.random((1, h, w)) * recipe.start).astype(DTYPE), len(units), axis=0)
    shifts = rng.integers(-recipe.jitter, recipe.jitter + 1, size=(recipe.steps, 2))
    for step, (dy, dx) in enumerate(shifts):
        tape = Tape(network, np.roll(x, (dy, dx), axis=(1, 2)), stop)
        grad = np.roll(tape.backward(unit_objective(tape.output, units)), (-dy, -dx), axis=(1, 2))
        rms = np.sqrt((grad * grad).mean(axis=(1, 2), keepdims=True)) + 1e-12
        x = x + recipe.step_size * grad / rms
        x *= 1 - recipe.decay
        if recipe.blur_every and (step + 1) % recipe.blur_every == 0:
            x = _blur(x, recipe.blur)
        np.clip(x, 0, 1, out=x)
    return x


def _blur(x: Array, amount: float) -> Array:
    """A separable [a/2, 1-a, a/2] blur along both axes of (B, H, W), zero beyond the edges."""
    for axis in (1, 2):
        padded = np.pad(x, _pad(axis))
        lo = np.take(padded, range(0, x.shape[axis]), axis=axis)
        hi = np.take(padded, range(2, x.shape[axis] + 2), axis=axis)
        x = (1 - amount) * x + amount / 2 * (lo + hi)
    return x.astype(DTYPE, copy=False)


def _pad(axis: int) -> list[tuple[int, int]]:
    pad = [(0, 0), (0, 0), (0, 0)]
    pad[axis] = (1, 1)
    return pad


# --- the deletion test: does removing the ink an attribution ranks highest hurt the guess most? ---

DELETION_FRACTION = 0.15


def deletion_drops(
    network: Network,
    x: Array,
    method: str = SHIPPED_METHOD,
    fraction: float = DELETION_FRACTION,
    repeats: int = 8,
    rng: np.random.Generator | None = None,
) -> tuple[float, float]:
    """For one binary input x (28, 28): how much the first guess's probability falls when the `fraction`
    of its ink with the highest attribution for that guess is removed, and on average when a random
    `fraction` of the ink is (`repeats` draws)."""
    rng = rng or np.random.default_rng(0)
    x = np.asarray(x, DTYPE)
    probs = network.predict_proba(x[None])[0]
    first = int(np.argmax(probs))
    ink = np.flatnonzero(x.reshape(-1) > 0)
    k = max(1, round(fraction * len(ink)))
    scores = attribution(network, x, [first], method)[0].reshape(-1)[ink]
    top = ink[np.argsort(-scores, kind="stable")[:k]]
    chosen = [top] + [rng.choice(ink, k, replace=False) for _ in range(repeats)]
    variants = np.repeat(x.reshape(1, -1), len(chosen), axis=0)
    for row, pixels in enumerate(chosen):
        variants[row, pixels] = 0
    after = network.predict_proba(variants.reshape(-1, *x.shape))[:, first]
    return float(probs[first] - after[0]), float(probs[first] - after[1:].mean())
