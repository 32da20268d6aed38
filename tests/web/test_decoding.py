"""Untrusted bytes, base64 and pixel grids -> arrays, with the right ImageError for everything else."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image

from app.nn.preprocess import preprocess
from app.web.decoding import (
    ImageError,
    _grey_alpha_png,
    decode_base64,
    decode_drawing,
    decode_image,
    pixels_array,
    sniff,
    to_array,
)
from app.web.errors import STATUS
from tests.factories import DIGIT_STROKES, TEST_DATA_DIR, grey_alpha, page_png, png_bytes, png_of_rows, stroke_image


def encode(image: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size but holds no pixel data: all a header check needs."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def image_error(call: Callable[[], object], status: int, code: str) -> ImageError:
    with pytest.raises(ImageError) as caught:
        call()
    error = caught.value
    assert (STATUS[error.code], error.code) == (status, code)
    assert error.detail.endswith(".") and len(error.detail) > 20
    return error


@pytest.fixture(scope="module")
def seven() -> Image.Image:
    """A 7 drawn dark on white, 112 px square."""
    return stroke_image(DIGIT_STROKES[7], size=112)


def ink_bits(array: np.ndarray) -> np.ndarray:
    return preprocess(array).bits


# --- formats -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "name"), [("PNG", "PNG"), ("JPEG", "JPEG"), ("WEBP", "WEBP"), ("GIF", "GIF"), ("BMP", "BMP")]
)
def test_each_accepted_format_is_sniffed_and_decoded(seven, fmt, name):
    data = encode(seven, fmt)
    assert sniff(data) == name
    array = decode_image(data)
    assert array.dtype == np.uint8 and array.shape[:2] == (112, 112)
    # every format gives the network the same digit as the lossless original
    reference = ink_bits(np.asarray(seven))
    assert np.mean(ink_bits(array) != reference) < 0.02


@pytest.mark.parametrize("data", [b"", b"hello", b"GIF86a...", b"RIFF\0\0\0\0WAVE", b"%PDF-1.7", b"II*\0tiff"])
def test_bytes_of_no_accepted_format_are_invalid(data):
    assert sniff(data) is None
    image_error(lambda: decode_image(data), 422, "invalid_image")


def test_tiff_is_refused_even_though_pillow_reads_it(seven):
    image_error(lambda: decode_image(encode(seven, "TIFF")), 422, "invalid_image")


def test_truncated_image_is_invalid(seven):
    data = encode(seven, "PNG")
    image_error(lambda: decode_image(data[: len(data) // 2]), 422, "invalid_image")


def test_corrupt_header_is_invalid():
    image_error(lambda: decode_image(b"\x89PNG\r\n\x1a\n" + b"\0" * 40), 422, "invalid_image")


# --- size limits, from the header ---------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(4097, 10), (10, 5000), (4000, 4001)])
def test_dimensions_over_the_limits_are_refused_before_decoding(width, height):
    # the file holds no pixel data at all, so refusing it proves the header alone was read
    error = image_error(lambda: decode_image(png_header_only(width, height)), 413, "image_too_large")
    assert f"{width}x{height}" in error.detail


def test_dimensions_at_the_limit_are_read():
    image = Image.new("L", (4096, 8), 255)
    assert decode_image(encode(image)).shape == (8, 4096)


def test_decompression_bomb_maps_to_image_too_large():
    # with our own limits out of the way, Pillow's decompression-bomb check is what refuses it
    data = png_header_only(30_000, 30_000)
    image_error(lambda: decode_image(data, max_side=100_000, max_pixels=10**10), 413, "image_too_large")


# --- frames, orientation, modes -----------------------------------------------------------------


def test_animated_image_is_read_from_its_first_frame(seven):
    blank = Image.new("RGB", seven.size, "white")
    one = stroke_image(DIGIT_STROKES[1], size=112)
    data = encode(seven.convert("P"), "GIF", save_all=True, append_images=[one.convert("P"), blank.convert("P")])
    assert Image.open(io.BytesIO(data)).n_frames == 3
    assert np.array_equal(ink_bits(decode_image(data)), ink_bits(np.asarray(seven)))


def test_animated_webp_is_read_from_its_first_frame(seven):
    blank = Image.new("RGB", seven.size, "white")
    data = encode(seven, "WEBP", save_all=True, append_images=[blank], lossless=True)
    assert np.array_equal(ink_bits(decode_image(data)), ink_bits(np.asarray(seven)))


def test_jpeg_exif_orientation_is_applied():
    wide = Image.new("L", (60, 20), 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    array = decode_image(encode(wide, "JPEG", exif=exif.tobytes()))
    assert array.shape == (60, 20)


def _in_mode(seven: Image.Image, mode: str) -> Image.Image:
    grey = seven.convert("L")
    if mode == "1":
        return grey.convert("1", dither=Image.Dither.NONE)
    if mode == "LA":  # ink opaque, paper clear: how a canvas exports a drawing
        clear = Image.new("LA", seven.size, (0, 0))
        clear.putalpha(Image.eval(grey, lambda v: 255 - v))
        return clear
    if mode == "I;16":
        return Image.fromarray((np.asarray(grey, dtype=np.uint16) * 257).astype("<u2"))
    if mode == "F":
        return Image.fromarray(np.asarray(grey, dtype=np.float32) / 255.0, "F")
    return seven.convert(mode)


# The format each mode travels in; no accepted format stores I or F, so those are converted in memory.
MODE_FORMATS = {
    "1": "PNG",
    "L": "PNG",
    "LA": "PNG",
    "P": "GIF",
    "RGB": "BMP",
    "RGBA": "WEBP",
    "CMYK": "JPEG",
    "I;16": "PNG",
    "I": None,
    "F": None,
}


@pytest.mark.parametrize(("mode", "fmt"), MODE_FORMATS.items())
def test_every_mode_becomes_8_bit_pixels_that_show_the_digit(seven, mode, fmt):
    image = _in_mode(seven, mode)
    assert image.mode == mode
    options = {"lossless": True} if fmt == "WEBP" else {}
    array = to_array(image) if fmt is None else decode_image(encode(image, fmt, **options))
    assert array.dtype == np.uint8 and array.ndim in (2, 3)
    assert np.mean(ink_bits(array) != ink_bits(np.asarray(seven))) < 0.02


def test_palette_with_transparency_keeps_its_alpha(seven):
    palette = Image.new("P", (40, 40), 0)
    palette.putpalette([255, 255, 255, 0, 0, 0])  # entry 0 white, entry 1 black
    palette.paste(1, (10, 5, 30, 35))
    array = decode_image(encode(palette, transparency=0))
    assert array.shape == (40, 40, 4)
    assert array[0, 0, 3] == 0 and array[20, 20, 3] == 255


# --- the PNGs canvases and the page send, read without Pillow ------------------------------------


def test_the_page_and_chromium_pngs_of_one_drawing_give_the_same_input():
    """tests/data/ink-7.png is what the page posts, canvas-7.png Chromium's PNG of the same canvas."""
    ink_png, canvas_png = (TEST_DATA_DIR / "ink-7.png").read_bytes(), (TEST_DATA_DIR / "canvas-7.png").read_bytes()
    assert _grey_alpha_png(ink_png) is not None  # read without Pillow
    ink, canvas = decode_image(ink_png), decode_image(canvas_png)
    np.testing.assert_array_equal(ink, np.asarray(Image.open(io.BytesIO(ink_png))))
    assert ink.shape == (280, 280, 2) and canvas.shape == (280, 280, 4)
    np.testing.assert_array_equal(ink[:, :, 1], canvas[:, :, 3])
    from_ink, from_canvas = preprocess(ink), preprocess(canvas)
    np.testing.assert_array_equal(from_ink.bits, from_canvas.bits)
    np.testing.assert_array_equal(from_ink.grey, from_canvas.grey)


@pytest.mark.parametrize("digit", range(10))
def test_rendered_strokes_give_the_same_input_in_every_form_of_ink(digit):
    """The pad's strokes as grey + alpha (the page), as a transparent RGBA canvas and as light ink on
    dark: the same 28x28 input from each."""
    ink = 255 - np.asarray(stroke_image(DIGIT_STROKES[digit]).convert("L"))
    forms = {
        "page": page_png(ink),
        "canvas": encode(Image.fromarray(np.dstack([np.full_like(ink, 17)] * 3 + [ink]), "RGBA")),
        "grey": encode(Image.fromarray(ink, "L")),
    }
    inputs = {name: preprocess(decode_image(data)) for name, data in forms.items()}
    for name, pre in inputs.items():
        np.testing.assert_array_equal(pre.bits, inputs["page"].bits, err_msg=name)
        np.testing.assert_array_equal(pre.grey, inputs["page"].grey, err_msg=name)


@pytest.mark.parametrize(
    "case", ["unfiltered", "pillow", "filtered_rows", "ancillary_chunk", "unknown_critical_chunk", "bad_crc"]
)
def test_grey_alpha_pngs_read_as_pillow_reads_them(seven, case):
    """The page's form is read without Pillow; everything else about grey + alpha is left to Pillow,
    so every file gives Pillow's pixels."""
    pixels = grey_alpha(255 - np.asarray(seven.convert("L")))
    text = struct.pack(">I", 5) + b"tEXtab\0cd" + struct.pack(">I", zlib.crc32(b"tEXtab\0cd"))
    data = {
        "unfiltered": png_of_rows(pixels, 4),
        "pillow": encode(Image.fromarray(pixels, "LA")),  # Pillow picks a filter for every row
        "filtered_rows": png_of_rows(pixels, 4, filters=b"\0\1"),  # "Sub" rows: Pillow unfilters them
        "ancillary_chunk": png_of_rows(pixels, 4, chunks=text),
        "unknown_critical_chunk": png_of_rows(pixels, 4, chunks=text.replace(b"tEXt", b"ZZZZ")),
        "bad_crc": png_of_rows(pixels, 4, chunks=text[:-1] + bytes([text[-1] ^ 1])),
    }[case]
    read_directly = _grey_alpha_png(data) is not None
    assert read_directly == (case in ("unfiltered", "ancillary_chunk"))
    try:
        expected = np.asarray(Image.open(io.BytesIO(data)).convert("LA"))
    except Exception:  # Pillow refuses the file: so must decode_image
        image_error(lambda: decode_image(data), 422, "invalid_image")
        return
    np.testing.assert_array_equal(decode_image(data), expected)


def test_a_grey_alpha_png_cut_short_is_invalid(seven):
    data = png_of_rows(grey_alpha(255 - np.asarray(seven.convert("L"))), 4)
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    cut = data[: idat + 4 + length // 2]
    short = struct.pack(">I", length // 2) + b"IDAT" + data[idat + 4 : idat + 4 + length // 2]
    short += struct.pack(">I", zlib.crc32(short[4:])) + data[-12:]  # a whole chunk of half a stream, then IEND
    assert _grey_alpha_png(data[: idat - 4] + short) is None
    image_error(lambda: decode_image(data[: idat - 4] + short), 422, "invalid_image")
    image_error(lambda: decode_image(cut), 422, "invalid_image")


@pytest.mark.parametrize(("mode", "colour_type"), [("L", 0), ("RGB", 2), ("RGBA", 6)])
def test_8_bit_pngs_read_by_libspng_match_pillow(seven, mode, colour_type):
    image = seven.convert(mode)
    data = encode(image)
    assert data[25] == colour_type
    np.testing.assert_array_equal(decode_image(data), np.asarray(image))


# --- base64 and data URLs -----------------------------------------------------------------------


def test_data_url_and_bare_base64_decode_to_the_same_bytes():
    data = png_bytes(stroke_image(DIGIT_STROKES[3], size=56))
    bare = base64.b64encode(data).decode()
    assert decode_base64(bare) == data
    assert decode_base64(f"data:image/png;base64,{bare}") == data
    assert decode_base64(f"DATA:image/jpeg;BASE64,{bare}") == data  # the bytes decide the format, not the label
    assert decode_base64(bare.rstrip("=") + "\n") == data  # padding and line breaks are forgiven
    assert decode_base64(base64.urlsafe_b64encode(data).decode()) == data


@pytest.mark.parametrize(
    "text", ["", "   ", "not base64!", "data:image/png;base64,", "data:image/png,iVBORw0KGgo=", "abcde"]
)
def test_bad_base64_is_an_invalid_image(text):
    image_error(lambda: decode_base64(text), 422, "invalid_image")


def test_base64_of_garbage_is_an_invalid_image():
    image_error(lambda: decode_drawing(base64.b64encode(b"not an image at all").decode()), 422, "invalid_image")


# --- pixel grids --------------------------------------------------------------------------------


def test_pixels_become_a_float_grid():
    grid = [[0, 0, 0], [0, 255, 0.5], [0, 0, 0]]
    array = pixels_array(grid)
    assert array.dtype == np.float32 and array.shape == (3, 3)
    assert array[1, 1] == 255 and array[1, 2] == 0.5


def test_pixels_drawn_bright_on_dark_read_as_the_digit(seven):
    grid = (255 - np.asarray(seven.convert("L"))).tolist()  # ink bright on dark, as the API documents
    assert np.array_equal(ink_bits(pixels_array(grid)), ink_bits(np.asarray(seven)))


@pytest.mark.parametrize(
    "grid",
    [
        [],
        [[]],
        [1, 2, 3],
        "pixels",
        [[1, 2], [3]],
        [[1, 2], "ab"],
        [[1, "2"]],
        [[1, None]],
        [[True, 0]],
        [[float("nan"), 0]],
        [[float("inf"), 0]],
        [[-1, 0]],
        [[256, 0]],
    ],
)
def test_bad_pixels_are_an_invalid_request(grid):
    image_error(lambda: pixels_array(grid), 422, "invalid_request")


@pytest.mark.parametrize(("height", "width"), [(1, 4097), (4097, 1), (4000, 4001)])
def test_pixels_over_the_limits_are_too_large(height, width):
    row = [0] * width
    grid = [row] * height  # shared rows: the limit must be hit before any value is looked at
    image_error(lambda: pixels_array(grid), 413, "image_too_large")
