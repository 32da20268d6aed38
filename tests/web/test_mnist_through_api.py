"""Serving sees what training saw: the whole MNIST test set, posted as a canvas would post it,
scores within 0.3 points of `digitpad evaluate` for every shipped model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.config import MODEL_DIR
from app.nn.data import load_mnist, mnist_inputs
from app.nn.evaluate import accuracy_report, predict_batches
from app.nn.network import load_model
from app.nn.preprocess import binarize
from tests.factories import TEST_DATA_DIR, png_bytes

pytestmark = pytest.mark.slow
BATCH = 256


def canvas_png(digit: np.ndarray) -> bytes:
    """A 28x28 MNIST digit as the pad would post it: 280x280, black ink whose alpha is the stroke.

    Each pixel becomes a 10x10 block (a canvas drawing the bitmap without smoothing), so the
    drawing is the very digit training saw; a smoothing filter would make it a different drawing.
    """
    alpha = Image.fromarray(digit).resize((280, 280), Image.Resampling.NEAREST)
    image = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    image.putalpha(alpha)
    return png_bytes(image, compress_level=1)


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    images, labels = load_mnist(TEST_DATA_DIR, "test", download=False)
    return images, labels, [canvas_png(image) for image in images]


@pytest.mark.parametrize("name", ["cnn", "mlp", "logreg"])
def test_api_accuracy_matches_evaluate(client, mnist, name):
    images, labels, pngs = mnist
    guesses = np.full(len(labels), -1)  # -1: the API found the drawing blank, which counts as wrong
    for first in range(0, len(pngs), BATCH):
        files = [("images", (f"{i}.png", pngs[i], "image/png")) for i in range(first, min(first + BATCH, len(pngs)))]
        response = client.post("/api/predict/batch", files=files, data={"model": name})
        assert response.status_code == 200, response.text
        for i, result in enumerate(response.json()["results"], start=first):
            if "error" in result:
                assert result["error"]["code"] == "empty_drawing"
            else:
                guesses[i] = result["prediction"]
    served = float((guesses == labels).mean())
    network = load_model(MODEL_DIR / f"{name}.npz").network
    evaluated = accuracy_report(predict_batches(network, binarize(mnist_inputs(images))), labels)["accuracy"]
    assert abs(served - evaluated) <= 0.003
