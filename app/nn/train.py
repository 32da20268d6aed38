"""Training: mini-batch SGD with momentum on MNIST plus rendered pen strokes.

The recipe for each shipped model lives in RECIPES; `digitpad train NAME` runs it, and every
setting can be overridden from the command line. A run is deterministic for a given seed.
`train()` reports each step and each epoch to optional callbacks, for whatever shows the progress.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from app.nn import data, extra, manifest
from app.nn.augment import Augmentation
from app.nn.evaluate import accuracy_report, predict_batches
from app.nn.network import ARCHITECTURES, Architecture, Model, Network
from app.nn.optim import SGD, softmax_cross_entropy
from app.nn.preprocess import MIN_CONTRAST, THRESHOLD, binarize
from app.nn.progress import Progress
from app.nn.stroke_augment import StrokeAugmentation

# Writers of the pendigits training file kept out of training, to measure pen-stroke accuracy on
# handwriting the network has never seen (and kept out of every shipped model: tests read them).
PEN_VALIDATION_WRITERS = (5, 10, 15, 20, 25, 30)
# Pendigits fill about a third of their box: a pen of 0.04 of the box gives them the stroke-to-height
# ratio of a digit drawn across two thirds of the pad, 0.07 that of a small digit drawn in a corner.
# Held-out writers are drawn at both, plainly (no augmentation), to measure pen-stroke accuracy.
PEN_VALIDATION_WIDTHS = (0.04, 0.07)


@dataclass(frozen=True)
class Recipe:
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    dropout: float
    weight_decay: float
    augmentation: Augmentation = field(default_factory=Augmentation)
    # pen widths (fractions of the canvas) at which each pen digit is rendered for training
    pen_widths: tuple[float, ...] = PEN_VALIDATION_WIDTHS
    # renderings of each training pen digit at each width: as written, then pen_variants - 1 varied by `strokes`
    pen_variants: int = 1
    strokes: StrokeAugmentation = field(default_factory=StrokeAugmentation)
    seed: int = 1
    val_size: int = 5000
    warmup_epochs: float = 0.0  # the learning rate rises linearly from 0 over these, then the cosine


# How far each training pen digit's strokes are varied (see stroke_augment): a new writer of the same
# digit, near enough that a person would still read it as the writer meant.
NEW_WRITERS = StrokeAugmentation(
    rotate_deg=8,
    slant=0.2,
    aspect=0.12,
    proportion=0.25,
    stroke_scale=0.1,
    stroke_rotate_deg=6,
    stroke_shift=0.04,
    wobble=0.025,
    jitter=0.004,
    smooth=0.5,
    styles=0.3,
)

RECIPES = {
    "cnn": Recipe(
        epochs=30,
        batch_size=64,
        lr=0.05,
        momentum=0.9,
        dropout=0.4,
        weight_decay=5e-4,
        augmentation=Augmentation(
            rotate_deg=12, scale=0.1, shear=0.15, shift_px=1.5, threshold_jitter=0.15, thicken=0.15
        ),
        pen_widths=(0.035, 0.05, 0.07, 0.09),
    ),
    "mlp": Recipe(
        epochs=40,
        batch_size=64,
        lr=0.1,
        momentum=0.9,
        dropout=0.2,
        weight_decay=1e-4,
        augmentation=Augmentation(rotate_deg=8, scale=0.08, shift_px=1.0, threshold_jitter=0.1),
        pen_widths=(0.04, 0.07),
    ),
    "logreg": Recipe(
        epochs=30, batch_size=64, lr=0.05, momentum=0.9, dropout=0.0, weight_decay=0.0, pen_widths=(0.04,)
    ),
}

# The shipped recipes with their training data widened to new writers: each pen digit rendered as
# written and then varied by NEW_WRITERS, and MNIST distorted elastically (for the networks with
# hidden layers). Chosen with `--new-writers`; the shipped models were trained without it.
NEW_WRITER_DATA: dict[str, dict[str, Any]] = {
    "cnn": {
        "pen_variants": 3,
        "strokes": NEW_WRITERS,
        "augmentation": replace(RECIPES["cnn"].augmentation, elastic_px=1.5, elastic_sigma=4.0),
    },
    "mlp": {
        "pen_variants": 3,
        "strokes": NEW_WRITERS,
        "augmentation": replace(RECIPES["mlp"].augmentation, elastic_px=1.0, elastic_sigma=4.0),
    },
    "logreg": {"pen_variants": 2, "strokes": NEW_WRITERS},
}


@dataclass
class Dataset:
    train_x: np.ndarray  # (N, 28, 28) grey inputs, binarised (and augmented) batch by batch
    train_y: np.ndarray
    val_x: np.ndarray  # MNIST validation split, binary
    val_y: np.ndarray
    pen_val_x: np.ndarray | None  # held-out pendigits writers, binary
    pen_val_y: np.ndarray | None
    pen_val_writers: np.ndarray | None = None  # the writer of each held-out drawing
    pen_val_ids: np.ndarray | None = None  # and its digit's position in the pendigits file


def load_dataset(
    recipe: Recipe,
    data_dir: Path,
    pendigits: Path | None,
    limit: int | None = None,
    extras: Sequence[Path] = (),
    held_out_writers: Collection[int] = PEN_VALIDATION_WRITERS,
) -> Dataset:
    """MNIST (less a validation split), the pen digits of every writer not held out and the `extras` files'
    examples (e.g. corrections), for training; the held-out writers' digits, drawn plainly at
    PEN_VALIDATION_WIDTHS, for validation."""
    grey, labels = _mnist_train_inputs(Path(data_dir), limit)
    rng = np.random.default_rng(recipe.seed)
    order = rng.permutation(len(grey))
    val_size = min(recipe.val_size, len(grey) // 5)
    val_idx, train_idx = order[:val_size], order[val_size:]
    train_x, train_y = grey[train_idx], labels[train_idx]
    pen_val_x = pen_val_y = pen_val_writers = pen_val_ids = None
    if pendigits is not None:
        digits = data.load_pendigits(pendigits)
        if limit:
            digits = digits[: limit // 4]
        seen = [d for d in digits if d.writer not in held_out_writers]
        unseen_ids = [i for i, d in enumerate(digits) if d.writer in held_out_writers]
        unseen = [digits[i] for i in unseen_ids]
        pen_x, pen_y = data.pendigit_inputs(seen, recipe.pen_widths, rng, recipe.strokes, recipe.pen_variants)
        train_x = np.concatenate([train_x, pen_x])
        train_y = np.concatenate([train_y, pen_y])
        if unseen:
            val_grey, pen_val_y = data.pendigit_inputs(unseen, PEN_VALIDATION_WIDTHS)
            pen_val_x = binarize(val_grey)
            pen_val_writers = np.tile([d.writer for d in unseen], len(PEN_VALIDATION_WIDTHS))
            pen_val_ids = np.tile(unseen_ids, len(PEN_VALIDATION_WIDTHS))
    for path in extras:  # already the networks' inputs: augmented and binarised batch by batch like the rest
        extra_x, extra_y = extra.read(path)
        train_x = np.concatenate([train_x, extra_x.astype(np.float32)])
        train_y = np.concatenate([train_y, extra_y])
    val_x, val_y = binarize(grey[val_idx]), labels[val_idx]
    return Dataset(train_x, train_y, val_x, val_y, pen_val_x, pen_val_y, pen_val_writers, pen_val_ids)


@functools.lru_cache(maxsize=1)
def _mnist_train_inputs(data_dir: Path, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's training digits preprocessed, once per process: cross-validation trains on them fold after fold."""
    images, labels = data.load_mnist(data_dir, "train")
    if limit:
        images, labels = images[:limit], labels[:limit]
    grey = data.mnist_inputs(images)
    grey.flags.writeable = False  # shared between runs: every use takes a copy
    return grey, labels


@dataclass(frozen=True)
class TrainingStep:
    """What `train` tells its `report` callback after every step, and once more at the end of each epoch."""

    network: Network
    epoch: int  # from 1
    step: int  # steps taken in the whole run so far
    steps: int  # steps the whole run will take
    loss: float  # the last batch's mean negative log-likelihood, before its update
    correct: int  # examples of the last batch read right, before its update
    examples: int  # the last batch's size
    record: dict[str, Any] | None = None  # at the end of an epoch: its history record


def learning_rate(recipe: Recipe, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """Linear warm-up over recipe.warmup_epochs, then a cosine from recipe.lr down to 0."""
    warmup = round(recipe.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return recipe.lr * (step + 1) / warmup
    # large steps first, small steps to settle
    return 0.5 * recipe.lr * (1 + math.cos(math.pi * (step - warmup) / max(1, total_steps - warmup)))


def train(
    name: str,
    recipe: Recipe,
    dataset: Dataset,
    log_every: bool = True,
    architecture: Architecture | None = None,
    report: Callable[[TrainingStep], None] | None = None,
    validate: Callable[[Network], dict[str, float]] | None = None,
    label: str = "",
) -> tuple[Network, list[dict[str, Any]]]:
    """Fit the architecture `name` (or `architecture`, when given) to the dataset; returns the network and
    per-epoch metrics. `report` hears of every step and every epoch; an exception it raises stops the run
    and propagates. `validate` gives each epoch's held-out figures in place of `val_accuracy` on val_x.
    `label` prefixes the progress lines."""
    network = Network(architecture or ARCHITECTURES[name](recipe.dropout), seed=recipe.seed)
    optimiser = SGD(network.layers, recipe.lr, recipe.momentum, recipe.weight_decay)
    rng = np.random.default_rng([recipe.seed, 1])
    n = len(dataset.train_x)
    steps_per_epoch = math.ceil(n / recipe.batch_size)
    total_steps = recipe.epochs * steps_per_epoch
    history = []
    step = 0
    for epoch in range(1, recipe.epochs + 1):
        start = time.monotonic()
        order = rng.permutation(n)
        progress = Progress(steps_per_epoch, f"{label}epoch {epoch}/{recipe.epochs}")
        loss_sum = correct = seen = 0.0
        for first in range(0, n, recipe.batch_size):
            idx = order[first : first + recipe.batch_size]
            optimiser.lr = learning_rate(recipe, step, total_steps, steps_per_epoch)
            x = recipe.augmentation.apply(dataset.train_x[idx], rng)[..., None]
            y = dataset.train_y[idx]
            logits = network.forward(x, train=True)
            loss, delta = softmax_cross_entropy(logits, y)
            network.backward(delta)
            optimiser.step()
            step += 1
            hits = float((logits.argmax(axis=1) == y).sum())
            loss_sum += loss * len(idx)
            correct += hits
            seen += len(idx)
            progress.advance(status=f"loss {loss_sum / seen:.4f} acc {100 * correct / seen:.2f}%")
            if report is not None:
                last = TrainingStep(network, epoch, step, total_steps, loss, int(hits), len(idx))
                report(last)
        record = {
            "epoch": epoch,
            "lr": round(optimiser.lr, 6),
            "train_loss": round(loss_sum / seen, 5),
            "train_accuracy": round(correct / seen, 5),
            **(
                validate(network)
                if validate
                else {"val_accuracy": round(_accuracy(network, dataset.val_x, dataset.val_y), 5)}
            ),
        }
        if dataset.pen_val_x is not None and dataset.pen_val_y is not None:
            record["pen_val_accuracy"] = round(_accuracy(network, dataset.pen_val_x, dataset.pen_val_y), 5)
        record["seconds"] = round(time.monotonic() - start, 1)
        history.append(record)
        progress.close(" ".join(f"{k} {v}" for k, v in record.items() if k not in ("epoch", "seconds")))
        if report is not None:
            report(replace(last, record=record))
    return network, history


def _accuracy(network: Network, x: np.ndarray, y: np.ndarray) -> float:
    return accuracy_report(predict_batches(network, x), y)["accuracy"]


def mnist_test_inputs(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST test set as the networks read it: binary inputs (N, 28, 28) and labels."""
    test_images, test_labels = data.load_mnist(data_dir, "test")
    return binarize(data.mnist_inputs(test_images, "preprocessing the MNIST test set")), test_labels


def run(
    name: str,
    recipe: Recipe,
    data_dir: Path,
    pendigits: Path | None,
    out: Path,
    limit: int | None = None,
    command: str = "",
    extras: Sequence[Path] = (),
) -> Model:
    """The whole `digitpad train`: data, training, test metrics, and the model file.

    The writers in PEN_VALIDATION_WRITERS stay out of training, as they did for the shipped models;
    how a recipe does on writers it has not seen in general is what `crossval` measures.
    """
    started = time.monotonic()
    dataset = load_dataset(recipe, data_dir, pendigits, limit, extras)
    network, history = train(name, recipe, dataset)
    test_x, test_labels = mnist_test_inputs(data_dir)
    metrics = accuracy_report(predict_batches(network, test_x), test_labels)
    if dataset.pen_val_x is not None and dataset.pen_val_y is not None:
        pen = accuracy_report(predict_batches(network, dataset.pen_val_x), dataset.pen_val_y)
        metrics["pen_writers_held_out"] = list(PEN_VALIDATION_WRITERS)
        metrics["pen_accuracy"] = pen["accuracy"]
        metrics["pen_top2_accuracy"] = pen["top2_accuracy"]
        metrics["pen_count"] = len(dataset.pen_val_y)
    wall = time.monotonic() - started
    arch = network.arch
    meta = {
        "name": name,
        "title": arch.title,
        "description": arch.description,
        "input": {
            "width": 28,
            "height": 28,
            "binary": True,
            "threshold": THRESHOLD,
            "min_contrast": MIN_CONTRAST,
            "ink": "1 = ink, 0 = background",
        },
        "training": {
            **recipe_json(recipe),
            "train_examples": len(dataset.train_x),
            "extra": [{"file": path.name, "sha256": manifest.sha256(path)} for path in extras],
            "wall_time_s": round(wall, 1),
            "command": command,
            "history": history,
        },
        "metrics": {"test": metrics},
        "parameters": network.parameter_count,
    }
    model = Model(network, meta)
    model.save(out)
    manifest.write_manifest(out.parent, [out.name])  # a server loads only the files whose sums it finds
    out.with_suffix(".metrics.json").write_text(json.dumps({"history": history, "test": metrics}, indent=1) + "\n")
    return model


def recipe_json(recipe: Recipe) -> dict[str, Any]:
    """The recipe as plain JSON values, for model files and reports."""
    return {
        **{k: v for k, v in asdict(recipe).items() if k not in ("augmentation", "strokes")},
        "augmentation": recipe.augmentation.to_json(),
        "strokes": recipe.strokes.to_json(),
    }


def recipe_with(name: str, new_writers: bool = False, **overrides: Any) -> Recipe:
    """The shipped recipe for `name` (with NEW_WRITER_DATA if new_writers) with the given fields
    replaced (None leaves one alone)."""
    recipe = replace(RECIPES[name], **NEW_WRITER_DATA[name]) if new_writers else RECIPES[name]
    return replace(recipe, **{k: v for k, v in overrides.items() if v is not None})
