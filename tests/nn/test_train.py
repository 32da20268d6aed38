"""Short training runs: the network learns, deterministically for a seed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.nn import extra
from app.nn.augment import Augmentation, elastic_field
from app.nn.data import mnist_inputs
from app.nn.evaluate import accuracy_report, predict_batches
from app.nn.preprocess import binarize
from app.nn.train import RECIPES, Dataset, TrainingStep, learning_rate, load_dataset, recipe_with, train
from tests.factories import agreement, train_dir_from_test_set


@pytest.fixture(scope="module")
def small_dataset(mnist_test) -> Dataset:
    images, labels = mnist_test
    grey = mnist_inputs(images[:3000])
    return Dataset(grey[:2000], labels[:2000], binarize(grey[2000:]), labels[2000:3000], None, None)


@pytest.mark.parametrize(("name", "epochs", "bar"), [("logreg", 3, 0.8), ("mlp", 3, 0.75), ("cnn", 2, 0.85)])
def test_short_run_learns_far_above_chance(small_dataset, name, epochs, bar):
    recipe = recipe_with(name, epochs=epochs, seed=5)
    network, history = train(name, recipe, small_dataset)
    assert len(history) == epochs
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    report = accuracy_report(predict_batches(network, small_dataset.val_x), small_dataset.val_y)
    assert report["accuracy"] > bar  # chance is 0.1
    assert history[-1]["val_accuracy"] == pytest.approx(report["accuracy"], abs=1e-5)


def test_training_is_deterministic_for_a_seed(small_dataset):
    recipe = recipe_with("mlp", epochs=1, seed=11)
    a, history_a = train("mlp", recipe, small_dataset)
    b, history_b = train("mlp", recipe, small_dataset)
    for key, value in a.state().items():
        np.testing.assert_array_equal(value, b.state()[key])
    assert [h["train_loss"] for h in history_a] == [h["train_loss"] for h in history_b]


def test_recipes_choose_augmentation_per_model():
    assert RECIPES["cnn"].augmentation.rotate_deg > 0
    assert not RECIPES["logreg"].augmentation.active


def test_new_writer_data_widens_the_shipped_recipes_and_nothing_else():
    for name, shipped in RECIPES.items():
        assert not shipped.strokes.active and shipped.pen_variants == 1  # what the shipped models saw
        assert not shipped.augmentation.elastic_px
        wider = recipe_with(name, new_writers=True)
        assert wider.strokes.active and wider.pen_variants > 1
        assert (wider.epochs, wider.lr, wider.pen_widths) == (shipped.epochs, shipped.lr, shipped.pen_widths)
        assert bool(wider.augmentation.elastic_px) == shipped.augmentation.active  # MNIST bent where it is moved
    assert recipe_with("mlp", new_writers=True, pen_variants=5, epochs=2).pen_variants == 5


def test_augmentation_keeps_digits_recognisable(small_dataset):
    rng = np.random.default_rng(0)
    grey = small_dataset.train_x[:200]
    plain = Augmentation().apply(grey.copy(), rng)
    np.testing.assert_array_equal(plain, binarize(grey))
    warped = RECIPES["cnn"].augmentation.apply(grey.copy(), rng)
    assert warped.shape == grey.shape and set(np.unique(warped)) <= {0.0, 1.0}
    changed = (warped != plain).mean(axis=(1, 2))
    assert 0 < changed.mean() < 0.15  # moved a little, not scrambled
    ink_ratio = warped.sum(axis=(1, 2)) / plain.sum(axis=(1, 2))
    assert 0.5 < np.median(ink_ratio) < 1.6


def test_extra_examples_join_the_training_set_as_they_are(tmp_path, mnist_test):
    rng = np.random.default_rng(1)
    bits = (rng.random((30, 28, 28)) < 0.2).astype(np.uint8)
    labels = rng.integers(0, 10, 30).astype(np.uint8)
    path = extra.write_npz(tmp_path / "corrections.npz", bits, labels)
    mnist_dir = train_dir_from_test_set(tmp_path / "mnist")
    recipe = recipe_with("logreg", epochs=1)
    plain = load_dataset(recipe, mnist_dir, None, limit=500)
    mixed = load_dataset(recipe, mnist_dir, None, limit=500, extras=[path, path])
    assert len(mixed.train_x) == len(plain.train_x) + 60
    np.testing.assert_array_equal(mixed.train_x[: len(plain.train_x)], plain.train_x)
    np.testing.assert_array_equal(mixed.train_x[-30:], bits.astype(np.float32))
    np.testing.assert_array_equal(mixed.train_y[-30:], labels)
    np.testing.assert_array_equal(mixed.val_x, plain.val_x)  # validation is untouched


def test_elastic_distortion_bends_digits_by_about_the_asked_distance(small_dataset):
    field = elastic_field(64, 1.5, 4.0, np.random.default_rng(0))
    assert field.shape == (64, 2, 28, 28)
    np.testing.assert_allclose(np.sqrt((field**2).sum(axis=1).mean(axis=(1, 2))), 1.5, rtol=1e-6)
    # smooth: neighbouring pixels move almost together
    assert np.abs(np.diff(field, axis=3)).mean() < 0.2 * np.abs(field).mean()
    grey = small_dataset.train_x[:200]
    elastic = Augmentation(elastic_px=1.5)
    a = elastic.apply(grey.copy(), np.random.default_rng(4))
    b = elastic.apply(grey.copy(), np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)  # deterministic for a seed
    plain = binarize(grey)
    changed = (a != plain).mean(axis=(1, 2))
    assert 0.01 < changed.mean() < 0.15
    shares = [agreement(p, q) for p, q in zip(plain, a, strict=True) if p.any()]
    assert np.median(shares) > 0.6  # the same strokes, a pixel or so away


def test_the_report_hears_every_step_and_epoch_and_can_stop_the_run(small_dataset):
    recipe = recipe_with("logreg", epochs=2, batch_size=500, warmup_epochs=1.0, seed=3)
    heard: list[TrainingStep] = []
    _, history = train("logreg", recipe, small_dataset, report=heard.append)
    steps = [h for h in heard if h.record is None]
    assert [s.step for s in steps] == list(range(1, 9)) and {s.steps for s in steps} == {8}
    assert [s.epoch for s in steps] == [1] * 4 + [2] * 4
    assert [h.record for h in heard if h.record is not None] == history
    lrs = [h["lr"] for h in history]
    assert lrs[0] == pytest.approx(0.05)  # the end of the warm-up: the full rate
    assert lrs[1] == pytest.approx(0.025 * (1 + math.cos(0.75 * math.pi)), abs=1e-6)  # the last step of the cosine
    assert learning_rate(recipe, 0, 8, 4) == pytest.approx(0.0125)  # warm-up, a quarter at a time
    assert learning_rate(recipe, 2, 8, 4) == pytest.approx(0.0375)

    class Stop(Exception):
        pass

    def stop_after_three(step: TrainingStep) -> None:
        if step.step == 3:
            raise Stop

    with pytest.raises(Stop):
        train("logreg", recipe, small_dataset, report=stop_after_three)


def test_the_learning_rate_schedule_without_warm_up_is_the_cosine():
    recipe = recipe_with("cnn", lr=0.1)
    assert learning_rate(recipe, 0, 100, 10) == pytest.approx(0.1)
    assert learning_rate(recipe, 50, 100, 10) == pytest.approx(0.05)
    assert learning_rate(recipe, 100, 100, 10) == pytest.approx(0.0)
