"""The piece judge: what the network's output layer reads, fitting by maximum likelihood, its file and the
model it belongs to, the shipped cnn's judge on writers it never saw, and `digitpad fit-judge`."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.config import MODEL_DIR
from app.core.numbers import read_number
from app.nn import manifest
from app.nn.data import PenDigit, bundled_mnist, load_pen_digits
from app.nn.files import load_with_meta, save_arrays
from app.nn.judge import fit_judge, judge_for, judge_path, load_judge, piece_features
from app.nn.judge_fit import labels_of, written_pieces
from app.nn.network import ModelFileError, load_model
from app.nn.segment import candidates
from app.nn.writing import GAPS, number_drawing
from tests.factories import TEST_DATA_DIR

# What the shipped cnn's judge reaches on pieces of numbers of the writers no model trains on (see
# docs/numbers.md); the bars sit a little under the measured figures.
HELD_OUT_ACCURACY = 0.87
HELD_OUT_LOG_LIKELIHOOD = -0.31


@pytest.fixture(scope="module")
def held_out_digits() -> list[PenDigit]:
    return load_pen_digits(TEST_DATA_DIR / "pen-strokes-held-out.npz")


@pytest.mark.parametrize("name", ["cnn", "mlp", "logreg"])
def test_classify_gives_the_probabilities_and_what_the_output_layer_reads(name):
    network = load_model(MODEL_DIR / f"{name}.npz", judge=False).network
    bits = bundled_mnist("test")[0][:5]
    probs, hidden = network.classify(bits)
    np.testing.assert_array_equal(probs, network.predict_proba(bits))
    for n, (_, layers) in enumerate(network.trace_all(bits)):
        np.testing.assert_array_equal(hidden[n], layers[-2][1].ravel())
    output = network.layers[-1].params
    np.testing.assert_allclose(hidden @ output["W"] + output["b"], network.forward(network._as_batch(bits)), atol=1e-4)
    # and both with every layer's activations, from one pass
    traced_probs, reads, traced = network.classify_traced(bits)
    np.testing.assert_array_equal(traced_probs, probs)
    np.testing.assert_array_equal(reads, hidden)
    for acts, (_, expected) in zip(traced, network.trace_all(bits), strict=True):
        assert [info for info, _ in acts] == [info for info, _ in expected]
        for (_, got), (_, want) in zip(acts, expected, strict=True):
            np.testing.assert_array_equal(got, want)


def test_fitting_finds_what_tells_two_classes_apart_and_is_deterministic():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 6))
    y = ((x[:, 0] - 2 * x[:, 3] + 0.5 * x[:, 1] ** 2) > 0.5).astype(np.int64)
    judge = fit_judge(x[:3000], y[:3000], "", epochs=10, seed=3)
    said = judge.logits(x[3000:]).argmax(axis=1)
    assert (said == y[3000:]).mean() > 0.95
    base_rate = y[:3000].mean()
    chance = base_rate * np.log(base_rate) + (1 - base_rate) * np.log(1 - base_rate)
    assert judge.log_likelihood(x[3000:], y[3000:]) > chance / 4
    again = fit_judge(x[:3000], y[:3000], "", epochs=10, seed=3)
    np.testing.assert_array_equal(again.logits(x[3000:]), judge.logits(x[3000:]))


def test_a_saved_judge_reads_back_the_same_and_a_damaged_one_is_refused(tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(300, 4)), rng.integers(0, 2, 300)
    judge = fit_judge(x, y, "ab" * 32, units=5, epochs=2)
    path = tmp_path / "m.judge.npz"
    judge.save(path)
    back = load_judge(path)
    np.testing.assert_array_equal(back.logits(x), judge.logits(x))
    assert back.model_sha256 == "ab" * 32
    meta, arrays = load_with_meta(path)
    for broken_meta, broken_arrays, says in [
        ({**meta, "format": "other"}, arrays, "is not a DigitPad piece judge"),
        ({**meta, "format_version": 99}, arrays, "newer format"),
        (meta, {k: v for k, v in arrays.items() if k != "output.W"}, "lacks its weights"),
        (meta, {**arrays, "scale": arrays["scale"][:-1]}, "mismatched shapes"),
        (meta, {**arrays, "hidden.W": arrays["hidden.W"].ravel()}, "mismatched shapes"),
    ]:
        save_arrays(path, broken_arrays, broken_meta)
        with pytest.raises(ModelFileError, match=says):
            load_judge(path)
    path.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="not readable"):
        load_judge(path)


def test_a_judge_fitted_to_another_model_file_is_refused(tmp_path):
    shutil.copy(MODEL_DIR / "logreg.npz", tmp_path / "logreg.npz")
    shutil.copy(judge_path(MODEL_DIR / "cnn.npz"), judge_path(tmp_path / "logreg.npz"))
    with pytest.raises(ModelFileError, match=r"fitted to another model file than logreg\.npz"):
        load_model(tmp_path / "logreg.npz")
    assert load_model(tmp_path / "logreg.npz", judge=False).judge is None
    judge_path(tmp_path / "logreg.npz").unlink()
    assert load_model(tmp_path / "logreg.npz").judge is None  # no judge: numbers are read without one


def test_the_shipped_cnn_has_its_judge_recorded_in_the_manifest():
    manifest.verify(judge_path(MODEL_DIR / "cnn.npz"))
    judge = judge_for(MODEL_DIR / "cnn.npz")
    assert judge is not None and judge.model_sha256 == manifest.sha256(MODEL_DIR / "cnn.npz")
    assert load_model(MODEL_DIR / "cnn.npz").judge is not None


def test_each_digit_written_apart_is_labelled_one_whole_digit_and_parts_of_it_are_not(held_out_digits):
    digits = [held_out_digits[i] for i in (0, 40, 80, 120)]
    drawing = number_drawing(digits, [GAPS["wide"][0]] * 3, np.random.default_rng(5))
    h, found = candidates(drawing.image)
    assert 0.5 * drawing.image.shape[0] < h < 0.7 * drawing.image.shape[0]
    labels = labels_of(drawing, found)
    whole = [
        (int(c.xs.min()), int(c.ys.min()), c.width, c.height) for c, label in zip(found, labels, strict=True) if label
    ]
    assert sorted(whole) == sorted(drawing.boxes)
    assert len(found) > len(drawing.boxes)  # the wide ones were tried in cuts, and their parts are not digits


def test_the_shipped_judge_tells_whole_digits_from_other_pieces_for_writers_it_never_saw(held_out_digits):
    model = load_model(MODEL_DIR / "cnn.npz")
    assert model.judge is not None
    pieces = written_pieces(model.network, held_out_digits, numbers=150, seed=11, exclude=())
    assert 0.2 < pieces.labels.mean() < 0.8  # both kinds, in number
    said = model.judge.logits(pieces.features).argmax(axis=1)
    accuracy = float((said == pieces.labels).mean())
    log_likelihood = model.judge.log_likelihood(pieces.features, pieces.labels)
    report = {"accuracy": round(accuracy, 4), "log_likelihood": round(log_likelihood, 4), "pieces": pieces.labels.size}
    assert accuracy >= HELD_OUT_ACCURACY, report
    assert log_likelihood >= HELD_OUT_LOG_LIKELIHOOD, report


def test_the_features_are_the_hidden_layer_the_log_probabilities_and_the_shape():
    probs = np.array([[0.7, 0.3] + [0.0] * 8])
    hidden = np.array([[1.0, 2.0]])
    features = piece_features(probs, hidden, np.array([20.0]), np.array([40.0]), 40.0)
    np.testing.assert_allclose(features[0, :2], [1.0, 2.0])
    np.testing.assert_allclose(features[0, 2:4], np.log([0.7, 0.3]))
    np.testing.assert_allclose(features[0, 12:14], np.log([0.7, 0.3]))  # the two largest
    np.testing.assert_allclose(features[0, 14:], [np.log(0.5), np.log(0.5), 0.0, np.log(0.5) ** 2, np.log(0.5) ** 2, 0])


def write_unipen(digits: list[PenDigit], writer: int, path: Path) -> None:
    """Pen digits as the UNIPEN text pendigits comes in, all as one writer's (y up, as the tablet's)."""
    lines = []
    for digit in digits:
        lines += [f'.SEGMENT DIGIT ? ? "{digit.label}"', f".COMMENT {digit.label} {writer} 0"]
        for stroke in digit.strokes:
            lines += [".PEN_DOWN", *(f"{int(x)} {500 - int(y)}" for x, y in stroke), ".PEN_UP"]
    path.write_text("\n".join(lines) + "\n", encoding="ascii")


def test_fit_judge_writes_a_judge_the_server_trusts_and_reads_numbers_with(tmp_path, capsys, held_out_digits):
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(MODEL_DIR / "logreg.npz", folder / "logreg.npz")
    manifest.write_manifest(folder)
    pendigits = tmp_path / "pendigits.tra"
    write_unipen(held_out_digits[:30], 1, pendigits)
    with pendigits.open("a", encoding="ascii") as more:
        write_unipen(held_out_digits[30:60], 2, tmp_path / "second.tra")
        more.write((tmp_path / "second.tra").read_text(encoding="ascii"))
    argv = ["fit-judge", str(folder / "logreg.npz"), "--pendigits", str(pendigits), "--numbers", "40"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "logreg.judge.npz" in out and "checked_accuracy" in out
    manifest.verify(judge_path(folder / "logreg.npz"))
    model = load_model(folder / "logreg.npz")
    assert model.judge is not None and model.judge.meta["fit"]["numbers"] == 40
    drawing = number_drawing(held_out_digits[:2], [GAPS["wide"][0]], np.random.default_rng(0))
    assert len(read_number(model, drawing.image).digits) == 2
    again = load_judge(judge_path(folder / "logreg.npz"))
    assert main(argv) == 0  # the same seed: the same judge
    np.testing.assert_array_equal(load_judge(judge_path(folder / "logreg.npz")).mean, again.mean)


def test_fit_judge_says_what_is_wrong_with_its_inputs(tmp_path, capsys, held_out_digits):
    pendigits = tmp_path / "pendigits.tra"
    write_unipen(held_out_digits[:5], 5, pendigits)  # a validation writer's: nothing to fit to
    shutil.copy(MODEL_DIR / "logreg.npz", tmp_path / "logreg.npz")
    model = str(tmp_path / "logreg.npz")
    assert main(["fit-judge", model, "--pendigits", str(pendigits), "--numbers", "3"]) == 2
    assert "no pen digits of writers outside the validation writers" in capsys.readouterr().err
    assert main(["fit-judge", model, "--pendigits", str(tmp_path / "none.tra")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["fit-judge", model, "--pendigits", str(pendigits), "--numbers", "0"]) == 2
    assert "--numbers must be at least 1" in capsys.readouterr().err
    assert not judge_path(tmp_path / "logreg.npz").exists()
