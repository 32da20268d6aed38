"""Training: mini-batch SGD with momentum on MNIST plus rendered pen strokes.

The recipe for each shipped model lives in RECIPES; `digitpad train NAME` runs it, and every
setting can be overridden from the command line. A run is deterministic for a given seed.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
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

# Writers of the pendigits training file kept out of training, to measure pen-stroke accuracy on
# handwriting the network has never seen.
PEN_VALIDATION_WRITERS = (5, 10, 15, 20, 25, 30)
# Pendigits fill about a third of their box: a pen of 0.04 of the box gives them the stroke-to-height
# ratio of a digit drawn across two thirds of the pad, 0.07 that of a small digit drawn in a corner.
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
    seed: int = 1
    val_size: int = 5000


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


@dataclass
class Dataset:
    train_x: np.ndarray  # (N, 28, 28) grey inputs, binarised (and augmented) batch by batch
    train_y: np.ndarray
    val_x: np.ndarray  # MNIST validation split, binary
    val_y: np.ndarray
    pen_val_x: np.ndarray | None  # held-out pendigits writers, binary
    pen_val_y: np.ndarray | None


def load_dataset(
    recipe: Recipe, data_dir: Path, pendigits: Path | None, limit: int | None = None, extras: Sequence[Path] = ()
) -> Dataset:
    images, labels = data.load_mnist(data_dir, "train")
    if limit:
        images, labels = images[:limit], labels[:limit]
    rng = np.random.default_rng(recipe.seed)
    order = rng.permutation(len(images))
    val_size = min(recipe.val_size, len(images) // 5)
    val_idx, train_idx = order[:val_size], order[val_size:]
    grey = data.mnist_inputs(images)
    train_x, train_y = grey[train_idx], labels[train_idx]
    pen_val_x = pen_val_y = None
    if pendigits is not None:
        digits = data.load_pendigits(pendigits)
        if limit:
            digits = digits[: limit // 4]
        seen = [d for d in digits if d.writer not in PEN_VALIDATION_WRITERS]
        unseen = [d for d in digits if d.writer in PEN_VALIDATION_WRITERS]
        pen_x, pen_y = data.pendigit_inputs(seen, recipe.pen_widths, rng)
        train_x = np.concatenate([train_x, pen_x])
        train_y = np.concatenate([train_y, pen_y])
        if unseen:
            val_grey, pen_val_y = data.pendigit_inputs(unseen, PEN_VALIDATION_WIDTHS)
            pen_val_x = binarize(val_grey)
    for path in extras:  # already the networks' inputs: augmented and binarised batch by batch like the rest
        extra_x, extra_y = extra.read(path)
        train_x = np.concatenate([train_x, extra_x.astype(np.float32)])
        train_y = np.concatenate([train_y, extra_y])
    return Dataset(train_x, train_y, binarize(grey[val_idx]), labels[val_idx], pen_val_x, pen_val_y)


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


def train(
    name: str,
    recipe: Recipe,
    dataset: Dataset,
    log_every: bool = True,
    architecture: Architecture | None = None,
    report: Callable[[TrainingStep], None] | None = None,
    validate: Callable[[Network], dict[str, float]] | None = None,
) -> tuple[Network, list[dict[str, Any]]]:
    """Fit the architecture `name` (or `architecture`, when given) to the dataset; returns the network and
    per-epoch metrics. `report` hears of every step and every epoch; an exception it raises stops the run
    and propagates. `validate` gives each epoch's held-out figures in place of `val_accuracy` on val_x."""
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
        progress = Progress(steps_per_epoch, f"epoch {epoch}/{recipe.epochs}")
        loss_sum = correct = seen = 0.0
        for first in range(0, n, recipe.batch_size):
            idx = order[first : first + recipe.batch_size]
            # cosine learning-rate schedule: large steps first, small steps to settle
            optimiser.lr = 0.5 * recipe.lr * (1 + math.cos(math.pi * step / total_steps))
            x = recipe.augmentation.apply(dataset.train_x[idx], rng)[..., None]
            y = dataset.train_y[idx]
            logits = network.forward(x, train=True)
            loss, delta = softmax_cross_entropy(logits, y)
            network.backward(delta)
            optimiser.step()
            step += 1
            loss_sum += loss * len(idx)
            correct += float((logits.argmax(axis=1) == y).sum())
            seen += len(idx)
            progress.advance(status=f"loss {loss_sum / seen:.4f} acc {100 * correct / seen:.2f}%")
            if report is not None:
                batch_correct = int((logits.argmax(axis=1) == y).sum())
                last = TrainingStep(network, epoch, step, total_steps, loss, batch_correct, len(idx))
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
    """The whole `digitpad train`: data, training, test metrics, and the model file."""
    started = time.monotonic()
    dataset = load_dataset(recipe, data_dir, pendigits, limit, extras)
    network, history = train(name, recipe, dataset)
    test_images, test_labels = data.load_mnist(data_dir, "test")
    test_x = binarize(data.mnist_inputs(test_images, "preprocessing the MNIST test set"))
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
            **{k: v for k, v in asdict(recipe).items() if k != "augmentation"},
            "augmentation": recipe.augmentation.to_json(),
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


def recipe_with(name: str, **overrides: Any) -> Recipe:
    """The shipped recipe for `name` with the given fields replaced (None leaves one alone)."""
    return replace(RECIPES[name], **{k: v for k, v in overrides.items() if v is not None})
