"""A network of named layers, the three DigitPad architectures, and the model file format.

A neural network is logistic regressions stacked: each hidden unit computes a = f(x @ w + b), and
the output layer is a softmax regression on the last hidden layer. `Network.forward` runs a batch;
`Network.trace` runs one drawing and keeps every visible layer's activations for the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from app.nn import fused
from app.nn.files import UNREADABLE, load_with_meta, save_arrays
from app.nn.layers import DTYPE, LAYER_TYPES, Array, Layer, softmax

if TYPE_CHECKING:
    from app.nn.judge import PieceJudge

FORMAT = "digitpad-model"
FORMAT_VERSION = 1
INPUT_SHAPE = (28, 28, 1)
# Layers that turn z into a: shown as part of the layer before them, not as layers of their own.
ACTIVATIONS = {"relu", "sigmoid", "tanh"}
INVISIBLE = {"dropout", "flatten"}


@dataclass(frozen=True)
class LayerSpec:
    name: str
    kind: str
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Architecture:
    """Everything that defines a network's shape; stored whole in its model file."""

    name: str
    title: str
    description: str
    layers: tuple[LayerSpec, ...]
    input_shape: tuple[int, ...] = INPUT_SHAPE

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "input_shape": list(self.input_shape),
            "layers": [{"name": s.name, "kind": s.kind, "config": s.config} for s in self.layers],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Architecture:
        return cls(
            name=data["name"],
            title=data["title"],
            description=data["description"],
            input_shape=tuple(data["input_shape"]),
            layers=tuple(LayerSpec(s["name"], s["kind"], s.get("config", {})) for s in data["layers"]),
        )


def cnn(dropout: float = 0.5) -> Architecture:
    return Architecture(
        name="cnn",
        title="Convolutional network",
        description="Two rounds of 5x5 convolution and 2x2 downsampling, then a fully connected layer "
        "and a softmax over the ten digits.",
        layers=(
            LayerSpec("conv1", "conv", {"filters": 16, "kernel": 5}),
            LayerSpec("relu1", "relu"),
            LayerSpec("pool1", "pool", {"size": 2}),
            LayerSpec("conv2", "conv", {"filters": 32, "kernel": 5}),
            LayerSpec("relu2", "relu"),
            LayerSpec("pool2", "pool", {"size": 2}),
            LayerSpec("flatten", "flatten"),
            LayerSpec("fc", "dense", {"units": 128, "init": "he"}),
            LayerSpec("relu3", "relu"),
            LayerSpec("drop", "dropout", {"rate": dropout}),
            LayerSpec("output", "dense", {"units": 10, "init": "xavier"}),
        ),
    )


def mlp(dropout: float = 0.2) -> Architecture:
    return Architecture(
        name="mlp",
        title="Multilayer perceptron",
        description="One hidden layer of 512 sigmoid units, each one logistic regression on the 784 "
        "pixels, then a softmax over the ten digits.",
        layers=(
            LayerSpec("flatten", "flatten"),
            LayerSpec("hidden", "dense", {"units": 512, "init": "xavier"}),
            LayerSpec("sigmoid", "sigmoid"),
            LayerSpec("drop", "dropout", {"rate": dropout}),
            LayerSpec("output", "dense", {"units": 10, "init": "xavier"}),
        ),
    )


def logreg(dropout: float = 0.0) -> Architecture:
    return Architecture(
        name="logreg",
        title="Softmax regression",
        description="A single softmax regression on the 784 pixels: one weight template per digit.",
        layers=(LayerSpec("flatten", "flatten"), LayerSpec("output", "dense", {"units": 10, "init": "zeros"})),
    )


ARCHITECTURES = {"cnn": cnn, "mlp": mlp, "logreg": logreg}


@dataclass(frozen=True)
class LayerInfo:
    """A layer as the page shows it: activation functions are folded into the layer before them."""

    name: str
    kind: str  # input, conv, pool, dense or output
    shape: tuple[int, ...]
    index: int  # position in Network.layers of the layer whose (activated) output this is; -1 for input


class Network:
    def __init__(self, arch: Architecture, seed: int = 0) -> None:
        self.arch = arch
        rng = np.random.default_rng(seed)
        self.layers: list[Layer] = []
        self.names: list[str] = []
        shape = arch.input_shape
        self.shapes: list[tuple[int, ...]] = []
        for i, spec in enumerate(arch.layers):
            layer = LAYER_TYPES[spec.kind](**spec.config)
            if spec.kind == "dropout":
                layer.rng = np.random.default_rng([seed, i])  # type: ignore[attr-defined]
            layer.init(shape, rng)
            shape = layer.output_shape(shape)
            self.layers.append(layer)
            self.names.append(spec.name)
            self.shapes.append(shape)
        self.visible = self._visible_layers()
        self._visible_indexes = {info.index for info in self.visible if info.index >= 0}
        self._steps: list[fused.Step] | None = None  # built on the first inference

    def _visible_layers(self) -> list[LayerInfo]:
        infos = [LayerInfo("input", "input", self.arch.input_shape[:2], -1)]
        for i, (spec, shape) in enumerate(zip(self.arch.layers, self.shapes, strict=True)):
            if spec.kind in ACTIVATIONS:
                last = infos[-1]
                infos[-1] = LayerInfo(last.name, last.kind, last.shape, i)
            elif spec.kind not in INVISIBLE:
                infos.append(LayerInfo(spec.name, spec.kind, shape, i))
        out = infos[-1]
        infos[-1] = LayerInfo(out.name, "output", out.shape, out.index)
        return infos

    @property
    def parameter_count(self) -> int:
        return sum(p.size for layer in self.layers for p in layer.params.values())

    def forward(self, x: Array, train: bool = False) -> Array:
        """Logits for a batch x of shape (B, 28, 28, 1). Training goes layer by layer, each layer keeping
        what backward needs; inference takes the fused steps of `app.nn.fused`, which give the same."""
        if not train:
            return fused.forward(self._fused_steps(), x)
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    def _fused_steps(self) -> list[fused.Step]:
        if self._steps is None:
            self._steps = fused.compile_steps(self.layers)
        return self._steps

    def backward(self, delta: Array) -> None:
        """Backpropagation: send d loss / d logits back through every layer, filling their grads.

        It stops at the first layer with parameters, which needs no dL/dx: nothing reads it.
        """
        first = next((i for i, layer in enumerate(self.layers) if layer.params), 0)
        for layer in reversed(self.layers[first + 1 :]):
            delta = layer.backward(delta)
        self.layers[first].backward_params(delta)

    def predict_proba(self, x: Array) -> Array:
        """Probabilities (B, 10) for a batch of 28x28 inputs, shaped (B, 28, 28) or (B, 28, 28, 1)."""
        return softmax(self.forward(self._as_batch(x)))

    def classify(self, x: Array) -> tuple[Array, Array]:
        """Probabilities (B, 10) for a batch, as `predict_proba` gives them, and what the output layer reads
        of each input: its last hidden layer's activations (B, units), or the pixels (B, 784) of a network
        with no hidden layer."""
        batch = self._as_batch(x)
        hidden = self.visible[-2]
        if hidden.index < 0:
            return softmax(self.forward(batch)), batch.reshape(len(batch), -1)
        logits, outputs = fused.trace(self._fused_steps(), batch, {hidden.index})
        return softmax(logits), outputs[hidden.index].reshape(len(batch), -1)

    def trace(self, x: Array) -> tuple[Array, list[tuple[LayerInfo, Array]]]:
        """One input (28, 28): its probabilities and every visible layer's activations."""
        return self.trace_all(x[None])[0]

    def trace_all(self, x: Array) -> list[tuple[Array, list[tuple[LayerInfo, Array]]]]:
        """A batch of inputs (B, 28, 28), in one pass: for each, what `trace` gives for it alone."""
        probs, _, traced = self.classify_traced(x)
        return list(zip(probs, traced, strict=True))

    def classify_traced(self, x: Array) -> tuple[Array, Array, list[list[tuple[LayerInfo, Array]]]]:
        """`classify` and `trace_all` of a batch (B, 28, 28) in one pass: the probabilities (B, 10), what
        the output layer reads of each input, and each input's every visible layer's activations."""
        batch = self._as_batch(x)
        logits, outputs = fused.trace(self._fused_steps(), batch, self._visible_indexes)
        probs = softmax(logits)
        hidden = self.visible[-2]
        reads = batch.reshape(len(batch), -1) if hidden.index < 0 else outputs[hidden.index].reshape(len(batch), -1)
        traced = []
        for n in range(len(x)):
            acts = [
                (info, x[n].reshape(info.shape) if info.index < 0 else outputs[info.index][n]) for info in self.visible
            ]
            acts[-1] = (acts[-1][0], probs[n])
            traced.append(acts)
        return probs, reads, traced

    def unit_weights(self, layer_name: str, unit: int) -> tuple[Array, float]:
        """The weights and bias feeding one unit, shaped like the layer below it.

        A conv unit (a feature map) is fed by a (C, k, k) stack of kernels; a dense unit by one weight
        per unit of the previous visible layer, e.g. a 28x28 template for an mlp hidden unit.
        Raises KeyError for a layer without weights, IndexError for a unit out of range.
        """
        pos = next((i for i, info in enumerate(self.visible) if info.name == layer_name), None)
        if pos is None or self.visible[pos].kind not in ("conv", "dense", "output"):
            raise KeyError(layer_name)
        layer = self.layers[self.names.index(layer_name)]
        w, b = layer.params["W"], layer.params["b"]
        if not 0 <= unit < b.shape[0]:
            raise IndexError(unit)
        if isinstance(w, np.ndarray) and w.ndim == 4:  # (k, k, C, F) -> (C, k, k)
            return w[:, :, :, unit].transpose(2, 0, 1), float(b[unit])
        below = self.visible[pos - 1].shape
        column = w[:, unit]
        if len(below) == 3:  # (H, W, C) feature maps -> one (H, W) slice per map
            return column.reshape(below).transpose(2, 0, 1), float(b[unit])
        return column.reshape(below), float(b[unit])

    def _as_batch(self, x: Array) -> Array:
        x = np.asarray(x, dtype=DTYPE)
        return x.reshape((x.shape[0], *self.arch.input_shape))

    # --- parameters as flat name -> array maps, for model files ---

    def state(self) -> dict[str, Array]:
        return {
            f"{name}.{key}": p
            for name, layer in zip(self.names, self.layers, strict=True)
            for key, p in layer.params.items()
        }

    def load_state(self, arrays: dict[str, Array]) -> None:
        for name, layer in zip(self.names, self.layers, strict=True):
            for key, p in layer.params.items():
                value = arrays[f"{name}.{key}"]
                if value.shape != p.shape:
                    raise ValueError(f"{name}.{key} has shape {value.shape}, expected {p.shape}")
                layer.params[key] = value.astype(DTYPE)


class ModelFileError(Exception):
    """A model file that is missing, corrupt or from a newer DigitPad; the message names the file."""


@dataclass
class Model:
    """A trained network with its metadata, as stored in one .npz file."""

    network: Network
    meta: dict[str, Any]
    path: Path | None = None
    judge: PieceJudge | None = None  # how numbers' pieces are weighed (`app.nn.judge`), when fitted

    @property
    def name(self) -> str:
        return str(self.meta["name"])

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            **self.meta,
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "architecture": self.network.arch.to_json(),
        }
        save_arrays(path, self.network.state(), meta)


def load_model(path: str | Path, judge: bool = True) -> Model:
    """Load a model file without unpickling anything, with the piece judge beside it unless `judge` is
    False."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"Model file {path} does not exist.")
    try:
        meta, arrays = load_with_meta(path)
    except UNREADABLE as exc:
        raise ModelFileError(f"Model file {path} is not a readable DigitPad model ({exc}).") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"Model file {path} is not a DigitPad model file.")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"Model file {path} has format version {version}, newer than this DigitPad "
            f"reads ({FORMAT_VERSION}); upgrade DigitPad to load it."
        )
    try:
        network = Network(Architecture.from_json(meta["architecture"]))
        network.load_state(arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"Model file {path} does not match its own architecture ({exc}).") from exc
    if not judge:
        return Model(network, meta, path)
    from app.nn.judge import judge_for  # the judge is built of this module's layers and errors

    return Model(network, meta, path, judge_for(path))
