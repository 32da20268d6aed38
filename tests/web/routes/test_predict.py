"""POST /api/predict and /api/predict/batch: every input form, and every error the issue's table lists."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.web.predictions import BATCH_TURN
from app.web.schemas import SEVEN_BITS, SEVEN_ROWS
from tests.factories import DIGIT_STROKES, assert_error, digit_png, png_bytes, stroke_image


def assert_prediction(body: dict, digit: int, model: str = "cnn", top_k: int = 2, layers: bool = True) -> None:
    assert body["model"] == model
    assert body["prediction"] == digit
    assert body["guesses"][0]["digit"] == digit and len(body["guesses"]) == top_k
    assert len(body["probabilities"]) == 10 and sum(body["probabilities"]) == pytest.approx(1, abs=1e-4)
    assert body["guesses"][0]["probability"] == max(body["probabilities"])
    assert body["input"]["width"] == body["input"]["height"] == 28
    assert len(body["input"]["bits"]) == 784 and set(body["input"]["bits"]) == {"0", "1"}
    assert ("layers" in body) is layers
    assert body["timings_ms"]["forward"] >= 0


def encoded(digit: int, fmt: str) -> bytes:
    image = stroke_image(DIGIT_STROKES[digit])
    return png_bytes(image.convert("P") if fmt == "GIF" else image, fmt)


# --- input forms ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif"), ("BMP", "image/bmp")],
)
def test_raw_image_body(client, fmt, content_type):
    response = client.post("/api/predict", content=encoded(3, fmt), headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text
    assert_prediction(response.json(), 3)


def test_the_png_chromium_posts_from_the_pad(client):
    """What the page really sends: a 280x280 RGBA canvas, ink in the alpha channel, Chromium's encoding."""
    canvas = (Path(__file__).parents[2] / "data" / "canvas-7.png").read_bytes()
    assert Image.open(io.BytesIO(canvas)).mode == "RGBA"
    for model in ("cnn", "mlp"):
        response = client.post(f"/api/predict?model={model}", content=canvas, headers={"Content-Type": "image/png"})
        assert response.status_code == 200, response.text
        assert_prediction(response.json(), 7, model)


def test_declared_type_that_lies_is_read_by_its_bytes(client):
    response = client.post("/api/predict", content=encoded(4, "JPEG"), headers={"Content-Type": "image/png"})
    assert response.status_code == 200
    assert_prediction(response.json(), 4)


def test_multipart_field_image(client, seven_png):
    response = client.post("/api/predict", files={"image": ("seven.png", seven_png, "image/png")})
    assert response.status_code == 200
    assert_prediction(response.json(), 7)


def test_json_data_url(client, seven_png):
    url = "data:image/png;base64," + base64.b64encode(seven_png).decode()
    response = client.post("/api/predict", json={"image": url})
    assert response.status_code == 200
    assert_prediction(response.json(), 7)


def test_json_bare_base64(client, seven_png):
    response = client.post("/api/predict", json={"image": base64.b64encode(seven_png).decode()})
    assert response.status_code == 200
    assert_prediction(response.json(), 7)


def test_json_pixels_bright_on_dark(client):
    grey = Image.open(io.BytesIO(digit_png(2, size=84))).convert("L")
    pixels = (255 - np.asarray(grey, dtype=np.int32)).tolist()
    response = client.post("/api/predict", json={"pixels": pixels})
    assert response.status_code == 200
    assert_prediction(response.json(), 2)


def test_json_bits_are_the_networks_own_input_used_as_they_are(client, seven_png):
    seen = client.post("/api/predict", content=seven_png, headers={"Content-Type": "image/png"}).json()
    bits = seen["input"]["bits"]
    response = client.post("/api/predict", json={"bits": bits})
    assert response.status_code == 200
    body = response.json()
    assert_prediction(body, 7)
    assert body["input"]["bits"] == bits  # echoed, not preprocessed again
    assert body["probabilities"] == seen["probabilities"]
    assert set(body["timings_ms"]) == {"forward"}
    layer = body["layers"][0]
    assert "".join("1" if b else "0" for b in base64.b64decode(layer["data"])) == bits


def test_json_bits_shifted_off_centre_are_not_centred_again(client):
    rows = SEVEN_ROWS[5:] + SEVEN_ROWS[:5]  # the 7 moved up to the top edge
    body = client.post("/api/predict?activations=false", json={"bits": "".join(rows)}).json()
    assert body["input"]["bits"] == "".join(rows)


@pytest.mark.parametrize(
    ("bits", "says"),
    [("01" * 100, "200 characters"), ("2" * 784, "other than 0 and 1"), (" " + "0" * 783, "other than 0 and 1")],
)
def test_json_bits_that_are_not_784_bits_are_refused(client, bits, says):
    body = assert_error(client.post("/api/predict", json={"bits": bits}), 422, "invalid_request")
    assert says in body["detail"] and "784" in body["detail"]


def test_json_bits_without_ink_are_an_empty_drawing(client):
    assert_error(client.post("/api/predict", json={"bits": "0" * 784}), 422, "empty_drawing")


@pytest.mark.parametrize("model", ["cnn", "mlp", "logreg"])
def test_query_model_top_k_and_no_activations(client, seven_png, model):
    response = client.post(
        f"/api/predict?model={model}&top_k=5&activations=false",
        content=seven_png,
        headers={"Content-Type": "image/png"},
    )
    assert response.status_code == 200
    assert_prediction(response.json(), 7, model=model, top_k=5, layers=False)


def test_activations_are_encoded_compactly_and_decode_to_their_shapes(client, seven_png):
    response = client.post("/api/predict", content=seven_png, headers={"Content-Type": "image/png"})
    assert len(response.content) < 30_000
    layers = response.json()["layers"]
    assert [layer["name"] for layer in layers] == ["input", "conv1", "pool1", "conv2", "pool2", "fc", "output"]
    for layer in layers:
        data = base64.b64decode(layer["data"])
        size = 1
        for n in layer["shape"]:
            size *= n
        assert len(data) == size
        assert layer["min"] <= layer["max"]
    assert layers[1]["shape"] == [16, 24, 24]  # channel first
    # the input layer is the bits the network saw, and the output layer is the probabilities
    first = layers[0]
    bits = "".join("1" if b else "0" for b in base64.b64decode(first["data"]))
    assert bits == response.json()["input"]["bits"]
    out = layers[-1]
    peak = max(range(10), key=lambda i: base64.b64decode(out["data"])[i])
    assert peak == 7


# --- errors, one per row of the table -----------------------------------------------------


def test_body_over_the_limit_is_refused_from_its_content_length(client):
    body = assert_error(
        client.post("/api/predict", content=b"\0" * (2 * 1024 * 1024 + 1), headers={"Content-Type": "image/png"}),
        413,
        "payload_too_large",
    )
    assert "2,097,152" in body["detail"]


def test_image_dimensions_over_the_limit(client):
    wide = png_bytes(Image.new("L", (4097, 4), 255))
    body = assert_error(
        client.post("/api/predict", content=wide, headers={"Content-Type": "image/png"}), 413, "image_too_large"
    )
    assert "4097x4" in body["detail"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", "image/tiff", None])
def test_unsupported_content_type(client, seven_png, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/api/predict", content=seven_png, headers=headers)
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("data", [b"", b"definitely not a png", digit_png(1)[:300]])
def test_undecodable_image(client, data):
    assert_error(client.post("/api/predict", content=data, headers={"Content-Type": "image/png"}), 422, "invalid_image")


@pytest.mark.parametrize("image", ["###", "data:image/png;base64,@@@@", base64.b64encode(b"GIF89a junk").decode()])
def test_bad_base64_or_undecodable_json_image(client, image):
    assert_error(client.post("/api/predict", json={"image": image}), 422, "invalid_image")


@pytest.mark.parametrize("form", ["raw", "json"])
def test_drawing_with_no_ink(client, form):
    blank = png_bytes(Image.new("RGB", (280, 280), "white"))
    response = (
        client.post("/api/predict", content=blank, headers={"Content-Type": "image/png"})
        if form == "raw"
        else client.post("/api/predict", json={"pixels": [[0] * 50] * 50})
    )
    assert_error(response, 422, "empty_drawing")


@pytest.mark.parametrize("query", ["top_k=0", "top_k=11", "top_k=two", "activations=maybe"])
def test_bad_query_parameters(client, seven_png, query):
    body = assert_error(
        client.post(f"/api/predict?{query}", content=seven_png, headers={"Content-Type": "image/png"}),
        422,
        "invalid_request",
    )
    assert query.split("=")[0] in body["detail"]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"picture": "x"},
        {"image": "x", "pixels": [[1]]},
        {"bits": SEVEN_BITS, "pixels": [[1]]},
        {"image": 5},
        {"bits": 7},
        {"image": None},
        {"image": None, "pixels": [[0, 255], [255, 0]]},  # null is not "absent": the document says so too
        {"pixels": None},
        {"bits": None, "image": "x"},
        [1, 2],
        "just a string",
    ],
)
def test_json_without_exactly_one_of_image_pixels_or_bits(client, payload):
    assert_error(client.post("/api/predict", json=payload), 422, "invalid_request")


def test_json_that_does_not_parse(client):
    response = client.post("/api/predict", content=b'{"image": ', headers={"Content-Type": "application/json"})
    assert_error(response, 422, "invalid_request")


@pytest.mark.parametrize(
    "pixels",
    [
        "[[1, 2], [3]]",
        "[1, 2, 3]",
        "[[[1]]]",
        '[["a", 0]]',
        "[[NaN, 0]]",
        "[[Infinity, 0]]",
        "[[256, 0]]",
        "[[-1, 0]]",
        "[[true, 0]]",
        "[]",
        "[[]]",
    ],
)
def test_pixels_of_the_wrong_shape_or_type(client, pixels):
    response = client.post(
        "/api/predict", content=f'{{"pixels": {pixels}}}'.encode(), headers={"Content-Type": "application/json"}
    )
    assert_error(response, 422, "invalid_request")


def test_multipart_without_the_image_field(client, seven_png):
    response = client.post("/api/predict", files={"picture": ("seven.png", seven_png, "image/png")})
    assert_error(response, 422, "invalid_request")


def test_unknown_model(client, seven_png):
    body = assert_error(
        client.post("/api/predict?model=resnet", content=seven_png, headers={"Content-Type": "image/png"}),
        404,
        "unknown_model",
    )
    assert "resnet" in body["detail"] and "cnn" in body["detail"]


def test_pixels_larger_than_the_image_limits(client):
    response = client.post(
        "/api/predict",
        content=json.dumps({"pixels": [[0] * 4097]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 413, "image_too_large")


# --- batch ----------------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_batch_json_gives_results_in_order_with_errors_in_place(client):
    blank = png_bytes(Image.new("RGB", (280, 280), "white"))
    images = [
        b64(digit_png(1)),
        "not base64!",
        "data:image/png;base64," + b64(digit_png(7)),
        b64(blank),
        b64(b"not an image"),
        b64(png_bytes(Image.new("L", (5000, 2), 255))),
        b64(digit_png(4)),
    ]
    response = client.post("/api/predict/batch", json={"images": images, "model": "mlp", "top_k": 3})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == len(images)
    assert_prediction(results[0], 1, model="mlp", top_k=3, layers=False)
    assert results[1] == {"error": {"code": "invalid_image", "detail": results[1]["error"]["detail"]}}
    assert_prediction(results[2], 7, model="mlp", top_k=3, layers=False)
    assert results[3]["error"]["code"] == "empty_drawing"
    assert results[4]["error"]["code"] == "invalid_image"
    assert results[5]["error"]["code"] == "image_too_large"
    assert_prediction(results[6], 4, model="mlp", top_k=3, layers=False)


def test_batch_multipart_with_several_images(client):
    files = [("images", (f"{d}.png", digit_png(d), "image/png")) for d in (0, 1, 7)]
    response = client.post("/api/predict/batch", files=files, data={"top_k": "1"})
    assert response.status_code == 200
    results = response.json()["results"]
    for result, digit in zip(results, (0, 1, 7), strict=True):
        assert_prediction(result, digit, top_k=1, layers=False)


def test_batch_of_256_pad_images_fits_its_body_limit(client):
    images = [b64(digit_png(d % 10)) for d in range(256)]
    response = client.post("/api/predict/batch", json={"images": images, "model": "logreg"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 256 and all("prediction" in result for result in results)


def test_a_batch_over_several_turns_keeps_its_order_and_its_pixel_budget(make_client):
    """A batch runs BATCH_TURN drawings a turn; the pixels decoded count across turns, so the limit
    falls in the middle of the second turn here."""
    side = 28
    fits = BATCH_TURN + 3
    images = [b64(digit_png(d % 10, size=side)) for d in range(BATCH_TURN + 8)]
    images[5] = "not base64!"  # an error in place in the first turn
    with make_client(max_batch_pixels=fits * side * side + 100) as small:
        response = small.post("/api/predict/batch", json={"images": images, "model": "logreg"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == len(images)
    assert results[5]["error"]["code"] == "invalid_image"
    # the failed one decoded no pixels, so one more drawing than `fits` is read
    assert all("prediction" in r for i, r in enumerate(results[: fits + 1]) if i != 5)
    for result in results[fits + 1 :]:
        assert result["error"]["code"] == "image_too_large"
        assert "batch's limit" in result["error"]["detail"]


def test_batch_body_over_the_single_image_limit_is_accepted(client):
    # JSON may carry any amount of whitespace: a body over 2 MiB that still holds one small image
    body = json.dumps({"images": [b64(digit_png(1))]}).encode() + b" " * (3 * 1024 * 1024)
    response = client.post("/api/predict/batch", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


@pytest.mark.parametrize("count", [0, 257])
def test_batch_empty_or_over_256(client, count):
    images = [b64(digit_png(1, size=28))] * count
    body = assert_error(client.post("/api/predict/batch", json={"images": images}), 422, "invalid_request")
    assert "images" in body["detail"] or "256" in body["detail"]


def test_batch_multipart_without_images(client):
    assert_error(
        client.post("/api/predict/batch", files={"other": ("x.png", b"x", "image/png")}), 422, "invalid_request"
    )


def test_batch_unknown_model(client):
    assert_error(
        client.post("/api/predict/batch", json={"images": [b64(digit_png(1))], "model": "nope"}), 404, "unknown_model"
    )


def test_batch_bad_top_k(client):
    assert_error(
        client.post("/api/predict/batch", json={"images": [b64(digit_png(1))], "top_k": 0}), 422, "invalid_request"
    )


@pytest.mark.parametrize("option", [("top_k", "3"), ("model", "cnn")])
def test_batch_multipart_with_an_option_twice(client, option):
    name, value = option
    files = [("images", ("7.png", digit_png(7), "image/png")), (name, (None, value)), (name, (None, value))]
    body = assert_error(client.post("/api/predict/batch", files=files), 422, "invalid_request")
    assert f"`{name}` more than once" in body["detail"]


def test_batch_refuses_raw_images(client, seven_png):
    assert_error(
        client.post("/api/predict/batch", content=seven_png, headers={"Content-Type": "image/png"}),
        415,
        "unsupported_media_type",
    )


def test_batch_body_over_its_own_limit(make_client):
    with make_client(max_batch_body_bytes=1000) as small:
        response = small.post("/api/predict/batch", json={"images": [b64(digit_png(1))]})
    assert_error(response, 413, "payload_too_large")


def test_inference_runs_off_the_event_loop(make_client, seven_png, monkeypatch):
    import threading
    import time

    def slow_predict(*args, **kwargs):
        time.sleep(1.0)  # stands in for CPU-bound work that holds its thread
        return b"{}"

    monkeypatch.setattr("app.web.predictions._answer_one", slow_predict)
    with make_client() as app_client:
        worker = threading.Thread(
            target=app_client.post,
            args=("/api/predict",),
            kwargs={"content": seven_png, "headers": {"Content-Type": "image/png"}},
        )
        worker.start()
        time.sleep(0.2)
        start = time.perf_counter()
        assert app_client.get("/healthz").status_code == 200
        waited = time.perf_counter() - start
        worker.join()
    assert waited < 0.5  # the probe did not wait for the prediction
