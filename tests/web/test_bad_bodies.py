"""The bad-input catalogue, through a live server: images that lie, bomb or are not images, bad JSON,
multipart and parameters. Each case asserts the status, the error `code`, and that the server still
answers afterwards."""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests import servers
from tests.factories import DIGIT_STROKES, digit_png, stroke_image
from tests.web.live import (
    assert_still_answers,
)


def seven(size: int = 280) -> Image.Image:
    return stroke_image(DIGIT_STROKES[7], size)


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def with_png_size(png: bytes, width: int, height: int) -> bytes:
    """The PNG with its IHDR claiming another size, CRC fixed so the header itself reads as valid."""
    data = bytearray(png)
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@cache
def png_bomb() -> bytes:
    """16 MP of zeros (more than the 16 MP limit, each side under 4096) in about 16 KB."""
    return encode(Image.new("L", (4000, 4001)), "PNG")


def gif_bomb() -> bytes:
    """A 1x1 GIF whose logical screen claims 65535x65535."""
    data = bytearray(encode(Image.new("L", (1, 1)), "GIF"))
    data[6:10] = struct.pack("<HH", 65535, 65535)
    return bytes(data)


def webp_bomb() -> bytes:
    """A 1x1 lossless WebP whose VP8L header claims 16384x16384."""
    data = bytearray(encode(Image.new("L", (1, 1)), "WEBP", lossless=True))
    at = data.index(b"VP8L") + 9  # past the chunk header and the 0x2f signature byte
    bits = int.from_bytes(data[at : at + 4], "little")
    bits = (bits & ~((1 << 28) - 1)) | 16383 | (16383 << 14)  # 14 bits each of width - 1 and height - 1
    data[at : at + 4] = bits.to_bytes(4, "little")
    return bytes(data)


def animated_gif() -> bytes:
    """A 7, then a 1: an animated image is read from its first frame."""
    first, second = seven().convert("L"), stroke_image(DIGIT_STROKES[1]).convert("L")
    return encode(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)


def png_16_bit() -> bytes:
    image = Image.fromarray(np.asarray(seven().convert("L"), dtype=np.uint16) * 257)
    assert image.mode == "I;16"
    return encode(image, "PNG")


def palette_png_with_transparency() -> bytes:
    image = seven().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    return encode(image, "PNG", transparency=0)


def exif_rotated_jpeg() -> bytes:
    """The 7 stored turned a quarter, with an EXIF orientation (6: turn 90 degrees clockwise) to undo it."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(seven().transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif, quality=95)


SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><path d="M6 5h16L12 24" '
    b'stroke="black" stroke-width="3"/><script>alert(1)</script></svg>'
)
HTML = b"<!doctype html><html><body><img src=x onerror=alert(1)>7</body></html>"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- the catalogue -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One request: its body is built lazily so collecting the tests stays cheap."""

    status: int
    code: str | None  # the error code, or None for a 200
    content: Callable[[], bytes] | None = None
    content_type: str | None = None
    path: str = "/api/predict"
    params: dict[str, str] = field(default_factory=dict)
    json: Callable[[], Any] | None = None
    files: Callable[[], list[tuple[str, Any]]] | None = None
    data: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    expect: Callable[[dict[str, Any]], None] | None = None


def predicts(digit: int) -> Callable[[dict[str, Any]], None]:
    def check(body: dict[str, Any]) -> None:
        assert body["prediction"] == digit, body["guesses"]

    return check


def first_error_in_batch(code: str) -> Callable[[dict[str, Any]], None]:
    def check(body: dict[str, Any]) -> None:
        assert body["results"][0]["error"]["code"] == code
        assert body["results"][1]["prediction"] == 7  # one bad image never fails the batch

    return check


PNG7 = "image/png"
CASES: dict[str, Case] = {
    # bodies that are not a drawing
    "empty body as PNG": Case(422, "invalid_image", lambda: b"", PNG7),
    "empty body without a content type": Case(415, "unsupported_media_type", lambda: b""),
    "truncated PNG": Case(422, "invalid_image", lambda: digit_png(7)[:300], PNG7),
    "truncated JPEG": Case(422, "invalid_image", lambda: (j := encode(seven(), "JPEG"))[: len(j) // 2], "image/jpeg"),
    "JPEG cut inside its header": Case(422, "invalid_image", lambda: encode(seven(), "JPEG")[:200], "image/jpeg"),
    "PNG header claims a larger size than its data": Case(
        422, "invalid_image", lambda: with_png_size(digit_png(7, 28), 56, 56), PNG7
    ),
    "PNG header claims 100000x100000": Case(
        413, "image_too_large", lambda: with_png_size(digit_png(7, 28), 100_000, 100_000), PNG7
    ),
    "PNG bomb: 16 MP of zeros in 16 KB": Case(413, "image_too_large", png_bomb, PNG7),
    "PNG wider than 4096 px": Case(413, "image_too_large", lambda: encode(Image.new("L", (4097, 1)), "PNG"), PNG7),
    "GIF bomb: screen of 65535x65535": Case(413, "image_too_large", gif_bomb, "image/gif"),
    "WebP bomb: 16384x16384 header": Case(413, "image_too_large", webp_bomb, "image/webp"),
    "random bytes as PNG": Case(422, "invalid_image", lambda: os.urandom(2048), PNG7),
    "PNG signature and nothing else": Case(422, "invalid_image", lambda: b"\x89PNG\r\n\x1a\n", PNG7),
    "SVG sent as a PNG": Case(422, "invalid_image", lambda: SVG, PNG7),
    "SVG with its own type": Case(415, "unsupported_media_type", lambda: SVG, "image/svg+xml"),
    "HTML sent as a PNG": Case(422, "invalid_image", lambda: HTML, PNG7),
    "HTML with its own type": Case(415, "unsupported_media_type", lambda: HTML, "text/html"),
    "blank white canvas": Case(
        422, "empty_drawing", lambda: encode(Image.new("RGB", (280, 280), "white"), "PNG"), PNG7
    ),
    "1x1 image": Case(422, "empty_drawing", lambda: encode(Image.new("L", (1, 1), 255), "PNG"), PNG7),
    # images that are unusual but fine
    "animated GIF is read from its first frame": Case(200, None, animated_gif, "image/gif", expect=predicts(7)),
    "16-bit grey PNG": Case(200, None, png_16_bit, PNG7, expect=predicts(7)),
    "palette PNG with transparency": Case(200, None, palette_png_with_transparency, PNG7, expect=predicts(7)),
    "CMYK JPEG": Case(200, None, lambda: encode(seven().convert("CMYK"), "JPEG"), "image/jpeg", expect=predicts(7)),
    "EXIF-rotated JPEG is turned upright": Case(200, None, exif_rotated_jpeg, "image/jpeg", expect=predicts(7)),
    "BMP": Case(200, None, lambda: encode(seven(), "BMP"), "image/bmp", expect=predicts(7)),
    "PNG declared as JPEG is sniffed": Case(200, None, lambda: digit_png(7), "image/jpeg", expect=predicts(7)),
    # content types
    "PNG as text/plain": Case(415, "unsupported_media_type", lambda: digit_png(7), "text/plain"),
    "PNG without a content type": Case(415, "unsupported_media_type", lambda: digit_png(7)),
    "PNG as application/octet-stream": Case(
        415, "unsupported_media_type", lambda: digit_png(7), "application/octet-stream"
    ),
    "form-urlencoded": Case(415, "unsupported_media_type", lambda: b"image=abc", "application/x-www-form-urlencoded"),
    # multipart
    "multipart without the file": Case(
        422, "invalid_request", data={"note": "hi"}, files=lambda: [("other", ("7.png", digit_png(7), PNG7))]
    ),
    "multipart with two files": Case(
        422,
        "invalid_request",
        files=lambda: [("image", ("a.png", digit_png(7), PNG7)), ("image", ("b.png", digit_png(1), PNG7))],
    ),
    "multipart with the image as a text field": Case(
        422,
        "invalid_request",
        data={"image": b64(digit_png(7))},
        files=lambda: [("other", ("x.txt", b"x", "text/plain"))],
    ),
    "multipart without a boundary": Case(422, "invalid_request", lambda: b"--x\r\n\r\n", "multipart/form-data"),
    "multipart with a bomb": Case(413, "image_too_large", files=lambda: [("image", ("b.png", png_bomb(), PNG7))]),
    # base64 and data URLs
    "base64 with a padding error": Case(422, "invalid_image", json=lambda: {"image": "iVBO=Rw0KGgo="}),
    "base64 of one character": Case(422, "invalid_image", json=lambda: {"image": "Q"}),
    "base64 with characters outside the alphabet": Case(422, "invalid_image", json=lambda: {"image": "iVBO*w0K"}),
    "data URL of HTML": Case(422, "invalid_image", json=lambda: {"image": "data:text/html;base64," + b64(HTML)}),
    "data URL that is not base64": Case(422, "invalid_image", json=lambda: {"image": "data:image/png,%89PNG"}),
    "data URL of a bomb": Case(
        413, "image_too_large", json=lambda: {"image": "data:image/png;base64," + b64(png_bomb())}
    ),
    "empty image string": Case(422, "invalid_image", json=lambda: {"image": ""}),
    "URL-safe base64 data URL": Case(
        200,
        None,
        json=lambda: {"image": "data:image/png;base64," + base64.urlsafe_b64encode(digit_png(7)).decode()},
        expect=predicts(7),
    ),
    # JSON
    "JSON that is a list": Case(422, "invalid_request", lambda: b"[1, 2]", "application/json"),
    "JSON that is a string": Case(422, "invalid_request", lambda: b'"7"', "application/json"),
    "JSON that is not JSON": Case(422, "invalid_request", lambda: b"{'image':", "application/json"),
    "JSON in Latin-1": Case(422, "invalid_request", lambda: b'{"image": "\xe9"}', "application/json"),
    "JSON nested 10000 deep": Case(
        422, "invalid_request", lambda: b'{"pixels": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "application/json"
    ),
    "JSON with neither image nor pixels": Case(422, "invalid_request", json=lambda: {}),
    "JSON with both image and pixels": Case(422, "invalid_request", json=lambda: {"image": "x", "pixels": [[1]]}),
    "JSON with an unknown field": Case(422, "invalid_request", json=lambda: {"pixels": [[1]], "admin": True}),
    "huge number in pixels": Case(422, "invalid_request", lambda: b'{"pixels": [[1e999, 0]]}', "application/json"),
    "5000-digit integer in pixels": Case(
        422, "invalid_request", lambda: b'{"pixels": [[' + b"9" * 5000 + b"]]}", "application/json"
    ),
    "NaN in pixels": Case(422, "invalid_request", lambda: b'{"pixels": [[NaN, 0]]}', "application/json"),
    "Infinity in pixels": Case(422, "invalid_request", lambda: b'{"pixels": [[Infinity, 0]]}', "application/json"),
    "-Infinity in pixels": Case(422, "invalid_request", lambda: b'{"pixels": [[-Infinity, 0]]}', "application/json"),
    "pixel over 255": Case(422, "invalid_request", json=lambda: {"pixels": [[0, 256], [0, 0]]}),
    "negative pixel": Case(422, "invalid_request", json=lambda: {"pixels": [[0, -1], [0, 0]]}),
    "pixels as strings": Case(422, "invalid_request", json=lambda: {"pixels": [["0", "255"]]}),
    "pixels as booleans": Case(422, "invalid_request", json=lambda: {"pixels": [[True, False]]}),
    "ragged pixels": Case(422, "invalid_request", json=lambda: {"pixels": [[0, 255, 0], [255]]}),
    "3-D pixels": Case(422, "invalid_request", json=lambda: {"pixels": [[[0, 255]], [[255, 0]]]}),
    "1-D pixels": Case(422, "invalid_request", json=lambda: {"pixels": [0, 255, 0]}),
    "empty pixels": Case(422, "invalid_request", json=lambda: {"pixels": []}),
    "rows of nothing": Case(422, "invalid_request", json=lambda: {"pixels": [[], []]}),
    "pixels wider than 4096": Case(413, "image_too_large", json=lambda: {"pixels": [[0] * 4097]}),
    "all-dark pixels": Case(422, "empty_drawing", json=lambda: {"pixels": [[0] * 28] * 28}),
    # query parameters
    "negative top_k": Case(422, "invalid_request", lambda: digit_png(7), PNG7, params={"top_k": "-1"}),
    "top_k of 11": Case(422, "invalid_request", lambda: digit_png(7), PNG7, params={"top_k": "11"}),
    "top_k of 5000 digits": Case(422, "invalid_request", lambda: digit_png(7), PNG7, params={"top_k": "9" * 5000}),
    "activations not a boolean": Case(
        422, "invalid_request", lambda: digit_png(7), PNG7, params={"activations": "perhaps"}
    ),
    "unknown model": Case(404, "unknown_model", lambda: digit_png(7), PNG7, params={"model": "gpt"}),
    "model name with a path": Case(404, "unknown_model", lambda: digit_png(7), PNG7, params={"model": "../model/cnn"}),
    "unknown query parameters are ignored": Case(
        200, None, lambda: digit_png(7), PNG7, params={"debug": "1", "callback": "x"}, expect=predicts(7)
    ),
    "60 KB query string": Case(200, None, lambda: digit_png(7), PNG7, params={"pad": "a" * 60_000}, expect=predicts(7)),
    "32 KB header": Case(200, None, lambda: digit_png(7), PNG7, headers={"X-Pad": "a" * 32_768}, expect=predicts(7)),
    "100 KB header": Case(
        431, "request_header_too_large", lambda: digit_png(7), PNG7, headers={"X-Pad": "a" * 100_000}
    ),
    "1000 small headers": Case(
        431,
        "request_header_too_large",
        lambda: digit_png(7),
        PNG7,
        headers={f"X-Pad-{i}": "a" * 64 for i in range(1000)},
    ),
    # other routes
    "GET on predict": Case(405, "method_not_allowed", method="GET"),
    "unknown path": Case(404, "not_found", path="/api/../../etc/passwd", method="GET"),
    "static path escaping its folder": Case(404, "not_found", path="/static/..%2f..%2fapp%2fconfig.py", method="GET"),
    "unit index out of range": Case(
        404, "unknown_unit", path="/api/models/cnn/layers/conv1/units/100000", method="GET"
    ),
    "unit index negative": Case(404, "unknown_unit", path="/api/models/cnn/layers/conv1/units/-1", method="GET"),
    "unit of a layer without weights": Case(
        404, "unknown_unit", path="/api/models/cnn/layers/pool1/units/0", method="GET"
    ),
    # batches
    "empty batch": Case(422, "invalid_request", path="/api/predict/batch", json=lambda: {"images": []}),
    "batch of 257": Case(
        422, "invalid_request", path="/api/predict/batch", json=lambda: {"images": [b64(digit_png(7, 28))] * 257}
    ),
    "batch that is not a list": Case(
        422, "invalid_request", path="/api/predict/batch", json=lambda: {"images": b64(digit_png(7))}
    ),
    "batch with a bad image first": Case(
        200,
        None,
        path="/api/predict/batch",
        json=lambda: {"images": ["not base64!", b64(digit_png(7))]},
        expect=first_error_in_batch("invalid_image"),
    ),
    "batch with a bomb first": Case(
        200,
        None,
        path="/api/predict/batch",
        json=lambda: {"images": [b64(png_bomb()), b64(digit_png(7))]},
        expect=first_error_in_batch("image_too_large"),
    ),
    "batch as raw PNG": Case(415, "unsupported_media_type", lambda: digit_png(7), PNG7, path="/api/predict/batch"),
    "batch with top_k 0": Case(
        422, "invalid_request", path="/api/predict/batch", json=lambda: {"images": [b64(digit_png(7))], "top_k": 0}
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name: str, http: httpx.Client, live_server: servers.Server) -> None:
    case = CASES[name]
    headers = dict(case.headers)
    if case.content_type:
        headers["Content-Type"] = case.content_type
    kwargs: dict[str, Any] = {"params": case.params, "headers": headers}
    if case.content is not None:
        kwargs["content"] = case.content()
    if case.json is not None:
        kwargs["content"] = json.dumps(case.json()).encode()
        headers["Content-Type"] = "application/json"
    if case.files is not None:
        kwargs["files"] = case.files()
        kwargs["data"] = case.data
    response = http.request(case.method, case.path, **kwargs)

    assert response.status_code == case.status, response.text[:500]
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    body = response.json()
    if case.code is None:
        if case.expect:
            case.expect(body)
    else:
        assert body["code"] == case.code, body
        assert set(body) == {"detail", "code"} and body["detail"].endswith(".")
        assert "Traceback" not in body["detail"]
    assert_still_answers(live_server)


def test_the_catalogue_is_complete() -> None:
    assert len(CASES) >= 40
