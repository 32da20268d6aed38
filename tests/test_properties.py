"""Property tests of decoding and preprocessing: whatever comes in, out comes a prediction or a documented
error (ImageError with a documented status and code, or BlankDrawing), never another exception."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from app.config import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, MODEL_DIR
from app.core.inference import predict
from app.nn.network import Model, load_model
from app.nn.preprocess import BlankDrawing, preprocess
from app.web.decoding import SIGNATURES, ImageError, Source, decode_base64, decode_drawing, pixels_array, to_array
from app.web.errors import STATUS

# Small limits so images "at the limit" stay cheap; the checks are the same code at any size.
MAX_SIDE, MAX_PIXELS = 256, 40_000
DOCUMENTED = {(413, "image_too_large"), (422, "invalid_image"), (422, "invalid_request")}
MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F")
FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
bounded = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@pytest.fixture(scope="module")
def model() -> Model:
    return load_model(MODEL_DIR / "logreg.npz")  # the fastest: these tests are about what reaches the network


def outcome(model: Model, source: Source) -> str:
    """'prediction', 'blank' or the error code; fails on any exception the API does not document."""
    try:
        pre = preprocess(decode_drawing(source, MAX_SIDE, MAX_PIXELS))
    except ImageError as exc:
        assert (STATUS[exc.code], exc.code) in DOCUMENTED, (STATUS[exc.code], exc.code)
        assert exc.detail.endswith(".")
        return exc.code
    except BlankDrawing:
        return "blank"
    assert pre.bits.shape == (28, 28) and set(np.unique(pre.bits)) <= {0, 1}
    prediction = predict(model, pre, top_k=3, activations=False)
    assert math.isclose(sum(prediction.probabilities), 1.0, abs_tol=1e-4)
    assert 0 <= prediction.prediction <= 9
    return "prediction"


# --- images of any mode and size ------------------------------------------------------------------------


@st.composite
def pictures(draw: st.DrawFn, max_side: int = 64) -> Image.Image:
    """An image in any mode, 1x1 up to max_side a side: noise, a flat colour, a stroke, or sparse dots."""
    mode = draw(st.sampled_from(MODES))
    width, height = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pattern = draw(st.sampled_from(["noise", "flat", "stroke", "dots"]))
    if pattern == "noise":
        grey = rng.integers(0, 256, (height, width, 4))
    elif pattern == "flat":
        grey = np.broadcast_to(rng.integers(0, 256, 4), (height, width, 4))
    else:
        grey = np.full((height, width, 4), 255)
        if pattern == "stroke":
            grey[:, max(0, width // 2 - 2) : width // 2 + 2] = 0
        else:
            grey[rng.random((height, width)) < 0.02] = 0
    rgba = Image.fromarray(np.ascontiguousarray(grey, dtype=np.uint8), "RGBA")
    if mode == "P":
        image = rgba.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
        if draw(st.booleans()):
            image.info["transparency"] = draw(st.integers(0, 7))
        return image
    if mode == "I;16":
        return Image.fromarray(np.asarray(rgba.convert("L"), dtype=np.uint16) * draw(st.sampled_from([1, 257])))
    if mode == "F":
        values = np.asarray(rgba.convert("L"), dtype=np.float32) * draw(st.sampled_from([1 / 255, 1.0, 1e6, -1.0]))
        if draw(st.booleans()):
            values.flat[0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        return Image.fromarray(values, "F")
    return rgba.convert(mode)


def encode(image: Image.Image, fmt: str) -> bytes | None:
    """The image in `fmt`, or None where Pillow cannot write that mode in that format."""
    buffer = io.BytesIO()
    try:
        image.save(
            buffer,
            format=fmt,
            **(
                {"transparency": image.info["transparency"]}
                if "transparency" in image.info and fmt in ("PNG", "GIF")
                else {}
            ),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return buffer.getvalue()


@bounded
@given(image=pictures())
def test_any_mode_becomes_a_drawing_or_a_blank(model, image):
    pixels = to_array(image)
    assert pixels.dtype == np.uint8 and pixels.shape[:2] == (image.height, image.width)
    assert pixels.ndim == 2 or pixels.shape[2] in (2, 3, 4)
    try:
        pre = preprocess(pixels)
    except BlankDrawing:
        return
    assert predict(model, pre, activations=True).activations


@bounded
@given(image=pictures(), fmt=st.sampled_from(FORMATS))
def test_any_mode_in_any_format_is_a_prediction_or_a_documented_error(model, image, fmt):
    data = encode(image, fmt)
    if data is not None:
        assert outcome(model, data) in {"prediction", "blank"}


@bounded
@given(width=st.integers(1, MAX_SIDE + 8), height=st.integers(1, MAX_SIDE + 8), fmt=st.sampled_from(FORMATS))
@example(width=MAX_SIDE, height=1, fmt="PNG")
@example(width=1, height=MAX_SIDE, fmt="GIF")
@example(width=MAX_SIDE, height=MAX_PIXELS // MAX_SIDE, fmt="WEBP")
@example(width=MAX_SIDE, height=MAX_PIXELS // MAX_SIDE + 1, fmt="BMP")
@example(width=MAX_SIDE + 1, height=1, fmt="JPEG")
def test_any_size_up_to_the_limit_is_read_and_beyond_it_refused(model, width, height, fmt):
    image = Image.new("L", (width, height), 255)
    image.paste(0, (width // 4, 0, max(width // 4 + 1, width // 2), height))  # a bar of ink
    result = outcome(model, encode(image, fmt))
    if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        assert result == "image_too_large"
    else:
        assert result in {"prediction", "blank"}


# --- any bytes, any text ----------------------------------------------------------------------------------


@bounded
@given(data=st.binary(max_size=2048))
def test_any_bytes(model, data):
    outcome(model, data)


@bounded
@given(
    magic=st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"RIFF\0\0\0\0WEBP", b"BM"]),
    tail=st.binary(max_size=512),
)
def test_any_bytes_behind_a_real_signature(model, magic, tail):
    assert any(pattern.match(magic + tail) for _, pattern in SIGNATURES)
    assert outcome(model, magic + tail) != "prediction" or len(tail) > 20


@bounded
@given(image=pictures(max_side=32), fmt=st.sampled_from(FORMATS), data=st.data())
def test_any_image_with_bytes_cut_or_flipped(model, image, fmt, data):
    encoded = encode(image, fmt)
    if encoded is None:
        return
    damaged = bytearray(encoded)
    if data.draw(st.booleans(), label="truncate"):
        damaged = damaged[: data.draw(st.integers(0, len(damaged)), label="keep")]
    else:
        for _ in range(data.draw(st.integers(1, 8), label="flips")):
            at = data.draw(st.integers(0, len(damaged) - 1), label="at")
            damaged[at] = data.draw(st.integers(0, 255), label="byte")
    outcome(model, bytes(damaged))


DATA_URLS = st.from_regex(r"\Adata:[a-z/+]{0,20}(;[a-z0-9=]{0,10}){0,3},[A-Za-z0-9+/=_-]{0,80}\Z")


@bounded
@given(text=st.text(max_size=300) | DATA_URLS)
def test_any_text_as_base64(model, text):
    try:
        decoded = decode_base64(text)
    except ImageError as exc:
        assert (STATUS[exc.code], exc.code) == (422, "invalid_image")
        return
    assert isinstance(decoded, bytes)
    outcome(model, text)


# --- any pixel grid ----------------------------------------------------------------------------------------

JSON_SCALARS = (
    st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.none()
    | st.text(max_size=3)
)
grey_levels = st.integers(0, 255) | st.floats(0, 255)


@bounded
@given(rows=st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=6), max_leaves=60))
def test_any_json_value_as_pixels(model, rows):
    if not isinstance(rows, list):
        rows = [rows]
    outcome(model, rows)


@bounded
@given(
    rows=st.integers(1, 40).flatmap(
        lambda width: st.lists(st.lists(grey_levels, min_size=width, max_size=width), min_size=1, max_size=40)
    )
)
def test_any_rectangle_of_grey_levels(model, rows):
    assert outcome(model, rows) in {"prediction", "blank"}


@bounded
@given(width=st.integers(1, MAX_SIDE + 4), height=st.integers(1, MAX_SIDE + 4))
def test_any_grid_size_up_to_the_limit(model, width, height):
    rows = [[255.0 if x == width // 2 else 0.0 for x in range(width)] for _ in range(height)]
    result = outcome(model, rows)
    if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        assert result == "image_too_large"
    else:
        assert result in {"prediction", "blank"}


@bounded
@given(
    shape=st.sampled_from([(5, 7), (9, 4, 1), (6, 6, 2), (8, 3, 3), (3, 8, 4)]),
    dtype=st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.float64, np.bool_]),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([1.0, 255.0]),
)
def test_any_array_in_range_of_any_dtype(model, shape, dtype, seed, scale):
    rng = np.random.default_rng(seed)
    array = (rng.random(shape) * scale).astype(dtype)
    array = np.repeat(np.repeat(array, 6, axis=0), 6, axis=1)  # large enough for ink to count as a digit
    try:
        pre = preprocess(array)
    except BlankDrawing:
        return
    assert pre.bits.shape == (28, 28)
    pixels = array if array.ndim == 2 else None
    if pixels is not None and array.dtype != np.bool_:
        assert pixels_array(pixels.tolist(), MAX_SIDE, MAX_PIXELS).shape == array.shape


def test_pixels_that_are_not_a_list_are_refused():
    for value in ("255", b"\xff", 255, None, {"0": [1]}):
        with pytest.raises(ImageError) as caught:
            pixels_array(value, MAX_SIDE, MAX_PIXELS)  # type: ignore[arg-type]
        assert (STATUS[caught.value.code], caught.value.code) == (422, "invalid_request")


def test_decoding_returns_what_preprocess_reads_for_every_mode() -> None:
    shapes: dict[str, Any] = {}
    for mode in MODES:
        image = Image.new("RGBA", (3, 2), (10, 20, 30, 40))
        image = Image.fromarray(np.zeros((2, 3), np.float32), "F") if mode == "F" else image.convert(mode)
        shapes[mode] = to_array(image).shape
    assert all(shape[:2] == (2, 3) for shape in shapes.values()), shapes


@pytest.mark.parametrize(
    "size", [(MAX_IMAGE_SIDE, 1), (1, MAX_IMAGE_SIDE), (MAX_IMAGE_SIDE, MAX_IMAGE_PIXELS // MAX_IMAGE_SIDE)]
)
def test_the_largest_images_the_server_accepts_are_read(model, size):
    image = Image.new("L", size, 255)
    image.paste(0, (size[0] // 3, 0, max(size[0] // 3 + 1, size[0] // 2), size[1]))
    try:
        pre = preprocess(decode_drawing(encode(image, "PNG") or b""))
    except BlankDrawing:
        assert min(size) == 1  # a line a pixel thick is a speck at this scale
        return
    assert predict(model, pre).activations
