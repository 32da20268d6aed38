"""Cross-validation over writers: folds that never share a writer, and a report that adds up."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.cli import main
from app.nn import crossval
from app.nn.train import PEN_VALIDATION_WIDTHS, PEN_VALIDATION_WRITERS, load_dataset, recipe_with
from tests.factories import DIGIT_STROKES
from tests.factories import TEST_DATA_DIR as DATA_DIR

WRITERS = range(1, 11)


def test_thirty_writers_make_five_folds_of_six_that_never_overlap():
    folds = crossval.fold_writers(range(1, 31), 5)
    assert [len(f) for f in folds] == [6] * 5
    assert sorted(w for f in folds for w in f) == list(range(1, 31))
    assert folds[4] == (5, 10, 15, 20, 25, 30)
    assert crossval.fold_writers([3, 1, 2, 2], 3) == [(1,), (2,), (3,)]
    with pytest.raises(ValueError, match="folds"):
        crossval.fold_writers(range(4), 5)


def test_misreadings_are_grouped_by_style():
    assert crossval.style_of(9, 7).startswith("9 read as 3 or 7")
    assert crossval.style_of(7, 2).startswith("7 read as 2")
    assert crossval.style_of(4, 9).startswith("4 read as 9")
    assert crossval.style_of(9, 4) == crossval.OTHER


PER_WRITER = 12


def unipen(writers: range) -> str:
    """A UNIPEN file of factory digits in which writer w writes only the digit w - 1, PER_WRITER times,
    so a digit's presence in the training data shows whether its writer was trained on."""
    lines = [".INCLUDE test.doc"]
    for w in writers:
        digit = (w - 1) % 10
        for k in range(PER_WRITER):
            lines += [f'.SEGMENT DIGIT 0 ? "{digit}"', f".COMMENT {digit} {w} {k}"]
            for stroke in DIGIT_STROKES[digit]:
                lines.append(".PEN_DOWN")
                # tablet y points up; a narrower or wider drawing each time
                lines += [f" {round(x * (250 + 10 * k) + 100)} {round(400 - y * 300)}" for x, y in stroke]
                lines.append(".PEN_UP")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> tuple[Path, Path]:
    """A 'training' MNIST (the committed test files under the training names) and ten pen writers."""
    root = tmp_path_factory.mktemp("cv")
    mnist = root / "mnist"
    mnist.mkdir()
    for split in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        for name in (split, split.replace("t10k", "train")):
            shutil.copy(DATA_DIR / f"{split}.gz", mnist / f"{name}.gz")
    pen = root / "pen.tra.gz"
    pen.write_bytes(gzip.compress(unipen(WRITERS).encode()))
    return mnist, pen


def test_held_out_writers_are_never_trained_on(small_data):
    mnist, pen = small_data
    recipe = recipe_with("logreg", pen_widths=(0.04, 0.06), pen_variants=1)
    dataset = load_dataset(recipe, mnist, pen, limit=2000, held_out_writers=(2, 7))
    assert dataset.pen_val_writers is not None and dataset.pen_val_y is not None
    assert sorted(set(dataset.pen_val_writers.tolist())) == [2, 7]
    assert sorted(set(dataset.pen_val_y.tolist())) == [1, 6]  # what writers 2 and 7 write
    assert len(dataset.pen_val_y) == 2 * PER_WRITER * len(PEN_VALIDATION_WIDTHS)
    mnist_rows = 2000 - min(recipe.val_size, 2000 // 5)
    pen_labels = dataset.train_y[mnist_rows:]
    assert len(pen_labels) == 8 * PER_WRITER * 2
    assert sorted(set(pen_labels.tolist())) == [0, 2, 3, 4, 5, 7, 8, 9]
    everyone = load_dataset(recipe, mnist, pen, limit=2000, held_out_writers=())
    assert len(everyone.train_y) == mnist_rows + 10 * PER_WRITER * 2
    assert everyone.pen_val_x is None  # without held-out writers, nothing is set aside
    # by default (`digitpad train`), the writers no shipped model trains on stay out: here 5 and 10
    shipped = load_dataset(recipe, mnist, pen, limit=2000)
    assert shipped.pen_val_writers is not None
    assert (
        sorted(set(shipped.pen_val_writers.tolist())) == [5, 10] == [w for w in WRITERS if w in PEN_VALIDATION_WRITERS]
    )
    assert sorted(set(shipped.train_y[mnist_rows:].tolist())) == [0, 1, 2, 3, 5, 6, 7, 8]


def test_a_fold_reports_its_writers_errors_and_accuracy(small_data):
    mnist, pen = small_data
    recipe = recipe_with("logreg", epochs=1, pen_widths=(0.04,), pen_variants=1)
    fold = crossval.run_fold("logreg", recipe, mnist, pen, 3, (3, 8), limit=2000)
    assert fold["writers"] == [3, 8] and set(fold["per_writer"]) == {"3", "8"}
    assert fold["count"] == 2 * PER_WRITER * len(PEN_VALIDATION_WIDTHS)
    assert len(fold["errors"]) == round(fold["count"] * (1 - fold["accuracy"]))
    assert all(e["writer"] in (3, 8) and e["label"] != e["predicted"] for e in fold["errors"])
    assert np.sum(fold["confusion"]) == fold["count"]


def test_the_summary_gives_the_mean_the_worst_fold_and_errors_by_style():
    def fold(k: int, accuracy: float, errors: list[tuple[int, int]]) -> dict:
        return {
            "fold": k,
            "accuracy": accuracy,
            "count": 100,
            "mnist_val_accuracy": 0.99,
            "per_writer": {str(k): accuracy, str(k + 10): 1.0},
            "errors": [{"label": a, "predicted": b} for a, b in errors],
        }

    report = crossval.summarise(
        "cnn", recipe_with("cnn"), [fold(2, 0.97, [(9, 3), (9, 7), (1, 2)]), fold(1, 0.99, [(0, 6)])]
    )
    assert report["folds_run"] == [1, 2]
    assert report["mean_accuracy"] == pytest.approx(0.98)
    assert (report["worst_fold"], report["worst_fold_accuracy"]) == (2, 0.97)
    assert (report["worst_writer"], report["worst_writer_accuracy"]) == (2, 0.97)
    assert report["errors"] == 4 and report["pooled_accuracy"] == pytest.approx(0.98)
    styles = report["errors_by_style"]
    assert styles[crossval.STYLE_ERRORS[0][0]] == 2 and styles[crossval.STYLE_ERRORS[2][0]] == 1
    assert styles[crossval.OTHER] == 1 and sum(styles.values()) == 4
    assert "mean 98.00 %, worst fold 2 97.00 %" in crossval.format_summary({**report, "folds": []})


def test_the_command_runs_chosen_folds_and_writes_the_report(small_data, tmp_path, capsys):
    mnist, pen = small_data
    out = tmp_path / "logreg.crossval.json"
    args = ["crossval", "logreg", "--epochs", "1", "--folds", "5", "--fold", "2", "--fold", "4"]
    sheet = tmp_path / "errors.png"
    paths = ["--data-dir", str(mnist), "--pendigits", str(pen), "--out", str(out), "--error-sheet", str(sheet)]
    assert main([*args[:-2], *paths, "--limit", "2000"]) == 0  # fold 2 only
    first = json.loads(out.read_text())["folds"]
    assert main([*args, *paths, "--limit", "2000", "--resume"]) == 0  # keeps fold 2, runs fold 4
    report = json.loads(out.read_text())
    assert report["folds_run"] == [2, 4]
    assert [f["writers"] for f in report["folds"]] == [[2, 7], [4, 9]]
    assert report["recipe"]["epochs"] == 1
    assert report["folds"][0] == first[0]  # not run again
    assert "worst fold" in capsys.readouterr().out
    errors = sum(len(f["errors"]) for f in report["folds"])
    with Image.open(sheet) as image:  # a tile and its caption for each error, 16 a row
        assert image.format == "PNG" and image.height == max(1, -(-errors // 16)) * 98
    # another recipe cannot resume the report
    assert main([*args[:3], "2", *args[4:], *paths, "--limit", "2000", "--resume"]) == 2
    assert "another model or recipe" in capsys.readouterr().err
    assert main([*args, *paths, "--limit", "2000", "--resume", "--new-writers"]) == 2  # nor the wider data
    assert "another model or recipe" in capsys.readouterr().err
    assert main([*args[:-2], "--fold", "6", "--data-dir", str(mnist), "--pendigits", str(pen)]) == 2
