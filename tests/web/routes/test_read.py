"""POST /api/read: a whole number in, each digit's box, guesses and (when asked) network view out; the
same inputs as /api/predict, single digits read as /api/predict reads them, its errors, and a model's
piece judge missing, stale or tampered with."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.config import MODEL_DIR
from app.nn import manifest
from app.nn.data import load_pen_digits
from app.nn.judge import PieceJudge, judge_path, load_judge
from app.nn.segment import MAX_DIGITS
from app.nn.strokes import render_strokes
from app.nn.writing import GAPS, number_drawing
from tests.factories import (
    DIGIT_STROKES,
    TEST_DATA_DIR,
    assert_error,
    digit_png,
    pad_number,
    png_bytes,
)

DIGIT_FIELDS = {"box", "prediction", "guesses", "probabilities", "input"}


def png(ink: np.ndarray) -> bytes:
    """Light ink on dark (H, W) -> a PNG of dark ink on white, as a program would send it."""
    return png_bytes(Image.fromarray(255 - ink))


def numeral(text: str, gap: float = 0.15, scale: float = 0.6) -> np.ndarray:
    """The digits of `text`, drawn with the pad's pen across the wide pad, `gap` pad heights apart."""
    pitch = scale * 0.7 + gap
    return pad_number(*((DIGIT_STROKES[int(c)], 0.05 + i * pitch, 0.2) for i, c in enumerate(text)), scale=scale)


@pytest.fixture(scope="module")
def pen_digits():
    return load_pen_digits(TEST_DATA_DIR / "pen-strokes-held-out.npz")


def overlap(a: list[int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


# --- the answer ---


def test_a_number_is_read_digit_by_digit_left_to_right(client):
    response = client.post("/api/read", content=png(numeral("2026")), headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "cnn"
    assert body["text"] == "2026"
    assert [d["prediction"] for d in body["digits"]] == [2, 0, 2, 6]
    lefts = [d["box"][0] for d in body["digits"]]
    assert lefts == sorted(lefts)
    for digit in body["digits"]:
        assert set(digit) == DIGIT_FIELDS  # no layers unless asked for
        assert len(digit["guesses"]) == 2 and digit["guesses"][0]["digit"] == digit["prediction"]
        assert len(digit["probabilities"]) == 10 and sum(digit["probabilities"]) == pytest.approx(1, abs=1e-4)
        assert digit["guesses"][0]["probability"] == max(digit["probabilities"])
        assert len(digit["input"]["bits"]) == 784 and set(digit["input"]["bits"]) == {"0", "1"}


def test_boxes_are_in_the_posted_images_pixels(client, pen_digits):
    rng = np.random.default_rng(7)
    picked = [pen_digits[i] for i in (3, 400, 800, 1200)]
    drawing = number_drawing(picked, [rng.uniform(*GAPS["normal"]) for _ in range(3)], rng)
    response = client.post("/api/read", content=png(drawing.image), headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["text"] == drawing.text
    height, width = drawing.image.shape
    for digit, box in zip(body["digits"], drawing.boxes, strict=True):
        x, y, w, h = digit["box"]
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= height
        assert overlap(digit["box"], box) > 0.9, (digit["box"], box)


def test_activations_and_top_k_for_every_digit(client):
    response = client.post(
        "/api/read?activations=true&top_k=3&model=mlp",
        content=png(numeral("47")),
        headers={"Content-Type": "image/png"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "mlp" and body["text"] == "47"
    for digit in body["digits"]:
        assert len(digit["guesses"]) == 3
        layers = digit["layers"]
        assert layers[0]["kind"] == "input" and layers[-1]["kind"] == "output"
        # the input layer is this digit's bits, and the output layer peaks at its guess
        bits = "".join("1" if b else "0" for b in base64.b64decode(layers[0]["data"]))
        assert bits == digit["input"]["bits"]
        out = base64.b64decode(layers[-1]["data"])
        assert max(range(10), key=lambda i: out[i]) == digit["prediction"]


def test_the_same_inputs_as_predict(client):
    ink = numeral("38")
    image = png(ink)
    url = "data:image/png;base64," + base64.b64encode(image).decode()
    pixels = ink.tolist()  # grey levels, ink bright on dark
    answers = [
        client.post("/api/read", files={"image": ("n.png", image, "image/png")}),
        client.post("/api/read", json={"image": url}),
        client.post("/api/read", json={"pixels": pixels}),
    ]
    for response in answers:
        assert response.status_code == 200, response.text
        assert response.json()["text"] == "38"


def test_the_networks_own_input_is_one_digit(client):
    bits = client.post("/api/predict", content=digit_png(5), headers={"Content-Type": "image/png"}).json()["input"]
    response = client.post("/api/read", json={"bits": bits["bits"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["text"] == "5" and body["digits"][0]["input"]["bits"] == bits["bits"]
    grid = np.array(list(bits["bits"]), int).reshape(28, 28)
    rows, cols = np.flatnonzero(grid.any(axis=1)), np.flatnonzero(grid.any(axis=0))
    assert body["digits"][0]["box"] == [cols[0], rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1]


def test_single_digits_read_as_predict_reads_them(client, pen_digits):
    """Pen digits of writers the models never saw, one per pad: /api/read guesses what /api/predict does."""
    for digit in pen_digits[::15]:  # 100 digits, every writer and label
        body = png(render_strokes(digit.strokes))
        read = client.post("/api/read", content=body, headers={"Content-Type": "image/png"}).json()
        predicted = client.post("/api/predict", content=body, headers={"Content-Type": "image/png"}).json()
        assert [d["prediction"] for d in read["digits"]] == [predicted["prediction"]], digit
        assert read["digits"][0]["input"]["bits"] == predicted["input"]["bits"]
        assert read["digits"][0]["probabilities"] == pytest.approx(predicted["probabilities"], abs=1e-5)


# --- errors ---


def test_a_blank_drawing_is_empty(client):
    blank = png(np.zeros((160, 480), np.uint8))
    assert_error(client.post("/api/read", content=blank, headers={"Content-Type": "image/png"}), 422, "empty_drawing")
    assert_error(client.post("/api/read", json={"bits": "0" * 784}), 422, "empty_drawing")


def test_more_digits_than_the_limit(client):
    too_many = pad_number(
        *((DIGIT_STROKES[1], 0.1 + i * 0.25, 0.2) for i in range(MAX_DIGITS + 1)), size=(1100, 160), scale=0.6
    )
    body = assert_error(
        client.post("/api/read", content=png(too_many), headers={"Content-Type": "image/png"}), 422, "too_many_digits"
    )
    assert str(MAX_DIGITS) in body["detail"]
    at_limit = pad_number(
        *((DIGIT_STROKES[1], 0.1 + i * 0.25, 0.2) for i in range(MAX_DIGITS)), size=(1100, 160), scale=0.6
    )
    response = client.post("/api/read", content=png(at_limit), headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "1" * MAX_DIGITS


def test_bad_requests(client):
    assert_error(
        client.post("/api/read", content=b"not an image", headers={"Content-Type": "image/png"}), 422, "invalid_image"
    )
    assert_error(
        client.post("/api/read?model=nope", content=png(numeral("12")), headers={"Content-Type": "image/png"}),
        404,
        "unknown_model",
    )
    assert_error(client.post("/api/read?top_k=11", content=png(numeral("12"))), 422, "invalid_request")
    assert_error(client.post("/api/read", json={"bits": "01"}), 422, "invalid_request")


# --- the piece judge ---


def _cnn_folder(tmp_path: Path, judge_sha256: str | None) -> Path:
    """The cnn alone in a folder with its stimuli and, unless None, its judge recording `judge_sha256` as the
    model file it was fitted to."""
    for name in ("cnn.npz", "cnn.stimuli.npz"):
        shutil.copy(MODEL_DIR / name, tmp_path / name)
    if judge_sha256 is not None:
        shipped = load_judge(judge_path(MODEL_DIR / "cnn.npz"))
        judge = PieceJudge(shipped.mean, shipped.scale, shipped.hidden, shipped.output, judge_sha256, shipped.meta)
        judge.save(judge_path(tmp_path / "cnn.npz"))
    manifest.write_manifest(tmp_path)
    return tmp_path


def test_a_model_without_a_judge_is_ready_and_reads_numbers(make_client, tmp_path, caplog):
    with make_client(model_dir=_cnn_folder(tmp_path, None), models=("cnn",)) as plain:
        assert plain.get("/readyz").status_code == 200
        response = plain.post("/api/read", content=png(numeral("2026")), headers={"Content-Type": "image/png"})
    assert response.status_code == 200 and response.json()["text"] == "2026"
    assert any("no piece judge" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


def test_a_judge_of_another_model_file_or_that_fails_its_sum_is_refused_and_numbers_are_still_read(
    make_client, tmp_path
):
    (tmp_path / "stale").mkdir()
    (tmp_path / "tampered").mkdir()
    stale = _cnn_folder(tmp_path / "stale", "0" * 64)
    tampered = _cnn_folder(tmp_path / "tampered", manifest.sha256(MODEL_DIR / "cnn.npz"))
    (tampered / "cnn.judge.npz").write_bytes((tampered / "cnn.judge.npz").read_bytes() + b"\0")
    for folder, says in [(stale, "fitted to another model file"), (tampered, "does not match its SHA-256")]:
        with make_client(model_dir=folder, models=("cnn",)) as refused:
            ready = assert_error(refused.get("/readyz"), 503, "not_ready")
            response = refused.post("/api/read", content=png(numeral("2026")), headers={"Content-Type": "image/png"})
        assert "cnn.judge.npz" in ready["detail"] and says in ready["detail"]
        assert response.status_code == 200 and response.json()["text"] == "2026"
