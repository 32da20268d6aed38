"""GET /api/models and the weights feeding one unit."""

from __future__ import annotations

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
        assert model["layers"][0] == {"name": "input", "kind": "input", "shape": [28, 28]}
        assert model["layers"][-1] == {"name": "output", "kind": "output", "shape": [10]}
        assert 0.9 < model["test_accuracy"] <= 1
    assert [layer["shape"] for layer in models["cnn"]["layers"]][1:3] == [[16, 24, 24], [16, 12, 12]]
    assert models["logreg"]["parameters"] == 784 * 10 + 10


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
