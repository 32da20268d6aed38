"""Untrusted input -> a pixel array for `preprocess`: image bytes, base64 and data URLs, JSON pixel grids.

The format is sniffed from the bytes, never taken from a declared type, and an image's dimensions are
checked from its header before any pixel is decoded, so a small file cannot expand into a huge array.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyspng
from PIL import Image, ImageOps

from app.config import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE
from app.core.errors import DigitPadError

# Magic numbers of the accepted formats, as Pillow names them.
SIGNATURES: tuple[tuple[str, re.Pattern[bytes]], ...] = (
    ("PNG", re.compile(rb"\A\x89PNG\r\n\x1a\n")),
    ("JPEG", re.compile(rb"\A\xff\xd8\xff")),
    ("GIF", re.compile(rb"\AGIF8[79]a")),
    ("WEBP", re.compile(rb"\ARIFF.{4}WEBP", re.DOTALL)),
    ("BMP", re.compile(rb"\ABM")),
)
# PNG colour types (the IHDR byte) libspng decodes exactly as Pillow does, at 8 bits a sample.
PNG_RGB_TYPES = {2: "RGB", 6: "RGBA"}


@dataclass(frozen=True)
class NetworkInput:
    """The network's own 28x28 input as 784 characters of 0 and 1, row-major: no decoding or preprocessing."""

    bits: str


# A drawing as the API receives it: image bytes, base64 or a data URL, a pixel grid, or the network's input.
Source = bytes | str | Sequence[Sequence[float]] | NetworkInput
DATA_URL = re.compile(r"\Adata:(?P<type>[^,;]*)(?P<params>(?:;[^,;]*)*),", re.IGNORECASE)


class ImageError(DigitPadError):
    """Input that cannot become a drawing: `invalid_image`, `image_too_large` or `invalid_request`."""


def sniff(data: bytes) -> str | None:
    """The image format the bytes start with, or None if it is not one DigitPad reads."""
    return next((name for name, magic in SIGNATURES if magic.match(data)), None)


def decode_image(data: bytes, max_side: int = MAX_IMAGE_SIDE, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """PNG, JPEG, WebP, GIF or BMP bytes -> uint8 pixels shaped (H, W), (H, W, 2), (H, W, 3) or (H, W, 4).

    Reads the first frame of an animated image and applies the EXIF orientation. Raises ImageError:
    image_too_large before decoding pixels, invalid_image for anything that does not decode.
    """
    fmt = sniff(data)
    if fmt is None:
        raise ImageError("invalid_image", "The data is not a PNG, JPEG, WebP, GIF or BMP image.")
    try:
        image = Image.open(io.BytesIO(data), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_large(None, max_side, max_pixels) from exc
    except Exception as exc:  # Pillow's parsers raise many types on malformed headers
        raise ImageError("invalid_image", f"The {fmt} image could not be read: its header is damaged.") from exc
    with image:
        width, height = image.size
        if width < 1 or height < 1:
            raise ImageError("invalid_image", "The image has no pixels.")
        if max(width, height) > max_side or width * height > max_pixels:
            raise _too_large((width, height), max_side, max_pixels)
        try:
            if fmt == "PNG" and (pixels := _canvas_png(data)) is not None:
                return pixels
            image.load()  # the first frame only: animated images are read no further
            upright = ImageOps.exif_transpose(image)
            return to_array(upright)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_large((width, height), max_side, max_pixels) from exc
        except MemoryError:
            raise
        except Exception as exc:  # truncated or corrupt pixel data surfaces as any of several types
            raise ImageError(
                "invalid_image", f"The {fmt} image could not be decoded: it is truncated or corrupt."
            ) from exc


def _canvas_png(data: bytes) -> np.ndarray | None:
    """An 8-bit RGB or RGBA PNG, what a canvas exports, decoded by libspng: the same pixels as Pillow's
    in about half the time (the largest part of a prediction). None sends every other PNG to Pillow: other
    depths and colour types, an eXIf chunk (Pillow applies its orientation), and any decoding error, so
    Pillow alone decides what is wrong with a file."""
    if data[12:16] != b"IHDR" or data[24] != 8 or data[25] not in PNG_RGB_TYPES or b"eXIf" in data:
        return None
    try:
        return pyspng.load(data, PNG_RGB_TYPES[data[25]])
    except Exception:  # the error is Pillow's to name
        return None


def _too_large(size: tuple[int, int] | None, max_side: int, max_pixels: int) -> ImageError:
    what = f"The image is {size[0]}x{size[1]} pixels" if size else "The image is too large"
    return ImageError(
        "image_too_large",
        f"{what}; the limit is {max_side} pixels a side and "
        f"{max_pixels / 1e6:g} megapixels in all. Send a smaller image.",
    )


def to_array(image: Image.Image) -> np.ndarray:
    """Any Pillow mode -> uint8 grey, grey + alpha, RGB or RGBA on a 0-255 scale."""
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(image, dtype=np.uint8)
    if mode == "1":
        return np.asarray(image.convert("L"), dtype=np.uint8)
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return np.asarray(image.convert("RGBA" if has_alpha else "RGB"), dtype=np.uint8)
    if mode == "La":
        return np.asarray(image.convert("LA"), dtype=np.uint8)
    if mode == "RGBa":
        return np.asarray(image.convert("RGBA"), dtype=np.uint8)
    if mode.startswith("I;16"):
        return _rescale(np.asarray(image, dtype=np.float64), 65535.0)
    if mode in ("I", "F"):
        values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        peak = float(values.max(initial=0.0))
        # Guess the scale the values were written on: unit floats, 8-bit, 16-bit, else their own range.
        if mode == "F" and values.min(initial=0.0) >= 0 and peak <= 1.0:
            return _rescale(values, 1.0)
        if values.min(initial=0.0) >= 0 and peak <= 255:
            return _rescale(values, 255.0)
        if values.min(initial=0.0) >= 0 and peak <= 65535:
            return _rescale(values, 65535.0)
        low = float(values.min())
        return _rescale(values - low, max(peak - low, 1.0))
    return np.asarray(image.convert("RGB"), dtype=np.uint8)  # CMYK, YCbCr, LAB, HSV, RGBX


def _rescale(values: np.ndarray, full_scale: float) -> np.ndarray:
    return np.clip(np.rint(values * (255.0 / full_scale)), 0, 255).astype(np.uint8)


def decode_base64(text: str) -> bytes:
    """A data URL (data:image/png;base64,...) or bare base64 -> bytes. Raises ImageError invalid_image."""
    payload = text.strip()
    match = DATA_URL.match(payload)
    if match:
        if ";base64" not in match["params"].lower():
            raise ImageError("invalid_image", "The data URL is not base64-encoded; use data:image/png;base64,...")
        payload = payload[match.end() :]
    payload = re.sub(r"\s+", "", payload)
    if not payload:
        raise ImageError("invalid_image", "The image is empty: send the image as base64 or a base64 data URL.")
    if "-" in payload or "_" in payload:
        payload = payload.replace("-", "+").replace("_", "/")  # the URL-safe alphabet
    payload += "=" * (-len(payload) % 4)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError("invalid_image", "The image is not valid base64 or a base64 data URL.") from exc


def pixels_array(
    rows: Sequence[Sequence[float]], max_side: int = MAX_IMAGE_SIDE, max_pixels: int = MAX_IMAGE_PIXELS
) -> np.ndarray:
    """A JSON grid of grey levels (rows of numbers 0-255, ink bright on dark) -> (H, W) float32.

    Raises ImageError: invalid_request for anything but a non-empty rectangle of finite numbers in
    0..255, image_too_large beyond the image limits.
    """
    if not isinstance(rows, Sequence) or isinstance(rows, str | bytes) or not rows:
        raise ImageError("invalid_request", "`pixels` must be a non-empty list of rows of numbers.")
    if any(not isinstance(row, Sequence) or isinstance(row, str | bytes) for row in rows):
        raise ImageError("invalid_request", "`pixels` must be a list of rows, each a list of numbers.")
    height, width = len(rows), max(len(row) for row in rows)
    if max(height, width) > max_side or height * width > max_pixels:
        raise ImageError(
            "image_too_large",
            f"`pixels` is {width}x{height}; the limit is {max_side} a side and {max_pixels / 1e6:g} megapixels in all.",
        )
    if width == 0 or any(len(row) != width for row in rows):
        raise ImageError("invalid_request", "Every row of `pixels` must have the same, non-zero length.")
    if any(isinstance(v, bool) or not isinstance(v, int | float) for row in rows for v in row):
        raise ImageError("invalid_request", "`pixels` must hold numbers only.")
    grid = np.array(rows, dtype=np.float64)
    if not np.isfinite(grid).all():
        raise ImageError("invalid_request", "`pixels` must hold finite numbers, not NaN or infinity.")
    if grid.min() < 0 or grid.max() > 255:
        raise ImageError("invalid_request", "`pixels` values must lie between 0 and 255.")
    return grid.astype(np.float32)


def decode_drawing(
    source: bytes | str | Sequence[Sequence[float]], max_side: int = MAX_IMAGE_SIDE, max_pixels: int = MAX_IMAGE_PIXELS
) -> np.ndarray:
    """Any of the API's drawing forms but the network's own input -> a pixel array for `preprocess`.
    Raises ImageError."""
    if isinstance(source, bytes):
        return decode_image(source, max_side, max_pixels)
    if isinstance(source, str):
        return decode_image(decode_base64(source), max_side, max_pixels)
    return pixels_array(source, max_side, max_pixels)
