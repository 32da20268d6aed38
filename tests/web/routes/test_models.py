"""GET /api/models and the weights feeding one unit."""

from __future__ import annotations

import itertools

import pytest

from tests.factories import assert_error


def test_models_lists_the_three_shipped_models(client):
    response = client.get("/api/models")
    assert response.status_code == 200
    body = response.json()
    assert body["default"] == "cnn"
    models = {m["name"]: m for m in body["models"]}
    assert set(models) == {"cnn", "mlp", "logreg"}
    for model in models.values():
        assert set(model) == {"name", "title", "description", "parameters", "layers", "test_accuracy"}
        assert model["layers"][0] == {"name": "input", "kind": "input", "shape": [28, 28], "title": "Input"}
        assert model["layers"][-1] == {"name": "output", "kind": "output", "shape": [10], "title": "Output"}
        assert 0.9 < model["test_accuracy"] <= 1
    assert [layer["shape"] for layer in models["cnn"]["layers"]][1:3] == [[16, 24, 24], [16, 12, 12]]
    assert models["logreg"]["parameters"] == 784 * 10 + 10


@pytest.mark.parametrize(
    ("model", "titles"),
    [
        (
            "cnn",
            [
                "Input",
                "Convolution 1",
                "Downsampling 1",
                "Convolution 2",
                "Downsampling 2",
                "Hidden layer (fully connected)",
                "Output",
            ],
        ),
        ("mlp", ["Input", "Hidden layer (fully connected)", "Output"]),
        ("logreg", ["Input", "Output"]),
    ],
)
def test_models_title_every_layer(client, model, titles):
    models = {m["name"]: m for m in client.get("/api/models").json()["models"]}
    assert [layer["title"] for layer in models[model]["layers"]] == titles


def test_models_give_the_window_each_unit_reads(client):
    """A conv layer's kernel and a pooling layer's window, and neither on the layers without one."""
    cnn = next(m for m in client.get("/api/models").json()["models"] if m["name"] == "cnn")
    windows = {layer["name"]: (layer.get("kernel"), layer.get("size")) for layer in cnn["layers"]}
    assert windows == {
        "input": (None, None),
        "conv1": (5, None),
        "pool1": (None, 2),
        "conv2": (5, None),
        "pool2": (None, 2),
        "fc": (None, None),
        "output": (None, None),
    }
    # The page outlines a unit's window on the layer below from these: they must agree with the shapes.
    for below, layer in itertools.pairwise(cnn["layers"]):
        side = below["shape"][-1]
        if "kernel" in layer:  # k x k windows one unit apart
            assert layer["shape"][-2:] == [side - layer["kernel"] + 1] * 2
        if "size" in layer:  # s x s windows side by side
            assert layer["shape"][-2:] == [side // layer["size"]] * 2


def test_a_layer_kind_met_several_times_is_numbered_and_once_is_not():
    from app.nn.network import LayerInfo
    from app.web.responses import layer_titles

    infos = [
        LayerInfo("input", "input", (28, 28), -1),
        LayerInfo("a", "dense", (64,), 1),
        LayerInfo("b", "dense", (32,), 2),
        LayerInfo("c", "pool", (1, 1, 32), 3),
        LayerInfo("out", "output", (10,), 4),
    ]
    assert layer_titles(infos) == [
        "Input",
        "Hidden layer 1 (fully connected)",
        "Hidden layer 2 (fully connected)",
        "Downsampling",
        "Output",
    ]


@pytest.mark.parametrize(
    ("model", "layer", "index", "shape"),
    [
        ("cnn", "conv1", 0, [1, 5, 5]),
        ("cnn", "conv2", 31, [16, 5, 5]),
        ("cnn", "fc", 127, [32, 4, 4]),
        ("cnn", "output", 9, [128]),
        ("mlp", "hidden", 511, [28, 28]),
        ("logreg", "output", 3, [28, 28]),
    ],
)
def test_unit_weights_are_shaped_like_the_layer_below(client, model, layer, index, shape):
    response = client.get(f"/api/models/{model}/layers/{layer}/units/{index}")
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("model", "layer", "unit", "shape")} == {
        "model": model,
        "layer": layer,
        "unit": index,
        "shape": shape,
    }
    size = 1
    for n in shape:
        size *= n
    assert len(body["weights"]) == size
    assert body["min"] == pytest.approx(min(body["weights"])) and body["max"] == pytest.approx(max(body["weights"]))
    assert isinstance(body["bias"], float)


def test_unit_weights_match_the_model_file(client):
    from app.config import MODEL_DIR
    from app.nn.network import load_model

    network = load_model(MODEL_DIR / "mlp.npz").network
    body = client.get("/api/models/mlp/layers/hidden/units/5").json()
    assert body["weights"] == pytest.approx(network.layers[1].params["W"][:, 5].tolist(), rel=1e-6)
    assert body["bias"] == pytest.approx(float(network.layers[1].params["b"][5]))


def test_unit_of_an_unknown_model(client):
    assert_error(client.get("/api/models/resnet/layers/conv1/units/0"), 404, "unknown_model")


@pytest.mark.parametrize(
    "path",
    [
        "cnn/layers/conv9/units/0",
        "cnn/layers/pool1/units/0",
        "cnn/layers/input/units/0",
        "cnn/layers/conv1/units/16",
        "cnn/layers/conv1/units/-1",
        "mlp/layers/hidden/units/512",
    ],
)
def test_unknown_unit(client, path):
    assert_error(client.get(f"/api/models/{path}"), 404, "unknown_unit")


def test_unit_index_that_is_not_a_number(client):
    assert_error(client.get("/api/models/cnn/layers/conv1/units/first"), 422, "invalid_request")
