"""The stimulus index: the shipped ones describe the shipped models, their top stimuli are right, and
building, saving, loading and refusing a stale index work."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from app.config import MODEL_DIR
from app.nn import explain, manifest
from app.nn.data import bundled_mnist
from app.nn.layers import DTYPE
from app.nn.network import load_model
from app.nn.stimuli import (
    TOP,
    StimulusIndexError,
    build_index,
    index_path,
    load_index,
    receptive_field,
    source_digest,
    unit_values,
    write_indexes,
)

MODELS = ("cnn", "mlp", "logreg")
MAX_INDEX_BYTES = 1_000_000


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    return bundled_mnist("test")


@pytest.mark.parametrize("name", MODELS)
def test_each_shipped_index_describes_its_shipped_model_and_is_vouched_for(digits, name):
    """Fails as soon as a model file changes without `digitpad index` being run again."""
    path = index_path(MODEL_DIR / f"{name}.npz")
    manifest.verify(path)
    index = load_index(path)
    index.check(manifest.read_manifest(MODEL_DIR)[f"{name}.npz"], source_digest(*digits))
    assert index.meta["model_sha256"] == manifest.sha256(MODEL_DIR / f"{name}.npz")
    assert path.stat().st_size < MAX_INDEX_BYTES
    network = load_model(MODEL_DIR / f"{name}.npz").network
    assert index.layers == [info.name for info in network.visible[1:]]


@pytest.mark.parametrize("name", MODELS)
def test_top_stimuli_reproduce_their_activation_and_beat_random_digits(digits, name):
    bits, labels = digits
    network = load_model(MODEL_DIR / f"{name}.npz").network
    index = load_index(index_path(MODEL_DIR / f"{name}.npz"))
    sample = np.random.default_rng(0).choice(len(bits), 1000, replace=False)
    random_values = unit_values(network, bits[sample])
    for info in network.visible[1:]:
        acts, _, logits = random_values[info.name]
        ranking = logits if logits is not None else acts
        bar = np.percentile(ranking, 95, axis=0)
        for unit in range(0, ranking.shape[1], max(1, ranking.shape[1] // 12)):
            found = index.unit(info.name, unit)
            assert len(found.top) == TOP
            for s in found.top:
                assert labels[s.source] == s.label
                a, _, z = unit_values(network, bits[s.source][None])[info.name]
                # what one forward pass gives (to the last bit with the server's one BLAS thread)
                assert s.activation == pytest.approx(float(a[0, unit]), rel=1e-5, abs=1e-6)
                score = s.logit if s.logit is not None else s.activation
                assert score >= bar[unit]
                if z is not None:
                    assert s.logit == pytest.approx(float(z[0, unit]), rel=1e-5)
            scores = [s.logit if s.logit is not None else s.activation for s in found.top]
            assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("name", MODELS)
def test_output_units_top_stimuli_all_read_as_their_digit(name):
    index = load_index(index_path(MODEL_DIR / f"{name}.npz"))
    for digit in range(10):
        top = index.unit("output", digit).top
        assert all(s.activation >= 0.95 for s in top), [(s.label, s.activation) for s in top]
        if name != "logreg":  # softmax regression (91 %) is sure of some digits it gets wrong
            assert all(s.label == digit for s in top), [s.label for s in top]
        assert [s.logit for s in top] == sorted((s.logit for s in top), reverse=True)


def test_the_cnn_optimal_output_stimuli_thresholded_read_as_their_digit():
    network = load_model(MODEL_DIR / "cnn.npz").network
    index = load_index(index_path(MODEL_DIR / "cnn.npz"))
    stimuli = np.array([index.unit("output", d).optimal for d in range(10)])
    assert stimuli.min() >= 0 and stimuli.max() <= 1
    read = network.predict_proba((stimuli >= 0.5).astype(DTYPE)).argmax(axis=1)
    assert (read == np.arange(10)).sum() >= 8, read


def test_an_optimal_stimulus_activation_is_the_units_value_on_it():
    network = load_model(MODEL_DIR / "cnn.npz").network
    index = load_index(index_path(MODEL_DIR / "cnn.npz"))
    for layer, unit in (("conv2", 7), ("pool1", 2), ("fc", 50), ("output", 3)):
        found = index.unit(layer, unit)
        a, _, z = unit_values(network, found.optimal[None])[layer]
        assert found.optimal_activation == pytest.approx(float(a[0, unit]), rel=1e-5, abs=1e-6)
        if z is not None:
            assert found.optimal_logit == pytest.approx(float(z[0, unit]), rel=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_receptive_fields_are_where_the_gradient_reaches(name):
    """Whatever the layers, the gradient of a feature map position reaches only the input in its box, and
    the first map's box is exactly what it reaches (below a pooling, only each window's winner passes a
    gradient on, so deeper boxes are larger than one input's reach)."""
    network = load_model(MODEL_DIR / f"{name}.npz").network
    x = np.random.default_rng(0).uniform(0.3, 1, (1, 28, 28)).astype(DTYPE)
    maps = [info for info in network.visible[1:] if len(info.shape) == 3]
    for info in maps:
        tape = explain.Tape(network, x, explain.pre_activation(network, info.name))
        h, w, _ = tape.output.shape[1:]
        for y, x0 in ((0, 0), (h // 2, w // 3), (h - 1, w - 1)):
            delta = np.zeros_like(tape.output)
            delta[0, y, x0, :] = 1
            reach = np.argwhere(np.abs(tape.backward(delta)[0]) > 0)
            top, left = reach.min(axis=0)
            bottom, right = reach.max(axis=0)
            bx, by, bw, bh = receptive_field(network, info.name, y, x0)
            assert bx <= left and by <= top and right < bx + bw and bottom < by + bh
            if info is maps[0]:
                assert (bx, by, bw, bh) == (left, top, right - left + 1, bottom - top + 1)


@pytest.fixture
def small_folder(tmp_path: Path) -> Path:
    """logreg (the quickest to index) in a folder of its own, with its manifest entry."""
    shutil.copy(MODEL_DIR / "logreg.npz", tmp_path / "logreg.npz")
    manifest.write_manifest(tmp_path)
    return tmp_path


def test_write_indexes_builds_records_and_refuses_models_not_vouched_for(small_folder, digits):
    shutil.copy(MODEL_DIR / "mlp.npz", small_folder / "stray.npz")  # not in the manifest
    bits, labels = digits
    results = {r.model: r for r in write_indexes(small_folder, bits[:300], labels[:300])}
    assert results["logreg"].error is None and results["logreg"].size > 0
    assert "not listed" in (results["stray"].error or "")
    assert not (small_folder / "stray.stimuli.npz").exists()
    manifest.verify(small_folder / "logreg.stimuli.npz")
    index = load_index(small_folder / "logreg.stimuli.npz")
    index.check(manifest.sha256(small_folder / "logreg.npz"), source_digest(bits[:300], labels[:300]))
    assert all(s.source < 300 for d in range(10) for s in index.unit("output", d).top)


def test_an_index_for_another_model_file_or_other_digits_is_refused(small_folder, digits):
    bits, labels = digits
    model = load_model(small_folder / "logreg.npz")
    index = build_index(model, manifest.sha256(small_folder / "logreg.npz"), bits[:100], labels[:100])
    with pytest.raises(StimulusIndexError, match=r"another model file.*digitpad index"):
        index.check("0" * 64, source_digest(bits[:100], labels[:100]))
    with pytest.raises(StimulusIndexError, match="other MNIST test digits"):
        index.check(index.meta["model_sha256"], source_digest(bits[:101], labels[:101]))


@pytest.mark.parametrize("damage", ["garbage", "not an index", "missing"])
def test_an_unreadable_index_is_an_error_naming_the_file(tmp_path, damage):
    path = tmp_path / "cnn.stimuli.npz"
    if damage == "garbage":
        path.write_bytes(b"PK\x03\x04 not really a zip")
    elif damage == "not an index":
        shutil.copy(MODEL_DIR / "logreg.npz", path)
    with pytest.raises(StimulusIndexError, match=r"cnn\.stimuli\.npz.*digitpad index"):
        load_index(path)


def test_unit_lookups_outside_the_index_raise(small_folder, digits):
    bits, labels = digits
    model = load_model(small_folder / "logreg.npz")
    index = build_index(model, "x" * 64, bits[:50], labels[:50], explain.StimulusRecipe(steps=2))
    with pytest.raises(KeyError):
        index.unit("input", 0)
    with pytest.raises(IndexError):
        index.unit("output", 10)
    with pytest.raises(IndexError):
        index.unit("output", -1)
