"""What the tests make and check: drawings of digits as pen strokes (rendered by the product's own
`render_strokes`, as the pad renders them), settings on the shipped models, and error answers.

Strokes are lists of (x, y) points in the unit square, y down, so the same digit can be replayed
on a canvas of any size by the browser tests or rendered to a PNG for the API tests.
"""

from __future__ import annotations

import atexit
import functools
import io
import math
import shutil
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from app.config import MODEL_DIR, Settings
from app.nn.data import MNIST_FILES
from app.nn.strokes import NUMBER_PAD_HEIGHT, NUMBER_PAD_WIDTH, PEN_WIDTH, render_strokes

Stroke = list[tuple[float, float]]
# The committed MNIST test set and the page's own canvas upload (see tests/data/README.md).
TEST_DATA_DIR = Path(__file__).resolve().parent / "data"


@functools.cache
def scratch_data_dir() -> Path:
    """A data folder for the tests' apps, removed when the tests end: nothing is written into the checkout."""
    folder = Path(tempfile.mkdtemp(prefix="digitpad-test-data-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def make_settings(**overrides: Any) -> Settings:
    """Settings on the shipped models, writing into a scratch data folder, with corrections on and no admin
    token, whatever DIGITPAD_ variables the environment has."""
    defaults = {
        "model_dir": MODEL_DIR,
        "cors_origins": (),
        "data_dir": scratch_data_dir(),
        "database_url": None,
        "corrections": True,
        "admin_token": None,
    }
    return Settings(**{**defaults, **overrides})


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the API's JSON error `code` with `status` and a sentence for a person; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"detail", "code"}
    assert body["code"] == code
    assert body["detail"].endswith(".") and len(body["detail"]) > 20
    return body


def _arc(cx: float, cy: float, rx: float, ry: float, start_deg: float, end_deg: float, n: int = 24) -> Stroke:
    """Points on an ellipse from start to end angle (degrees, 0 = right, 90 = down)."""
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
        for a in np.linspace(start_deg, end_deg, n)
    ]


DIGIT_STROKES: dict[int, list[Stroke]] = {
    0: [_arc(0.5, 0.5, 0.22, 0.36, -90, 275, 40)],
    1: [[(0.42, 0.24), (0.54, 0.14), (0.54, 0.86)]],
    2: [[*_arc(0.5, 0.33, 0.2, 0.18, 190, 380, 16), (0.6, 0.52), (0.3, 0.86), (0.74, 0.86)]],
    3: [[*_arc(0.48, 0.32, 0.19, 0.17, 200, 450, 18), *_arc(0.48, 0.67, 0.22, 0.19, 270, 520, 18)[1:]]],
    4: [[(0.62, 0.86), (0.62, 0.14), (0.26, 0.62), (0.78, 0.62)]],
    5: [[(0.7, 0.15), (0.36, 0.15), (0.33, 0.46), *_arc(0.5, 0.64, 0.21, 0.21, 230, 500, 20)[1:]]],
    6: [[(0.64, 0.14), (0.48, 0.3), (0.36, 0.52), *_arc(0.52, 0.66, 0.17, 0.19, 190, 540, 28)]],
    7: [[(0.27, 0.17), (0.73, 0.17), (0.44, 0.86)]],
    8: [_arc(0.5, 0.31, 0.16, 0.16, 90, 450, 24), _arc(0.5, 0.67, 0.2, 0.19, -90, 270, 28)],
    9: [[*_arc(0.5, 0.34, 0.18, 0.19, 0, 365, 28), (0.68, 0.36), (0.64, 0.86)]],
}


def stroke_image(
    strokes: list[Stroke],
    size: int = 280,
    pen: float = 0.075,
    scale: float = 1.0,
    offset: tuple[float, float] = (0.0, 0.0),
) -> Image.Image:
    """Strokes drawn with a round pen of `pen * size` pixels, dark ink on white, as an RGB image.

    `scale` shrinks the digit about the canvas centre and `offset` moves it (fractions of the canvas).
    """
    placed = [
        np.array([(0.5 + (x - 0.5) * scale + offset[0], 0.5 + (y - 0.5) * scale + offset[1]) for x, y in stroke])
        for stroke in strokes
    ]
    ink = render_strokes(placed, size=size, pen_width=pen, source_size=1.0)
    return Image.fromarray(255 - ink).convert("RGB")


def png_bytes(image: Image.Image, fmt: str = "PNG", **params: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_of_rows(pixels: np.ndarray, colour_type: int, filters: bytes = b"\0", chunks: bytes = b"") -> bytes:
    """An 8-bit PNG written row by row with the given filter byte(s) (cycled) and no filtering applied to
    the rows themselves, which only filter type 0 leaves correct; `chunks` go before the IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    height, width = pixels.shape[:2]
    rows = b"".join(filters[y % len(filters) : y % len(filters) + 1] + pixels[y].tobytes() for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunks + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )


def grey_alpha(ink: np.ndarray) -> np.ndarray:
    """Black ink with `ink` as its alpha, as the page posts a drawing: (H, W, 2) (`page_png` writes it)."""
    return np.dstack([np.zeros_like(ink), ink])


def page_png(ink: np.ndarray) -> bytes:
    """A drawing's ink (H, W) of 0-255 as the page posts it (`inkPng` in static/js/api.js): black, the ink
    its alpha, as grey + alpha rows that are not filtered."""
    return png_of_rows(grey_alpha(ink), 4)


def digit_png(digit: int, size: int = 280, **kwargs: float | tuple[float, float]) -> bytes:
    """A PNG of `digit` drawn with the pad's round pen, dark ink on white, as a program might send it.
    The page's own upload, its ink as grey + alpha, is tests/data/ink-7.png; Chromium's PNG of the same
    transparent canvas is tests/data/canvas-7.png."""
    return png_bytes(stroke_image(DIGIT_STROKES[digit], size, **kwargs))  # type: ignore[arg-type]


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """The share of each input's ink that lies within one pixel of the other's (the smaller share).

    Strokes are two or three pixels wide, so a half-pixel difference in where a stroke falls flips
    whole rows of bits; what matters is that the same strokes are in the same places.
    """

    def near(x: np.ndarray) -> np.ndarray:
        h, w = x.shape
        padded = np.pad(x, 1)
        return np.max([padded[i : i + h, j : j + w] for i in range(3) for j in range(3)], axis=0)

    a, b = a.astype(bool), b.astype(bool)
    return float(min((a & near(b)).sum() / a.sum(), (b & near(a)).sum() / b.sum()))


# --- numbers: several digits on the wide pad ---


def pad_number(
    *placed: tuple[list[Stroke], float, float],
    size: tuple[int, int] = (NUMBER_PAD_WIDTH, NUMBER_PAD_HEIGHT),
    scale: float = 0.8,
    pen: float = PEN_WIDTH,
) -> np.ndarray:
    """Unit-square strokes (DIGIT_STROKES) drawn on the wide pad, light ink on dark (H, W) uint8.

    Each (strokes, x, y) puts a digit's unit square, `scale` of the pad's height on a side, with its top
    left corner at (x, y) in fractions of the pad's height; the pen is `pen` of the height, as the page's.
    """
    width, height = size
    strokes = [
        np.array([((x + u * scale) * height, (y + v * scale) * height) for u, v in stroke], np.float32)
        for digit, x, y in placed
        for stroke in digit
    ]
    return render_strokes(strokes, height, pen, height, width)


def train_dir_from_test_set(folder: Path) -> Path:
    """A data folder whose MNIST "training" files are the committed test set: enough for quick training runs."""
    folder.mkdir()
    for split in ("train", "test"):
        for source, name in zip(MNIST_FILES["test"], MNIST_FILES[split], strict=True):
            (folder / f"{name}.gz").symlink_to(TEST_DATA_DIR / f"{source}.gz")
    return folder
