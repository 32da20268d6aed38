"""Networks of named layers, their visible activations, unit weights and model files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.nn.network import FORMAT_VERSION, Model, ModelFileError, Network, cnn, load_model, logreg, mlp


@pytest.fixture
def bits() -> np.ndarray:
    x = np.zeros((28, 28), np.uint8)
    x[5:23, 12:15] = 1
    return x


def test_cnn_shows_the_lectures_layers_in_order(bits):
    net = Network(cnn())
    probs, acts = net.trace(bits)
    assert [(i.name, i.kind, i.shape) for i, _ in acts] == [
        ("input", "input", (28, 28)),
        ("conv1", "conv", (24, 24, 16)),
        ("pool1", "pool", (12, 12, 16)),
        ("conv2", "conv", (8, 8, 32)),
        ("pool2", "pool", (4, 4, 32)),
        ("fc", "dense", (128,)),
        ("output", "output", (10,)),
    ]
    for info, values in acts:
        assert values.shape == info.shape
    assert probs.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(acts[-1][1], probs)
    np.testing.assert_allclose(probs, net.predict_proba(bits[None])[0], rtol=1e-5)
    assert (acts[1][1] >= 0).all()  # conv1 is shown after its ReLU


def test_mlp_and_logreg_layers(bits):
    assert [(i.name, i.kind) for i in Network(mlp()).visible] == [
        ("input", "input"),
        ("hidden", "dense"),
        ("output", "output"),
    ]
    _, acts = Network(mlp()).trace(bits)
    assert acts[1][1].min() > 0 and acts[1][1].max() < 1  # sigmoid units
    assert [(i.name, i.kind) for i in Network(logreg()).visible] == [("input", "input"), ("output", "output")]


def test_unit_weights_are_shaped_like_the_layer_below():
    net = Network(cnn(), seed=3)
    w, b = net.unit_weights("conv2", 5)
    assert b == net.layers[net.names.index("conv2")].params["b"][5]
    assert w.shape == (16, 5, 5)
    np.testing.assert_array_equal(w[2], net.layers[net.names.index("conv2")].params["W"][:, :, 2, 5])
    assert net.unit_weights("conv1", 0)[0].shape == (1, 5, 5)
    assert net.unit_weights("fc", 127)[0].shape == (32, 4, 4)
    assert net.unit_weights("output", 9)[0].shape == (128,)
    assert Network(mlp()).unit_weights("hidden", 0)[0].shape == (28, 28)
    assert Network(logreg()).unit_weights("output", 3)[0].shape == (28, 28)
    with pytest.raises(KeyError):
        net.unit_weights("pool1", 0)
    with pytest.raises(KeyError):
        net.unit_weights("nope", 0)
    with pytest.raises(IndexError):
        net.unit_weights("fc", 128)


def test_the_same_seed_builds_the_same_network():
    a, b = Network(cnn(), seed=7), Network(cnn(), seed=7)
    for key, value in a.state().items():
        np.testing.assert_array_equal(value, b.state()[key])
    assert not np.array_equal(a.state()["conv1.W"], Network(cnn(), seed=8).state()["conv1.W"])


def test_save_and_load_round_trip(tmp_path, bits):
    net = Network(cnn(), seed=1)
    Model(net, {"name": "cnn", "metrics": {"test": {"accuracy": 0.5}}}).save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.name == "cnn" and loaded.meta["format_version"] == FORMAT_VERSION
    assert loaded.meta["architecture"]["layers"][0] == {
        "name": "conv1",
        "kind": "conv",
        "config": {"filters": 16, "kernel": 5},
    }
    np.testing.assert_allclose(loaded.network.predict_proba(bits[None]), net.predict_proba(bits[None]))


def test_missing_file_names_it(tmp_path):
    with pytest.raises(ModelFileError, match=r"nothing\.npz does not exist"):
        load_model(tmp_path / "nothing.npz")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "no_metadata", "wrong_shape", "pickled"])
def test_corrupt_files_fail_clearly(tmp_path, damage):
    path = tmp_path / "model.npz"
    Model(Network(logreg()), {"name": "logreg"}).save(path)
    raw = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    elif damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "no_metadata":
        np.savez(path, **{"output.W": np.zeros((784, 10), np.float32)})
    elif damage == "wrong_shape":
        with np.load(path) as npz:
            meta = json.loads(npz["__meta__"].tobytes())
        np.savez(
            path,
            __meta__=np.frombuffer(json.dumps(meta).encode(), np.uint8),
            **{"output.W": np.zeros((10, 10), np.float32), "output.b": np.zeros(10, np.float32)},
        )
    else:
        np.savez(path, __meta__=np.array([{"format": "digitpad-model"}], dtype=object))
    with pytest.raises(ModelFileError, match=str(path)):
        load_model(path)


def test_newer_format_asks_for_an_upgrade(tmp_path):
    path = tmp_path / "future.npz"
    Model(Network(logreg()), {"name": "logreg"}).save(path)
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    meta = json.loads(arrays.pop("__meta__").tobytes())
    meta["format_version"] = FORMAT_VERSION + 1
    np.savez(path, __meta__=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)
    with pytest.raises(ModelFileError, match="newer than this DigitPad reads"):
        load_model(path)


def test_dropout_is_off_when_predicting(bits):
    net = Network(cnn(dropout=0.5), seed=2)
    np.testing.assert_array_equal(net.predict_proba(bits[None]), net.predict_proba(bits[None]))


def test_models_ship_in_the_repository_each_with_its_stimulus_index_and_piece_judge():
    names = sorted(p.name for p in (Path(__file__).resolve().parents[2] / "model").glob("*.npz"))
    suffixes = (".judge.npz", ".npz", ".stimuli.npz")
    assert names == [f"{m}{suffix}" for m in ("cnn", "logreg", "mlp") for suffix in suffixes]
