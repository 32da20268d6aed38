"""Cross-validation over writers: how a recipe reads the handwriting of people it has never seen.

The pendigits writers are dealt into folds (writer ids in order, round robin: with 30 writers and 5
folds, fold 5 is writers 5, 10, ..., 30). Each fold trains the recipe from scratch on MNIST and every
other writer and reads the fold's writers, drawn plainly at PEN_VALIDATION_WIDTHS. A writer is never
on both sides. The report gives each fold's accuracy, the mean and the worst fold, each writer's
accuracy, and the errors grouped by the confusions that new writers' styles cause.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from app.nn import data
from app.nn.evaluate import accuracy_report, predict_batches
from app.nn.strokes import render_strokes
from app.nn.train import PEN_VALIDATION_WIDTHS, Recipe, load_dataset, recipe_json, train

FOLDS = 5
# Confusions named by the style of writing behind them, as seen when every error was looked at.
STYLE_ERRORS: tuple[tuple[str, int, tuple[int, ...]], ...] = (
    ("9 read as 3 or 7 (tail curled back, loop open)", 9, (3, 7)),
    ("7 read as 2 (crossbar)", 7, (2,)),
    ("1 read as 2 or 7 (flag and base)", 1, (2, 7)),
    ("6 read as 1, 5 or 8 (small or tall loop)", 6, (1, 5, 8)),
    ("4 read as 9 (closed top)", 4, (9,)),
    ("5 read as 3, 8 or 9", 5, (3, 8, 9)),
)
OTHER = "any other confusion"


def fold_writers(writers: Iterable[int], folds: int = FOLDS) -> list[tuple[int, ...]]:
    """The writers dealt round robin, in order of id, into `folds` folds of (nearly) equal size."""
    ordered = sorted(set(writers))
    if not 1 < folds <= len(ordered):
        raise ValueError(f"cannot deal {len(ordered)} writers into {folds} folds")
    return [tuple(ordered[i::folds]) for i in range(folds)]


def style_of(label: int, predicted: int) -> str:
    """The style group of one misreading."""
    for name, true, guesses in STYLE_ERRORS:
        if label == true and predicted in guesses:
            return name
    return OTHER


def run_fold(
    name: str,
    recipe: Recipe,
    data_dir: Path,
    pendigits: Path,
    fold: int,
    writers: Sequence[int],
    limit: int | None = None,
) -> dict[str, Any]:
    """Train on everything but `writers` and read theirs: one fold's figures (`fold` counts from 1)."""
    started = time.monotonic()
    dataset = load_dataset(recipe, data_dir, pendigits, limit, held_out_writers=writers)
    if dataset.pen_val_x is None or dataset.pen_val_y is None or dataset.pen_val_writers is None:
        raise ValueError(f"fold {fold}: none of writers {list(writers)} is in {pendigits}")
    network, history = train(name, recipe, dataset, label=f"{name} fold {fold}: ")
    probs = predict_batches(network, dataset.pen_val_x)
    labels, who = dataset.pen_val_y.astype(int), dataset.pen_val_writers
    report = accuracy_report(probs, labels)
    predicted = probs.argmax(axis=1)
    per_writer = {str(w): round(float((predicted[who == w] == labels[who == w]).mean()), 5) for w in writers}
    drawings = len(labels) // len(PEN_VALIDATION_WIDTHS)
    wrong = np.flatnonzero(predicted != labels)
    errors = [
        {
            "writer": int(who[i]),
            "label": int(labels[i]),
            "predicted": int(predicted[i]),
            "probability": round(float(probs[i, predicted[i]]), 4),
            "pen_width": PEN_VALIDATION_WIDTHS[i // drawings],
            "digit": int(dataset.pen_val_ids[i]) if dataset.pen_val_ids is not None else None,
        }
        for i in wrong
    ]
    return {
        "fold": fold,
        "writers": list(writers),
        "count": report["count"],
        "accuracy": report["accuracy"],
        "top2_accuracy": report["top2_accuracy"],
        "mnist_val_accuracy": history[-1]["val_accuracy"],
        "per_writer": per_writer,
        "per_class": report["per_class"],
        "confusion": report["confusion"],
        "errors": errors,
        "history": history,
        "train_examples": len(dataset.train_x),
        "wall_time_s": round(time.monotonic() - started, 1),
    }


def summarise(name: str, recipe: Recipe, folds: list[dict[str, Any]], command: str = "") -> dict[str, Any]:
    """The report over the folds run so far: mean, worst fold, worst writer, errors by style."""
    folds = sorted(folds, key=lambda f: f["fold"])
    accuracies = [f["accuracy"] for f in folds]
    worst = folds[int(np.argmin(accuracies))]
    writers = {w: a for f in folds for w, a in f["per_writer"].items()}
    worst_writer = min(writers, key=lambda w: writers[w])
    errors = [e for f in folds for e in f["errors"]]
    by_style = Counter(style_of(e["label"], e["predicted"]) for e in errors)
    return {
        "name": name,
        "command": command,
        "recipe": recipe_json(recipe),
        "pen_widths": list(PEN_VALIDATION_WIDTHS),
        "folds_run": [f["fold"] for f in folds],
        "mean_accuracy": float(np.mean(accuracies)),
        "worst_fold": worst["fold"],
        "worst_fold_accuracy": worst["accuracy"],
        "pooled_accuracy": 1 - len(errors) / sum(f["count"] for f in folds),
        "mean_mnist_val_accuracy": float(np.mean([f["mnist_val_accuracy"] for f in folds])),
        "worst_writer": int(worst_writer),
        "worst_writer_accuracy": writers[worst_writer],
        "errors": len(errors),
        "count": sum(f["count"] for f in folds),
        "errors_by_style": {style: by_style.get(style, 0) for style in [s for s, _, _ in STYLE_ERRORS] + [OTHER]},
        "confusions": {
            f"{a}->{b}": n for (a, b), n in Counter((e["label"], e["predicted"]) for e in errors).most_common()
        },
        "folds": folds,
    }


def crossval(
    name: str,
    recipe: Recipe,
    data_dir: Path,
    pendigits: Path,
    folds: int = FOLDS,
    only: Sequence[int] | None = None,
    jobs: int = 1,
    limit: int | None = None,
    command: str = "",
    on_fold: Callable[[dict[str, Any]], None] | None = None,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the folds (all, or those numbered in `only`), `jobs` of them at a time in their own processes.

    Folds already in `previous` (an earlier report of the same recipe and folds) are kept, not run
    again: a long cross-validation can be resumed. on_fold gets the report over the folds done so
    far after each one (to save a partial report).
    """
    writers = fold_writers({d.writer for d in data.load_pendigits(pendigits)}, folds)
    chosen = list(only) if only else list(range(1, folds + 1))
    for k in chosen:
        if not 1 <= k <= folds:
            raise ValueError(f"fold {k} is not one of 1..{folds}")
    done: list[dict[str, Any]] = []
    if previous is not None:
        same_recipe = previous.get("recipe") == json.loads(json.dumps(recipe_json(recipe)))  # as saved
        if previous.get("name") != name or not same_recipe:
            raise ValueError("the earlier report is of another model or recipe; it cannot be resumed")
        for fold in previous["folds"]:
            if fold["writers"] != list(writers[fold["fold"] - 1]) or fold.get("limit") != limit:
                raise ValueError(f"fold {fold['fold']} of the earlier report had other writers or data")
        done = [f for f in previous["folds"] if f["fold"] in chosen]
    todo = [k for k in chosen if k not in {f["fold"] for f in done}]

    def finished(result: dict[str, Any]) -> None:
        done.append({**result, "command": command, "limit": limit})
        if on_fold is not None:
            on_fold(summarise(name, recipe, done, command))

    args = [(name, recipe, data_dir, pendigits, k, writers[k - 1], limit) for k in todo]
    if jobs <= 1 or len(args) <= 1:
        for a in args:
            finished(run_fold(*a))
    else:
        # spawned, not forked: each worker starts its own BLAS with the environment's thread count
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(jobs, len(args)), mp_context=context) as pool:
            for future in as_completed([pool.submit(run_fold, *a) for a in args]):
                finished(future.result())
    return summarise(name, recipe, done, command)


def save_report(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    tmp.replace(path)


def error_sheet(report: dict[str, Any], digits: Sequence[data.PenDigit], columns: int = 16) -> Image.Image:
    """Every misread drawing of a report as the network saw it drawn, captioned `writer: true>guess`:
    what to look at before naming the styles behind the errors."""
    errors = [e for f in report["folds"] for e in f["errors"] if e.get("digit") is not None]
    tile, caption = 84, 14
    rows = max(1, -(-len(errors) // columns))
    sheet = Image.new("L", (columns * tile, rows * (tile + caption)), 255)
    draw = ImageDraw.Draw(sheet)
    for n, e in enumerate(errors):
        digit = digits[e["digit"]]
        drawing = render_strokes(digit.strokes, size=tile, pen_width=e["pen_width"])
        x, y = (n % columns) * tile, (n // columns) * (tile + caption)
        sheet.paste(Image.fromarray(255 - drawing), (x, y))
        draw.text((x + 2, y + tile), f"w{e['writer']}: {e['label']}>{e['predicted']}", fill=0)
        draw.rectangle((x, y, x + tile - 1, y + tile + caption - 1), outline=200)
    return sheet


def format_summary(report: dict[str, Any]) -> str:
    """The report as a few lines for a terminal."""
    lines = [f"{report['name']}: pen strokes of unseen writers, {report['count']} drawings"]
    for f in report["folds"]:
        worst = min(f["per_writer"], key=lambda w: f["per_writer"][w])
        lines.append(
            f"  fold {f['fold']} (writers {', '.join(map(str, f['writers']))}): {100 * f['accuracy']:.2f} %"
            f", worst writer {worst} {100 * f['per_writer'][worst]:.1f} %, MNIST validation "
            f"{100 * f['mnist_val_accuracy']:.2f} %"
        )
    lines += [
        f"  mean {100 * report['mean_accuracy']:.2f} %, worst fold {report['worst_fold']} "
        f"{100 * report['worst_fold_accuracy']:.2f} %, worst writer {report['worst_writer']} "
        f"{100 * report['worst_writer_accuracy']:.1f} %",
        f"  errors by style ({report['errors']} in all):",
    ]
    lines += [f"    {n:4d}  {style}" for style, n in report["errors_by_style"].items()]
    return "\n".join(lines)
