"""The training lab's networks and runs: settings, architectures, events, determinism and divergence."""

from __future__ import annotations

import base64
import math

import numpy as np
import pytest

from app.nn import lab
from app.nn.network import Network


def tiny(architecture: str = "logreg", **given: object) -> lab.LabSettings:
    return lab.LabSettings.make(architecture, **{"train_size": 500, "epochs": 1, **given})


def collect(settings: lab.LabSettings, **kwargs: object) -> tuple[lab.LabResult, list[dict[str, object]]]:
    events: list[dict[str, object]] = []
    result = lab.run(settings, "lab-test", lambda kind, data: events.append({"kind": kind, **data}), **kwargs)
    return result, events


def test_settings_get_each_architectures_defaults_and_nothing_it_does_not_use():
    assert lab.LabSettings.make("logreg") == lab.LabSettings("logreg", (), None)
    mlp = lab.LabSettings.make("mlp", dropout=0.5)
    assert (mlp.hidden, mlp.activation, mlp.dropout, mlp.train_size, mlp.epochs) == ((100,), "sigmoid", 0.5, 10_000, 5)
    cnn = lab.LabSettings.make("cnn", hidden=[32])
    assert (cnn.hidden, cnn.activation) == ((32,), "relu")
    # the same run however it is asked for: defaults given or left out
    assert lab.LabSettings.make("mlp", hidden=[100], activation="sigmoid", seed=1) == lab.LabSettings.make("mlp")
    assert lab.LabSettings.make("mlp", epochs=5.0).epochs == 5 and isinstance(lab.LabSettings.make("mlp").epochs, int)


@pytest.mark.parametrize(
    ("architecture", "given", "words"),
    [
        ("resnet", {}, "must be one of logreg, mlp, cnn"),
        ("logreg", {"hidden": [10]}, "no hidden layer"),
        ("logreg", {"activation": "relu"}, "no activation"),
        ("mlp", {"hidden": []}, "1 or 2 hidden layers"),
        ("mlp", {"hidden": [10, 10, 10]}, "An mlp takes 1 or 2 hidden layers in `hidden`; it has 3"),
        ("cnn", {"hidden": [10, 10]}, "A cnn takes 0 or 1 hidden layers"),
        ("mlp", {"hidden": [0]}, "from 1 to 1,024 units"),
        ("mlp", {"hidden": [2000]}, "from 1 to 1,024 units"),
        ("mlp", {"hidden": "100"}, "list of whole numbers"),
        ("mlp", {"activation": "tanh"}, "sigmoid, relu, linear"),
        ("mlp", {"train_size": 499}, "`train_size` must be from 500 to 50,000"),
        ("mlp", {"epochs": 0}, "`epochs` must be from 1 to 100"),
        ("mlp", {"epochs": 2.5}, "whole number"),
        ("mlp", {"learning_rate": 0}, "`learning_rate` must be above 0"),
        ("mlp", {"learning_rate": math.nan}, "must be a number"),
        ("mlp", {"momentum": 1.0}, "`momentum` must be from 0 to 0.99"),
        ("mlp", {"dropout": True}, "must be a number"),
        ("mlp", {"weight_decay": 0.1}, "no setting called weight_decay"),
    ],
)
def test_bad_settings_are_refused_with_a_sentence(architecture, given, words):
    with pytest.raises(lab.LabSettingsError) as caught:
        lab.LabSettings.make(architecture, **given)
    message = str(caught.value)
    assert words in message and message.endswith(".")


def test_a_linear_hidden_layer_is_a_dense_layer_without_an_activation():
    linear = lab.architecture(lab.LabSettings.make("mlp", hidden=[100], activation="linear"))
    sigmoid = lab.architecture(lab.LabSettings.make("mlp", hidden=[100], activation="sigmoid"))
    assert [s.kind for s in linear.layers] == ["flatten", "dense", "dense"]
    assert [s.kind for s in sigmoid.layers] == ["flatten", "dense", "sigmoid", "dense"]


def test_a_linear_hidden_layer_adds_no_complexity_the_network_is_one_affine_map():
    network = Network(lab.architecture(lab.LabSettings.make("mlp", hidden=[50, 20], activation="linear")), seed=3)
    dense = [layer for layer in network.layers if layer.params]
    w = dense[0].params["W"] @ dense[1].params["W"] @ dense[2].params["W"]  # (784, 10): one softmax regression
    b = (dense[0].params["b"] @ dense[1].params["W"] + dense[1].params["b"]) @ dense[2].params["W"] + dense[2].params[
        "b"
    ]
    x = np.random.default_rng(0).integers(0, 2, (5, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(network.forward(x), x.reshape(5, -1) @ w + b, rtol=1e-4, atol=1e-4)


def test_architectures_and_their_parameter_counts():
    assert lab.parameter_count(lab.LabSettings.make("logreg")) == 784 * 10 + 10
    assert lab.parameter_count(lab.LabSettings.make("mlp", hidden=[100])) == 784 * 100 + 100 + 100 * 10 + 10
    # the small cnn and an mlp with about as many weights, the weight-sharing preset's pair
    cnn = lab.parameter_count(lab.LabSettings.make("cnn"))
    assert cnn == (25 * 8 + 8) + (25 * 8 * 16 + 16) + (4 * 4 * 16 * 10 + 10)
    assert abs(lab.parameter_count(lab.LabSettings.make("mlp", hidden=[8])) - cnn) / cnn < 0.1
    kinds = [s.kind for s in lab.architecture(lab.LabSettings.make("cnn", hidden=[64], dropout=0.5)).layers]
    assert kinds == ["conv", "relu", "pool", "conv", "relu", "pool", "flatten", "dense", "relu", "dropout", "dense"]
    kinds = [s.kind for s in lab.architecture(lab.LabSettings.make("logreg", dropout=0.2)).layers]
    assert kinds == ["flatten", "dropout", "dense"]  # softmax regression drops pixels
    names = [s.name for s in lab.architecture(lab.LabSettings.make("mlp", hidden=[30, 20], activation="relu")).layers]
    assert names == ["flatten", "hidden1", "relu1", "hidden2", "relu2", "output"]


def test_a_run_reports_progress_then_returns_its_model_and_figures():
    settings = tiny("mlp", hidden=[16], activation="relu", epochs=2)
    result, events = collect(settings)
    assert all(e["kind"] == "progress" for e in events)
    first = events[0]
    assert first["step"] == 1 and first["epoch"] == 1 and "weights" in first  # at once, with the weights
    assert first["loss"] == -first["log_likelihood"] and first["log_likelihood"] < 0
    assert len(first["probe"]) == 10 and sum(first["probe"]) == pytest.approx(1, abs=1e-3)
    ends = [e for e in events if e.get("epoch_end")]
    assert [e["epoch"] for e in ends] == [1, 2] and ends[-1]["step"] == ends[-1]["steps"] == 2 * 8
    assert all(0 <= e["validation_accuracy"] <= 1 and e["validation_log_likelihood"] < 0 for e in ends)
    assert [e["step"] for e in events] == sorted(e["step"] for e in events)
    assert ends[-1]["validation_accuracy"] == result.metrics["validation"]["accuracy"]
    metrics = result.metrics
    assert metrics["validation"]["count"] == lab.VALIDATION_SIZE and metrics["test"]["count"] == 10_000
    assert sum(map(sum, metrics["validation"]["confusion"])) == lab.VALIDATION_SIZE
    assert 0.5 < metrics["validation"]["accuracy"] < 1  # learned something from 500 digits
    assert metrics["epochs"] == 2 and metrics["steps"] == 16 and metrics["parameters"] == 784 * 16 + 16 + 170
    wrong = result.misread
    assert 0 < len(wrong) <= lab.MISREAD_SHOWN
    assert all(m["guess"] != m["label"] and len(m["bits"]) == 784 for m in wrong)
    assert [m["probability"] for m in wrong] == sorted((m["probability"] for m in wrong), reverse=True)
    assert result.model.name == "lab-test" and result.model.meta["training"]["lab"] == settings.to_json()
    assert result.model.meta["metrics"]["test"]["accuracy"] == metrics["test"]["accuracy"]


def test_the_same_settings_give_the_same_run():
    settings = tiny("mlp", hidden=[16], dropout=0.3, seed=7)
    a, events_a = collect(settings)
    b, events_b = collect(settings)
    for key, value in a.model.network.state().items():
        np.testing.assert_array_equal(value, b.model.network.state()[key])
    assert a.metrics["validation"] == b.metrics["validation"]
    ends = [
        [
            (e["validation_accuracy"], e["validation_log_likelihood"], e["train_accuracy"])
            for e in ev
            if e.get("epoch_end")
        ]
        for ev in (events_a, events_b)
    ]
    assert ends[0] == ends[1]
    c, _ = collect(lab.LabSettings.make("mlp", hidden=[16], dropout=0.3, seed=8, train_size=500, epochs=1))
    assert not np.array_equal(c.model.network.state()["hidden.W"], a.model.network.state()["hidden.W"])


def test_a_learning_rate_far_too_large_diverges_with_a_sentence_and_no_warning():
    with pytest.raises(lab.Diverged) as caught:
        collect(tiny("mlp", hidden=[100], activation="relu", learning_rate=50.0))
    event = caught.value.event()
    assert event["step"] >= 1 and "diverged at step" in event["detail"] and event["detail"].endswith(".")


def test_a_run_stops_when_asked_and_at_its_deadline():
    with pytest.raises(lab.Cancelled, match="asked"):
        collect(tiny(), should_stop=lambda: "Stopped, as asked.")
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0  # a second a reading: the deadline passes at once
        return now[0]

    with pytest.raises(lab.TimeLimit) as caught:
        collect(tiny(), max_seconds=0.5, clock=clock)
    assert "time limit of 0.5 s in epoch 1 of 1" in str(caught.value)


@pytest.mark.parametrize(
    ("architecture", "hidden", "shape"),
    [("logreg", None, [10, 28, 28]), ("mlp", [50], [36, 28, 28]), ("cnn", None, [8, 5, 5])],
)
def test_the_first_layers_weights_as_images(architecture, hidden, shape):
    network = Network(lab.architecture(lab.LabSettings.make(architecture, hidden=hidden)), seed=2)
    if architecture == "logreg":
        network.layers[-1].params["W"][:] = np.random.default_rng(0).normal(size=(784, 10))
    image = lab.first_layer_weights(network)
    assert image["shape"] == shape
    q = np.frombuffer(base64.b64decode(image["data"]), np.uint8).reshape(shape)
    weights = (q / 255 * 2 - 1) * image["scale"]
    w = network.layers[next(i for i, layer in enumerate(network.layers) if layer.params)].params["W"]
    expected = w[:, :, 0, :].transpose(2, 0, 1) if w.ndim == 4 else w[:, : shape[0]].T.reshape(shape)
    np.testing.assert_allclose(weights, expected, atol=image["scale"] / 127)


def test_the_probe_is_the_first_validation_digit():
    probe = lab.probe_digit()
    data = lab.lab_data()
    assert probe["bits"] == lab.bit_string(data.val_x[lab.PROBE_INDEX]) and probe["label"] == int(data.val_y[0])
    assert len(data.pool_x) == lab.POOL_SIZE and len(data.val_x) == lab.VALIDATION_SIZE


def test_every_preset_is_one_or_two_valid_runs():
    for preset in lab.PRESETS:
        runs = preset.to_json()["runs"]
        assert 1 <= len(runs) <= 2 and preset.point.endswith(".")
        assert len({str(run["settings"]) for run in runs}) == len(runs)  # a comparison compares something
