"""Schemathesis hooks for fuzzing the API (tests/web/test_schema_fuzz.py, and `schemathesis run` through
schemathesis.toml): what JSON Schema cannot say about a drawing, and the one answer it cannot predict.

The document is exact where JSON Schema can be; two of its promises are words only. An image holds an
image (any bytes are a valid `format: binary`, any string a valid `image`), and the rows of `pixels` are
all the same length. So generated requests get what a client following the document sends: a body or
multipart part of an image type is a real drawing in that format, and in a *positive* case of any route
that takes a drawing as JSON (POST /api/predict and the routes taking the same inputs) a JSON `image` is a
real drawing too and a grid is padded to a rectangle. Everything else
stays as generated.

A negative multipart case holding an empty list for a one-value field is not sent: on the wire that is the
field left out, which may well make the request valid.

Even so a schema-valid drawing can be blank (a 1x1 grid of zeros): 422 `empty_drawing` is what the API
answers, and the schema cannot express "has ink". That one refusal of positive data is let through, and
nothing else.
"""

from __future__ import annotations

import base64
import json
import zlib
from functools import lru_cache
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis.openapi.checks import RejectedPositiveData

from tests.factories import DIGIT_STROKES, png_bytes, stroke_image

# Pillow's name for each raw image type POST /api/predict takes.
IMAGE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP", "image/gif": "GIF", "image/bmp": "BMP"}
MULTIPART_OPTIONS = ("model", "top_k")  # the batch's one-value form fields


@lru_cache
def drawing(digit: int, fmt: str = "PNG") -> bytes:
    """`digit` drawn with the pad's pen on a small canvas, encoded as `fmt`."""
    return png_bytes(stroke_image(DIGIT_STROKES[digit], size=56), fmt)


def _digit(generated: object) -> int:
    """Which digit stands in for a generated value: the same one each time, for reproducible cases."""
    return zlib.crc32(repr(generated).encode()) % 10


def _rectangle(rows: list[list[float]]) -> list[list[float]]:
    width = max(len(row) for row in rows)
    return [row + [0] * (width - len(row)) for row in rows]


@st.composite
def drawings(draw: st.DrawFn, fmt: str) -> bytes:
    return drawing(draw(st.integers(0, 9)), fmt)


for _media_type, _fmt in IMAGE_FORMATS.items():
    schemathesis.openapi.media_type(_media_type, drawings(_fmt))


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    meta = case.meta
    body = case.body
    if (
        meta is None
        or not meta.generation.mode.is_positive
        or case.media_type != "application/json"
        or not isinstance(body, dict)
    ):
        return case
    if isinstance(body.get("image"), str):
        digit = _digit(body["image"])
        encoded = base64.b64encode(drawing(digit)).decode()
        case.body = {**body, "image": f"data:image/png;base64,{encoded}" if digit % 2 else encoded}
    elif isinstance(body.get("pixels"), list) and body["pixels"]:
        case.body = {**body, "pixels": _rectangle(body["pixels"])}
    return case


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    """Drops a negative multipart case with an empty list for a one-value field: a form can send an empty
    list only by leaving the field out, which is valid."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative or case.media_type != "multipart/form-data":
        return True
    body = case.body
    return not (isinstance(body, dict) and any(body.get(field) == [] for field in MULTIPART_OPTIONS))


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Every failure counts but a blank drawing's: positive data refused with 422 `empty_drawing`."""
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 422:
        return True
    try:
        code = json.loads(response.content).get("code")
    except (ValueError, AttributeError):
        return True
    return code != "empty_drawing"
