"""Short training runs: the network learns, deterministically for a seed."""

from __future__ import annotations

import numpy as np
import pytest

from app.nn import extra
from app.nn.augment import Augmentation
from app.nn.data import mnist_inputs
from app.nn.evaluate import accuracy_report, predict_batches
from app.nn.preprocess import binarize
from app.nn.train import RECIPES, Dataset, load_dataset, recipe_with, train
from tests.factories import train_dir_from_test_set


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
