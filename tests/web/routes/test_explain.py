"""POST /api/explain and GET /api/models/{model}/layers/{layer}/units/{index}/stimuli."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.config import MODEL_DIR
from app.nn import explain, manifest
from app.nn.network import load_model
from app.nn.stimuli import index_path
from tests.factories import assert_error, digit_png

PNG = {"content-type": "image/png"}


def bits_of(grid: np.ndarray) -> str:
    return "".join("1" if v else "0" for v in np.asarray(grid).reshape(-1))


def grid_of(bits: str) -> np.ndarray:
    return (np.frombuffer(bits.encode(), np.uint8) - ord("0")).reshape(28, 28)


def unit_value(answer: dict, layer: str, unit: int) -> tuple[float, float]:
    """A unit's value in a /api/predict answer with activations, and how far off quantisation can put it."""
    if layer == "output":
        return answer["probabilities"][unit], 1e-6
    found = next(entry for entry in answer["layers"] if entry["name"] == layer)
    values = np.frombuffer(base64.b64decode(found["data"]), np.uint8).reshape(found["shape"])
    step = (found["max"] - found["min"]) / 255
    real = found["min"] + values.astype(np.float64) * step
    return float(real[unit].max()), step / 2 + 1e-6


@pytest.fixture(scope="module")
def seven(client) -> dict:
    response = client.post("/api/explain", content=digit_png(7), headers=PNG)
    assert response.status_code == 200, response.text
    return response.json()


def test_explain_answers_the_guess_and_a_map_for_the_first_and_second_guess(client, seven):
    assert set(seven) == {"model", "prediction", "guesses", "probabilities", "input", "explanations", "timings_ms"}
    assert seven["model"] == "cnn" and seven["prediction"] == 7
    assert [e["digit"] for e in seven["explanations"]] == [g["digit"] for g in seven["guesses"][:2]]
    ink = grid_of(seven["input"]["bits"])
    for entry in seven["explanations"]:
        assert entry["method"] == explain.SHIPPED_METHOD
        grid = np.array(entry["map"])
        assert grid.shape == (28, 28)
        assert not grid[ink == 0].any()  # only ink can be erased
    first = np.array(seven["explanations"][0]["map"])
    assert first[ink == 1].sum() > 0  # the 7's ink is, on the whole, evidence for a 7
    assert seven["timings_ms"]["explain"] > 0
    predicted = client.post("/api/predict?activations=false", content=digit_png(7), headers=PNG).json()
    assert predicted["guesses"] == seven["guesses"] and predicted["input"] == seven["input"]


def test_the_map_is_the_networks_own_and_bits_are_used_as_they_are(client, seven):
    bits = seven["input"]["bits"]
    response = client.post("/api/explain?model=mlp&digits=4,7,1", json={"bits": bits})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["input"]["bits"] == bits and body["model"] == "mlp"
    assert [e["digit"] for e in body["explanations"]] == [4, 7, 1]
    network = load_model(MODEL_DIR / "mlp.npz").network
    expected = explain.attribution(network, grid_of(bits).astype(np.float32), [4, 7, 1])
    np.testing.assert_allclose(np.array([e["map"] for e in body["explanations"]]), expected, atol=1e-4)


@pytest.mark.parametrize("form", ["multipart", "json image", "pixels"])
def test_explain_takes_every_input_form_of_predict(client, seven, form):
    png = digit_png(7)
    if form == "multipart":
        response = client.post("/api/explain", files={"image": ("seven.png", png, "image/png")})
    elif form == "json image":
        response = client.post("/api/explain", json={"image": base64.b64encode(png).decode()})
    else:
        response = client.post("/api/explain", json={"pixels": (grid_of(seven["input"]["bits"]) * 255).tolist()})
    assert response.status_code == 200, response.text
    assert response.json()["prediction"] == 7


@pytest.mark.parametrize("digits", ["10", "a", "3,,4", "-1", "1;2", "0,1,2,3,4,5,6,7,8,9,10"])
def test_bad_digits_are_invalid_requests(client, seven, digits):
    body = assert_error(
        client.post("/api/explain", params={"digits": digits}, json={"bits": seven["input"]["bits"]}),
        422,
        "invalid_request",
    )
    assert "digits" in body["detail"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"bits": "01" * 10}, 422, "invalid_request"),
        ({"bits": "2" * 784}, 422, "invalid_request"),
        ({"bits": "0" * 784}, 422, "empty_drawing"),
        ({"bits": "1" * 784, "image": "x"}, 422, "invalid_request"),
    ],
)
def test_bad_inputs_get_the_errors_predict_gives(client, body, status, code):
    assert_error(client.post("/api/explain", json=body), status, code)
    assert_error(client.post("/api/predict", json=body), status, code)


def test_explain_an_unknown_model(client):
    assert_error(client.post("/api/explain?model=nope", content=digit_png(7), headers=PNG), 404, "unknown_model")


# --- stimuli ---

UNITS = [
    ("cnn", "conv1", 3),
    ("cnn", "pool1", 15),
    ("cnn", "conv2", 0),
    ("cnn", "pool2", 31),
    ("cnn", "fc", 64),
    ("cnn", "output", 3),
    ("mlp", "hidden", 100),
    ("mlp", "output", 9),
    ("logreg", "output", 0),
]


@pytest.mark.parametrize(("model", "layer", "unit"), UNITS)
def test_posting_each_top_stimulus_back_reproduces_its_activation(client, model, layer, unit):
    response = client.get(f"/api/models/{model}/layers/{layer}/units/{unit}/stimuli")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["layer"], body["unit"]) == (model, layer, unit)
    assert len(body["top"]) == 9
    feature_map = layer.startswith(("conv", "pool"))
    for item in body["top"]:
        assert item["source"].startswith("mnist-test:") and 0 <= int(item["source"].split(":")[1]) < 10000
        assert ("box" in item) == feature_map
        if feature_map:
            x, y, w, h = item["box"]
            assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= 28 and y + h <= 28
        answer = client.post(f"/api/predict?model={model}", json={"bits": item["bits"]}).json()
        assert answer["input"]["bits"] == item["bits"]
        value, tolerance = unit_value(answer, layer, unit)
        assert item["activation"] == pytest.approx(value, abs=tolerance)
        if layer == "output":
            assert answer["prediction"] == unit and item["activation"] >= 0.95
    optimal = np.array(body["optimal"]["map"])
    assert optimal.shape == (28, 28) and optimal.min() >= 0 and optimal.max() <= 1


def test_the_cnn_optimal_stimuli_thresholded_and_posted_read_as_their_own_digit(client):
    read = []
    for digit in range(10):
        optimal = np.array(client.get(f"/api/models/cnn/layers/output/units/{digit}/stimuli").json()["optimal"]["map"])
        answer = client.post("/api/predict?activations=false", json={"bits": bits_of(optimal >= 0.5)}).json()
        read.append(answer["prediction"])
    assert sum(r == d for d, r in enumerate(read)) >= 8, read


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("/api/models/cnn/layers/input/units/0/stimuli", "unknown_unit"),
        ("/api/models/cnn/layers/nope/units/0/stimuli", "unknown_unit"),
        ("/api/models/cnn/layers/conv1/units/16/stimuli", "unknown_unit"),
        ("/api/models/mlp/layers/output/units/-1/stimuli", "unknown_unit"),
        ("/api/models/nope/layers/output/units/0/stimuli", "unknown_model"),
    ],
)
def test_stimuli_of_a_unit_that_does_not_exist(client, url, code):
    assert_error(client.get(url), 404, code)


def test_a_unit_index_that_is_not_a_number_is_an_invalid_request(client):
    assert_error(client.get("/api/models/cnn/layers/fc/units/x/stimuli"), 422, "invalid_request")


def _folder(tmp_path: Path, index_from: str | None) -> Path:
    """logreg alone in a folder, with the index of `index_from` as its own (None: no index)."""
    shutil.copy(MODEL_DIR / "logreg.npz", tmp_path / "logreg.npz")
    if index_from:
        shutil.copy(index_path(MODEL_DIR / f"{index_from}.npz"), index_path(tmp_path / "logreg.npz"))
    manifest.write_manifest(tmp_path)
    return tmp_path


def test_a_model_without_an_index_explains_but_has_no_stimuli(make_client, tmp_path, caplog):
    folder = _folder(tmp_path, None)
    with make_client(model_dir=folder, models=("logreg",), default_model="logreg") as lab:
        assert lab.get("/readyz").status_code == 200
        assert lab.post("/api/explain", content=digit_png(3), headers=PNG).status_code == 200
        body = assert_error(lab.get("/api/models/logreg/layers/output/units/3/stimuli"), 404, "no_stimulus_index")
    assert "digitpad index" in body["detail"]


def test_an_index_built_for_another_model_is_refused_and_the_server_says_why(make_client, tmp_path, caplog):
    folder = _folder(tmp_path, "mlp")
    with make_client(model_dir=folder, models=("logreg",), default_model="logreg") as stale:
        ready = assert_error(stale.get("/readyz"), 503, "not_ready")
        assert stale.post("/api/predict", content=digit_png(3), headers=PNG).status_code == 200  # still guesses
        stimuli = assert_error(stale.get("/api/models/logreg/layers/output/units/3/stimuli"), 404, "no_stimulus_index")
    for detail in (ready["detail"], stimuli["detail"]):
        assert "logreg.stimuli.npz" in detail and "another model file" in detail and "digitpad index" in detail
    assert any("logreg.stimuli.npz" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")


def test_an_index_that_fails_its_sum_is_refused(make_client, tmp_path):
    folder = _folder(tmp_path, "logreg")
    path = index_path(folder / "logreg.npz")
    path.write_bytes(path.read_bytes() + b"\0")
    with make_client(model_dir=folder, models=("logreg",), default_model="logreg") as tampered:
        ready = assert_error(tampered.get("/readyz"), 503, "not_ready")
    assert "logreg.stimuli.npz does not match its SHA-256" in ready["detail"]
