"""Schemathesis hooks for fuzzing the API (tests/web/test_schema_fuzz.py, and `schemathesis run` through
schemathesis.toml): what JSON Schema cannot say about a drawing, and the one answer it cannot predict.

The document is exact where JSON Schema can be; three of its promises are words only. An image holds an
image (any bytes are a valid `format: binary`, any string a valid `image`), the rows of `pixels` are all
the same length, and a correction's `label` is required (and `model` and `guess` allowed) in exactly one
place, which depends on the body's type. So generated requests get what a client following the document
sends: a body or multipart part of an image type is a real drawing in that format, and in a *positive*
case of any route that takes a drawing as JSON (POST /api/predict and the routes taking the same inputs)
a JSON `image` is a real drawing too and a grid is padded to a rectangle; a correction's fields are sent
once each, where the API reads them. Everything else
stays as generated.

A negative multipart case holding an empty list for a one-value field is not sent: on the wire that is the
field left out, which may well make the request valid.

Even so a schema-valid drawing can be blank (a 1x1 grid of zeros): 422 `empty_drawing` is what the API
answers, and the schema cannot express "has ink"; nor can it say "at most 12 separate pieces of ink",
which a grid of noise sent to /api/read may exceed (422 `too_many_digits`). Those refusals of positive
data are let through, and nothing else.
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
CORRECTIONS = "/api/corrections"  # takes the drawing in every form /api/predict does
CORRECTION_FIELDS = ("label", "model", "guess")
MULTIPART_OPTIONS = ("model", "top_k", "label", "guess")  # one-value form fields of the batch and corrections


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
    if meta is not None and meta.generation.mode.is_positive and case.operation.path == CORRECTIONS:
        _fields_once(case)
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


def _fields_once(case: Any) -> None:
    """A correction's `label`, `model` and `guess` are read from one place each, which the document cannot
    tie to the body's type (every place is optional on its own): from the JSON for a JSON body, else from
    the query or, for multipart, the form. A positive case gets them where the API reads them: a query
    parameter the body also has is dropped, and a label missing from both is added to the query."""
    query = dict(case.query or {})
    body = case.body if isinstance(case.body, dict) else {}
    for name in CORRECTION_FIELDS:
        if case.media_type == "application/json" or body.get(name) is not None:
            query.pop(name, None)
    if case.media_type != "application/json" and body.get("label") is None and query.get("label") is None:
        query["label"] = _digit(case.body)
    case.query = query


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
    """Every failure counts but a blank drawing's or a noisy one's: positive data refused with 422
    `empty_drawing` or `too_many_digits`."""
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 422:
        return True
    try:
        code = json.loads(response.content).get("code")
    except (ValueError, AttributeError):
        return True
    return code not in ("empty_drawing", "too_many_digits")
