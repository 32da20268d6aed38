"""The training lab: the lecture's experiments as a handful of settings, trained by the loop that made the
shipped models.

A lab run is softmax regression, a multilayer perceptron of one or two hidden layers (sigmoid, ReLU or
linear: a linear hidden layer is a dense layer without an activation) or a small convolutional network,
fitted by `train.train` with mini-batch SGD, momentum, dropout and the cosine learning-rate schedule, on
the packaged binarised MNIST: the first `train_size` of MNIST's first 50,000 training digits. The last
10,000 training digits are the validation set, never trained on; the 10,000 test digits give the final
test accuracy. Nothing is augmented and nothing is downloaded. A run is deterministic for its settings.

`run` reports as it goes through `emit(kind, data)`: `progress` events (the average log-likelihood of the
steps since the last event, accuracies, the first layer's weights now and then, one validation digit's
probabilities), and returns the model with its figures. It raises Diverged when the log-likelihood stops
being a number, Cancelled when `should_stop` says so, TimeLimit past `max_seconds`.
"""

from __future__ import annotations

import base64
import functools
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from app.nn import data
from app.nn.augment import Augmentation
from app.nn.evaluate import accuracy_report, predict_batches
from app.nn.network import Architecture, LayerSpec, Model, Network
from app.nn.preprocess import MIN_CONTRAST, SIZE, THRESHOLD
from app.nn.train import Dataset, Recipe, TrainingStep, train

ARCHITECTURES = ("logreg", "mlp", "cnn")
ACTIVATIONS = ("sigmoid", "relu", "linear")
POOL_SIZE = 50_000  # MNIST training digits a run may train on: the first 50,000
VALIDATION_SIZE = 10_000  # the last 10,000 MNIST training digits, never trained on
PROBE_INDEX = 0  # the validation digit whose probabilities every progress event carries
CNN_FILTERS = (8, 16)  # the small cnn: two 5x5 convolutions, each followed by 2x2 max-pooling
CNN_KERNEL = 5
MAX_WEIGHT_UNITS = 36  # hidden units whose 28x28 templates a progress event shows (the first ones)
MISREAD_SHOWN = 30  # misread validation digits a finished run lists, the most confident mistakes first
# A mean log-likelihood below -DIVERGED_LOSS gives the right digit a probability under e^-100: nothing
# that far gone comes back, so the run is called diverged there, as it is when it stops being a number.
DIVERGED_LOSS = 100.0
PROGRESS_INTERVAL_S = 0.1  # at most ten progress events a second...
WEIGHTS_INTERVAL_S = 0.5  # ...and two weight snapshots
# ...thinning out as a long run goes on (an event every elapsed/300 s, a snapshot every elapsed/30 s),
# so a run's record, which a repeated run replays, stays a few hundred events and snapshots.
PROGRESS_THINNING = 300
WEIGHTS_THINNING = 30


@dataclass(frozen=True)
class Limit:
    """A numeric setting's range, both ends included (`low_exclusive` for a low end that is not), and default."""

    low: float
    high: float
    default: float
    low_exclusive: bool = False

    def contains(self, value: float) -> bool:
        above = value > self.low if self.low_exclusive else value >= self.low
        return above and value <= self.high

    def describe(self) -> str:
        low = f"above {self.low:g}" if self.low_exclusive else f"from {self.low:,g}"
        return f"{low} to {self.high:,g}"


LIMITS: dict[str, Limit] = {
    "train_size": Limit(500, POOL_SIZE, 10_000),
    "epochs": Limit(1, 100, 5),
    "batch_size": Limit(1, 1024, 64),
    "learning_rate": Limit(0, 100, 0.1, low_exclusive=True),
    "momentum": Limit(0, 0.99, 0.9),
    "dropout": Limit(0, 0.9, 0.0),
    "seed": Limit(0, 2**31 - 1, 1),
}
HIDDEN_UNITS = Limit(1, 1024, 100)
HIDDEN_LAYERS = {"logreg": (0, 0), "mlp": (1, 2), "cnn": (0, 1)}  # (fewest, most) hidden dense layers
DEFAULT_HIDDEN = {"logreg": (), "mlp": (100,), "cnn": ()}
DEFAULT_ACTIVATION = {"logreg": None, "mlp": "sigmoid", "cnn": "relu"}


class LabSettingsError(ValueError):
    """Settings that do not make a run; the message says which and why."""


@dataclass(frozen=True)
class LabSettings:
    """One run's settings, normalised: every field set, none that the architecture does not use."""

    architecture: str
    hidden: tuple[int, ...] = ()
    activation: str | None = None
    train_size: int = 10_000
    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 0.1
    momentum: float = 0.9
    dropout: float = 0.0
    seed: int = 1

    @classmethod
    def make(cls, architecture: str, **given: Any) -> LabSettings:
        """Settings from what a person gave (None or absent: the default). Raises LabSettingsError."""
        if architecture not in ARCHITECTURES:
            raise LabSettingsError(f"`architecture` must be one of {', '.join(ARCHITECTURES)}, not {architecture!r}.")
        unknown = set(given) - set(LIMITS) - {"hidden", "activation"}
        if unknown:
            raise LabSettingsError(f"There is no setting called {', '.join(sorted(unknown))}.")
        values: dict[str, Any] = {}
        for key, limit in LIMITS.items():
            value = given.get(key)
            value = limit.default if value is None else value
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise LabSettingsError(f"`{key}` must be a number.")
            if not limit.contains(value):
                raise LabSettingsError(f"`{key}` must be {limit.describe()}; it is {value:g}.")
            if isinstance(limit.default, int) and value != int(value):
                raise LabSettingsError(f"`{key}` must be a whole number; it is {value:g}.")
            values[key] = type(limit.default)(value)
        values["hidden"] = _hidden(architecture, given.get("hidden"))
        values["activation"] = _activation(architecture, given.get("activation"))
        return cls(architecture, **values)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        return out

    @property
    def title(self) -> str:
        if self.architecture == "logreg":
            return "softmax regression"
        layers = "-".join(str(units) for units in self.hidden)
        if self.architecture == "mlp":
            return f"mlp {layers} {self.activation}"
        return f"small cnn{f' + {layers}' if layers else ''} {self.activation}"


def _hidden(architecture: str, hidden: Any) -> tuple[int, ...]:
    fewest, most = HIDDEN_LAYERS[architecture]
    if hidden is None:
        return DEFAULT_HIDDEN[architecture]
    if not isinstance(hidden, list | tuple) or not all(isinstance(u, int) and not isinstance(u, bool) for u in hidden):
        raise LabSettingsError("`hidden` must be a list of whole numbers, the units of each hidden layer.")
    if not fewest <= len(hidden) <= most:
        if most == 0:
            raise LabSettingsError("Softmax regression has no hidden layer: leave `hidden` out.")
        span = f"{fewest} or {most}" if most - fewest == 1 else f"{fewest} to {most}"
        article = "An" if architecture == "mlp" else "A"
        raise LabSettingsError(
            f"{article} {architecture} takes {span} hidden layers in `hidden`; it has {len(hidden)}."
        )
    for units in hidden:
        if not HIDDEN_UNITS.contains(units):
            raise LabSettingsError(f"A hidden layer must have {HIDDEN_UNITS.describe()} units; one has {units}.")
    return tuple(int(u) for u in hidden)


def _activation(architecture: str, activation: Any) -> str | None:
    if architecture == "logreg":
        if activation is not None:
            raise LabSettingsError("Softmax regression has no hidden layer, so no activation: leave `activation` out.")
        return None
    if activation is None:
        return DEFAULT_ACTIVATION[architecture]
    if activation not in ACTIVATIONS:
        raise LabSettingsError(f"`activation` must be one of {', '.join(ACTIVATIONS)}, not {activation!r}.")
    return str(activation)


def architecture(settings: LabSettings) -> Architecture:
    """The network the settings describe. Dropout follows every hidden layer; softmax regression drops
    pixels, and a cnn without a dense layer the features its output reads."""
    s = settings
    layers: list[LayerSpec] = []

    def activate(suffix: str) -> None:
        if s.activation in ("sigmoid", "relu"):  # "linear": z passes on as it is, no activation at all
            layers.append(LayerSpec(f"{s.activation}{suffix}", s.activation))

    def drop(name: str) -> None:
        if s.dropout > 0:
            layers.append(LayerSpec(name, "dropout", {"rate": s.dropout}))

    init = "he" if s.activation == "relu" else "xavier"
    if s.architecture == "cnn":
        for i, filters in enumerate(CNN_FILTERS, 1):
            layers.append(LayerSpec(f"conv{i}", "conv", {"filters": filters, "kernel": CNN_KERNEL}))
            activate(str(i))
            layers.append(LayerSpec(f"pool{i}", "pool", {"size": 2}))
    layers.append(LayerSpec("flatten", "flatten"))
    if s.architecture == "mlp":
        several = len(s.hidden) > 1
        for i, units in enumerate(s.hidden, 1):
            layers.append(LayerSpec(f"hidden{i}" if several else "hidden", "dense", {"units": units, "init": init}))
            activate(str(i) if several else "")
            drop(f"drop{i}" if several else "drop")
    elif s.architecture == "cnn" and s.hidden:
        layers.append(LayerSpec("fc", "dense", {"units": s.hidden[0], "init": init}))
        activate(str(len(CNN_FILTERS) + 1))
        drop("drop")
    else:
        drop("drop")
    output_init = "zeros" if s.architecture == "logreg" else "xavier"
    layers.append(LayerSpec("output", "dense", {"units": 10, "init": output_init}))
    return Architecture(
        name=f"lab-{s.architecture}", title=f"Trained: {s.title}", description=_description(s), layers=tuple(layers)
    )


def _description(s: LabSettings) -> str:
    if s.architecture == "logreg":
        what = "One softmax regression on the 784 pixels: a weight template per digit."
    elif s.architecture == "mlp":
        units = " and ".join(f"{u:,}" for u in s.hidden)
        kind = "linear units (no activation)" if s.activation == "linear" else f"{s.activation} units"
        what = f"{'Two hidden layers' if len(s.hidden) > 1 else 'One hidden layer'} of {units} {kind}, then a softmax."
    else:
        what = (
            f"Two rounds of {CNN_KERNEL}x{CNN_KERNEL} convolution ({CNN_FILTERS[0]} and {CNN_FILTERS[1]} kernels, "
            f"{s.activation}) and 2x2 max-pooling, "
            + (f"a dense layer of {s.hidden[0]:,} units, " if s.hidden else "")
            + "then a softmax."
        )
    return (
        f"{what} Trained in the lab on {s.train_size:,} MNIST digits for {s.epochs} epoch{'s' * (s.epochs != 1)} "
        f"(batch {s.batch_size}, learning rate {s.learning_rate:g}, momentum {s.momentum:g}, dropout {s.dropout:g}, "
        f"seed {s.seed})."
    )


def parameter_count(settings: LabSettings) -> int:
    return Network(architecture(settings)).parameter_count


# --- data ---


@dataclass(frozen=True)
class LabData:
    pool_x: np.ndarray  # (50000, 28, 28) uint8 0/1: the digits a run trains on, the first train_size of them
    pool_y: np.ndarray
    val_x: np.ndarray  # (10000, 28, 28): MNIST training digits 50,000 to 59,999
    val_y: np.ndarray
    test_x: np.ndarray  # (10000, 28, 28): the MNIST test set
    test_y: np.ndarray

    def dataset(self, train_size: int) -> Dataset:
        return Dataset(self.pool_x[:train_size], self.pool_y[:train_size], self.val_x, self.val_y, None, None)

    @property
    def probe(self) -> tuple[np.ndarray, int]:
        """The validation digit whose probabilities a run reports as it learns, and its label."""
        return self.val_x[PROBE_INDEX], int(self.val_y[PROBE_INDEX])


@functools.lru_cache(maxsize=1)
def lab_data() -> LabData:
    """The packaged binarised MNIST, split as the lab uses it; read once per process."""
    bits, labels = data.bundled_mnist("train")
    test_x, test_y = data.bundled_mnist("test")
    pool = len(bits) - VALIDATION_SIZE
    return LabData(bits[:pool], labels[:pool], bits[pool:], labels[pool:], test_x, test_y)


@functools.lru_cache(maxsize=1)
def probe_digit() -> dict[str, Any]:
    """The probe digit as the page draws it, its label and its 784 bits row by row, read without
    unpacking the whole training set (a server shows it without training anything)."""
    with np.load(data.BUNDLED_DIR / "mnist-train.npz", allow_pickle=False) as npz:
        row = POOL_SIZE + PROBE_INDEX
        bits = np.unpackbits(npz["bits"][row], count=SIZE * SIZE)
        label = int(npz["labels"][row])
    return {"label": label, "index": PROBE_INDEX, "bits": bit_string(bits)}


def bit_string(bits: np.ndarray) -> str:
    return (bits.reshape(-1) + ord("0")).astype(np.uint8).tobytes().decode("ascii")


# --- a run ---


class Cancelled(Exception):
    """The run was stopped from outside; the message says why."""


class TimeLimit(Exception):
    """The run passed its wall-time limit; the message says where it was."""


class Diverged(Exception):
    """The log-likelihood stopped being a number, or fell so low that nothing is learned any more."""

    def __init__(self, detail: str, epoch: int, step: int, log_likelihood: float | None) -> None:
        super().__init__(detail)
        self.detail, self.epoch, self.step, self.log_likelihood = detail, epoch, step, log_likelihood

    def event(self) -> dict[str, Any]:
        return {"detail": self.detail, "epoch": self.epoch, "step": self.step, "log_likelihood": self.log_likelihood}


@dataclass
class LabResult:
    model: Model
    metrics: dict[str, Any]
    misread: list[dict[str, Any]] = field(default_factory=list)


Emit = Callable[[str, dict[str, Any]], None]


def first_layer_weights(network: Network, max_units: int = MAX_WEIGHT_UNITS) -> dict[str, Any]:
    """The first layer's weights as images: softmax regression's ten templates, a hidden layer's first
    units' 28x28 templates, or the cnn's conv1 kernels. `data` is base64 of one byte per weight, row-major
    in `shape` [units, height, width]; a byte q stands for (q / 255 * 2 - 1) * scale."""
    index = next(i for i, layer in enumerate(network.layers) if layer.params)
    w = network.layers[index].params["W"]
    # conv1's (k, k, 1, F) -> F kernels (k, k); a dense layer's (784, units) -> each unit's 28x28 template
    images = w[:, :, 0, :].transpose(2, 0, 1) if w.ndim == 4 else w[:, :max_units].T.reshape(-1, SIZE, SIZE)
    scale = float(np.abs(images).max()) if images.size else 0.0
    q = np.zeros(images.shape, np.uint8) if scale <= 0 else np.rint((images / scale + 1) * 127.5).astype(np.uint8)
    return {
        "layer": network.names[index],
        "units": int(w.shape[-1]),
        "shape": list(images.shape),
        "scale": scale,
        "data": base64.b64encode(q.tobytes()).decode("ascii"),
    }


class _Reporter:
    """The `train` callback of one run: throttled progress events, divergence, stops and the time limit."""

    def __init__(
        self,
        settings: LabSettings,
        lab: LabData,
        emit: Emit,
        should_stop: Callable[[], str | None] | None,
        max_seconds: float | None,
        clock: Callable[[], float],
    ) -> None:
        self.settings, self.lab, self.emit, self.should_stop, self.max_seconds, self.clock = (
            settings,
            lab,
            emit,
            should_stop,
            max_seconds,
            clock,
        )
        self.start = self.last_event = self.last_report = clock()
        self.last_weights = -math.inf
        self.train_seconds = 0.0  # spent in steps since the last event (not in evaluations)
        self.ll_sum = 0.0  # summed batch log-likelihoods since the last event, weighted by examples
        self.examples = 0  # examples since the last event
        self.epoch_correct = self.epoch_seen = 0
        self.epoch = 1
        self.last_step = 0
        self.total_examples = 0
        self.total_train_seconds = 0.0  # in steps, not in evaluations

    def __call__(self, report: TrainingStep) -> None:
        now = self.clock()
        if report.record is not None:
            self.epoch_end(report, now)
            return
        self.train_seconds += now - self.last_report
        self.total_train_seconds += now - self.last_report
        self.last_report = now
        self.last_step = report.step
        if report.epoch != self.epoch:
            self.epoch, self.epoch_correct, self.epoch_seen = report.epoch, 0, 0
        if not math.isfinite(report.loss) or report.loss > DIVERGED_LOSS:
            raise Diverged(_diverged_detail(report.loss, report.step), report.epoch, report.step, _ll(report.loss))
        self.ll_sum -= report.loss * report.examples
        self.examples += report.examples
        self.total_examples += report.examples
        self.epoch_correct += report.correct
        self.epoch_seen += report.examples
        self.check(report, now)
        steps_per_epoch = report.steps // self.settings.epochs
        last_of_epoch = report.step % steps_per_epoch == 0  # the epoch's own event follows at once
        if not last_of_epoch and (report.step == 1 or now - self.last_event >= self.interval(now)):
            self.emit("progress", self.event(report, now, {}))

    def check(self, report: TrainingStep, now: float) -> None:
        reason = self.should_stop() if self.should_stop is not None else None
        if reason:
            raise Cancelled(reason)
        if self.max_seconds is not None and now - self.start > self.max_seconds:
            raise TimeLimit(
                f"The run passed its time limit of {self.max_seconds:g} s in epoch {report.epoch} "
                f"of {self.settings.epochs} and was stopped; train for fewer epochs, on fewer digits or a "
                "smaller network."
            )

    def interval(self, now: float) -> float:
        return max(PROGRESS_INTERVAL_S, (now - self.start) / PROGRESS_THINNING)

    def validate(self, network: Network) -> dict[str, float]:
        """The epoch's validation figures, from one pass over the validation digits."""
        if not all(np.isfinite(p).all() for layer in network.layers for p in layer.params.values()):
            raise Diverged(_diverged_detail(math.inf, self.last_step), self.epoch, self.last_step, None)
        probs = predict_batches(network, self.lab.val_x)
        return {
            "val_accuracy": round(accuracy_report(probs, self.lab.val_y)["accuracy"], 5),
            "val_log_likelihood": round(mean_log_likelihood(probs, self.lab.val_y), 5),
        }

    def epoch_end(self, report: TrainingStep, now: float) -> None:
        record = report.record or {}
        extra = {
            "epoch_end": True,
            "validation_accuracy": record["val_accuracy"],
            "validation_log_likelihood": record["val_log_likelihood"],
        }
        self.emit("progress", self.event(report, self.clock(), extra, weights=True))
        self.last_report = self.clock()  # evaluation time is not training time
        if report.epoch < self.settings.epochs:
            self.check(report, self.last_report)

    def event(self, report: TrainingStep, now: float, extra: dict[str, Any], weights: bool = False) -> dict[str, Any]:
        ll = self.ll_sum / max(self.examples, 1)
        event: dict[str, Any] = {
            "epoch": report.epoch,
            "epochs": self.settings.epochs,
            "step": report.step,
            "steps": report.steps,
            "log_likelihood": round(ll, 5),
            "loss": round(-ll, 5),
            "train_accuracy": round(self.epoch_correct / max(self.epoch_seen, 1), 5),
            **extra,
            "examples_per_s": round(self.examples / self.train_seconds) if self.train_seconds > 0 else None,
            "elapsed_s": round(now - self.start, 3),
            "probe": [round(float(p), 4) for p in report.network.predict_proba(self.lab.probe[0][None])[0]],
        }
        if weights or now - self.last_weights >= max(WEIGHTS_INTERVAL_S, (now - self.start) / WEIGHTS_THINNING):
            event["weights"] = first_layer_weights(report.network)
            self.last_weights = now
        self.last_event = now
        self.ll_sum, self.examples, self.train_seconds = 0.0, 0, 0.0
        return event


def _ll(loss: float) -> float | None:
    return round(-loss, 5) if math.isfinite(loss) else None


def _diverged_detail(loss: float, step: int) -> str:
    if math.isnan(loss):
        what = "the log-likelihood stopped being a number (NaN)"
    elif math.isinf(loss):
        what = "the weights grew past what a float holds"
    else:
        what = f"the log-likelihood fell to {-loss:,.0f}, so the right digit's probability is below e^-100"
    return (
        f"The run diverged at step {step}: {what}. The learning rate is too large for this network: "
        "each step overshoots further than the last. Try a learning rate ten times smaller."
    )


def mean_log_likelihood(probs: np.ndarray, labels: np.ndarray) -> float:
    """The average log-probability of the right digits: the objective maximum likelihood maximises."""
    p = probs[np.arange(len(labels)), np.asarray(labels, dtype=np.intp)]
    return float(np.log(np.maximum(p, 1e-30)).mean())


def recipe(settings: LabSettings) -> Recipe:
    """The lab's settings as a `train` recipe: no weight decay, no augmentation, no pen strokes."""
    return Recipe(
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.learning_rate,
        momentum=settings.momentum,
        dropout=settings.dropout,
        weight_decay=0.0,
        augmentation=Augmentation(),
        pen_widths=(),
        seed=settings.seed,
        val_size=VALIDATION_SIZE,
    )


def run(
    settings: LabSettings,
    name: str,
    emit: Emit,
    should_stop: Callable[[], str | None] | None = None,
    max_seconds: float | None = None,
    lab: LabData | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> LabResult:
    """Train the network the settings describe, reporting through `emit`; the model (called `name`) and its
    figures. Raises Diverged, Cancelled, or TimeLimit once training has taken over `max_seconds`."""
    lab = lab or lab_data()
    reporter = _Reporter(settings, lab, emit, should_stop, max_seconds, clock)
    arch = architecture(settings)
    # Overflow on the way to divergence is expected, and is reported as divergence, not as warnings.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        network, history = train(
            settings.architecture,
            recipe(settings),
            lab.dataset(settings.train_size),
            log_every=False,
            architecture=arch,
            report=reporter,
            validate=reporter.validate,
        )
    wall = clock() - reporter.start
    val_probs = predict_batches(network, lab.val_x)
    validation = accuracy_report(val_probs, lab.val_y)
    validation["log_likelihood"] = round(mean_log_likelihood(val_probs, lab.val_y), 5)
    test = accuracy_report(predict_batches(network, lab.test_x), lab.test_y)
    last = history[-1]
    metrics: dict[str, Any] = {
        "validation": validation,
        "test": {key: test[key] for key in ("count", "accuracy", "top2_accuracy", "per_class")},
        "train": {
            "count": settings.train_size,
            "accuracy": last["train_accuracy"],
            "log_likelihood": -last["train_loss"],
        },
        "epochs": len(history),
        "steps": len(history) * math.ceil(settings.train_size / settings.batch_size),
        "parameters": network.parameter_count,
        "wall_time_s": round(wall, 2),
        "examples_per_s": round(reporter.total_examples / reporter.total_train_seconds)
        if reporter.total_train_seconds > 0
        else None,
    }
    meta = {
        "name": name,
        "title": arch.title,
        "description": arch.description,
        "input": {
            "width": SIZE,
            "height": SIZE,
            "binary": True,
            "threshold": THRESHOLD,
            "min_contrast": MIN_CONTRAST,
            "ink": "1 = ink, 0 = background",
        },
        "training": {
            "lab": settings.to_json(),
            "train_examples": settings.train_size,
            "data": f"the first {settings.train_size:,} MNIST training digits, binarised; validation: training "
            f"digits {POOL_SIZE:,} to {POOL_SIZE + VALIDATION_SIZE - 1:,}",
            "wall_time_s": round(wall, 1),
            "history": history,
        },
        "metrics": {"test": test, "validation": validation},
        "parameters": network.parameter_count,
    }
    return LabResult(Model(network, meta), metrics, misread(val_probs, lab.val_x, lab.val_y))


def misread(probs: np.ndarray, x: np.ndarray, labels: np.ndarray, limit: int = MISREAD_SHOWN) -> list[dict[str, Any]]:
    """The validation digits the network reads wrongly, the most confident mistakes first."""
    guesses = probs.argmax(axis=1)
    wrong = np.flatnonzero(guesses != labels)
    order = wrong[np.argsort(-probs[wrong, guesses[wrong]], kind="stable")][:limit]
    return [
        {
            "index": int(i),
            "label": int(labels[i]),
            "guess": int(guesses[i]),
            "probability": round(float(probs[i, guesses[i]]), 4),
            "bits": bit_string(x[i]),
        }
        for i in order
    ]


# --- presets: the lecture's points, each one click ---


@dataclass(frozen=True)
class Preset:
    id: str
    title: str
    point: str  # what to watch for
    runs: tuple[tuple[str, dict[str, Any]], ...]  # (label, settings) per run: one, or two to compare

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "point": self.point,
            "runs": [{"label": label, "settings": LabSettings.make(**s).to_json()} for label, s in self.runs],
        }


_OVERFIT = {
    "architecture": "mlp",
    "hidden": [800],
    "activation": "relu",
    "train_size": 1_000,
    "epochs": 30,
    "batch_size": 50,
    "learning_rate": 0.05,
    "seed": 1,
}


def _settings(architecture: str, **given: Any) -> dict[str, Any]:
    return {"architecture": architecture, "train_size": 10_000, "batch_size": 64, "seed": 1, **given}


PRESETS = (
    Preset(
        "templates",
        "One logistic regression per digit",
        "Softmax regression is ten logistic regressions side by side, one per digit, each a 28x28 weight "
        "template. Watch the templates form: orange where ink argues for the digit, blue where it argues "
        "against.",
        (("softmax regression", _settings("logreg", epochs=5, learning_rate=0.05)),),
    ),
    Preset(
        "linear-hidden",
        "A linear hidden layer against a sigmoid one",
        "A hidden layer without an activation adds no complexity: two linear maps make one linear map, so the "
        "linear network ends where softmax regression ends (about 91 %), while the sigmoid units go further.",
        (
            ("linear", _settings("mlp", hidden=[100], activation="linear", epochs=10, learning_rate=0.1)),
            ("sigmoid", _settings("mlp", hidden=[100], activation="sigmoid", epochs=10, learning_rate=0.1)),
        ),
    ),
    Preset(
        "overfitting",
        "Overfitting, and dropout against it",
        "On 1,000 digits a wide network learns the training set by heart: its training accuracy reaches 100 % "
        "while validation stalls below 90 %. That gap is overfitting. Dropout 0.5, which trains every step a "
        "different half of the network, narrows it.",
        (
            ("no dropout", _OVERFIT),
            ("dropout 0.5", {**_OVERFIT, "dropout": 0.5}),
        ),
    ),
    Preset(
        "momentum",
        "Momentum 0 against 0.9",
        "Momentum keeps a running sum of past gradients, so steps that agree add up: with 0.9 the same "
        "learning rate goes about ten times as far, and the log-likelihood climbs much sooner.",
        (
            (
                "momentum 0",
                _settings("mlp", hidden=[100], activation="sigmoid", epochs=5, learning_rate=0.05, momentum=0.0),
            ),
            (
                "momentum 0.9",
                _settings("mlp", hidden=[100], activation="sigmoid", epochs=5, learning_rate=0.05, momentum=0.9),
            ),
        ),
    ),
    Preset(
        "learning-rate",
        "A learning rate too large",
        "Gradient ascent takes steps in proportion to the learning rate. Too large, and each step overshoots "
        "the top it aims for by more than the last: the log-likelihood falls instead of rising and the run "
        "diverges.",
        (
            ("learning rate 0.1", _settings("mlp", hidden=[100], activation="relu", epochs=3, learning_rate=0.1)),
            ("learning rate 3", _settings("mlp", hidden=[100], activation="relu", epochs=3, learning_rate=3.0)),
        ),
    ),
    Preset(
        "weight-sharing",
        "Convolution as weight sharing",
        "The small cnn slides the same 5x5 kernels over every position, so its 6,000 weights see a stroke "
        "wherever it is; an mlp with as many weights (8 hidden units) must learn every position apart, and "
        "reads fewer digits right.",
        (
            ("small cnn", _settings("cnn", epochs=3, learning_rate=0.05)),
            ("mlp, 8 hidden units", _settings("mlp", hidden=[8], activation="relu", epochs=3, learning_rate=0.05)),
        ),
    ),
)
